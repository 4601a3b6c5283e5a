"""The `copydesk` command, run as a real process where it matters (gunicorn, the embedded Redis)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from plugin.cli import main
from tests.conftest import SECRET_KEY


@pytest.fixture
def env(tmp_path, monkeypatch, redis_server):
    values = {"COPYDESK_SECRET_KEY": SECRET_KEY, "COPYDESK_INSTANCE": str(tmp_path / "instance"),
              "REDIS_URL": redis_server.url}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def test_shop_add_list_set(env, capsys, tmp_path):
    assert main(["shop", "add", "--platform", "woocommerce", "--url", "http://127.0.0.1:8081",
                 "--consumer-key", "ck_x", "--consumer-secret", "cs_x", "--webhook-secret", "hook"]) == 0
    assert main(["shop", "add", "--platform", "shopify", "--domain", "my-shop.myshopify.com",
                 "--token", "shpat_abc", "--auto-publish"]) == 0
    assert main(["shop", "set", "127.0.0.1:8081", "auto_publish=on", "target_words=80"]) == 0
    out = capsys.readouterr().out
    assert '"target_words": 80' in out
    assert main(["shop", "list"]) == 0
    listing = capsys.readouterr().out
    assert "woocommerce\t127.0.0.1:8081\tactive\tauto_publish=True" in listing
    assert "shopify\tmy-shop.myshopify.com\tactive\tauto_publish=True" in listing
    # Credentials are unreadable in the database file without the key.
    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'copydesk.db'}")
    with engine.connect() as conn:
        blobs = b"".join(bytes(row[0]) for row in conn.execute(text("SELECT credentials FROM shops")))
    assert b"shpat_abc" not in blobs and b"cs_x" not in blobs and b"hook" not in blobs


@pytest.mark.parametrize("argv,message", [
    (["shop", "add", "--platform", "shopify", "--domain", "evil.com/x.myshopify.com", "--token", "t"],
     "not a Shopify shop domain"),
    (["shop", "add", "--platform", "woocommerce", "--url", "https://s.example", "--consumer-key", "ck"],
     "consumer-secret"),
    (["shop", "set", "nowhere.myshopify.com", "auto_publish=on"], "no shop"),
    (["drafts", "approve", "12345"], "no draft 12345"),
])
def test_clear_errors(env, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unknown_setting_fails_at_start_naming_it(env, monkeypatch, capsys):
    monkeypatch.setenv("COPYDESK_WORKERZ", "3")
    assert main(["shop", "list"]) == 2
    assert "COPYDESK_WORKERZ" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_web_serves_under_gunicorn_with_its_own_embedded_redis(tmp_path):
    """`copydesk web` with REDIS_URL unset starts the embedded Redis and serves with gunicorn."""
    port = _free_port()
    instance = tmp_path / "inst"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COPYDESK_", "REDIS_URL"))}
    env.update(COPYDESK_SECRET_KEY=SECRET_KEY, COPYDESK_INSTANCE=str(instance))
    proc = subprocess.Popen([sys.executable, "-m", "plugin.cli", "web", "--port", str(port), "--workers", "1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # still starting (slow on a loaded machine)
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
                time.sleep(0.2)
        assert health.json() == {"ok": True, "redis": True, "database": True}
        assert (instance / "appendonlydir").exists() or list(instance.glob("*.aof"))  # AOF persistence on
        assert "torch" not in subprocess.run(
            [sys.executable, "-c", "import plugin.app, plugin.webhooks, sys; print(sorted(sys.modules))"],
            capture_output=True, text=True, check=True).stdout
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        subprocess.run([sys.executable, "-m", "plugin.cli", "redis", "stop"], env=env, check=False)
    assert not Path(instance / "redis.sock").exists()


def test_manifest_topics_all_have_handlers(app):
    """The short form of tests/test_manifest.py: each platform's route exists, and every topic is handled."""
    from plugin.webhooks import HANDLED_TOPICS

    manifest = json.loads((Path(__file__).parents[1] / "manifest.json").read_text())
    routes = {"shopify": "/webhooks/shopify", "woocommerce": "/webhooks/woocommerce"}
    for platform, spec in manifest["platforms"].items():
        assert spec["webhooks"]["route"] == routes[platform]
        assert any(r.rule == routes[platform] and "POST" in r.methods for r in app.url_map.iter_rules())
        topics = set(spec["webhooks"]["topics"]) | set(spec["webhooks"].get("compliance_topics", []))
        assert topics <= HANDLED_TOPICS, (platform, topics - HANDLED_TOPICS)


def test_generate_prints_copy_without_redis_or_a_store(monkeypatch, capsys, tiny_model):
    for name in ("COPYDESK_SECRET_KEY", "REDIS_URL", "COPYDESK_INSTANCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COPYDESK_MODEL", str(tiny_model))
    monkeypatch.setenv("COPYDESK_TORCH_THREADS", "1")
    assert main(["generate", "--title", "Linen Apron", "--attr", "Material=100% linen",
                 "--attr", "Length=85 cm", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["fields"]) == {"description", "short_description", "seo_title", "seo_description"}
    assert len(printed["fields"]["seo_title"]) <= 70 and printed["prompt_version"] == "product_copy/3"


def test_generate_rejects_a_malformed_attribute(capsys):
    assert main(["generate", "--title", "X", "--attr", "no-equals-sign"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err
