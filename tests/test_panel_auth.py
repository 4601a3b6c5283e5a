"""The staff panel's doors: staff logins and sessions, CSRF, shop isolation, Shopify session tokens, and
the security headers. Flask's test client against the real redis-server and database of conftest.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from rq.registry import FailedJobRegistry

from plugin import backfill, shops
from plugin.db import Shop
from plugin.jobs import queue
from plugin.panel import accounts
from plugin.panel.session_token import LEEWAY_SECONDS
from tests.panel_helpers import (
    API_KEY,
    EMAIL_A,
    EMAIL_B,
    PASSWORD,
    PREVIOUS_SECRET,
    SESSION_COOKIE,
    SHOP_A,
    SHOP_B,
    SHOP_C,
    audit_entries,
    bearer,
    csrf,
    csrf_from,
    dbsession,
    embedded_app,  # noqa: F401  (a fixture)
    failed_job,
    get_draft,
    https_app,  # noqa: F401  (a fixture)
    logged_in,
    login,
    make_draft,
    make_shop,
    make_staff,
    no_jobs,
    remove_staff,
    require_jobs_api,
    rotating_app,  # noqa: F401  (a fixture)
    session_cookie,
    session_token,
    shop_row,
)

RETRY = "X-Shopify-Retry-Invalid-Session-Request"
# The conftest's app secret is 20 bytes; PyJWT warns below 32 for HS256 on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.fixture
def shop_a(app):
    shop_id = make_shop(app, SHOP_A)
    make_staff(app, shop_id, EMAIL_A)
    return shop_id


@pytest.fixture
def shop_b(app):
    shop_id = make_shop(app, SHOP_B)
    make_staff(app, shop_id, EMAIL_B)
    return shop_id


def _set_cookie(response) -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(f"{SESSION_COOKIE}=")]
    assert cookies, response.headers
    return cookies[-1]


# ------------------------------------------------------------------------------------- staff logins


def test_login_opens_a_session_with_a_safe_cookie(app, shop_a):
    client = app.test_client()
    page = client.get("/panel/login")
    assert page.status_code == 200 and 'name="csrf_token"' in page.get_data(as_text=True)
    response = login(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/panel/"
    cookie = _set_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http app URL: a Secure cookie would never come back
    home = client.get("/panel/")
    assert home.status_code == 200
    assert SHOP_A in home.get_data(as_text=True)
    assert [e.actor for e in audit_entries(app, action="staff.login")] == [f"staff:{EMAIL_A}"]
    with dbsession(app) as db:
        assert accounts.list_staff(db, db.get(Shop, shop_a))[0].last_login_at is not None


def test_cookie_is_secure_when_the_app_url_is_https(https_app):
    shop_id = make_shop(https_app, SHOP_A)
    make_staff(https_app, shop_id, EMAIL_A)
    client = https_app.test_client()
    # The login page's own cookie (it carries the login CSRF token) is already Secure.
    assert "Secure" in _set_cookie(client.get("/panel/login", base_url="https://localhost"))
    page = client.get("/panel/login", base_url="https://localhost")
    response = client.post("/panel/login", base_url="https://localhost",
                           data={"csrf_token": csrf_from(page.get_data(as_text=True)), "email": EMAIL_A,
                                 "password": PASSWORD})
    assert response.status_code == 302
    cookie = _set_cookie(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_wrong_password_is_401_and_opens_nothing(app, shop_a):
    client = app.test_client()
    response = login(client, EMAIL_A, "not the password at all")
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "That email and password do not match an account." in text
    assert client.get("/panel/").status_code == 302  # still logged out
    assert client.get("/panel/backfill.json").status_code == 401


def test_unknown_email_gets_the_same_message(app, shop_a):
    wrong_password = login(app.test_client(), EMAIL_A, "not the password at all")
    unknown = login(app.test_client(), "nobody@nowhere.example", PASSWORD)
    malformed = login(app.test_client(), "not an email", PASSWORD)
    assert unknown.status_code == wrong_password.status_code == malformed.status_code == 401
    message = "That email and password do not match an account."
    for response in (unknown, wrong_password, malformed):
        assert message in response.get_data(as_text=True)


def test_ten_failures_throttle_even_the_right_password(app, shop_a):
    client = app.test_client()
    for _ in range(accounts.LOGIN_LIMIT):
        assert login(client, EMAIL_A, "wrong password!").status_code == 401
    response = login(client, EMAIL_A, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)
    assert client.get("/panel/").status_code == 302
    # The email is throttled from any address, and the address for any email.
    other = app.test_client()
    assert login(other, EMAIL_A, PASSWORD, ).status_code == 429


def test_login_without_its_csrf_token_is_400(app, shop_a):
    client = app.test_client()
    client.get("/panel/login")
    missing = client.post("/panel/login", data={"email": EMAIL_A, "password": PASSWORD})
    assert missing.status_code == 400
    wrong = client.post("/panel/login", data={"csrf_token": "forged", "email": EMAIL_A, "password": PASSWORD})
    assert wrong.status_code == 400
    # A login form posted from another site has no session at all.
    fresh = app.test_client().post("/panel/login", data={"csrf_token": "", "email": EMAIL_A, "password": PASSWORD})
    assert fresh.status_code == 400
    assert client.get("/panel/").status_code == 302
    assert audit_entries(app, action="staff.login") == []


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "//evil.example/panel",
                                    "/panel//evil.example", "/\\evil.example", "/panel\\..\\\\evil.example",
                                    "javascript:alert(1)", "http://evil.example/panel/"])
def test_login_never_redirects_off_site(app, shop_a, target):
    response = login(app.test_client(), next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/panel/"


def test_login_goes_back_to_the_panel_page_asked_for(app, shop_a):
    draft_id = make_draft(app, shop_a)
    client = app.test_client()
    first = client.get(f"/panel/drafts/{draft_id}")
    assert first.status_code == 302
    assert urlsplit(first.headers["Location"]).path == "/panel/login"
    wanted = parse_qs(urlsplit(first.headers["Location"]).query)["next"][0]
    assert wanted == f"/panel/drafts/{draft_id}"
    response = login(client, next=wanted)
    assert response.headers["Location"] == f"/panel/drafts/{draft_id}"


def test_logout_deletes_the_server_side_session(app, shop_a):
    client = logged_in(app)
    copied = session_cookie(client)
    assert copied
    token = csrf(client)
    response = client.post("/panel/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/panel/login"
    assert client.get("/panel/").status_code == 302
    # Someone who copied the cookie before the logout gets nothing with it.
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, copied)
    assert thief.get("/panel/").status_code == 302
    assert thief.get("/panel/backfill.json").status_code == 401


def test_a_copied_cookie_works_until_logout(app, shop_a):
    """The control for the test above: the copied cookie does open the panel while the session lives."""
    client = logged_in(app)
    other = app.test_client()
    other.set_cookie(SESSION_COOKIE, session_cookie(client))
    assert other.get("/panel/").status_code == 200


def test_removing_the_account_locks_out_its_open_session(app, shop_a):
    client = logged_in(app)
    assert client.get("/panel/").status_code == 200
    assert remove_staff(app, shop_a, EMAIL_A)
    assert client.get("/panel/").status_code == 302
    assert client.get("/panel/backfill.json").status_code == 401
    assert login(app.test_client()).status_code == 401


def test_an_uninstalled_shop_locks_out(app, shop_a):
    client = logged_in(app)
    with dbsession(app) as db:
        db.get(Shop, shop_a).uninstalled_at = datetime.now(UTC)
        db.commit()
    assert client.get("/panel/").status_code == 302
    assert client.get("/panel/backfill.json").status_code == 401
    assert login(app.test_client()).status_code == 401


def test_one_email_on_two_shops_switches_between_them(app, shop_a):
    shop_b = make_shop(app, SHOP_B)
    make_staff(app, shop_b, EMAIL_A)
    only_a = make_draft(app, shop_a, "1", title="Only in A")
    only_b = make_draft(app, shop_b, "2", title="Only in B")
    shop_c = make_shop(app, SHOP_C)  # a shop this login does not open
    client = logged_in(app)
    page = client.get("/panel/").get_data(as_text=True)
    assert 'id="shop-switch"' in page
    assert SHOP_A in page and SHOP_B in page and SHOP_C not in page
    assert "Only in A" in page and "Only in B" not in page
    token = csrf_from(page)
    response = client.post("/panel/shop", data={"csrf_token": token, "shop_id": str(shop_b)})
    assert response.status_code == 302
    page = client.get("/panel/").get_data(as_text=True)
    assert "Only in B" in page and "Only in A" not in page
    assert client.get(f"/panel/drafts/{only_a}").status_code == 404
    assert client.get(f"/panel/drafts/{only_b}").status_code == 200
    # A shop the login does not open, or nothing at all: 404, and the session stays on B.
    for wanted in (str(shop_c), "999999", "", "abc"):
        assert client.post("/panel/shop", data={"csrf_token": token, "shop_id": wanted}).status_code == 404
    assert "Only in B" in client.get("/panel/").get_data(as_text=True)


def test_pages_need_a_login(app, shop_a):
    draft_id = make_draft(app, shop_a)
    client = app.test_client()
    for path in ("/panel/", f"/panel/drafts/{draft_id}", "/panel/products/1001", "/panel/settings",
                 "/panel/jobs", "/panel/bulk/abc"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert urlsplit(response.headers["Location"]).path == "/panel/login"
    assert client.get("/panel/backfill.json").status_code == 401
    assert client.get("/panel/bulk/abc.json").status_code == 401
    for path in (f"/panel/drafts/{draft_id}", "/panel/bulk", "/panel/settings", "/panel/backfill",
                 "/panel/logout", "/panel/shop", "/panel/jobs/x/retry", "/panel/products/1001/restore"):
        assert client.post(path, data={"action": "approve"}).status_code == 401, path
    assert get_draft(app, draft_id).status == "pending"


# ------------------------------------------------------------------------------------------------ CSRF


@pytest.fixture
def world(app, shop_a, redis_conn):
    """Shop A with a logged-in reviewer, a pending and a published draft, and a failed job."""
    pending = make_draft(app, shop_a, "1001", title="Linen shirt")
    published = make_draft(app, shop_a, "1002", status="published", title="Wool hat",
                           previous={"description_html": "<p>Old hat</p>"})
    job_id = failed_job(redis_conn, shop_a, "boom-a")
    client = logged_in(app)
    return {"shop": shop_a, "pending": pending, "published": published, "job": job_id, "client": client,
            "csrf": csrf(client)}


def _posts(w) -> dict[str, tuple[str, dict]]:
    return {
        "approve": (f"/panel/drafts/{w['pending']}", {"action": "approve"}),
        "reject": (f"/panel/drafts/{w['pending']}", {"action": "reject", "reason": "too long"}),
        "save": (f"/panel/drafts/{w['pending']}", {"action": "save", "seo_title": "Changed"}),
        "regenerate": (f"/panel/drafts/{w['pending']}", {"action": "regenerate", "note": "shorter"}),
        "bulk": ("/panel/bulk", {"action": "approve", "ids": str(w["pending"])}),
        "bulk-all": ("/panel/bulk", {"action": "reject", "all": "1", "reason": "no"}),
        "settings": ("/panel/settings", {"tone": "pirate", "target_words": "50", "language": "de"}),
        "restore": ("/panel/products/1002/restore", {"draft_id": str(w["published"]), "version": "previous"}),
        "retry": (f"/panel/jobs/{w['job']}/retry", {}),
        "backfill": ("/panel/backfill", {"action": "start"}),
        "logout": ("/panel/logout", {}),
        "switch-shop": ("/panel/shop", {"shop_id": str(w["shop"])}),
    }


ACTIONS = ["approve", "reject", "save", "regenerate", "bulk", "bulk-all", "settings", "restore", "retry",
           "backfill", "logout", "switch-shop"]


def _unchanged(app, redis_conn, w, settings_before):
    draft = get_draft(app, w["pending"])
    assert draft.status == "pending" and draft.fields["seo_title"] == "Linen shirt | Shop"
    assert get_draft(app, w["published"]).status == "published"
    assert no_jobs(redis_conn)
    assert w["job"] in FailedJobRegistry(queue=queue(redis_conn, "default")).get_job_ids()
    assert backfill.status(redis_conn, w["shop"]) is None
    assert shops.effective_settings(shop_row(app, w["shop"])) == settings_before
    assert [e.action for e in audit_entries(app) if e.action.startswith(("draft.", "job.", "backfill.",
                                                                         "shop.settings"))] == []
    assert w["client"].get("/panel/").status_code == 200  # still logged in (logout did not happen)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("token", ["missing", "wrong", "empty"])
def test_state_changing_posts_need_the_csrf_token(app, redis_conn, world, action, token):
    path, data = _posts(world)[action]
    before = shops.effective_settings(shop_row(app, world["shop"]))
    if token == "wrong":
        data = {**data, "csrf_token": world["csrf"][:-4] + "AAAA"}
    elif token == "empty":
        data = {**data, "csrf_token": ""}
    response = world["client"].post(path, data=data)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    _unchanged(app, redis_conn, world, before)


def test_another_sessions_csrf_token_is_refused(app, redis_conn, world):
    """A token is bound to its session: the token of a second login of the same person does not fit."""
    other = logged_in(app)
    other_token = csrf(other)
    assert other_token != world["csrf"]
    before = shops.effective_settings(shop_row(app, world["shop"]))
    response = world["client"].post(f"/panel/drafts/{world['pending']}",
                                    data={"action": "approve", "csrf_token": other_token})
    assert response.status_code == 400
    _unchanged(app, redis_conn, world, before)


def test_the_csrf_header_is_accepted_for_scripts(app, world):
    """panel.js sends the token as X-CSRF-Token; the header is as good as the form field."""
    response = world["client"].post(f"/panel/drafts/{world['pending']}",
                                    data={"action": "reject", "reason": "duplicate"},
                                    headers={"X-CSRF-Token": world["csrf"]})
    assert response.status_code == 302
    assert get_draft(app, world["pending"]).status == "rejected"


# ------------------------------------------------------------------------------------------ cross-shop


@pytest.fixture
def two_shops(app, shop_a, shop_b, redis_conn):
    b_pending = make_draft(app, shop_b, "2001", title="B pending")
    b_failed = make_draft(app, shop_b, "2002", status="failed", title="B failed")
    b_published = make_draft(app, shop_b, "2003", status="published", title="B published",
                             previous={"seo_title": "B old"})
    b_job = failed_job(redis_conn, shop_b, "boom-b")
    b_client = logged_in(app, EMAIL_B)
    b_run = b_client.post("/panel/bulk", data={"action": "reject", "reason": "b says no", "ids": ["999999"],
                                               "csrf_token": csrf(b_client)})
    a_client = logged_in(app, EMAIL_A)
    return {"b_pending": b_pending, "b_failed": b_failed, "b_published": b_published, "b_job": b_job,
            "b_client": b_client, "a": a_client, "a_csrf": csrf(a_client), "b_run": b_run}


def test_another_shops_draft_is_404(app, two_shops):
    a, token = two_shops["a"], two_shops["a_csrf"]
    for draft_id in (two_shops["b_pending"], two_shops["b_failed"], two_shops["b_published"]):
        assert a.get(f"/panel/drafts/{draft_id}").status_code == 404
        for data in ({"action": "approve"}, {"action": "reject", "reason": "mine now"},
                     {"action": "save", "seo_title": "Hijacked"}, {"action": "regenerate", "note": "x"}):
            assert a.post(f"/panel/drafts/{draft_id}", data={**data, "csrf_token": token}).status_code == 404
    b = get_draft(app, two_shops["b_pending"])
    assert b.status == "pending" and b.fields["seo_title"] == "B pending | Shop"
    assert get_draft(app, two_shops["b_failed"]).status == "failed"
    assert get_draft(app, two_shops["b_published"]).status == "published"
    assert audit_entries(app, draft_id=two_shops["b_pending"]) == []


def test_another_shops_product_history_and_restore_are_404(app, redis_conn, two_shops):
    a, token = two_shops["a"], two_shops["a_csrf"]
    assert a.get("/panel/products/2003").status_code == 404
    response = a.post("/panel/products/2003/restore", data={"draft_id": str(two_shops["b_published"]),
                                                            "version": "previous", "csrf_token": token})
    assert response.status_code == 404
    assert no_jobs(redis_conn)
    # B's own reviewer does see it (the control).
    assert two_shops["b_client"].get("/panel/products/2003").status_code == 200


def test_bulk_with_another_shops_ids_changes_nothing_there(app, redis_conn, two_shops):
    a, token = two_shops["a"], two_shops["a_csrf"]
    ids = [str(two_shops[k]) for k in ("b_pending", "b_failed", "b_published")]
    approve = a.post("/panel/bulk", data={"action": "approve", "ids": ids, "csrf_token": token})
    assert approve.status_code == 302
    run = urlsplit(approve.headers["Location"]).path.rsplit("/", 1)[-1]
    progress = a.get(f"/panel/bulk/{run}.json").get_json()
    assert progress["total"] == 0 and progress["skipped"] == 3
    reject = a.post("/panel/bulk", data={"action": "reject", "reason": "mine", "ids": ids, "csrf_token": token})
    assert reject.status_code == 302
    assert get_draft(app, two_shops["b_pending"]).status == "pending"
    assert get_draft(app, two_shops["b_failed"]).status == "failed"
    assert get_draft(app, two_shops["b_published"]).status == "published"
    assert no_jobs(redis_conn)


def test_another_shops_bulk_run_is_404(app, two_shops):
    run_path = urlsplit(two_shops["b_run"].headers["Location"]).path
    assert run_path.startswith("/panel/bulk/")
    assert two_shops["b_client"].get(run_path).status_code == 200  # the control
    assert two_shops["a"].get(run_path).status_code == 404
    assert two_shops["a"].get(run_path + ".json").status_code == 404


def test_another_shops_failed_job_cannot_be_retried_or_seen(app, redis_conn, two_shops):
    a, token = two_shops["a"], two_shops["a_csrf"]
    assert "boom-b" not in a.get("/panel/jobs").get_data(as_text=True)
    response = a.post(f"/panel/jobs/{two_shops['b_job']}/retry", data={"csrf_token": token})
    assert response.status_code == 404
    assert two_shops["b_job"] in FailedJobRegistry(queue=queue(redis_conn, "default")).get_job_ids()
    assert queue(redis_conn, "default").job_ids == []
    assert audit_entries(app, action="job.retried") == []


# -------------------------------------------------------------------------------- Shopify embedded


@pytest.fixture
def embedded_shop(embedded_app):
    return make_shop(embedded_app, SHOP_A)


def _embedded_csp(shop: str = SHOP_A) -> str:
    return f"frame-ancestors https://{shop} https://admin.shopify.com"


def test_a_session_token_opens_the_json_endpoint(embedded_app, embedded_shop):
    response = embedded_app.test_client().get("/panel/backfill.json", headers=bearer(session_token()))
    assert response.status_code == 200
    assert response.get_json() == {"state": None}
    assert SESSION_COOKIE not in "".join(response.headers.getlist("Set-Cookie"))  # no cookie involved


def test_a_session_token_on_a_page_load_opens_the_panel(embedded_app, embedded_shop):
    make_draft(embedded_app, embedded_shop, title="Embedded linen")
    response = embedded_app.test_client().get(
        "/panel/", query_string={"id_token": session_token(), "shop": SHOP_A, "host": "YWRtaW4uc2hvcGlmeS5jb20v",
                                 "embedded": "1"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Embedded linen" in text
    assert f'<meta name="shopify-api-key" content="{API_KEY}">' in text
    assert "host=YWRtaW4uc2hvcGlmeS5jb20v" in text  # links keep the admin's parameters
    assert response.headers["Content-Security-Policy"].endswith(_embedded_csp())
    assert "Log out" not in text  # nothing to log out of inside Shopify admin


def test_a_token_within_the_leeway_still_works(embedded_app, embedded_shop):
    token = session_token(expires_in=-5)
    assert 5 < LEEWAY_SECONDS
    response = embedded_app.test_client().get("/panel/backfill.json", headers=bearer(token))
    assert response.status_code == 200


@pytest.mark.parametrize("case", [
    "expired", "forged", "wrong-aud", "iss-dest-differ", "dest-not-myshopify", "iss-not-admin", "dest-http",
    "alg-none", "hs512", "not-yet-valid", "garbage",
    "no-exp", "no-nbf", "no-iss", "no-dest", "no-aud", "no-sub",
])
def test_bad_session_tokens_are_401_with_the_retry_header(embedded_app, embedded_shop, case):
    tokens = {
        "expired": lambda: session_token(expires_in=-(LEEWAY_SECONDS + 20)),
        "forged": lambda: session_token(secret="not-the-app-secret-but-just-as-long-32"),
        "wrong-aud": lambda: session_token(aud="another-apps-key"),
        "iss-dest-differ": lambda: session_token(iss=f"https://{SHOP_B}/admin"),
        "dest-not-myshopify": lambda: session_token(dest="https://evil.example", iss="https://evil.example/admin"),
        "iss-not-admin": lambda: session_token(iss=f"https://{SHOP_A}/"),
        "dest-http": lambda: session_token(dest=f"http://{SHOP_A}"),
        "alg-none": lambda: session_token(algorithm="none"),
        "hs512": lambda: session_token(algorithm="HS512"),
        "not-yet-valid": lambda: session_token(nbf=int(time.time()) + 120, exp=int(time.time()) + 180),
        "garbage": lambda: "not.a.jwt",
    }
    token = tokens[case]() if case in tokens else session_token(drop=(case.removeprefix("no-"),))
    client = embedded_app.test_client()
    response = client.get("/panel/backfill.json", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers[RETRY] == "1"
    assert response.get_json()["error"] == "invalid session token"
    # A page fetched with the bad token in the header is refused the same way.
    page = client.get("/panel/", headers=bearer(token))
    assert page.status_code == 401 and page.headers[RETRY] == "1"


def test_a_token_signed_with_the_previous_secret_still_works(rotating_app):
    make_shop(rotating_app, SHOP_A)
    client = rotating_app.test_client()
    assert client.get("/panel/backfill.json", headers=bearer(session_token(secret=PREVIOUS_SECRET))).status_code == 200
    assert client.get("/panel/backfill.json", headers=bearer(session_token())).status_code == 200
    forged = client.get("/panel/backfill.json", headers=bearer(session_token(secret="a third secret")))
    assert forged.status_code == 401 and forged.headers[RETRY] == "1"


def test_the_previous_secret_is_refused_when_no_rotation_is_configured(embedded_app, embedded_shop):
    response = embedded_app.test_client().get("/panel/backfill.json",
                                              headers=bearer(session_token(secret=PREVIOUS_SECRET)))
    assert response.status_code == 401


def test_an_expired_id_token_on_a_page_load_bounces_for_a_fresh_one(embedded_app, embedded_shop):
    expired = session_token(expires_in=-(LEEWAY_SECONDS + 50))
    response = embedded_app.test_client().get(
        "/panel/settings", query_string={"id_token": expired, "shop": SHOP_A, "host": "aG9zdA", "embedded": "1"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/panel/session-token"
    query = parse_qs(location.query)
    assert query["shop"] == [SHOP_A] and query["host"] == ["aG9zdA"]
    reload_to = query["shopify-reload"][0]
    assert reload_to.startswith("/panel/settings?")
    assert "id_token" not in reload_to  # the stale token is not carried along
    assert parse_qs(urlsplit(reload_to).query)["shop"] == [SHOP_A]
    bounce = embedded_app.test_client().get(response.headers["Location"])
    assert bounce.status_code == 200
    text = bounce.get_data(as_text=True)
    assert "app-bridge.js" in text and f'content="{API_KEY}"' in text
    assert bounce.headers["Content-Security-Policy"].endswith(_embedded_csp())


def test_a_page_load_inside_the_admin_without_a_token_bounces(embedded_app, embedded_shop):
    response = embedded_app.test_client().get("/panel/", query_string={"shop": SHOP_A, "host": "aG9zdA"})
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/panel/session-token"
    bad = embedded_app.test_client().get("/panel/", query_string={"shop": "evil.example", "embedded": "1"})
    assert bad.status_code == 400


@pytest.mark.parametrize("target", ["https://evil.example/panel/", "//evil.example/panel/", "/admin",
                                    "/panel//evil.example", "/panel/\\evil.example", "javascript:alert(1)", ""])
def test_the_bounce_page_only_reloads_panel_paths(embedded_app, embedded_shop, target):
    response = embedded_app.test_client().get("/panel/session-token",
                                              query_string={"shop": SHOP_A, "shopify-reload": target})
    assert response.status_code == 400


def test_the_bounce_page_needs_a_shopify_shop(embedded_app, embedded_shop):
    response = embedded_app.test_client().get("/panel/session-token",
                                              query_string={"shop": "evil.example", "shopify-reload": "/panel/"})
    assert response.status_code == 400


def test_a_token_for_a_shop_that_has_not_installed_is_401(embedded_app, embedded_shop, devstore):
    """Such a load is a managed install: the token is exchanged, and here Shopify (the emulator, which
    knows another app) refuses it (tests/test_install_shopify.py has the install that works)."""
    embedded_app.extensions["copydesk_shopify_api_base"] = lambda shop: devstore.base_url
    client = embedded_app.test_client()
    response = client.get("/panel/backfill.json", headers=bearer(session_token(SHOP_C)))
    assert response.status_code == 401 and response.headers[RETRY] == "1"
    with dbsession(embedded_app) as db:
        db.get(Shop, embedded_shop).uninstalled_at = datetime.now(UTC)
        db.commit()
    response = client.get("/panel/backfill.json", headers=bearer(session_token(SHOP_A)))
    assert response.status_code == 401 and response.headers[RETRY] == "1"


def test_a_woocommerce_store_cannot_be_opened_with_a_session_token(embedded_app, devstore):
    """Only Shopify shops are embedded; the token's shop must be a Shopify shop of ours."""
    embedded_app.extensions["copydesk_shopify_api_base"] = lambda shop: devstore.base_url
    make_shop(embedded_app, "https://woo.example", platform="woocommerce")
    response = embedded_app.test_client().get("/panel/backfill.json", headers=bearer(session_token(SHOP_A)))
    assert response.status_code == 401


def test_the_panel_needs_the_api_key_for_session_tokens(app):
    """Without SHOPIFY_API_KEY no token is valid (the conftest app has the secret but no key)."""
    make_shop(app, SHOP_A)
    response = app.test_client().get("/panel/backfill.json", headers=bearer(session_token(aud="")))
    assert response.status_code == 401 and response.headers[RETRY] == "1"


def test_token_requests_need_no_csrf_token(embedded_app, embedded_shop, redis_conn):
    draft_id = make_draft(embedded_app, embedded_shop)
    require_jobs_api("enqueue_publish", "shop_id")
    response = embedded_app.test_client().post(f"/panel/drafts/{draft_id}", data={"action": "approve"},
                                               headers=bearer(session_token()))
    assert response.status_code == 302
    assert get_draft(embedded_app, draft_id).status == "approved"
    assert f"publish-{draft_id}" in queue(redis_conn, "publish").job_ids
    assert [e.actor for e in audit_entries(embedded_app, action="draft.approved")] == ["shopify-user:7001"]


def test_a_form_post_with_an_id_token_needs_no_csrf_token(embedded_app, embedded_shop):
    """panel.js adds a fresh id_token to every form it submits inside Shopify admin."""
    draft_id = make_draft(embedded_app, embedded_shop)
    response = embedded_app.test_client().post(
        f"/panel/drafts/{draft_id}", data={"action": "reject", "reason": "off brand", "id_token": session_token()})
    assert response.status_code == 302
    assert get_draft(embedded_app, draft_id).status == "rejected"
    # The embedded links keep the admin's parameters.
    assert parse_qs(urlsplit(response.headers["Location"]).query)["embedded"] == ["1"]


def test_a_form_post_with_a_bad_id_token_is_401_not_a_bounce(embedded_app, embedded_shop):
    draft_id = make_draft(embedded_app, embedded_shop)
    response = embedded_app.test_client().post(
        f"/panel/drafts/{draft_id}", data={"action": "reject", "reason": "x",
                                           "id_token": session_token(secret="forged-secret")})
    assert response.status_code == 401 and response.headers[RETRY] == "1"
    assert get_draft(embedded_app, draft_id).status == "pending"


def test_a_session_token_reaches_only_its_own_shop(embedded_app, embedded_shop):
    other = make_shop(embedded_app, SHOP_B)
    theirs = make_draft(embedded_app, other, "2001")
    client = embedded_app.test_client()
    assert client.get(f"/panel/drafts/{theirs}", headers=bearer(session_token(SHOP_A))).status_code == 404
    response = client.post(f"/panel/drafts/{theirs}", data={"action": "reject", "reason": "x"},
                           headers=bearer(session_token(SHOP_A)))
    assert response.status_code == 404
    assert get_draft(embedded_app, theirs).status == "pending"


# ------------------------------------------------------------------------------------ response headers


def _html_pages(app, shop_id) -> list[str]:
    draft_id = make_draft(app, shop_id, "1001")
    make_draft(app, shop_id, "1002", status="published")
    return ["/panel/", "/panel/?status=all&q=linen", f"/panel/drafts/{draft_id}", "/panel/products/1001",
            "/panel/settings", "/panel/jobs"]


def _check_headers(response, frame_ancestors: str):
    csp = response.headers["Content-Security-Policy"]
    assert f"frame-ancestors {frame_ancestors}" in csp
    assert "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_standalone_pages_cannot_be_framed(app, shop_a):
    client = logged_in(app)
    paths = _html_pages(app, shop_a)
    run = client.post("/panel/bulk", data={"action": "reject", "reason": "r", "csrf_token": csrf(client),
                                           "ids": "99999"}).headers["Location"]
    for path in paths + [run]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.mimetype == "text/html"
        _check_headers(response, "'none'")
    login_page = app.test_client().get("/panel/login")
    _check_headers(login_page, "'none'")
    for missing in ("/panel/drafts/424242", "/panel/products/nothing-here"):
        _check_headers(client.get(missing), "'none'")


def test_embedded_pages_may_be_framed_by_their_shop_only(embedded_app, embedded_shop):
    make_shop(embedded_app, SHOP_B)
    client = embedded_app.test_client()
    for path in _html_pages(embedded_app, embedded_shop):
        response = client.get(path, headers=bearer(session_token()))
        assert response.status_code == 200, path
        _check_headers(response, f"https://{SHOP_A} https://admin.shopify.com")
        assert SHOP_B not in response.headers["Content-Security-Policy"]
        assert "https://cdn.shopify.com" in response.headers["Content-Security-Policy"]
    # The login page is never framed, even when asked by an embedded client.
    _check_headers(client.get("/panel/login"), "'none'")
    json_response = client.get("/panel/backfill.json", headers=bearer(session_token()))
    assert json_response.headers["X-Content-Type-Options"] == "nosniff"
