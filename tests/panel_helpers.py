"""Shared helpers for the staff panel's tests: shops, staff, drafts, logging in, CSRF tokens, Shopify
session tokens, a job that really fails, and apps built with panel-specific settings.

Test modules import the fixtures they use from here (`from tests.panel_helpers import embedded_app`).
Everything runs against the real redis-server and database of tests/conftest.py; nothing is mocked.
"""

from __future__ import annotations

import inspect
import re
import time
import uuid
from contextlib import contextmanager
from html.parser import HTMLParser

import jwt
import pytest
from rq import SimpleWorker
from sqlalchemy import select

from plugin import jobs as plugin_jobs
from plugin.crypto import Vault
from plugin.db import AuditEntry, Draft, Shop
from tests.conftest import APP_SECRET, SECRET_KEY

SHOP_A = "shop-a.myshopify.com"
SHOP_B = "shop-b.myshopify.com"
SHOP_C = "shop-c.myshopify.com"
API_KEY = "test-api-key"
PREVIOUS_SECRET = "previous-app-secret-rotated-an-hour-ago"
PASSWORD = "correct horse battery staple"
EMAIL_A = "ann@shop-a.example"
EMAIL_B = "bob@shop-b.example"
SESSION_COOKIE = "copydesk_session"
XSS_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
XSS_DESCRIPTION = ('<p onclick="alert(5)">Soft <b>linen</b></p><script>alert(3)</script>'
                   '<img src=x onerror=alert(4)><a href="javascript:alert(6)">click</a>'
                   '<iframe src="https://evil.example/"></iframe><style>body{display:none}</style>')
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


# ---------------------------------------------------------------------------------------------- apps


def _build(settings, redis_conn):
    from plugin.app import create_app

    app = create_app(settings, redis_client=redis_conn)
    return app


@pytest.fixture
def embedded_app(settings, redis_conn):
    """The web app with SHOPIFY_API_KEY set (and the conftest's app secret), for session tokens."""
    app = _build(settings.replace(shopify_api_key=API_KEY), redis_conn)
    yield app
    app.extensions["copydesk_engine"].dispose()


@pytest.fixture
def rotating_app(settings, redis_conn):
    """As `embedded_app`, in the hour after a secret rotation: the previous secret is still accepted."""
    app = _build(settings.replace(shopify_api_key=API_KEY, shopify_api_secret_previous=PREVIOUS_SECRET),
                 redis_conn)
    yield app
    app.extensions["copydesk_engine"].dispose()


@pytest.fixture
def https_app(settings, redis_conn):
    """The web app as deployed behind TLS: its public URL is https."""
    app = _build(settings.replace(app_url="https://copydesk.example"), redis_conn)
    yield app
    app.extensions["copydesk_engine"].dispose()


# ------------------------------------------------------------------------------------ database rows


@contextmanager
def dbsession(app):
    with app.extensions["copydesk_sessionmaker"]() as db:
        yield db


def make_shop(app, domain: str = SHOP_A, *, platform: str = "shopify", settings: dict | None = None) -> int:
    from plugin.shops import add_shop

    credentials = ({"access_token": "shpat_panel_test"} if platform == "shopify" else
                   {"consumer_key": "ck_p", "consumer_secret": "cs_p", "webhook_secret": "hookSecret1"})
    with dbsession(app) as db:
        shop = add_shop(db, Vault(SECRET_KEY), platform=platform, domain=domain, credentials=credentials,
                        api_url="http://127.0.0.1:9" if platform == "shopify" else "", settings=settings)
        return shop.id


def make_staff(app, shop_id: int, email: str = EMAIL_A, password: str = PASSWORD) -> int:
    from plugin.panel.accounts import add_staff

    with dbsession(app) as db:
        return add_staff(db, db.get(Shop, shop_id), email, password).id


def remove_staff(app, shop_id: int, email: str) -> bool:
    from plugin.panel.accounts import remove_staff as remove

    with dbsession(app) as db:
        return remove(db, db.get(Shop, shop_id), email)


def make_draft(app, shop_id: int, product_id: str = "1001", *, status: str = "pending", title: str = "Linen shirt",
               fields: dict | None = None, previous: dict | None = None, kind: str = "product_copy",
               snapshot: dict | None = None, checks: dict | None = None) -> int:
    """A draft row as the generate pipeline would store it (inserted directly)."""
    draft = Draft(
        shop_id=shop_id, kind=kind, product_id=product_id, status=status,
        fields=fields if fields is not None else {
            "description_html": f"<p>A soft {title.lower()} for warm days.</p>",
            "short_description": f"Soft {title.lower()}.",
            "seo_title": f"{title} | Shop",
            "seo_description": f"Buy the {title.lower()} today.",
        },
        previous=previous if previous is not None else {},
        input_snapshot=snapshot if snapshot is not None else {"title": title, "id": product_id},
        input_hash=uuid.uuid4().hex, model_id="tests/tiny", prompt_version="product_copy@test", seed=0,
        checks=checks or {},
    )
    with dbsession(app) as db:
        db.add(draft)
        db.commit()
        return draft.id


def get_draft(app, draft_id: int) -> Draft:
    with dbsession(app) as db:
        return db.get(Draft, draft_id)


def shop_row(app, shop_id: int) -> Shop:
    with dbsession(app) as db:
        return db.get(Shop, shop_id)


def audit_entries(app, *, action: str | None = None, draft_id: int | None = None) -> list[AuditEntry]:
    with dbsession(app) as db:
        query = select(AuditEntry).order_by(AuditEntry.id)
        if action:
            query = query.where(AuditEntry.action == action)
        if draft_id is not None:
            query = query.where(AuditEntry.draft_id == draft_id)
        return list(db.scalars(query))


# --------------------------------------------------------------------------------- logging in, CSRF


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token hidden input on the page"
    return match.group(1)


def csrf(client, path: str = "/panel/") -> str:
    """The CSRF token of the client's session, read from a page as a browser would."""
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.headers.get("Location"))
    return csrf_from(response.get_data(as_text=True))


def login(client, email: str = EMAIL_A, password: str = PASSWORD, *, next: str = ""):  # noqa: A002
    """GET the login page, read its CSRF token, POST the form; the POST's response."""
    page = client.get("/panel/login", query_string={"next": next} if next else None)
    assert page.status_code == 200
    return client.post("/panel/login", data={"csrf_token": csrf_from(page.get_data(as_text=True)),
                                             "email": email, "password": password, "next": next})


def logged_in(app, email: str = EMAIL_A, password: str = PASSWORD):
    """A test client with an open panel session."""
    client = app.test_client()
    response = login(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def shop(app):
    """Shop A with one staff login (EMAIL_A)."""
    shop_id = make_shop(app, SHOP_A)
    make_staff(app, shop_id, EMAIL_A)
    return shop_id


@pytest.fixture
def client(app, shop):
    """A test client logged in to shop A."""
    return logged_in(app)


def post_form(client, path: str, **data):
    """A panel form post with the session's CSRF token."""
    return client.post(path, data={**data, "csrf_token": csrf(client)})


def session_cookie(client) -> str | None:
    cookie = client.get_cookie(SESSION_COOKIE)
    return cookie.value if cookie else None


# ---------------------------------------------------------------------------- Shopify session tokens


def session_token(shop: str = SHOP_A, *, secret: str = APP_SECRET, aud: str = API_KEY, expires_in: int = 60,
                  iss: str | None = None, dest: str | None = None, drop: tuple[str, ...] = (),
                  algorithm: str = "HS256", sub: str = "7001", **extra) -> str:
    """A session token as App Bridge sends it (HS256 over the app secret; a minute to live)."""
    now = int(time.time())
    claims = {"iss": iss or f"https://{shop}/admin", "dest": dest or f"https://{shop}", "aud": aud, "sub": sub,
              "exp": now + expires_in, "nbf": min(now, now + expires_in) - 5, "iat": min(now, now + expires_in) - 5,
              "jti": uuid.uuid4().hex, "sid": uuid.uuid4().hex, **extra}
    for name in drop:
        claims.pop(name, None)
    if algorithm == "none":
        return jwt.encode(claims, None, algorithm="none")
    return jwt.encode(claims, secret, algorithm=algorithm)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# ----------------------------------------------------------------------------------------------- jobs


def fail_job(message: str) -> None:
    """A job that fails for real (RQ imports it by its dotted name)."""
    raise ValueError(message)


def failed_job(redis_conn, shop_id: int, message: str, queue_name: str = "default") -> str:
    """Enqueue `fail_job` for a shop and run a real burst worker on its queue: the job lands in RQ's
    failed registry with its reason. Returns the job id."""
    q = plugin_jobs.queue(redis_conn, queue_name)
    job = q.enqueue("tests.panel_helpers.fail_job", message, meta={"shop_id": shop_id},
                    failure_ttl=plugin_jobs.FAILURE_TTL)
    SimpleWorker([q], connection=redis_conn).work(burst=True, with_scheduler=False, logging_level="WARNING")
    return job.id


def require_jobs_api(name: str, *params: str) -> None:
    """plugin.jobs is being extended by another engineer; fail (never skip) with a message saying what is
    missing, so the panel's expectations stay checked."""
    func = getattr(plugin_jobs, name, None)
    if func is None:
        pytest.fail(f"plugin/jobs.py has no {name}() yet: the panel calls it (another engineer is adding it)",
                    pytrace=False)
    missing = [p for p in params if p not in inspect.signature(func).parameters]
    if missing:
        pytest.fail(f"plugin.jobs.{name}() does not accept {', '.join(p + '=' for p in missing)} yet: the panel "
                    f"passes it (another engineer is adding it)", pytrace=False)


def all_job_ids(redis_conn) -> dict[str, list[str]]:
    return {name: plugin_jobs.queue(redis_conn, name).job_ids for name in plugin_jobs.QUEUES}


def no_jobs(redis_conn) -> bool:
    return not any(all_job_ids(redis_conn).values())


# ----------------------------------------------------------------------------------------- HTML checks


class _Live(HTMLParser):
    """Collects what a browser would treat as markup: elements and their attributes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))

    handle_startendtag = handle_starttag


def live_markup_problems(html: str) -> list[str]:
    """Live scripts, event handlers, javascript: URLs, frames and styles in a page of the panel (its own
    script and stylesheet excepted)."""
    parser = _Live()
    parser.feed(html)
    problems = []
    for tag, attrs in parser.tags:
        if tag == "script" and not (attrs.get("src", "").startswith("/panel/static/")
                                    or attrs.get("src", "").startswith("https://cdn.shopify.com/")):
            problems.append(f"<script {attrs}>")
        if tag in ("iframe", "style", "object", "embed", "frame"):
            problems.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                problems.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith("javascript:"):
                problems.append(f"<{tag} {name}={value}>")
    return problems


def assert_no_live_xss(html: str) -> None:
    for raw in ("<script>alert", "<script>bad", "<iframe", "<style", "<img src=x", "<p onclick"):
        assert raw not in html, raw
    assert live_markup_problems(html) == []


def draft_ids_listed(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'aria-label="Select draft (\d+)"', html)}


def tab_counts(html: str) -> dict[str, int]:
    return {s: int(n) for s, n in re.findall(r'data-testid="tab-(\w+)">\w+ <span class="count">(\d+)</span>', html)}
