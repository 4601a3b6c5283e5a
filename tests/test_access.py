"""Who may call what (issue #9, item 7a) and the headers every response carries (7g).

The walk below requests every route of `app.url_map` with every method it allows, without a login and with
a forged session token: each must be refused unless its endpoint is in PUBLIC, the commented allowlist. A
route added later fails `test_every_route_is_classified` until it is put in PUBLIC (with its reason and the
answer to a bare request) or left to the panel's login. Flask's test client, the real redis-server and
database of conftest.py; nothing is mocked."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from rq.registry import FailedJobRegistry

from plugin import questions_store
from plugin.db import DataExport, Draft, Shop
from plugin.jobs import queue
from plugin.panel import auth
from tests.panel_helpers import (
    EMAIL_A,
    EMAIL_B,
    PASSWORD,
    SHOP_A,
    SHOP_B,
    all_job_ids,
    audit_entries,
    bearer,
    csrf,
    csrf_from,
    dbsession,
    failed_job,
    https_app,  # noqa: F401  (a fixture)
    logged_in,
    make_draft,
    make_shop,
    make_staff,
    session_token,
    shop_row,
)

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
SKIP_METHODS = {"HEAD", "OPTIONS"}  # answered by Flask for every rule; walked, but not in the tables below

# Open without a login: endpoint -> (why, {method: status of a bare request with no credentials at all}).
PUBLIC = {
    # Shopify admin opens the app URL; it only redirects to /panel/, which needs a login.
    "home": ("app URL", {"GET": 302}),
    "healthz": ("load balancer check: two booleans, nothing about any shop", {"GET": 200}),
    "static": ("the widget script's folder: public files only", {"GET": 200}),
    # Store deliveries: each is verified by its HMAC over the raw body (plugin/webhooks.py).
    "webhooks.shopify_webhook": ("Shopify webhooks, HMAC-signed", {"POST": 401}),
    "webhooks.woocommerce_webhook": ("WooCommerce webhooks, HMAC-signed per store", {"POST": 401}),
    # Install and connect flows: signed query + single-use state, or a single-use user_id in Redis.
    "shopify_install.install": ("OAuth start, HMAC-signed query", {"GET": 401}),
    "shopify_install.callback": ("OAuth callback, HMAC + signed single-use state", {"GET": 401}),
    "woocommerce_connect.start": ("connect link: needs a store_url", {"GET": 400}),
    "woocommerce_connect.callback": ("the store POSTs keys with a live single-use user_id", {"POST": 400}),
    "woocommerce_connect.returned": ("static 'connected / not connected' page", {"GET": 200}),
    # Customer questions: the app proxy's signed query (Shopify) or the shop's publishable widget key.
    "questions.proxy_ask": ("app proxy, signed query", {"POST": 401}),
    "questions.proxy_status": ("app proxy, signed query", {"GET": 401}),
    "questions.widget_script": ("the widget script: public, no data", {"GET": 200}),
    "questions.woo_preflight": ("CORS preflight: headers only, for the store's origin", {"OPTIONS": 204}),
    "questions.woo_ask": ("widget key + per-IP limit", {"POST": 404}),
    "questions.woo_status": ("widget key + unguessable question token", {"GET": 404}),
    # The panel's own doors (plugin/panel/auth.py PUBLIC).
    "panel.login": ("staff login form", {"GET": 200, "POST": 400}),
    "panel.static": ("panel.css and panel.js", {"GET": 200}),
    "panel.bounce": ("App Bridge page that fetches a session token; needs a shop", {"GET": 400}),
}
STATIC_FILE = {"static": "copydesk-widget.js", "panel.static": "panel.js"}
HOSTILE_FORM = {"action": "approve", "all": "1", "ids": "1", "reason": "x", "note": "x", "version": "previous",
                "shop_id": "1", "tone": "pirate", "theme": "x", "products": "1"}


@pytest.fixture
def world(app, redis_conn):
    """Shop A (WooCommerce, so that disconnect has something to disconnect) with a product draft, a
    campaign, a data export, a bulk run and a failed job; shop B with a login of its own."""
    a = make_shop(app, SHOP_A, platform="woocommerce")
    make_staff(app, a, EMAIL_A)
    b = make_shop(app, SHOP_B)
    make_staff(app, b, EMAIL_B)
    draft = make_draft(app, a, "1001", status="published", previous={"seo_title": "Old"})
    campaign = make_draft(app, a, "c1", kind="campaign", fields={"headline": "Sale", "body": "Soft linen."},
                          snapshot={"title": "Campaign: Sale", "campaign": {"theme": "Sale"}})
    with dbsession(app) as db:
        export = DataExport(shop_id=a, request_id="r1", customer_id="c1", payload={"orders": ["secret order"]})
        db.add(export)
        db.commit()
        export_id = export.id
    owner = logged_in(app, EMAIL_A)
    run = owner.post("/panel/bulk", data={"action": "reject", "reason": "r", "ids": "999999",
                                          "csrf_token": csrf(owner)}).headers["Location"]
    values = {"draft_id": draft, "export_id": export_id, "run": urlsplit(run).path.rsplit("/", 1)[-1],
              "job_id": failed_job(redis_conn, a, "boom-a"), "product_id": "1001", "token": "x", "key": "x"}
    return {"a": a, "b": b, "draft": draft, "campaign": campaign, "owner": owner, "values": values}


def _url(rule, values, endpoint_values=None) -> str:
    args = {}
    for name in rule.arguments:  # a new argument name fails here: give it a plausible id in `world`
        args[name] = STATIC_FILE[rule.endpoint] if name == "filename" else (endpoint_values or {}).get(
            name, values[name])
    return rule.build(args, append_unknown=False)[1]


def _walk(app):
    """(rule, method) for every route and every method it allows, HEAD and OPTIONS included."""
    return [(rule, method) for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
            for method in sorted(rule.methods)]


def _snapshot(app, w, redis_conn):
    with dbsession(app) as db:
        drafts = {d.id: (d.status, d.fields, d.previous) for d in db.query(Draft)}
        exports = db.query(DataExport).count()
    return {"drafts": drafts, "exports": exports, "jobs": all_job_ids(redis_conn),
            "failed": FailedJobRegistry(queue=queue(redis_conn, "default")).get_job_ids(),
            "audit": [(e.action, e.actor) for e in audit_entries(app)],
            "shops": [(s.credentials, s.uninstalled_at, s.settings) for s in (shop_row(app, w["a"]),
                                                                              shop_row(app, w["b"]))]}


def test_every_route_is_classified(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(PUBLIC) <= endpoints, "PUBLIC names endpoints that no longer exist"
    assert {e for e in PUBLIC if e.startswith("panel.")} == auth.PUBLIC
    private = endpoints - set(PUBLIC)
    # Everything else is the staff panel, behind plugin.panel.auth.authenticate.
    assert all(e.startswith("panel.") for e in private), sorted(e for e in private if not e.startswith("panel."))
    assert len(PUBLIC) == 19 and len(private) == 21


def test_every_private_route_is_refused_without_a_login(app, redis_conn, world):
    """Three ways in without a login: nothing at all, a session token signed with another secret, and the
    session cookie with its signature broken. Every (route, method) is refused; nothing changes."""
    before = _snapshot(app, world, redis_conn)
    forged = bearer(session_token(SHOP_A, secret="not-the-app-secret-at-all-0123456789"))
    broken_cookie = world["owner"].get_cookie("copydesk_session").value[:-6] + "AAAAAA"
    for credentials in ("none", "forged session token", "broken session cookie"):
        client = app.test_client()
        headers = forged if credentials == "forged session token" else {}
        if credentials == "broken session cookie":
            client.set_cookie("copydesk_session", broken_cookie)
        walked = 0
        for rule, method in _walk(app):
            if rule.endpoint in PUBLIC:
                continue
            path = _url(rule, world["values"])
            response = client.open(path, method=method, headers=headers, data={**HOSTILE_FORM, "csrf_token": "x"})
            if method == "GET" and not rule.rule.endswith(".json") and not headers:  # a page: to the login
                assert response.status_code == 302, (credentials, method, path, response.status_code)
                assert urlsplit(response.headers["Location"]).path == "/panel/login", (credentials, path)
            else:  # JSON, POST, HEAD, OPTIONS, and anything with a bad token: 401
                assert response.status_code == 401, (credentials, method, path, response.status_code)
            walked += 1
        assert walked == 55, credentials  # 21 rules (11 GET, 9 POST, settings both), + HEAD and OPTIONS
        # The two the older tests missed, explicitly.
        assert client.post("/panel/woocommerce/disconnect", headers=headers).status_code == 401
        export = client.get(f"/panel/exports/{world['values']['export_id']}", headers=headers)
        assert export.status_code == (401 if headers else 302) and b"secret order" not in export.data
    assert _snapshot(app, world, redis_conn) == before


def test_the_public_routes_give_sensible_answers(app):
    client = app.test_client()
    seen = 0
    for rule, method in _walk(app):
        if rule.endpoint not in PUBLIC:
            continue
        response = client.open(_url(rule, {"token": "x", "key": "x"}), method=method)
        assert response.status_code < 500, (rule.rule, method, response.status_code)
        expected = PUBLIC[rule.endpoint][1].get(method)
        if expected is not None:
            assert response.status_code == expected, (rule.rule, method, response.status_code)
            seen += 1
    assert seen == 22  # every entry of the table (the widget script and woo_preflight have two rules each)


def test_another_shops_ids_are_404_on_every_route_that_takes_one(app, redis_conn, world):
    """Shop B's staff, with its own CSRF token, on every route with an id, using shop A's ids."""
    other = logged_in(app, EMAIL_B)
    token = csrf(other)
    exports = {"draft_id": world["campaign"]}
    before = _snapshot(app, world, redis_conn)
    taken = []
    for rule, method in _walk(app):
        if rule.endpoint in PUBLIC or not rule.arguments or method in SKIP_METHODS:
            continue
        path = _url(rule, world["values"], exports if "export" in rule.endpoint else None)
        data = {**HOSTILE_FORM, "draft_id": str(world["draft"]), "csrf_token": token}
        assert other.open(path, method=method, data=data).status_code == 404, (method, path)
        taken.append((method, path))
    assert len(taken) == 10  # 6 GETs and 4 POSTs
    assert _snapshot(app, world, redis_conn) == before
    for path in (p for m, p in taken if m == "GET"):  # the control: shop A's own staff does reach each
        assert world["owner"].get(path).status_code == 200, path


# ------------------------------------------------------------------------------------------- 7g headers


def _https_login(app, email):
    client = app.test_client()
    page = client.get("/panel/login", base_url="https://localhost")
    client.post("/panel/login", base_url="https://localhost",
                data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": email, "password": PASSWORD})
    return client


def _public_responses(client, key: str, base_url: str = "http://localhost") -> dict[str, object]:
    """A webhook reply, the widget script, customer question endpoints and other non-panel answers."""
    question = client.post(f"/questions/w/{key}", json={"question": "Is the apron machine washable?"},
                           base_url=base_url)
    token = question.get_json()["token"]
    return {
        "shopify webhook": client.post("/webhooks/shopify", data=b"{}", base_url=base_url),
        "woocommerce ping": client.post("/webhooks/woocommerce", data=b"webhook_id=7", base_url=base_url),
        "woocommerce webhook": client.post("/webhooks/woocommerce", data=b"{}", base_url=base_url,
                                           headers={"X-WC-Webhook-Source": "https://nowhere.example/"}),
        "question asked": question,
        "question status": client.get(f"/questions/w/{key}/{token}", base_url=base_url),
        "unknown widget key": client.get("/questions/w/0-nope/x", base_url=base_url),
        "app proxy": client.post("/proxy/questions", json={"question": "hi"}, base_url=base_url),
        "healthz": client.get("/healthz", base_url=base_url),
        "connect return": client.get("/connect/woocommerce/return?success=1", base_url=base_url),
        "not found": client.get("/nothing-here", base_url=base_url),
        "widget.js": client.get("/questions/widget.js", base_url=base_url),
        "proxy widget.js": client.get("/proxy/widget.js", base_url=base_url),
    }


def _widget_key(app, shop_id: int) -> str:
    with dbsession(app) as db:
        return questions_store.widget_key(db, db.get(Shop, shop_id))


def test_non_panel_responses_do_not_sniff_and_do_not_cache_customer_data(app):
    shop_id = make_shop(app, SHOP_A, platform="woocommerce")
    responses = _public_responses(app.test_client(), _widget_key(app, shop_id))
    assert responses["question asked"].status_code == 202 and responses["question status"].status_code == 200
    for name, response in responses.items():
        assert response.status_code < 500, name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
        assert "Strict-Transport-Security" not in response.headers, name  # the app URL is http here
        if name.endswith("widget.js"):  # a public script with no data in it may be cached for 5 minutes
            assert response.headers["Cache-Control"] == "public, max-age=300", name
            assert response.mimetype == "text/javascript"
        else:
            assert response.headers.get("Cache-Control") == "no-store", name


def test_hsts_on_every_response_when_the_app_url_is_https(https_app):
    shop_id = make_shop(https_app, SHOP_A, platform="woocommerce")
    make_staff(https_app, shop_id, EMAIL_A)
    staff = _https_login(https_app, EMAIL_A)
    pages = {path: staff.get(path, base_url="https://localhost")
             for path in ("/panel/", "/panel/settings", "/panel/jobs", "/panel/campaigns", "/panel/drafts/4242")}
    assert [r.status_code for r in pages.values()] == [200, 200, 200, 200, 404]
    anonymous = https_app.test_client()
    pages["login"] = anonymous.get("/panel/login", base_url="https://localhost")
    pages["redirect to login"] = anonymous.get("/panel/", base_url="https://localhost")
    responses = {**pages, **_public_responses(anonymous, _widget_key(https_app, shop_id), "https://localhost")}
    for name, response in responses.items():
        assert response.headers.get("Strict-Transport-Security") == "max-age=31536000", name
        assert response.headers.get("X-Content-Type-Options") == "nosniff", name
    for name, response in pages.items():  # the panel's own headers are left as they were
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], name
        assert response.headers["Cache-Control"] == "no-store", name
