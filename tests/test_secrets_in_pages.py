"""No secret in any page, error page or header (issue #9, item 7e).

A Shopify shop installs through the store emulator (token exchange on the first embedded load) and a
WooCommerce store connects through it (/wc-auth keys, then three webhooks with their own secrets), over real
HTTP, the real Redis and the real RQ worker. Then every panel page of both shops, the settings pages, error
pages (400, 401, 404, 405, 413, 500) and the jobs page with a failed job from each store are fetched, and
none of the access or refresh tokens, the consumer key and secret, the webhook secrets, the app secret, the
secret key or the credentials key derived from it appear in any body, header or session cookie."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select

from plugin import crypto, jobs
from plugin.crypto import Vault
from plugin.db import DataExport, Shop
from plugin.install import shopify_tokens
from tests.conftest import APP_SECRET, SECRET_KEY, ThreadServer
from tests.panel_helpers import API_KEY, bearer, csrf, dbsession, logged_in, make_draft, make_staff, session_token

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
SHOP = "secret-shop.myshopify.com"
HOST = "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc2VjcmV0LXNob3A"
EMAIL_SHOPIFY, EMAIL_WOO = "ann@secret-shop.example", "wes@woo-store.example"


class _Later:
    """The web app behind a server bound before the app exists, so the settings can name its URL."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@pytest.fixture
def late():
    server = ThreadServer(_Later())
    yield server
    server.stop()


@pytest.fixture
def settings(settings, late):
    return settings.replace(app_url=late.url, shopify_api_key=API_KEY)


@pytest.fixture
def web(app, late):
    late.server.app.app = app
    return late


def _credentials(app) -> dict[str, dict]:
    with dbsession(app) as db:
        return {shop.platform: Vault(SECRET_KEY).open(shop.credentials) for shop in db.scalars(select(Shop))}


def _secret_values(credentials: dict[str, dict]) -> set[str]:
    """Every token, key and secret the stores' credentials hold."""
    found = set()
    for platform, creds in credentials.items():
        for name in ("access_token", "refresh_token", "consumer_key", "consumer_secret", "webhook_secret"):
            if creds.get(name):
                found.add(creds[name])
        found |= {hook["secret"] for hook in (creds.get("webhooks") or {}).values() if hook.get("secret")}
    return found


@pytest.fixture
def stores(app, web, devstore, worker, redis_conn):
    """Both stores connected for real; ids, staff logins and the secrets they were given."""
    devstore.config(shopify={"shop_domain": SHOP, "api_key": API_KEY, "app_secret": APP_SECRET,
                             "webhook_url": None})
    app.extensions[shopify_tokens.API_BASE] = lambda shop: devstore.base_url
    first = requests.get(f"{web.url}/panel/", params={"shop": SHOP, "host": HOST, "embedded": "1"},
                         headers=bearer(session_token(SHOP)), timeout=30)
    assert first.status_code == 200, first.text[:300]
    connect = requests.get(f"{web.url}/connect/woocommerce", params={"store_url": devstore.base_url}, timeout=30)
    assert connect.status_code == 200 and "Connected" in connect.text
    worker.drain()  # creates the three WooCommerce webhooks, each with its own secret
    with dbsession(app) as db:
        ids = {shop.platform: shop.id for shop in db.scalars(select(Shop))}
    make_staff(app, ids["shopify"], EMAIL_SHOPIFY)
    make_staff(app, ids["woocommerce"], EMAIL_WOO)
    creds = _credentials(app)
    assert len(creds["woocommerce"]["webhooks"]) == 3 and creds["shopify"]["refresh_token"]
    return {"ids": ids, "secrets": _secret_values(creds)}


def _content(app, shop_id: int) -> dict[str, str]:
    """A draft, a published product, a campaign and a data export of the shop: what its pages show."""
    draft = make_draft(app, shop_id, "1001", status="published", previous={"seo_title": "Old"})
    campaign = make_draft(app, shop_id, "c1", kind="campaign", fields={"headline": "Sale", "body": "Linen."},
                          snapshot={"title": "Campaign: Sale", "campaign": {"theme": "Sale"}})
    with dbsession(app) as db:
        export = DataExport(shop_id=shop_id, request_id="r", customer_id="c", payload={"orders": []})
        db.add(export)
        db.commit()
        return {"draft_id": str(draft), "campaign": str(campaign), "export_id": str(export.id), "product_id": "1001"}


def _panel_pages(app, values: dict[str, str]) -> list[str]:
    """Every GET route of the panel that needs a login, with this shop's own ids."""
    paths = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("panel.") or "GET" not in rule.methods or rule.endpoint in (
                "panel.login", "panel.static", "panel.bounce", "panel.bulk_progress", "panel.bulk_progress_json"):
            continue
        args = {name: values["campaign" if "export" in rule.endpoint and name == "draft_id" else name]
                for name in rule.arguments}
        paths.append(rule.build(args, append_unknown=False)[1])
    return sorted(paths)


def _fail_a_job(devstore, redis_conn, worker, platform: str, shop_id: int) -> None:
    """A generate job that fails for real: the store answers 400 to every call (never retried)."""
    devstore.fault(platform, status=400, count=50)
    jobs.enqueue_generate(redis_conn, shop_id, "1", trigger="manual")
    worker.drain()
    devstore.clear_faults()


def _reseal(app, shop_id: int, vault: Vault, credentials: dict | None = None) -> dict:
    with dbsession(app) as db:
        shop = db.get(Shop, shop_id)
        credentials = credentials or Vault(SECRET_KEY).open(shop.credentials)
        shop.credentials = vault.seal(credentials)
        db.commit()
    return credentials


def _leaks(response, secrets: set[str], app) -> list[str]:
    body = response.get_data()
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    cookies = [v.split("=", 1)[1].split(";", 1)[0] for v in response.headers.getlist("Set-Cookie")]
    serializer = app.session_interface.get_signing_serializer(app)
    decoded = "".join(str(serializer.loads(c)) for c in cookies if c and c.count(".") >= 2)
    found = []
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode()}:
            if form.encode() in body or form in headers or form in decoded:
                found.append(secret[:6] + "…")
    return found


def test_no_secret_in_any_page_error_page_or_header(app, web, devstore, worker, redis_conn, stores):
    ids = stores["ids"]
    _fail_a_job(devstore, redis_conn, worker, "woocommerce", ids["woocommerce"])
    _fail_a_job(devstore, redis_conn, worker, "shopify", ids["shopify"])
    fernet_key = base64.urlsafe_b64encode(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=crypto._INFO)
                                          .derive(SECRET_KEY.encode())).decode()  # plugin.crypto's derivation
    # Read again after the failures: had a job refreshed the Shopify tokens, the old and new ones would count.
    secrets = stores["secrets"] | _secret_values(_credentials(app)) | {APP_SECRET, SECRET_KEY, fernet_key}
    assert len(secrets) == 10  # Shopify access + refresh token, key, secret, 3 webhook secrets, and the app's 3

    responses: dict[str, object] = {}
    woo, shopify = logged_in(app, EMAIL_WOO), logged_in(app, EMAIL_SHOPIFY)
    embedded = app.test_client()
    token = {"Authorization": f"Bearer {session_token(SHOP)}"}
    content = {platform: _content(app, shop_id) for platform, shop_id in ids.items()}
    for name, client, values, headers in (("woo", woo, content["woocommerce"], {}),
                                          ("shopify", shopify, content["shopify"], {}),
                                          ("embedded", embedded, content["shopify"], token)):
        for path in _panel_pages(app, values):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (name, path, response.status_code)
            responses[f"{name} {path}"] = response
        run = client.post("/panel/bulk", headers=headers, data={"action": "reject", "reason": "r", "ids": "99999",
                                                                "csrf_token": "" if headers else csrf(client)})
        responses[f"{name} bulk run"] = client.get(run.headers["Location"], headers=headers)
        responses[f"{name} bulk run json"] = client.get(run.headers["Location"] + ".json", headers=headers)

    jobs_page = responses["woo /panel/jobs"].get_data(as_text=True)
    assert "answered 400" in jobs_page and devstore.base_url.split("//")[1] in jobs_page  # the store's failure
    assert "answered 400" in responses["shopify /panel/jobs"].get_data(as_text=True)
    assert 'data-testid="widget-key"' in responses["woo /panel/settings"].get_data(as_text=True)
    anonymous, big = app.test_client(), b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    hook = {"X-WC-Webhook-Source": devstore.base_url, "X-WC-Webhook-Signature": "Zm9yZ2Vk",
            "X-WC-Webhook-Topic": "product.updated"}
    responses.update({
        "login page": anonymous.get("/panel/login"),
        "bounce page": anonymous.get("/panel/session-token", query_string={"shop": SHOP,
                                                                          "shopify-reload": "/panel/"}),
        "400 no csrf": woo.post("/panel/settings", data={"tone": "pirate"}),
        "400 settings form": woo.post("/panel/settings", data={"csrf_token": csrf(woo), "target_words": "-1"}),
        "401 forged token": embedded.get("/panel/", headers=bearer(session_token(SHOP, secret="x" * 32))),
        "401 webhook signature": anonymous.post("/webhooks/woocommerce", data=b'{"id": 1}', headers=hook),
        "401 install": anonymous.get("/auth/shopify/install", query_string={"shop": SHOP, "hmac": "00"}),
        "404 draft": woo.get("/panel/drafts/987654"),
        "404 nowhere": anonymous.get("/nothing/here"),
        "405 webhook": anonymous.get("/webhooks/shopify"),
        "405 logout": woo.get("/panel/logout"),
        "413 webhook": anonymous.post("/webhooks/woocommerce", data=big, headers=hook),
        "413 panel": woo.post("/panel/settings", data={"csrf_token": csrf(woo), "tone": big.decode()}),
        "healthz": anonymous.get("/healthz"),
    })
    # A real 500: the stored keys cannot be opened (sealed with another COPYDESK_SECRET_KEY) during disconnect.
    sealed = _reseal(app, ids["woocommerce"], Vault("another-secret-key-0123456789abcdef"))
    responses["500 disconnect"] = woo.post("/panel/woocommerce/disconnect", data={"csrf_token": csrf(woo)})
    assert b"decrypt" not in responses["500 disconnect"].data  # the page does not echo the exception
    _reseal(app, ids["woocommerce"], Vault(SECRET_KEY), sealed)
    devstore.fault("woocommerce", status=500, count=50)  # the store fails while the panel waits on it
    responses["302 disconnect, store failing"] = woo.post("/panel/woocommerce/disconnect",
                                                          data={"csrf_token": csrf(woo)})
    devstore.clear_faults()
    statuses = {name: r.status_code for name, r in responses.items() if name[0].isdigit()}
    assert statuses == {"400 no csrf": 400, "400 settings form": 400, "401 forged token": 401,
                        "401 webhook signature": 401, "401 install": 401, "404 draft": 404, "404 nowhere": 404,
                        "405 webhook": 405, "405 logout": 405, "413 webhook": 413, "413 panel": 413,
                        "500 disconnect": 500, "302 disconnect, store failing": 302}
    assert len(responses) == 52  # 3 ways in x (10 panel pages + a bulk run and its JSON), 16 other pages
    assert _leaks(responses["shopify /panel/"], {SHOP}, app)  # the control: the scan does see what is there
    leaks = {name: found for name, r in responses.items() if (found := _leaks(r, secrets, app))}
    assert leaks == {}
