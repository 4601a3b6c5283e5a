"""The authorization-code grant, for installs that do not come through Shopify's managed install
(platforms.md 1.3.2). Embedded installs use token exchange instead (`plugin.panel.auth`).

    GET /auth/shopify/install?shop&timestamp&hmac[&host]   → 302 https://{shop}/admin/oauth/authorize
    GET /auth/shopify/callback?code&shop&state&timestamp&hmac[&host] → token stored, webhooks, 302 panel

Both requests are checked the same way: the hex HMAC-SHA256 (app secret, or the previous one during a
rotation) over the other parameters sorted and URL-encoded, in constant time; the timestamp within
`TIMESTAMP_WINDOW` seconds; no parameter given twice; the shop matching the anchored
`name.myshopify.com` pattern exactly as sent (lowercase). The `state` is 32 random bytes, signed with
the app's secret key and bound to the shop, kept in Redis for `STATE_TTL` seconds and in a cookie for the
browser that started; the callback consumes it once (GETDEL), so a replayed callback is refused.
Every refusal is a 400 or 401 without detail; nothing secret is logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, redirect, request

from plugin.errors import StoreAPIError
from plugin.install import shopify_setup, shopify_tokens
from plugin.platforms.shopify import sanitize_shop_domain
from plugin.state import get_db, get_redis

bp = Blueprint("shopify_install", __name__, url_prefix="/auth/shopify")
log = logging.getLogger(__name__)
TIMESTAMP_WINDOW = 90
"""Seconds either side (shopify-app-js HMAC_TIMESTAMP_PERMITTED_CLOCK_TOLERANCE_SEC)."""
STATE_TTL = 300
"""Seconds the merchant has to approve the grant screen."""
STATE_COOKIE = "shopify_app_state"


def query_hmac(secret: str, params: dict[str, str]) -> str:
    """Hex HMAC-SHA256 over the parameters except `hmac`/`signature`, sorted by key and URL-encoded."""
    message = urlencode(sorted((k, v) for k, v in params.items() if k not in ("hmac", "signature")))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verified_query() -> tuple[dict[str, str], str]:
    """The request's query as a dict and its shop, or abort: 401 for a bad signature or stale timestamp,
    400 for a malformed query or shop."""
    settings = current_app.config["COPYDESK"]
    args = request.args
    if any(len(args.getlist(key)) > 1 for key in args):
        abort(400)
    params = {key: args[key] for key in args}
    given = params.get("hmac", "").encode()
    ok = False
    for secret in filter(None, (settings.shopify_api_secret, settings.shopify_api_secret_previous)):
        ok |= hmac.compare_digest(query_hmac(secret, params).encode(), given)
    if not ok or not given:
        log.info("install request refused: bad hmac")
        abort(401)
    try:
        stamp = int(params.get("timestamp", ""))
    except ValueError:
        abort(401)
    if abs(time.time() - stamp) > TIMESTAMP_WINDOW:
        log.info("install request refused: timestamp outside the window")
        abort(401)
    shop = params.get("shop", "")
    if sanitize_shop_domain(shop) != shop:  # exactly as the anchored pattern allows, lowercase
        log.info("install request refused: not a shop domain")
        abort(400)
    return params, shop


def _sign_state(nonce: str, shop: str) -> str:
    key = current_app.config["COPYDESK"].secret_key.encode()
    return hmac.new(key, f"shopify-state|{nonce}|{shop}".encode(), hashlib.sha256).hexdigest()[:32]


def _state_key(nonce: str) -> str:
    return f"copydesk:shopify-oauth-state:{nonce}"


@bp.get("/install")
def install():
    params, shop = verified_query()
    settings = current_app.config["COPYDESK"]
    nonce = secrets.token_hex(32)
    get_redis().set(_state_key(nonce), shop, ex=STATE_TTL)
    query = {"client_id": settings.shopify_api_key, "scope": ",".join(shopify_setup.shopify_manifest()["scopes"]),
             "redirect_uri": f"{settings.app_url.rstrip('/')}/auth/shopify/callback",
             "state": f"{nonce}.{_sign_state(nonce, shop)}"}
    response = redirect(f"{shopify_setup.api_base(shop)}/admin/oauth/authorize?{urlencode(query)}")
    response.set_cookie(STATE_COOKIE, nonce, max_age=STATE_TTL, httponly=True, samesite="Lax",
                        secure=settings.app_url.startswith("https://"), path="/auth/shopify")
    return response


@bp.get("/callback")
def callback():
    params, shop = verified_query()
    nonce, _, signature = params.get("state", "").partition(".")
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not nonce or not hmac.compare_digest(signature.encode(), _sign_state(nonce, shop).encode()):
        abort(401)
    if not hmac.compare_digest(cookie.encode(), nonce.encode()):
        abort(401)
    owner = get_redis().getdel(_state_key(nonce))  # single use: a replay finds nothing
    if owner is None or owner.decode() != shop:
        log.info("install callback refused: unknown or used state")
        abort(401)
    code = params.get("code", "")
    if not code or len(code) > 200:
        abort(400)
    settings = current_app.config["COPYDESK"]
    base = shopify_setup.api_base(shop)
    try:
        creds = shopify_tokens.exchange_code(shopify_setup.http(), base, settings, code, settings.http_timeout)
    except StoreAPIError as err:
        log.warning("code exchange for %s failed: %s", shop, err)
        abort(401 if err.status in (400, 401, 403) else 502)
    shopify_setup.complete_install(get_db(), current_app.extensions["copydesk_vault"], shop, creds, base,
                                   actor="shopify:authorization-code")
    target = {"shop": shop, **({"host": params["host"][:500]} if params.get("host") else {})}
    response = redirect(f"/panel/?{urlencode(target)}")
    response.delete_cookie(STATE_COOKIE, path="/auth/shopify")
    return response
