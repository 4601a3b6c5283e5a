"""Shared fixtures: a throwaway real redis-server, SQLite (and PostgreSQL when TEST_DATABASE_URL is set),
the store emulator over real HTTP, the web app over real HTTP, and the tiny model for plumbing tests."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from plugin.redis_server import EmbeddedRedis
from plugin.settings import Settings
from tests.browser_fixtures import _chromium, browser, page  # noqa: F401  (Playwright + system Chromium)
from tests.model_fixtures import (  # noqa: F401  (fixtures shared with the model tests)
    CACHE_ROOT,
    hf_offline,
    real_generator,
    tiny_generator,
    tiny_model_dir,
)

APP_SECRET = "test-app-secret-hush"
SHOP_DOMAIN = "test-shop.myshopify.com"
SHOP_TOKEN = "shpat_test_token"
WOO_KEY, WOO_SECRET, WOO_HOOK_SECRET = "ck_test", "cs_test", "wcHookSecret123"
SECRET_KEY = "test-secret-key-0123456789abcdef"
CACHE_DIR = CACHE_ROOT


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """No hub access, no proxies: everything a test talks to is on this machine."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server for the session, started exactly as the embedded default starts it."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    proc = server.start_child()
    yield server
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_conn(redis_server):
    conn = redis_server.client()
    conn.flushall()
    yield conn
    conn.flushall()


def _database_params():
    params = ["sqlite"]
    if os.environ.get("TEST_DATABASE_URL"):
        params.append(pytest.param("postgres", marks=pytest.mark.postgres))
    return params


@pytest.fixture(params=_database_params())
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'copydesk.db'}"
        return
    url = os.environ["TEST_DATABASE_URL"]
    engine = create_engine(url)
    with engine.begin() as conn:  # a clean schema per test
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir) -> Path:
    """A tiny random Llama with the real SmolLM2 tokenizer: gibberish, but the real generation path."""
    return tiny_model_dir


@pytest.fixture
def settings(tmp_path, redis_server, database_url, tiny_model) -> Settings:
    return Settings(
        secret_key=SECRET_KEY,
        instance_path=tmp_path / "instance",
        redis_url=redis_server.url,
        database_url=database_url,
        shopify_api_secret=APP_SECRET,
        model=str(tiny_model),
        device="cpu",
        torch_threads=1,
        cache_dir=CACHE_DIR,
        http_timeout=5.0,
    )


class ThreadServer:
    """A WSGI app served over real HTTP on 127.0.0.1 from a thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def app(settings, redis_conn):
    from plugin.app import create_app

    app = create_app(settings, redis_client=redis_conn)
    yield app
    app.extensions["copydesk_engine"].dispose()


@pytest.fixture
def web(app):
    server = ThreadServer(app)
    yield server
    server.stop()


@pytest.fixture
def devstore():
    from devstore.client import DevStoreClient
    from devstore.server import serve_in_thread

    store = serve_in_thread()
    client = DevStoreClient(store.base_url)
    client.reset(seed=True)
    yield client
    store.shutdown()


@pytest.fixture
def connected(app, devstore, web):
    """Both emulated stores connected to Copydesk and sending their webhooks to it."""
    from plugin.crypto import Vault
    from plugin.shops import add_shop

    devstore.config(
        shopify={"shop_domain": SHOP_DOMAIN, "access_token": SHOP_TOKEN, "app_secret": APP_SECRET,
                 "webhook_url": f"{web.url}/webhooks/shopify"},
        woocommerce={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET, "webhook_secret": WOO_HOOK_SECRET,
                     "webhook_url": f"{web.url}/webhooks/woocommerce"},
    )
    vault = Vault(SECRET_KEY)
    with app.extensions["copydesk_sessionmaker"]() as db:
        shopify = add_shop(db, vault, platform="shopify", domain=SHOP_DOMAIN,
                           credentials={"access_token": SHOP_TOKEN}, api_url=devstore.base_url)
        woo = add_shop(db, vault, platform="woocommerce", domain=devstore.base_url,
                       credentials={"consumer_key": WOO_KEY, "consumer_secret": WOO_SECRET,
                                    "webhook_secret": WOO_HOOK_SECRET}, api_url=devstore.base_url)
        ids = {"shopify": shopify.id, "woocommerce": woo.id}
    return ids


@pytest.fixture
def cli(settings, monkeypatch):
    """`copydesk ...` in-process (plugin.cli.main), on the same instance, database and Redis as the app and
    the worker."""
    from plugin.cli import main

    for name, value in {"COPYDESK_SECRET_KEY": SECRET_KEY, "COPYDESK_INSTANCE": str(settings.instance_path),
                        "REDIS_URL": settings.redis_url, "DATABASE_URL": settings.database_url}.items():
        monkeypatch.setenv(name, value)
    return main


@pytest.fixture
def worker(settings, redis_conn, tiny_generator):
    """The real RQ worker path, in this process: `worker.drain()` runs every queued job (burst)."""
    from worker import context
    from worker.main import build_worker

    rq_worker = build_worker(settings, redis_conn)
    context.get().use_generator(tiny_generator)

    def drain():
        return rq_worker.work(burst=True, with_scheduler=False, logging_level="WARNING")

    rq_worker.drain = drain
    yield rq_worker
    context.get().sessions.kw["bind"].dispose()
    context.init(None)
