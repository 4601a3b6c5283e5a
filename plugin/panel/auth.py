"""Who is asking: every panel request is tied to exactly one shop before any view runs.

Two ways in:
- Embedded in Shopify admin: a session token (`Authorization: Bearer`, or `id_token` on a page load or
  form post) verified on every request. No cookie is involved (third-party cookies fail in the admin's
  iframe), and a token cannot be sent by another site, so such requests need no CSRF token.
- Standalone: a staff login and a session cookie (HttpOnly, SameSite=Lax, Secure over https) whose id
  points at a record in Redis. Every state-changing request must carry that session's CSRF token.

A draft, product or job of another shop is answered 404, exactly as if it did not exist.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import abort, current_app, g, make_response, redirect, render_template, request, session, url_for

from plugin.db import Shop
from plugin.panel import accounts
from plugin.panel.session_token import InvalidSessionToken, verify
from plugin.platforms.shopify import sanitize_shop_domain
from plugin.shops import find_shop
from plugin.state import get_db, get_redis

PUBLIC = {"panel.login", "panel.static", "panel.bounce"}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"
EMBED_PARAMS = ("shop", "host", "embedded")


@dataclass
class Principal:
    shop_id: int
    shop_domain: str
    platform: str
    actor: str
    embedded: bool = False
    csrf: str = ""
    sid: str = ""
    shops: list[tuple[int, str]] = field(default_factory=list)
    embed: dict = field(default_factory=dict)
    """shop/host/embedded query values carried on every link inside Shopify admin."""


def current() -> Principal:
    return g.principal


def authenticate():
    """`before_request` of the panel: sets g.principal, or answers for the view."""
    if request.endpoint in PUBLIC:
        return None
    token, from_header = _token()
    if token:
        return _by_token(token, from_header)
    if request.args.get("embedded") == "1" or (request.args.get("shop") and request.args.get("host")):
        return _bounce_redirect()  # a page load inside Shopify admin without a token: fetch one
    return _by_cookie()


def _token() -> tuple[str, bool]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip(), True
    return (request.args.get("id_token") or request.form.get("id_token") or "").strip(), False


def _by_token(token: str, from_header: bool):
    settings = current_app.config["COPYDESK"]
    try:
        claims = verify(token, api_key=settings.shopify_api_key,
                        secrets=[settings.shopify_api_secret, settings.shopify_api_secret_previous])
    except InvalidSessionToken as err:
        if request.method == "GET" and not from_header:
            return _bounce_redirect()
        return token_rejected(str(err))
    shop = find_shop(get_db(), claims.shop)
    if shop is not None and shop.platform != "shopify":
        return token_rejected("this shop has not installed Copydesk")
    if shop is None or shop.uninstalled_at is not None:  # managed install: the first load brings the token
        shop = _install(claims.shop, token)
        if shop is None:
            return token_rejected("the session token could not be exchanged; fetch a new one")
    g.principal = Principal(
        shop_id=shop.id, shop_domain=shop.domain, platform=shop.platform, actor=f"shopify-user:{claims.user_id}",
        embedded=True, shops=[(shop.id, shop.domain)],
        embed={"shop": shop.domain, "host": request.values.get("host", "")[:500], "embedded": "1"})
    return None


def _install(domain: str, token: str) -> Shop | None:
    """Token exchange on a shop's first embedded load (plugin.install.shopify_setup); None when Shopify
    refuses the session token (`invalid_subject_token`) or cannot be reached."""
    from plugin.errors import StoreAPIError
    from plugin.install.shopify_setup import install_from_session_token

    try:
        return install_from_session_token(get_db(), current_app.extensions["copydesk_vault"], domain, token)
    except StoreAPIError as err:
        current_app.logger.warning("token exchange for %s failed: %s", domain, err)
        return None


def token_rejected(reason: str):
    """401 with the header that makes App Bridge fetch a fresh token and retry the request."""
    response = make_response({"error": "invalid session token", "detail": reason}, 401)
    response.headers[RETRY_HEADER] = "1"
    return response


def _bounce_redirect():
    shop = sanitize_shop_domain(request.args.get("shop", ""))
    if shop is None:
        abort(400, "an embedded page load needs the shop parameter")
    query = {k: v for k, v in request.args.items() if k != "id_token"}
    reload_to = request.path + ("?" + urlencode(query) if query else "")
    return redirect(url_for("panel.bounce", shop=shop, host=request.args.get("host", ""),
                            **{"shopify-reload": reload_to}))


def bounce_page():
    """App Bridge on this page gets a fresh session token and reloads `shopify-reload` with it."""
    shop = sanitize_shop_domain(request.args.get("shop", ""))
    target = request.args.get("shopify-reload", "")
    if shop is None or not target.startswith("/panel") or "//" in target or "\\" in target:
        abort(400, "bad session-token bounce")
    g.frame_shop = shop
    return render_template("panel/bounce.html", api_key=current_app.config["COPYDESK"].shopify_api_key)


def _by_cookie():
    sid = session.get("sid", "")
    record = accounts.load_session(get_redis(), sid) if sid else None
    shop = None
    if record is not None:
        shop = get_db().get(Shop, int(record["shop_id"]))
        if shop is None or shop.uninstalled_at is not None or not accounts.staff_still_valid(get_db(), record,
                                                                                              shop.id):
            shop = None
    if shop is None:
        if record is not None:  # locked out (account removed, shop uninstalled): the session ends for good
            accounts.close_session(get_redis(), sid)
        session.pop("sid", None)
        if request.method == "GET" and not request.path.endswith(".json"):
            return redirect(url_for("panel.login", next=request.full_path.rstrip("?")))
        return make_response({"error": "not logged in"}, 401)
    shops = [(shop_id, _domain(int(shop_id))) for shop_id in record["shops"]]
    g.principal = Principal(shop_id=shop.id, shop_domain=shop.domain, platform=shop.platform,
                            actor=f"staff:{record['email']}", csrf=record["csrf"], sid=sid,
                            shops=[s for s in shops if s[1]])
    if request.method in UNSAFE:
        given = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
        if not hmac.compare_digest(given.encode(), record["csrf"].encode()):
            abort(400, "missing or wrong CSRF token: reload the page and try again")
    return None


def _domain(shop_id: int) -> str:
    shop = get_db().get(Shop, shop_id)
    return shop.domain if shop is not None and shop.uninstalled_at is None else ""


def frame_ancestors() -> str:
    principal = g.get("principal")
    shop = g.get("frame_shop") or (principal.shop_domain if principal and principal.embedded else None)
    if shop:
        return f"https://{shop} https://admin.shopify.com"
    return "'none'"


def security_headers(response):
    """`after_request` of the panel: CSP (with the frame-ancestors Shopify requires), no sniffing,
    no caching of pages that hold store copy, no referrer (an id_token may be in the URL)."""
    embedded = bool(g.get("frame_shop")) or bool(g.get("principal") and g.principal.embedded)
    scripts = "'self' https://cdn.shopify.com" if embedded else "'self'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' https: data:; "
        f"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {frame_ancestors()}")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if request.endpoint != "panel.static":
        response.headers["Cache-Control"] = "no-store"
    return response


def purl(endpoint: str, **values) -> str:
    """url_for that keeps the Shopify admin parameters on links inside the embedded panel."""
    principal = g.get("principal")
    if principal is not None and principal.embedded:
        values = {**principal.embed, **values}
    return url_for(endpoint, **values)
