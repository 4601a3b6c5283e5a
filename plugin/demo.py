"""`copydesk demo`: the whole app on one machine, on the embedded defaults.

Starts, as child processes that stop together on Ctrl-C: the embedded redis-server, the store emulator
(a Shopify shop and a WooCommerce store seeded with sample products), the web app under gunicorn and a
worker. It connects both stores, fires their product-created webhooks, and prints each draft as it
appears. The WooCommerce store auto-publishes by default, so its copy changes on the store page.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from plugin.commands import open_session
from plugin.redis_server import EmbeddedRedis
from plugin.settings import Settings

SHOP = "demo-store.myshopify.com"
CREDS = {"shop_token": "shpat_demo_token", "app_secret": "demo-app-secret",
         "ck": "ck_demo", "cs": "cs_demo", "hook": "demoWebhookSecret42"}


STAFF_EMAIL = "demo@copydesk.test"
POLICIES = {"policy_shipping": "Orders ship within 2 working days.",
            "policy_returns": "Unused items can be returned within 30 days for a full refund.",
            "policy_warranty": "Every item carries a 2-year warranty against manufacturing faults."}


def _kept_secret(instance: Path, name: str, size: int) -> str:
    """A secret made once and kept (0600) under the instance folder, the same at every demo run."""
    path = instance / name
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(size))
    return path.read_text().strip()


def _secret_key(instance: Path) -> str:
    """The demo's own secret key, kept so that its encrypted data stays readable."""
    return _kept_secret(instance, "demo-secret-key", 48)


def _wait_http(url: str, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{what} did not answer at {url}")


def run_demo(args) -> int:
    env = dict(os.environ)
    instance = Path(env.get("COPYDESK_INSTANCE", "instance")).resolve()
    env.setdefault("COPYDESK_SECRET_KEY", _secret_key(instance))
    env["COPYDESK_INSTANCE"] = str(instance)
    env["SHOPIFY_API_SECRET"] = CREDS["app_secret"]
    env.pop("REDIS_URL", None)  # the demo always runs its own Redis
    # One torch thread: on a small machine the other processes need the second core, and bench/ shows
    # one thread as fast as two for a single product's fields (13.3 s against 14.5 s here).
    env.setdefault("COPYDESK_TORCH_THREADS", "1")
    web_url = f"http://{args.host}:{args.port}"
    env.setdefault("COPYDESK_APP_URL", web_url)
    settings = Settings.from_env(env)
    store_url = f"http://127.0.0.1:{args.store_port}"
    exe = [sys.executable, "-m", "plugin.cli"]
    children: list[tuple[str, subprocess.Popen]] = []
    started = time.monotonic()

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        redis = EmbeddedRedis(instance)
        if redis.ping():
            raise RuntimeError(f"an embedded Redis is already running for {instance}: stop the other "
                               "Copydesk (or `copydesk redis stop`) first")
        children.append(("redis", redis.start_child()))
        env["REDIS_URL"] = redis.url
        open_session(settings).close()  # create the tables once, before the processes that use them start
        logs = instance / "logs"
        logs.mkdir(exist_ok=True)

        def start(name: str, argv: list[str]) -> subprocess.Popen:
            with open(logs / f"{name}.log", "ab") as log:  # the child keeps its own handle
                # A session of its own: Ctrl-C reaches only the demo, which stops the children in order.
                proc = subprocess.Popen(exe + argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            children.append((name, proc))
            return proc

        store = start("devstore", ["devstore", "--port", str(args.store_port), "--no-seed"])
        web = start("web", ["web", "--host", args.host, "--port", str(args.port)])
        start("worker", ["worker", "--concurrency", "4"])  # up to 4 products per batched model call
        _wait_http(f"{store_url}/", store, "the store emulator")
        _wait_http(f"{web_url}/healthz", web, "the web app")
        password = _kept_secret(instance, "demo-staff-password", 12)
        _connect_stores(settings.replace(redis_url=redis.url), store_url, web_url, args.auto_publish, password)
        print(f"\n  Review the drafts: {web_url}/panel/\n"
              f"    log in as {STAFF_EMAIL} with password {password}\n"
              f"  Store page (current copy of every product): {store_url}/\n"
              f"  Web app: {web_url}   ·   logs: {logs}/\n"
              f"  The worker is loading the model (the first run converts it once: about a minute).\n"
              f"  Or approve a draft from another terminal:\n"
              f"    COPYDESK_SECRET_KEY=$(cat {instance}/demo-secret-key) COPYDESK_INSTANCE={instance} \\\n"
              f"      .venv/bin/copydesk drafts approve ID\n", flush=True)
        return _follow_drafts(settings, children, args.until_drafts, started)
    except KeyboardInterrupt:
        return 0
    finally:
        # One at a time, last started first: the worker and web still need Redis while they stop.
        for name, proc in reversed(children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT if name != "redis" else signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print("demo stopped", flush=True)


def _connect_stores(settings: Settings, store_url: str, web_url: str, auto: str, password: str) -> None:
    from devstore.client import DevStoreClient
    from plugin import questions_store
    from plugin.crypto import Vault
    from plugin.panel.accounts import add_staff
    from plugin.shops import add_shop

    store = DevStoreClient(store_url)
    store.reset(seed=True)
    vault = Vault.for_settings(settings)
    with open_session(settings) as db:
        shopify = add_shop(db, vault, platform="shopify", domain=SHOP, api_url=store_url,
                           credentials={"access_token": CREDS["shop_token"]},
                           settings={"auto_publish": auto == "all"}, actor="demo")
        woo = add_shop(db, vault, platform="woocommerce", domain=store_url, api_url=store_url,
                 credentials={"consumer_key": CREDS["ck"], "consumer_secret": CREDS["cs"],
                              "webhook_secret": CREDS["hook"]},
                 settings={"auto_publish": auto in ("all", "woocommerce"), "instant_answers": True,
                           "follow_up_first_name": True, **POLICIES}, actor="demo")
        for shop in (shopify, woo):  # one login that opens both demo shops
            add_staff(db, shop, STAFF_EMAIL, password, actor="demo")
        widget_key = questions_store.widget_key(db, woo)
    store.config(
        shopify={"shop_domain": SHOP, "access_token": CREDS["shop_token"], "app_secret": CREDS["app_secret"],
                 "webhook_url": f"{web_url}/webhooks/shopify"},
        woocommerce={"consumer_key": CREDS["ck"], "consumer_secret": CREDS["cs"], "webhook_secret": CREDS["hook"],
                     "webhook_url": f"{web_url}/webhooks/woocommerce"},
    )
    products = store.products()
    for product in products:
        topic = "products/create" if product["platform"] == "shopify" else "product.created"
        store.fire(product["platform"], topic, product["id"])
    _sample_order_and_question(store, web_url, widget_key, [p for p in products if p["platform"] == "woocommerce"])


def _sample_order_and_question(store, web_url: str, widget_key: str, woo_products: list[dict]) -> None:
    """A WooCommerce order (its follow-up is drafted after the products' copy) and a storefront question."""
    mug = next((p for p in woo_products if "Mug" in p["title"]), woo_products[0])
    store.create_order("woocommerce", [{"product_id": woo_products[0]["id"], "quantity": 1},
                                       {"product_id": mug["id"], "quantity": 2}],
                       customer={"first_name": "Ada", "email": "ada@example.com", "accepts_marketing": False})
    asked = requests.post(f"{web_url}/questions/w/{widget_key}", timeout=10,
                          json={"product_id": str(mug["id"]), "question": f"What is the {mug['title']} made of?"})
    asked.raise_for_status()
    print(f"  Sample question about the {mug['title']} asked through the storefront widget's endpoint "
          f"({asked.json()['status']}); a sample order placed: its follow-up is written after the products.",
          flush=True)


def _follow_drafts(settings: Settings, children, until: int, started: float) -> int:
    from sqlalchemy import select

    from plugin.db import Draft, Shop, make_engine, make_sessionmaker
    from plugin.kinds import KINDS

    engine = make_engine(settings.sqlalchemy_url)
    sessions = make_sessionmaker(engine)
    seen: dict[int, str] = {}
    first = True
    while True:
        for name, proc in children:
            if proc.poll() is not None:
                print(f"{name} exited with status {proc.returncode}; see its log under instance/logs/",
                      file=sys.stderr)
                return 1
        with sessions() as db:
            rows = db.execute(select(Draft, Shop.platform).join(Shop).order_by(Draft.id)).all()
        for draft, platform in rows:
            if seen.get(draft.id) == draft.status:
                continue
            if first:
                print(f"first draft after {time.monotonic() - started:.1f} s", flush=True)
                first = False
            seen[draft.id] = draft.status
            title = draft.input_snapshot.get("title", "")
            kind = KINDS.get(draft.kind)
            shown = draft.fields.get("seo_title") if draft.kind == "product_copy" else \
                " ".join(str(next(iter(draft.fields.values()), "")).split())[:160]
            print(f"draft {draft.id:>3} [{platform:<11}] {draft.status:<9} "
                  f"{kind.label if kind else draft.kind} · {title}: {shown or ''!r}", flush=True)
        if until and len(seen) >= until:
            print(f"{len(seen)} drafts after {time.monotonic() - started:.1f} s", flush=True)
            return 0
        time.sleep(1)
