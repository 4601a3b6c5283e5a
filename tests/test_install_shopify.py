"""Shopify install, end to end against the store emulator over real HTTP, real Redis and the real RQ
worker path: token exchange on the first embedded load, refresh (before expiry, on 401, under
concurrency), the authorization-code fallback and every forged or replayed request, uninstall, scopes,
and the privacy webhooks. Nothing is mocked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from rq import Queue
from sqlalchemy import select

from plugin import jobs
from plugin.crypto import Vault
from plugin.db import AuditEntry, DataExport, Draft, Shop
from plugin.drafts import approve
from plugin.install import shopify_tokens
from plugin.install.shopify_oauth import query_hmac
from plugin.platforms.http import make_session
from tests.conftest import APP_SECRET, SECRET_KEY
from tests.panel_helpers import API_KEY, session_token

SHOP = "install-shop.myshopify.com"
MANIFEST_TOPICS = {"products/create", "products/update", "orders/create", "app/uninstalled", "app/scopes_update"}


@pytest.fixture
def settings(settings):
    """The conftest's settings with the app's client id (token exchange and refresh need it)."""
    return settings.replace(shopify_api_key=API_KEY)


@pytest.fixture
def env(app, devstore, web):
    """The emulated shop runs the app (client id and secret); new installs reach it, and it calls back
    the web app's real address."""
    devstore.config(shopify={"shop_domain": SHOP, "api_key": API_KEY, "app_secret": APP_SECRET,
                             "webhook_url": None})
    app.extensions[shopify_tokens.API_BASE] = lambda shop: devstore.base_url
    app.config["COPYDESK"] = app.config["COPYDESK"].replace(app_url=web.url)
    return app


def auth_report(devstore) -> dict:
    return devstore._call("GET", "shopify/auth")


def embedded_load(web, token: str | None = None) -> requests.Response:
    token = token or session_token(SHOP)
    query = urlencode({"shop": SHOP, "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvaW5zdGFsbA", "embedded": "1"})
    return requests.get(f"{web.url}/panel/?{query}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def shop_row(app) -> Shop | None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return db.scalar(select(Shop).where(Shop.domain == SHOP))


def creds(app) -> dict:
    return Vault(SECRET_KEY).open(shop_row(app).credentials)


def install(env, web, devstore) -> Shop:
    response = embedded_load(web)
    assert response.status_code == 200, response.text[:300]
    return shop_row(env)


def reseal(app, **changes) -> None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        shop = db.scalar(select(Shop).where(Shop.domain == SHOP))
        shop.credentials = Vault(SECRET_KEY).seal({**Vault(SECRET_KEY).open(shop.credentials), **changes})
        db.commit()


def signed_webhook(web, topic: str, payload: dict, *, secret: str = APP_SECRET, triggered: str = "") -> int:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": SHOP,
               "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()),
               "X-Shopify-API-Version": "2025-10", "X-Shopify-Webhook-Id": str(uuid.uuid4())}
    if triggered:
        headers["X-Shopify-Triggered-At"] = triggered
    return requests.post(f"{web.url}/webhooks/shopify", data=body, headers=headers, timeout=10).status_code


def product_to_published(app, devstore, worker, redis_conn) -> Draft:
    product_id = devstore.create_product("shopify", title="Linen Apron", category="Kitchen")
    assert devstore.flush(timeout=15)
    assert [d["status"] for d in devstore.deliveries("shopify")][-1] == 200
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        draft = db.scalar(select(Draft).where(Draft.product_id == str(product_id)))
        assert draft is not None and draft.status == "pending", draft and draft.reason
        approve(db, draft, actor="staff@example.com")
    jobs.enqueue_publish(redis_conn, draft.id, actor="staff@example.com", shop_id=draft.shop_id)
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        draft = db.get(Draft, draft.id)
    assert draft.status == "published", draft.reason
    assert devstore.product("shopify", product_id)["description_html"] == draft.fields["description_html"]
    return draft


def raw_database_bytes(settings) -> bytes:
    path = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


# ---------------------------------------------------------------------------------- token exchange


def test_embedded_first_load_installs_and_a_product_goes_to_publish(env, web, devstore, worker, redis_conn,
                                                                      settings):
    shop = install(env, web, devstore)
    assert shop is not None and shop.uninstalled_at is None and shop.api_url == devstore.base_url
    stored = creds(env)
    assert stored["access_token"].startswith("shpat_") and stored["refresh_token"].startswith("shprt_")
    assert 3500 < stored["expires_at"] - time.time() <= 3600
    assert stored["refresh_token_expires_at"] - time.time() > 80 * 86400
    if settings.sqlalchemy_url.startswith("sqlite"):
        raw = raw_database_bytes(settings)
        assert stored["access_token"].encode() not in raw and stored["refresh_token"].encode() not in raw
    report = auth_report(devstore)
    assert report["calls"] == ["token-exchange"]
    assert set(report["subscriptions"]) == MANIFEST_TOPICS
    assert set(report["subscriptions"].values()) == {f"{web.url}/webhooks/shopify"}
    product_to_published(env, devstore, worker, redis_conn)
    assert auth_report(devstore)["calls"] == ["token-exchange"]  # a fresh token is not refreshed


def test_first_loads_at_once_exchange_once(env, web, devstore):
    responses = []
    threads = [threading.Thread(target=lambda: responses.append(embedded_load(web))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [r.status_code for r in responses] == [200] * 4
    assert auth_report(devstore)["calls"] == ["token-exchange"]


def test_a_refused_session_token_asks_for_a_new_one(env, web, devstore):
    devstore.config(shopify={"api_key": "another-app"})  # Shopify answers invalid_subject_token
    response = embedded_load(web)
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert shop_row(env) is None


# ------------------------------------------------------------------------------------------ refresh


def test_refresh_before_expiry(env, web, devstore, worker, redis_conn):
    install(env, web, devstore)
    before = creds(env)
    reseal(env, expires_at=time.time() + 120)  # inside the 5-minute margin
    product_to_published(env, devstore, worker, redis_conn)
    after = creds(env)
    assert auth_report(devstore)["calls"] == ["token-exchange", "refresh_token"]
    assert after["access_token"] != before["access_token"] and after["refresh_token"] != before["refresh_token"]
    assert after["expires_at"] - time.time() > 3500


def test_refresh_on_401(env, web, devstore, worker, redis_conn):
    install(env, web, devstore)
    before = creds(env)
    devstore._call("POST", "shopify/expire")  # the token dies early; the stored expiry still looks fine
    product_to_published(env, devstore, worker, redis_conn)
    assert auth_report(devstore)["calls"] == ["token-exchange", "refresh_token"]
    assert creds(env)["access_token"] != before["access_token"]


def test_concurrent_refreshes_call_shopify_once(env, web, devstore, settings, redis_conn):
    shop = install(env, web, devstore)
    stale = creds(env)["access_token"]
    devstore._call("POST", "shopify/expire")
    results, errors = [], []
    sessions, vault = env.extensions["copydesk_sessionmaker"], Vault(SECRET_KEY)

    def refresh():
        try:
            results.append(shopify_tokens.refresh(sessions, vault, redis_conn, make_session(), settings, shop.id,
                                                  stale_token=stale))
        except Exception as err:  # noqa: BLE001 - collected for the assertion
            errors.append(err)

    threads = [threading.Thread(target=refresh) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert auth_report(devstore)["calls"] == ["token-exchange", "refresh_token"]
    assert len({r["access_token"] for r in results}) == 1 and len(results) == 8
    assert creds(env)["access_token"] == results[0]["access_token"]


# ------------------------------------------------------------------------- authorization-code grant


def signed_query(params: dict, secret: str = APP_SECRET) -> str:
    return urlencode({**params, "hmac": query_hmac(secret, params)})


def start_install(web, client: requests.Session, shop: str = SHOP, **overrides) -> requests.Response:
    params = {"shop": shop, "timestamp": str(int(time.time())), **overrides}
    return client.get(f"{web.url}/auth/shopify/install?{signed_query(params)}", allow_redirects=False, timeout=10)


def test_authorization_code_install(env, web, devstore):
    client = requests.Session()
    started = start_install(web, client)
    assert started.status_code == 302
    authorize = urlsplit(started.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}" == devstore.base_url
    assert authorize.path == "/admin/oauth/authorize"
    asked = parse_qs(authorize.query)
    assert asked["client_id"] == [API_KEY] and asked["redirect_uri"] == [f"{web.url}/auth/shopify/callback"]
    assert asked["scope"] == ["read_products,write_products,read_orders,write_orders"]
    approved = client.get(started.headers["Location"], allow_redirects=False, timeout=10)
    callback = approved.headers["Location"]
    assert callback.startswith(f"{web.url}/auth/shopify/callback?")
    done = client.get(callback, allow_redirects=False, timeout=10)
    assert done.status_code == 302 and done.headers["Location"].startswith("/panel/?shop=")
    assert creds(env)["access_token"].startswith("shpat_")
    report = auth_report(devstore)
    assert report["calls"] == ["authorization_code"] and set(report["subscriptions"]) == MANIFEST_TOPICS
    replay = client.get(callback, allow_redirects=False, timeout=10)
    assert replay.status_code == 401  # the state was used
    assert auth_report(devstore)["calls"] == ["authorization_code"]


@pytest.mark.parametrize("shop", ["evil.com/x.myshopify.com", "Install-Shop.myshopify.com", "x.myshopify.com.evil.com",
                                  "-x.myshopify.com", "x.myshopify.com/", "x.myshopify.com?x=1", "myshopify.com",
                                  "https://x.myshopify.com", "x.myshopify.com\n"])
def test_install_refuses_a_bad_shop(env, web, shop):
    assert start_install(web, requests.Session(), shop=shop).status_code == 400


def test_install_refuses_forged_and_stale_requests(env, web):
    now = str(int(time.time()))
    bad_hmac = urlencode({"shop": SHOP, "timestamp": now, "hmac": "0" * 64})
    assert requests.get(f"{web.url}/auth/shopify/install?{bad_hmac}", timeout=10).status_code == 401
    other_secret = signed_query({"shop": SHOP, "timestamp": now}, secret="not-the-app-secret")
    assert requests.get(f"{web.url}/auth/shopify/install?{other_secret}", timeout=10).status_code == 401
    unsigned = urlencode({"shop": SHOP, "timestamp": now})
    assert requests.get(f"{web.url}/auth/shopify/install?{unsigned}", timeout=10).status_code == 401
    stale = signed_query({"shop": SHOP, "timestamp": str(int(time.time()) - 600)})
    assert requests.get(f"{web.url}/auth/shopify/install?{stale}", timeout=10).status_code == 401
    tampered = signed_query({"shop": SHOP, "timestamp": now}).replace(SHOP, "other-shop.myshopify.com")
    assert requests.get(f"{web.url}/auth/shopify/install?{tampered}", timeout=10).status_code == 401
    twice = signed_query({"shop": SHOP, "timestamp": now}) + f"&shop={SHOP}"
    assert requests.get(f"{web.url}/auth/shopify/install?{twice}", timeout=10).status_code == 400


def test_callback_refuses_forged_state(env, web, devstore):
    client = requests.Session()
    started = start_install(web, client)
    state = parse_qs(urlsplit(started.headers["Location"]).query)["state"][0]
    nonce = state.split(".")[0]

    def callback(session: requests.Session, **params) -> int:
        query = {"code": "c0de", "shop": SHOP, "timestamp": str(int(time.time())), **params}
        return session.get(f"{web.url}/auth/shopify/callback?{signed_query(query)}", allow_redirects=False,
                           timeout=10).status_code

    assert callback(client, state=f"{nonce}.{'0' * 32}") == 401  # signature of the state
    assert callback(client, state="f" * 64 + "." + state.split(".")[1]) == 401  # another nonce
    assert callback(requests.Session(), state=state) == 401  # not the browser that started
    stale = {"code": "c0de", "shop": SHOP, "state": state, "timestamp": str(int(time.time()) - 600)}
    assert client.get(f"{web.url}/auth/shopify/callback?{signed_query(stale)}", timeout=10).status_code == 401
    assert auth_report(devstore)["calls"] == []  # nothing reached Shopify
    assert shop_row(env) is None


# ----------------------------------------------------------------------------------- uninstalling


def test_uninstall_twice_wipes_tokens_cancels_jobs_keeps_drafts(env, web, devstore, worker, redis_conn):
    shop = install(env, web, devstore)
    draft = product_to_published(env, devstore, worker, redis_conn)
    jobs.enqueue_generate(redis_conn, shop.id, "8100000001", trigger="test")
    jobs.enqueue_order_created(redis_conn, shop.id, "5600000001", delivery="d1")
    devstore._call("POST", "shopify/uninstall", {"twice": True})
    assert devstore.flush(timeout=15)
    uninstalls = [d for d in devstore.deliveries("shopify") if d["topic"] == "app/uninstalled"]
    assert [d["status"] for d in uninstalls] == [200, 200]
    row = shop_row(env)
    assert row.uninstalled_at is not None and creds(env) == {}
    assert all(Queue(q, connection=redis_conn).count == 0 for q in jobs.QUEUES)
    with env.extensions["copydesk_sessionmaker"]() as db:
        assert db.get(Draft, draft.id) is not None
        assert len(list(db.scalars(select(AuditEntry).where(AuditEntry.action == "shop.uninstalled")))) == 1
    assert embedded_load(web).status_code == 200  # a reinstall brings a new token
    assert shop_row(env).uninstalled_at is None and creds(env)["access_token"]
    late = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 3600))
    assert signed_webhook(web, "app/uninstalled", {"id": 1, "domain": SHOP}, triggered=late) == 200
    assert shop_row(env).uninstalled_at is None  # a late delivery about the earlier install


def test_scopes_update_is_stored(env, web, devstore):
    install(env, web, devstore)
    payload = {"id": 1, "previous": ["read_products"], "current": ["read_products", "write_products"]}
    assert signed_webhook(web, "app/scopes_update", payload) == 200
    assert creds(env)["scope"] == "read_products,write_products"


# --------------------------------------------------------------------------------------- privacy


def seed_customer_data(app, shop_id: int) -> None:
    with app.extensions["copydesk_sessionmaker"]() as db:
        for order_id in ("1001", "1002"):
            db.add(AuditEntry(shop_id=shop_id, actor="worker", action="order.received", detail={"order_id": order_id}))
            db.add(Draft(shop_id=shop_id, kind="order_follow_up", product_id=order_id, input_hash=order_id,
                         fields={"note": f"thanks for order {order_id}"}))
        db.add(Draft(shop_id=shop_id, kind="product_copy", product_id="1001", input_hash="p"))
        db.commit()


def order_rows(app) -> tuple[set[str], set[tuple[str, str]]]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        received = db.scalars(select(AuditEntry).where(AuditEntry.action == "order.received"))
        events = {e.detail["order_id"] for e in received}
        drafts = {(d.kind, d.product_id) for d in db.scalars(select(Draft))}
    return events, drafts


def test_data_request_export_and_customer_redact(env, web, devstore):
    shop = install(env, web, devstore)
    seed_customer_data(env, shop.id)
    request_payload = {"shop_id": 1, "shop_domain": SHOP, "orders_requested": [1001],
                       "customer": {"id": 77, "email": "ada@example.com"}, "data_request": {"id": 9}}
    assert signed_webhook(web, "customers/data_request", request_payload, secret="forged") == 401
    assert signed_webhook(web, "customers/data_request", request_payload) == 200
    with env.extensions["copydesk_sessionmaker"]() as db:
        [export] = db.scalars(select(DataExport))
    fetched = requests.get(f"{web.url}/panel/exports/{export.id}", timeout=10,
                           headers={"Authorization": f"Bearer {session_token(SHOP)}"})
    assert fetched.status_code == 200
    body = fetched.json()
    assert [e["detail"]["order_id"] for e in body["order_events"]] == ["1001"]
    assert [d["order_id"] for d in body["order_drafts"]] == ["1001"]
    other = requests.get(f"{web.url}/panel/exports/{export.id}", timeout=10,
                         headers={"Authorization": f"Bearer {session_token('other-shop.myshopify.com')}"})
    assert other.status_code in (401, 404)
    redact = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": 77}, "orders_to_redact": [1001]}
    assert signed_webhook(web, "customers/redact", redact) == 200
    events, drafts = order_rows(env)
    assert events == {"1002"}
    assert drafts == {("order_follow_up", "1002"), ("product_copy", "1001")}
    with env.extensions["copydesk_sessionmaker"]() as db:
        assert list(db.scalars(select(DataExport))) == []


def test_shop_redact_after_uninstall_deletes_the_shop(env, web, devstore):
    shop = install(env, web, devstore)
    seed_customer_data(env, shop.id)
    devstore._call("POST", "shopify/uninstall")
    assert devstore.flush(timeout=15)
    assert order_rows(env)[1]  # drafts are kept until shop/redact
    assert signed_webhook(web, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}, secret="forged") == 401
    assert signed_webhook(web, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}) == 200
    assert shop_row(env) is None
    assert order_rows(env) == (set(), set())
    assert signed_webhook(web, "shop/redact", {"shop_id": 1, "shop_domain": SHOP}) == 200  # again: nothing left


# -------------------------------------------------------------------------------------------- logs


def test_nothing_secret_in_logs(env, web, devstore, worker, redis_conn, caplog):
    caplog.set_level(logging.DEBUG)
    install(env, web, devstore)
    first = creds(env)
    devstore._call("POST", "shopify/expire")
    product_to_published(env, devstore, worker, redis_conn)
    second = creds(env)
    devstore._call("POST", "shopify/uninstall")
    assert devstore.flush(timeout=15)
    secrets_ = [first["access_token"], first["refresh_token"], second["access_token"], second["refresh_token"],
                APP_SECRET, SECRET_KEY]
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "refreshed the access token" in text  # the flow did log
    for secret in secrets_:
        assert secret not in text
