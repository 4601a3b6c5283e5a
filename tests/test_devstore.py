"""Devstore over real HTTP: Shopify GraphQL, WooCommerce REST + OAuth 1.0a, webhooks, faults, control."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time

import pytest
import requests
from requests_oauthlib import OAuth1
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from devstore.client import DevStoreClient
from devstore.config import StoreConfig
from devstore.server import serve_in_thread

TOKEN, APP_SECRET = "shpat_test", "app-secret-xyz"
CK, CS, WOO_SECRET = "ck_test", "cs_test", "peer-secret-123"
GQL_PRODUCT = (
    "query($id: ID!) { product(id: $id) { id title handle descriptionHtml productType vendor tags "
    "updatedAt seo { title description } options { name values } variants(first: 100) { nodes { "
    "title sku price selectedOptions { name value } } } } }"
)
GQL_UPDATE = (
    "mutation($product: ProductUpdateInput!) { productUpdate(product: $product) { product { id "
    "updatedAt } userErrors { field message } } }"
)


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args) -> None:
        pass


class Receiver:
    """A tiny webhook receiver on its own port: records every request, answers `status`."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(
                {"path": request.path, "headers": dict(request.headers), "body": request.get_data()}
            )
        return Response("ok", status=self.status)

    def wait(self, count: int, timeout: float = 5) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} webhook requests, got {len(self.requests)}")


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver()
    yield rec
    rec.server.shutdown()


@pytest.fixture(scope="module")
def running():
    with serve_in_thread(StoreConfig(seed=False)) as store:
        yield store


@pytest.fixture
def ds(running, receiver) -> DevStoreClient:
    client = DevStoreClient(running.base_url)
    receiver.requests.clear()
    receiver.status = 200
    client.config(
        shopify={
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "webhook_url": receiver.url + "/wh/shopify",
        },
        woocommerce={
            "consumer_key": CK,
            "consumer_secret": CS,
            "webhook_secret": WOO_SECRET,
            "webhook_url": receiver.url + "/wh/woo",
        },
    )
    client.reset(seed=True)
    client.clear_faults()
    return client


def gql(base: str, query: str, variables: dict | None = None, token: str = TOKEN) -> requests.Response:
    return requests.post(
        f"{base}/admin/api/2025-10/graphql.json",
        json={"query": query, "variables": variables or {}},
        headers={"X-Shopify-Access-Token": token},
        timeout=10,
    )


def woo(method: str, base: str, path: str, **kwargs) -> requests.Response:
    auth = OAuth1(CK, CS, signature_method="HMAC-SHA256", signature_type="query")
    return requests.request(method, f"{base}/wp-json/wc/v3/{path}", auth=auth, timeout=10, **kwargs)


def first_id(ds: DevStoreClient, platform: str, with_description: bool = False) -> int:
    for p in ds.products():
        if p["platform"] == platform and bool(p["description_html"]) == with_description:
            return p["id"]
    raise AssertionError("no such sample")


def shopify_hmac_ok(req: dict) -> bool:
    digest = base64.b64encode(hmac.new(APP_SECRET.encode(), req["body"], hashlib.sha256).digest())
    return hmac.compare_digest(digest, req["headers"]["X-Shopify-Hmac-Sha256"].encode())


def woo_signature_ok(req: dict, secret: str = WOO_SECRET) -> bool:
    digest = base64.b64encode(hmac.new(secret.encode(), req["body"], hashlib.sha256).digest())
    return hmac.compare_digest(digest, req["headers"]["X-Wc-Webhook-Signature"].encode())


# -- Shopify GraphQL -----------------------------------------------------------------------------------
def test_shopify_rejects_wrong_token(running, ds):
    resp = gql(running.base_url, GQL_PRODUCT, {"id": "gid://shopify/Product/1"}, token="nope")
    assert resp.status_code == 401
    assert "Invalid API key or access token" in resp.json()["errors"]


def test_shopify_product_query_shape_and_cost(running, ds):
    pid = first_id(ds, "shopify", with_description=True)
    body = gql(running.base_url, GQL_PRODUCT, {"id": f"gid://shopify/Product/{pid}"}).json()
    product = body["data"]["product"]
    assert product["id"] == f"gid://shopify/Product/{pid}"
    assert product["descriptionHtml"].startswith("<p>")
    assert product["variants"]["nodes"][0]["selectedOptions"][0].keys() == {"name", "value"}
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 101
    assert cost["actualQueryCost"] == 1 + len(product["variants"]["nodes"])
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    missing = gql(running.base_url, GQL_PRODUCT, {"id": "gid://shopify/Product/42"}).json()
    assert missing["data"]["product"] is None


def test_product_update_writes_records_and_fires_signed_webhook(running, ds, receiver):
    pid = first_id(ds, "shopify")
    update = {
        "id": f"gid://shopify/Product/{pid}",
        "descriptionHtml": "<p>New copy / v2</p>",
        "seo": {"title": "SEO title", "description": "SEO description"},
    }
    body = gql(running.base_url, GQL_UPDATE, {"product": update}).json()
    assert body["data"]["productUpdate"]["userErrors"] == []
    assert body["extensions"]["cost"]["actualQueryCost"] == 10
    raw = ds.product("shopify", pid)
    assert raw["description_html"] == "<p>New copy / v2</p>" and raw["seo_title"] == "SEO title"
    writes = ds.writes("shopify")
    assert writes[-1]["op"] == "productUpdate" and writes[-1]["resource_id"] == str(pid)
    assert writes[-1]["body"]["descriptionHtml"] == "<p>New copy / v2</p>"
    req = receiver.wait(1)[0]
    headers = req["headers"]
    assert headers["X-Shopify-Topic"] == "products/update"
    assert shopify_hmac_ok(req)
    for name in (
        "X-Shopify-Shop-Domain",
        "X-Shopify-Api-Version",
        "X-Shopify-Webhook-Id",
        "X-Shopify-Triggered-At",
        "X-Shopify-Event-Id",
    ):
        assert headers.get(name), name
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(req["body"])
    assert payload["id"] == pid and payload["body_html"] == "<p>New copy / v2</p>"
    assert payload["admin_graphql_api_id"] == f"gid://shopify/Product/{pid}"
    assert ds.flush() and ds.deliveries("shopify")[-1]["status"] == 200


def test_product_update_user_errors(running, ds):
    missing = gql(
        running.base_url, GQL_UPDATE, {"product": {"id": "gid://shopify/Product/1", "descriptionHtml": "x"}}
    )
    errors = missing.json()["data"]["productUpdate"]["userErrors"]
    assert errors == [{"field": ["id"], "message": "Product does not exist"}]
    pid = first_id(ds, "shopify")
    long_seo = {"id": f"gid://shopify/Product/{pid}", "seo": {"title": "x" * 256}}
    errors = gql(running.base_url, GQL_UPDATE, {"product": long_seo}).json()["data"]["productUpdate"][
        "userErrors"
    ]
    assert errors and errors[0]["field"] == ["seo", "title"]
    assert ds.writes() == []


def test_products_pagination(running, ds):
    query = (
        "query($cursor: String) { products(first: 5, after: $cursor) { nodes { id title } "
        "pageInfo { hasNextPage endCursor } } }"
    )
    seen, cursor, pages = [], None, 0
    while True:
        conn = gql(running.base_url, query, {"cursor": cursor}).json()["data"]["products"]
        seen += [n["id"] for n in conn["nodes"]]
        pages += 1
        if not conn["pageInfo"]["hasNextPage"]:
            break
        cursor = conn["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 12 and pages == 3


def test_order_update_metafields_upsert(running, ds, receiver):
    pid = first_id(ds, "shopify")
    oid = ds.create_order(
        "shopify", [{"product_id": pid, "quantity": 2}], customer={"email": "b@example.com"}
    )
    req = receiver.wait(1)[0]
    assert req["headers"]["X-Shopify-Topic"] == "orders/create" and shopify_hmac_ok(req)
    order_payload = json.loads(req["body"])
    assert order_payload["line_items"][0]["product_id"] == pid and order_payload["email"] == "b@example.com"
    mutation = (
        "mutation($input: OrderInput!) { orderUpdate(input: $input) { order { id } "
        "userErrors { field message } } }"
    )
    for value in ("first", "second"):
        field = {
            "namespace": "copydesk",
            "key": "follow_up",
            "value": value,
            "type": "single_line_text_field",
        }
        body = gql(
            running.base_url, mutation, {"input": {"id": f"gid://shopify/Order/{oid}", "metafields": [field]}}
        )
        assert body.json()["data"]["orderUpdate"]["userErrors"] == []
    order = gql(
        running.base_url,
        "query($id: ID!) { order(id: $id) { id metafields { nodes { key value } } } }",
        {"id": f"gid://shopify/Order/{oid}"},
    ).json()["data"]["order"]
    assert [(m["key"], m["value"]) for m in order["metafields"]["nodes"]] == [("follow_up", "second")]
    assert [w["op"] for w in ds.writes()] == ["orderUpdate", "orderUpdate"]


def test_leaky_bucket_throttles():
    with serve_in_thread(StoreConfig(bucket_max=101, restore_rate=0.5)) as store:
        pid = DevStoreClient(store.base_url).products()[0]["id"]
        variables = {"id": f"gid://shopify/Product/{pid}"}
        cfg_token = store.app.extensions["devstore"].store.config.shopify.access_token
        first = gql(store.base_url, GQL_PRODUCT, variables, token=cfg_token).json()
        assert first["data"]["product"]["id"] == variables["id"]
        second = gql(store.base_url, GQL_PRODUCT, variables, token=cfg_token)
        assert second.status_code == 200
        body = second.json()
        assert "data" not in body and body["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 101


def test_shopify_faults(running, ds):
    pid = first_id(ds, "shopify")
    variables = {"id": f"gid://shopify/Product/{pid}"}
    ds.fault("shopify", status=429, retry_after=1.5)
    ds.fault("shopify", throttle=True)
    ds.fault("shopify", delay_s=0.3)
    limited = gql(running.base_url, GQL_PRODUCT, variables)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1.5"
    throttled = gql(running.base_url, GQL_PRODUCT, variables).json()
    assert throttled["errors"][0]["message"] == "Throttled"
    started = time.monotonic()
    slow = gql(running.base_url, GQL_PRODUCT, variables)
    assert slow.status_code == 200 and time.monotonic() - started >= 0.3
    assert gql(running.base_url, GQL_PRODUCT, variables).json()["data"]["product"]


# -- WooCommerce REST ----------------------------------------------------------------------------------
def test_woo_oauth1_accepted_and_tampered_rejected(running, ds):
    pid = first_id(ds, "woocommerce")
    ok = woo("GET", running.base_url, f"products/{pid}")
    assert ok.status_code == 200 and ok.json()["id"] == pid
    replay = requests.get(ok.request.url, timeout=10)
    assert replay.status_code == 401 and "nonce" in replay.json()["message"]
    prepared = requests.Request(
        "GET",
        f"{running.base_url}/wp-json/wc/v3/products/{pid}",
        auth=OAuth1(CK, CS, signature_method="HMAC-SHA256", signature_type="query"),
    ).prepare()
    tampered = requests.get(prepared.url.replace(f"/products/{pid}", f"/products/{pid + 1}"), timeout=10)
    assert tampered.status_code == 401
    assert tampered.json()["code"] == "woocommerce_rest_authentication_error"
    old = OAuth1(
        CK, CS, signature_method="HMAC-SHA1", signature_type="query", timestamp=str(int(time.time()) - 3600)
    )
    stale = requests.get(f"{running.base_url}/wp-json/wc/v3/products/{pid}", auth=old, timeout=10)
    assert stale.status_code == 401 and stale.json()["message"] == "Invalid timestamp."
    wrong = OAuth1(CK, "cs_wrong", signature_method="HMAC-SHA256", signature_type="query")
    assert (
        requests.get(f"{running.base_url}/wp-json/wc/v3/products/{pid}", auth=wrong, timeout=10).status_code
        == 401
    )


def test_woo_basic_only_over_https(running, ds):
    pid = first_id(ds, "woocommerce")
    url = f"{running.base_url}/wp-json/wc/v3/products/{pid}"
    plain = requests.get(url, auth=(CK, CS), timeout=10)
    assert plain.status_code == 401
    assert plain.json() == {
        "code": "woocommerce_rest_cannot_view",
        "message": plain.json()["message"],
        "data": {"status": 401},
    }
    proxied = requests.get(url, auth=(CK, CS), headers={"X-Forwarded-Proto": "https"}, timeout=10)
    assert proxied.status_code == 200 and proxied.json()["id"] == pid


def test_woo_pagination_headers(running, ds):
    resp = woo("GET", running.base_url, "products", params={"page": 2, "per_page": 3, "status": "publish"})
    assert resp.status_code == 200 and len(resp.json()) == 3
    assert resp.headers["X-WP-Total"] == "8" and resp.headers["X-WP-TotalPages"] == "3"
    assert 'rel="next"' in resp.headers["Link"] and 'rel="prev"' in resp.headers["Link"]
    assert "page=3" in resp.headers["Link"] and "oauth_" not in resp.headers["Link"]
    assert (
        woo("GET", running.base_url, "products/99999").json()["code"] == "woocommerce_rest_product_invalid_id"
    )


def test_woo_put_updates_and_fires_signed_product_updated(running, ds, receiver):
    pid = first_id(ds, "woocommerce")
    before = woo("GET", running.base_url, f"products/{pid}").json()
    body = {
        "description": "<p>Fresh copy</p>",
        "short_description": "<p>Short.</p>",
        "meta_data": [{"key": "_copydesk_seo_title", "value": "A title"}],
    }
    time.sleep(1.0)
    resp = woo("PUT", running.base_url, f"products/{pid}", json=body)
    assert resp.status_code == 200
    product = resp.json()
    assert product["description"] == "<p>Fresh copy</p>"
    assert product["date_modified_gmt"] > before["date_modified_gmt"]
    meta_id = product["meta_data"][0]["id"]
    again = woo(
        "PUT",
        running.base_url,
        f"products/{pid}",
        json={"meta_data": [{"id": meta_id, "key": "_copydesk_seo_title", "value": "B"}]},
    ).json()
    assert again["meta_data"] == [{"id": meta_id, "key": "_copydesk_seo_title", "value": "B"}]
    assert [w["op"] for w in ds.writes("woocommerce")] == ["product.update", "product.update"]
    reqs = receiver.wait(2)
    first = reqs[0]
    headers = first["headers"]
    assert headers["X-Wc-Webhook-Topic"] == "product.updated" and woo_signature_ok(first)
    assert headers["X-Wc-Webhook-Resource"] == "product" and headers["X-Wc-Webhook-Event"] == "updated"
    assert headers["X-Wc-Webhook-Source"] == running.base_url + "/"
    assert headers["User-Agent"] == "WooCommerce/7.9.0 Hookshot (WordPress/6.1.9)"
    assert headers["X-Wc-Webhook-Delivery-Id"] != reqs[1]["headers"]["X-Wc-Webhook-Delivery-Id"]
    assert b"<\\/p>" in first["body"] and b", " not in first["body"][:50]
    assert json.loads(first["body"])["description"] == "<p>Fresh copy</p>"


def test_woo_webhook_creation_pings(running, ds, receiver):
    resp = woo(
        "POST",
        running.base_url,
        "webhooks",
        json={"name": "x", "topic": "order.created", "delivery_url": receiver.url + "/new", "secret": "s3"},
    )
    assert resp.status_code == 201 and resp.json()["topic"] == "order.created"
    ping = receiver.wait(1)[0]
    assert ping["path"] == "/new" and ping["body"] == f"webhook_id={resp.json()['id']}".encode()
    assert ping["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert not any(h.startswith("X-Wc-") for h in ping["headers"])
    listed = woo("GET", running.base_url, "webhooks").json()
    assert any(h["delivery_url"] == receiver.url + "/new" for h in listed)


def test_woo_order_created_and_notes(running, ds, receiver):
    pid = first_id(ds, "woocommerce")
    oid = ds.create_order("woocommerce", [{"product_id": pid, "quantity": 1}])
    req = receiver.wait(1)[0]
    assert req["headers"]["X-Wc-Webhook-Topic"] == "order.created" and woo_signature_ok(req)
    assert json.loads(req["body"])["line_items"][0]["product_id"] == pid
    note = woo(
        "POST",
        running.base_url,
        f"orders/{oid}/notes",
        json={"note": "Thanks!", "customer_note": True, "added_by_user": False},
    )
    assert note.status_code == 201 and note.json()["customer_note"] is True
    assert [n["note"] for n in woo("GET", running.base_url, f"orders/{oid}/notes").json()] == ["Thanks!"]
    assert woo("GET", running.base_url, f"orders/{oid}").json()["id"] == oid


def test_woo_faults(running, ds):
    ds.fault("woocommerce", status=503, retry_after=3)
    resp = woo("GET", running.base_url, "products")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "3"
    assert resp.json()["data"]["status"] == 503
    assert woo("GET", running.base_url, "products").status_code == 200


# -- control API ------------------------------------------------------------------------------------------
def test_control_create_edit_and_redeliver(running, ds, receiver):
    sid = ds.create_product("shopify", title="Test Lamp", category="Home", tags=["lamp"])
    wid = ds.create_product("woocommerce", title="Test Mug", description_html="<p>Mug</p>")
    reqs = receiver.wait(2)
    topics = sorted(r["headers"].get("X-Shopify-Topic") or r["headers"]["X-Wc-Webhook-Topic"] for r in reqs)
    assert topics == ["product.created", "products/create"]
    ds.edit_product("shopify", sid, description_html="<p>Staff wrote this</p>")
    edited = receiver.wait(3)[2]
    assert json.loads(edited["body"])["body_html"] == "<p>Staff wrote this</p>"
    ds.fire("shopify", "products/update", sid, redeliver=True)
    ds.fire("woocommerce", "product.created", wid)
    reqs = receiver.wait(5)
    assert reqs[3]["headers"]["X-Shopify-Webhook-Id"] == edited["headers"]["X-Shopify-Webhook-Id"]
    assert reqs[3]["body"] == edited["body"]
    assert reqs[4]["headers"]["X-Wc-Webhook-Delivery-Id"] != reqs[1]["headers"]["X-Wc-Webhook-Delivery-Id"]
    assert ds.writes() == []


def test_deliveries_record_receiver_status(running, ds, receiver):
    receiver.status = 500
    pid = first_id(ds, "shopify")
    ds.fire("shopify", "products/update", pid)
    assert ds.flush()
    assert ds.deliveries()[-1]["status"] == 500 and ds.deliveries()[-1]["topic"] == "products/update"


def test_storefront_shows_copy(running, ds):
    pid = first_id(ds, "shopify")
    ds.edit_product("shopify", pid, description_html="<p>Visible new copy</p>", fire=False)
    page = requests.get(running.base_url + "/", timeout=10)
    assert page.status_code == 200 and "<p>Visible new copy</p>" in page.text
    assert "Enamel Camping Mug" in page.text and 'http-equiv="refresh"' in page.text
    assert (
        requests.get(running.base_url + "/img/enamel-mug.svg", timeout=10)
        .headers["Content-Type"]
        .startswith("image/svg+xml")
    )


def test_devstore_is_independent_of_plugin_and_worker():
    import subprocess
    import sys

    code = (
        "import sys, devstore.server, devstore.client; "
        "print([m for m in sys.modules if m.split('.')[0] in ('plugin', 'worker', 'model', 'torch')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"
