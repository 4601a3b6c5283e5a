"""Webhook intake against a real Redis: signatures, status codes, dedupe, pings, own writes, Redis down."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest
from rq import Queue

from plugin import jobs
from plugin.crypto import Vault
from plugin.platforms.base import text_digest
from plugin.shops import add_shop
from tests.conftest import APP_SECRET, SECRET_KEY, SHOP_DOMAIN

FIXTURES = Path(__file__).parent / "fixtures" / "woocommerce"
WOO_STORE = "http://127.0.0.1:8081"  # the store the fixtures were captured from


def captured(name: str) -> tuple[dict, bytes, str | None]:
    data = json.loads((FIXTURES / name).read_text())
    headers = {k: v for k, v in data["headers"] if k.lower() not in ("host", "content-length", "connection")}
    return headers, data["body"].encode(), data["secret"]


def shopify_headers(body: bytes, topic="products/create", secret=APP_SECRET, webhook_id=None) -> dict:
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": SHOP_DOMAIN,
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Triggered-At": "2026-11-29T09:00:00Z",
    }


@pytest.fixture
def shops(app):
    vault = Vault(SECRET_KEY)
    with app.extensions["copydesk_sessionmaker"]() as db:
        shopify = add_shop(db, vault, platform="shopify", domain=SHOP_DOMAIN,
                           credentials={"access_token": "t"}, api_url="http://127.0.0.1:9")
        woo = add_shop(db, vault, platform="woocommerce", domain=WOO_STORE, api_url=WOO_STORE,
                       credentials={"consumer_key": "ck", "consumer_secret": "cs",
                                    "webhook_secret": "peer-secret-123"})
        return {"shopify": shopify.id, "woocommerce": woo.id}


@pytest.fixture
def client(app):
    return app.test_client()


def queued(redis_conn, name: str) -> list:
    return Queue(name, connection=redis_conn).get_jobs()


def test_captured_woocommerce_product_created_is_verified_and_queued(client, shops, redis_conn):
    headers, body, _ = captured("product.created.json")
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "queued"
    [job] = queued(redis_conn, jobs.GENERATE)
    assert job.func_name == "worker.tasks.generate_copy"
    assert job.args == (shops["woocommerce"], "10")


def test_captured_woocommerce_order_created_is_queued(client, shops, redis_conn):
    headers, body, _ = captured("order.created.json")
    assert client.post("/webhooks/woocommerce", data=body, headers=headers).status_code == 200
    [job] = queued(redis_conn, jobs.GENERATE)  # a follow-up is written by the model
    assert job.func_name == "worker.tasks.order_created"
    assert job.args == (shops["woocommerce"], "11")


def test_woocommerce_ping_gets_200_and_queues_nothing(client, shops, redis_conn):
    headers, body, _ = captured("ping.json")
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 200
    assert all(not queued(redis_conn, q) for q in jobs.QUEUES)


def test_woocommerce_duplicate_delivery_is_queued_once(client, shops, redis_conn):
    headers, body, _ = captured("product.created.json")
    first = client.post("/webhooks/woocommerce", data=body, headers=headers)
    headers["X-WC-Webhook-Delivery-ID"] = "a-new-id-on-every-send"
    second = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert (first.get_json()["status"], second.get_json()["status"]) == ("queued", "duplicate")
    assert len(queued(redis_conn, jobs.GENERATE)) == 1


@pytest.mark.parametrize("tamper", ["body", "signature", "missing-signature", "wrong-store"])
def test_forged_woocommerce_delivery_is_401_and_not_stored(client, shops, redis_conn, tamper):
    headers, body, _ = captured("product.created.json")
    if tamper == "body":
        body = body.replace(b"Peer Mug", b"Evil Mug")
    elif tamper == "signature":
        headers["X-WC-Webhook-Signature"] = base64.b64encode(b"x" * 32).decode()
    elif tamper == "missing-signature":
        del headers["X-WC-Webhook-Signature"]
    else:
        headers["X-WC-Webhook-Source"] = "https://unknown-store.example/"
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized"}
    assert all(not queued(redis_conn, q) for q in jobs.QUEUES)
    assert not redis_conn.keys("copydesk:delivery:*")


def test_own_write_back_is_not_queued(client, shops, redis_conn):
    headers, body, _ = captured("product.updated.json")
    payload = json.loads(body)
    key = jobs.own_write_key(shops["woocommerce"], str(payload["id"]))
    redis_conn.set(key, text_digest(payload["description"]))
    response = client.post("/webhooks/woocommerce", data=body, headers=headers)
    assert response.get_json()["status"] == "own-write"
    assert all(not queued(redis_conn, q) for q in jobs.QUEUES)


def test_someone_elses_update_is_queued_for_refresh(client, shops, redis_conn):
    headers, body, _ = captured("product.updated.json")
    assert client.post("/webhooks/woocommerce", data=body, headers=headers).get_json()["status"] == "queued"
    [job] = queued(redis_conn, jobs.DEFAULT)
    assert job.func_name == "worker.tasks.product_updated"


def test_shopify_signed_delivery_is_queued_and_redelivery_dropped(client, shops, redis_conn):
    body = json.dumps({"id": 632910392, "title": "IPod Nano", "body_html": "<p>It's the small iPod</p>"}).encode()
    headers = shopify_headers(body, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    assert client.post("/webhooks/shopify", data=body, headers=headers).get_json()["status"] == "queued"
    assert client.post("/webhooks/shopify", data=body, headers=headers).get_json()["status"] == "duplicate"
    [job] = queued(redis_conn, jobs.GENERATE)
    assert job.args == (shops["shopify"], "632910392")


def test_shopify_previous_secret_is_accepted_during_rotation(app, shops, redis_conn):
    app.config["COPYDESK"] = app.config["COPYDESK"].replace(
        shopify_api_secret="the-new-secret", shopify_api_secret_previous=APP_SECRET)
    body = json.dumps({"id": 1, "title": "x"}).encode()
    response = app.test_client().post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    assert response.status_code == 200


@pytest.mark.parametrize("case,status", [
    ("bad-hmac", 401), ("no-hmac", 401), ("missing-webhook-id", 400), ("not-json", 400),
    ("no-id", 400), ("path-in-id", 400),
])
def test_shopify_bad_deliveries(client, shops, redis_conn, case, status):
    body = json.dumps({"id": 7, "title": "x"}).encode()
    topic = "products/create"
    if case == "not-json":
        body = b"{not json"
    elif case == "no-id":
        body = b'{"title": "x"}'
    elif case == "path-in-id":
        body = b'{"id": "../../etc/passwd"}'
    headers = shopify_headers(body, topic=topic)
    if case == "bad-hmac":
        headers = shopify_headers(body, secret="not-the-secret")
    elif case == "no-hmac":
        del headers["X-Shopify-Hmac-Sha256"]
    elif case == "missing-webhook-id":
        del headers["X-Shopify-Webhook-Id"]
    response = client.post("/webhooks/shopify", data=body, headers=headers)
    assert response.status_code == status
    assert all(not queued(redis_conn, q) for q in jobs.QUEUES)


def test_verified_delivery_of_a_topic_we_do_not_handle_is_acknowledged(client, shops, redis_conn):
    """Anything but 2xx counts as a failure: Shopify drops the subscription, WooCommerce disables it."""
    body = json.dumps({"id": 7, "name": "Dawn"}).encode()
    shopify = client.post("/webhooks/shopify", data=body, headers=shopify_headers(body, topic="themes/publish"))
    headers, woo_body, _ = captured("product.created.json")
    headers["X-WC-Webhook-Topic"] = "coupon.created"
    woo = client.post("/webhooks/woocommerce", data=woo_body, headers=headers)
    assert [r.status_code for r in (shopify, woo)] == [200, 200]
    assert [r.get_json()["status"] for r in (shopify, woo)] == ["ignored", "ignored"]
    assert all(not queued(redis_conn, q) for q in jobs.QUEUES)


def test_shopify_shop_not_installed_is_200_and_ignored(client, redis_conn, app):
    body = json.dumps({"id": 7}).encode()
    response = client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    assert (response.status_code, response.get_json()["status"]) == (200, "ignored")
    assert not queued(redis_conn, jobs.GENERATE)


def test_oversized_body_is_413(client, shops, redis_conn, app):
    body = b'{"id": 1, "pad": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10) + b'"}'
    response = client.post("/webhooks/shopify", data=body, headers=shopify_headers(body))
    assert response.status_code == 413
    assert not queued(redis_conn, jobs.GENERATE)


def test_get_is_405(client):
    assert client.get("/webhooks/shopify").status_code == 405


def test_redis_down_is_503_then_the_retry_is_accepted(settings, shops, redis_conn, tmp_path):
    """A delivery is never acknowledged and lost: 503 while Redis is down, queued once it is back."""
    from plugin.app import create_app
    from plugin.redis_server import EmbeddedRedis

    own = EmbeddedRedis(tmp_path / "own-redis")
    proc = own.start_child()
    try:
        app = create_app(settings, redis_client=own.client())
        body = json.dumps({"id": 99, "title": "x"}).encode()
        headers = shopify_headers(body)
        own.shutdown()
        proc.wait(timeout=10)
        down = app.test_client().post("/webhooks/shopify", data=body, headers=headers)
        assert down.status_code == 503
        proc = own.start_child()  # same folder: the AOF brings back whatever it held
        up = app.test_client().post("/webhooks/shopify", data=body, headers=headers)
        assert (up.status_code, up.get_json()["status"]) == (200, "queued")
        assert len(Queue(jobs.GENERATE, connection=own.client()).get_jobs()) == 1
    finally:
        own.shutdown()
        proc.wait(timeout=10)


def test_racing_duplicates_over_http_queue_one_job(web, shops, redis_conn):
    """Ten copies of one delivery at once, through the real HTTP server: one job, nine duplicates."""
    import concurrent.futures

    import requests

    body = json.dumps({"id": 4242, "title": "x"}).encode()
    headers = shopify_headers(body, webhook_id="racing-delivery")

    def post(_):
        return requests.post(f"{web.url}/webhooks/shopify", data=body, headers=headers, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(post, range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 9 + ["queued"]
    assert Queue(jobs.GENERATE, connection=redis_conn).count == 1
