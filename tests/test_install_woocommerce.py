"""Connecting a WooCommerce store end to end against the emulator, over real HTTP, the real Redis and the
real RQ worker path: /wc-auth keys, webhooks with their own secrets, the periodic check, disconnect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import string
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select, text
from werkzeug.serving import make_server

from plugin import jobs
from plugin.crypto import Vault
from plugin.db import AuditEntry, Draft, Shop
from plugin.drafts import approve
from plugin.install import woocommerce_webhooks as hooks
from plugin.platforms.woocommerce import normalize_store_url
from tests.conftest import SECRET_KEY
from tests.panel_helpers import csrf, logged_in, make_staff

TOPICS = {"product.created", "product.updated", "order.created"}
NEW_PRODUCT = {"title": "Linen Apron", "category": "Kitchen", "sku": "APR-1", "price": "24.00",
               "attributes": {"Material": "linen"}}


class _LateApp:
    """A server bound before the app exists, so the app's settings can name its URL (COPYDESK_APP_URL)."""

    def __init__(self):
        self.app = None
        self.server = make_server("127.0.0.1", 0, self, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture
def late():
    server = _LateApp()
    yield server
    if server.thread.is_alive():
        server.server.shutdown()
        server.thread.join(timeout=5)
    server.server.server_close()


@pytest.fixture
def settings(settings, late):
    return settings.replace(app_url=late.url)


@pytest.fixture
def web(app, late):
    late.app = app
    late.thread.start()
    return late


def _shops(app) -> list[Shop]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return list(db.scalars(select(Shop)))


def _credentials(app, shop_id: int) -> dict:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return Vault(SECRET_KEY).open(db.get(Shop, shop_id).credentials)


def _audit(app, action: str) -> list[AuditEntry]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return list(db.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _connect(web, devstore) -> requests.Response:
    """The merchant opens the connect link; the emulated store approves at once."""
    return requests.get(f"{web.url}/connect/woocommerce", params={"store_url": devstore.base_url}, timeout=30)


def _start_only(web, devstore) -> str:
    """The connect link without following it: the user_id Copydesk put in the authorize URL."""
    resp = requests.get(f"{web.url}/connect/woocommerce", params={"store_url": devstore.base_url},
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/wc-auth/v1/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["scope"] == "read_write" and query["app_name"] == "Copydesk"
    assert query["callback_url"] == f"{web.url}/connect/woocommerce/callback"
    assert query["return_url"] == f"{web.url}/connect/woocommerce/return"
    return query["user_id"]


def _callback(web, user_id: str, permissions: str = "read_write") -> requests.Response:
    body = {"key_id": 7, "user_id": user_id, "consumer_key": "ck_" + "a" * 40,
            "consumer_secret": "cs_" + "b" * 40, "key_permissions": permissions}
    return requests.post(f"{web.url}/connect/woocommerce/callback", json=body, timeout=10)


def _connected(app, web, devstore, worker) -> tuple[int, dict]:
    resp = _connect(web, devstore)
    assert resp.status_code == 200 and "Connected" in resp.text
    worker.drain()  # the webhook registration job
    assert devstore.flush()
    [shop] = _shops(app)
    return shop.id, _credentials(app, shop.id)


def _sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_connect_to_publish_with_keys_encrypted_and_nothing_secret_logged(app, web, devstore, worker, caplog,
                                                                           settings):
    caplog.set_level(logging.DEBUG)
    shop_id, credentials = _connected(app, web, devstore, worker)

    [key] = devstore.woo_auth()["keys"]
    assert [c["status"] for c in devstore.woo_auth()["callbacks"]] == [200]
    shop = _shops(app)[0]
    assert shop.platform == "woocommerce" and shop.domain == normalize_store_url(devstore.base_url)
    assert credentials["consumer_key"] == key["consumer_key"]
    assert credentials["consumer_secret"] == key["consumer_secret"]
    with app.extensions["copydesk_engine"].connect() as conn:
        raw = bytes(conn.execute(text("SELECT credentials FROM shops")).scalar_one())
    if settings.database_url.startswith("sqlite:///"):
        raw += open(settings.database_url.removeprefix("sqlite:///"), "rb").read()
    assert key["consumer_secret"].encode() not in raw and key["consumer_key"].encode() not in raw

    store_hooks = devstore.woo_webhooks()
    assert {h["topic"] for h in store_hooks} == TOPICS and len(store_hooks) == 3
    assert {h["delivery_url"] for h in store_hooks} == {f"{web.url}/webhooks/woocommerce"}
    secrets = [h["secret"] for h in store_hooks]
    assert len(set(secrets)) == 3
    assert all(len(s) >= 32 and set(s) <= set(string.ascii_letters + string.digits) for s in secrets)
    assert {t: e["id"] for t, e in credentials["webhooks"].items()} == {h["topic"]: h["id"] for h in store_hooks}
    pings = [d for d in devstore.deliveries("woocommerce") if d["kind"] == "ping"]
    assert sorted(d["status"] for d in pings) == [200, 200, 200]
    assert all(h["status"] == "active" for h in store_hooks)

    product_id = devstore.create_product("woocommerce", **NEW_PRODUCT)
    assert devstore.flush()
    event = [d for d in devstore.deliveries("woocommerce") if d["kind"] == "event"]
    assert [(d["topic"], d["status"]) for d in event] == [("product.created", 200)]
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        [draft] = db.scalars(select(Draft).where(Draft.shop_id == shop_id)).all()
        approve(db, draft, actor="staff")
    jobs.enqueue_publish(worker.connection, draft.id, actor="staff", shop_id=shop_id)
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        assert db.get(Draft, draft.id).status == "published"
    assert [w["op"] for w in devstore.writes("woocommerce")] == ["product.update"]
    assert devstore.product("woocommerce", product_id)["description_html"] == draft.fields["description_html"]

    logged = caplog.text
    for secret in (key["consumer_key"], key["consumer_secret"], *secrets):
        assert secret not in logged
    assert "woocommerce store" in logged  # the flow did log, just nothing secret


def test_callback_answers_exactly_200_with_empty_body_once(app, web, devstore):
    user_id = _start_only(web, devstore)
    first = _callback(web, user_id)
    assert first.status_code == 200 and first.content == b""
    [shop] = _shops(app)
    before = bytes(shop.credentials)
    again = _callback(web, user_id)  # replayed: refused, nothing changes
    assert again.status_code == 400
    [shop] = _shops(app)
    assert bytes(shop.credentials) == before


def test_unknown_user_id_and_wrong_permissions_are_refused_and_nothing_stored(app, web, devstore, redis_conn):
    assert _callback(web, "x" * 43).status_code == 400
    assert _callback(web, "").status_code == 400
    bad = requests.post(f"{web.url}/connect/woocommerce/callback", data=b"not json", timeout=10)
    assert bad.status_code == 400
    user_id = _start_only(web, devstore)
    assert _callback(web, user_id, permissions="read").status_code == 400
    assert _callback(web, user_id).status_code == 400  # the refused one was used up too
    assert _shops(app) == []
    assert jobs.queue(redis_conn, jobs.DEFAULT).count == 0


def test_deny_stores_nothing_and_kills_the_link(app, web, devstore):
    devstore.config(woocommerce={"auth_decision": "deny"})
    user_id = _start_only(web, devstore)
    resp = requests.get(f"{web.url}/connect/woocommerce", params={"store_url": devstore.base_url}, timeout=10)
    assert resp.status_code == 200 and "Not connected" in resp.text
    denied = requests.get(f"{web.url}/connect/woocommerce/return", params={"success": "0", "user_id": user_id},
                          timeout=10)
    assert "Not connected" in denied.text
    assert _callback(web, user_id).status_code == 400
    assert _shops(app) == [] and devstore.woo_auth()["keys"] == []


@pytest.mark.parametrize("store_url", ["ftp://shop.example", "https://user:pw@shop.example",
                                       "https://shop.example/#x", "https://shop.example/?a=1", "",
                                       "https://shop.example:99999"])
def test_bad_store_urls_are_refused(web, store_url):
    resp = requests.get(f"{web.url}/connect/woocommerce", params={"store_url": store_url},
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 400


def test_a_remote_store_needs_an_https_app_url(web):
    resp = requests.get(f"{web.url}/connect/woocommerce", params={"store_url": "https://shop.example"},
                        allow_redirects=False, timeout=10)
    assert resp.status_code == 400 and "https" in resp.json()["error"]


def test_check_reenables_a_disabled_webhook_and_recreates_a_deleted_one(app, web, devstore, worker, redis_conn):
    shop_id, credentials = _connected(app, web, devstore, worker)
    created_id = credentials["webhooks"]["product.created"]["id"]
    order_id = credentials["webhooks"]["order.created"]["id"]
    devstore.disable_woo_webhook(created_id)
    devstore.delete_woo_webhook(order_id)
    product_id = devstore.create_product("woocommerce", **NEW_PRODUCT)
    assert devstore.flush()
    assert not [d for d in devstore.deliveries("woocommerce") if d["kind"] == "event"]  # disabled: not sent

    jobs.queue(redis_conn, jobs.DEFAULT).enqueue("plugin.install.woocommerce_webhooks.check_job")
    worker.drain()
    by_topic = {h["topic"]: h for h in devstore.woo_webhooks()}
    assert by_topic["product.created"]["status"] == "active" and by_topic["product.created"]["id"] == created_id
    assert by_topic["order.created"]["id"] != order_id
    new_credentials = _credentials(app, shop_id)
    assert new_credentials["webhooks"]["order.created"]["id"] == by_topic["order.created"]["id"]
    assert by_topic["order.created"]["secret"] == credentials["webhooks"]["order.created"]["secret"]
    [entry] = _audit(app, "woocommerce.webhooks_repaired")
    assert entry.detail == {"product.created": {"id": created_id, "result": "re-enabled"},
                            "order.created": {"id": by_topic["order.created"]["id"], "result": "recreated"}}
    assert hooks.check_all(worker_env(worker)) == {
        normalize_store_url(devstore.base_url): {t: "active" for t in TOPICS}}

    devstore.fire("woocommerce", "product.created", product_id)
    assert devstore.flush()
    assert [d["status"] for d in devstore.deliveries("woocommerce") if d["kind"] == "event"] == [200]

    make_staff(app, shop_id)
    page = logged_in(app).get("/panel/jobs").get_data(as_text=True)
    assert 'data-testid="webhook-health"' in page
    assert "product.created" in page and "order.created" in page and "never" in page


def worker_env(worker):
    from worker import context

    return context.get()


def test_disconnect_deletes_webhooks_and_keys_and_later_deliveries_get_401(app, web, devstore, worker):
    shop_id, credentials = _connected(app, web, devstore, worker)
    make_staff(app, shop_id)
    client = logged_in(app)
    token = csrf(client, "/panel/jobs")
    assert client.post("/panel/woocommerce/disconnect").status_code == 400  # no CSRF token
    assert len(devstore.woo_webhooks()) == 3
    resp = client.post("/panel/woocommerce/disconnect", data={"csrf_token": token})
    assert resp.status_code == 302
    assert devstore.woo_webhooks() == []
    [shop] = _shops(app)
    assert shop.uninstalled_at is not None and _credentials(app, shop_id) == {}
    [entry] = _audit(app, "woocommerce.disconnected")
    assert sorted(entry.detail["webhooks_deleted"]) == sorted(TOPICS)

    product_id = devstore.create_product("woocommerce", fire=False, **NEW_PRODUCT)
    body = json.dumps({"id": product_id, "date_modified_gmt": "2026-01-01T00:00:00"}).encode()
    secret = credentials["webhooks"]["product.created"]["secret"]
    headers = {"Content-Type": "application/json", "X-WC-Webhook-Source": f"{devstore.base_url}/",
               "X-WC-Webhook-Topic": "product.created", "X-WC-Webhook-Resource": "product",
               "X-WC-Webhook-Event": "created", "X-WC-Webhook-Signature": _sign(secret, body)}
    late = requests.post(f"{web.url}/webhooks/woocommerce", data=body, headers=headers, timeout=10)
    assert late.status_code == 401


def test_cli_check_leaves_paused_alone_and_disconnect_wipes_keys(app, web, devstore, worker, settings, monkeypatch,
                                                                 capsys):
    from plugin.cli import main

    shop_id, credentials = _connected(app, web, devstore, worker)
    for key, value in {"COPYDESK_SECRET_KEY": SECRET_KEY, "COPYDESK_INSTANCE": str(settings.instance_path),
                       "REDIS_URL": settings.redis_url, "DATABASE_URL": settings.database_url,
                       "COPYDESK_APP_URL": settings.app_url}.items():
        monkeypatch.setenv(key, value)
    paused = credentials["webhooks"]["order.created"]["id"]
    requests.put(f"{devstore.base_url}/wp-json/wc/v3/webhooks/{paused}", json={"status": "paused"},
                 auth=(credentials["consumer_key"], credentials["consumer_secret"]),
                 headers={"X-Forwarded-Proto": "https"}, timeout=10).raise_for_status()
    assert main(["woocommerce", "check-webhooks"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[normalize_store_url(devstore.base_url)]["order.created"] == "paused"
    assert {h["topic"]: h["status"] for h in devstore.woo_webhooks()}["order.created"] == "paused"

    assert main(["woocommerce", "disconnect", "--shop", devstore.base_url]) == 0
    assert "disconnected" in capsys.readouterr().out
    assert devstore.woo_webhooks() == []
    assert _credentials(app, shop_id) == {} and _shops(app)[0].uninstalled_at is not None
    assert main(["woocommerce", "disconnect", "--shop", devstore.base_url]) == 0  # twice: nothing left to do
    assert "already disconnected" in capsys.readouterr().out


def test_a_shopify_shop_has_no_woocommerce_section_or_disconnect(app):
    from tests.panel_helpers import make_shop

    shop_id = make_shop(app)
    make_staff(app, shop_id)
    client = logged_in(app)
    page = client.get("/panel/jobs").get_data(as_text=True)
    assert 'data-testid="webhook-health"' not in page
    token = csrf(client, "/panel/jobs")
    assert client.post("/panel/woocommerce/disconnect", data={"csrf_token": token}).status_code == 404
    assert _shops(app)[0].uninstalled_at is None
