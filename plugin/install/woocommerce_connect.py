"""Connecting a WooCommerce store: WooCommerce's app key flow, `/wc-auth/v1/authorize` (platforms.md 2.5).

1. `GET /connect/woocommerce?store_url=...` checks the URL and sends the merchant to the store's
   authorize page with a single-use, unguessable `user_id` kept in Redis (with the store) for TOKEN_TTL.
2. The merchant approves; the store POSTs the new REST keys, unsigned, to our `callback_url`. We accept
   them only with a live `user_id` (consumed on first use) and `read_write` permissions, store them
   encrypted, queue the creation of our webhooks (`woocommerce_webhooks.register_job`, default queue),
   and answer exactly 200 with an empty body (anything else makes WooCommerce delete the key).
   Everything else gets 400 and nothing is stored.
3. The store sends the merchant's browser to our `return_url` with `success=1` or `0`.

WooCommerce refuses a `callback_url` that is not https, so COPYDESK_APP_URL must be https; plain http
is allowed only for a store on 127.0.0.1 or localhost (the local emulator).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from urllib.parse import urlencode, urlsplit

import redis
from flask import Blueprint, current_app, jsonify, redirect, render_template_string, request

from plugin import jobs
from plugin.install.woocommerce_webhooks import planned_webhooks
from plugin.platforms.woocommerce import normalize_store_url
from plugin.shops import add_shop
from plugin.state import get_db, get_redis

bp = Blueprint("woocommerce_connect", __name__, url_prefix="/connect/woocommerce")
log = logging.getLogger(__name__)
APP_NAME = "Copydesk"
SCOPE = "read_write"
TOKEN_TTL = 15 * 60
"""Seconds a connect link stays valid: time for the merchant to log in to WordPress and approve."""
TOKEN_PREFIX = "copydesk:wc-connect"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_HOST = re.compile(r"^[a-z0-9.-]{1,253}$|^::1$")
_PATH = re.compile(r"^[A-Za-z0-9/._~-]{0,200}$")
CALLBACK_KEYS = ("key_id", "user_id", "consumer_key", "consumer_secret", "key_permissions")


class BadStoreURL(ValueError):
    pass


def parse_store_url(raw: str) -> tuple[str, str, bool]:
    """(shop key, API base URL, is loopback) of a store URL typed by a merchant, or BadStoreURL.

    http(s) only; no user or password, query or fragment; a plain host name (or IP) and an optional
    WordPress sub-folder. The key is `normalize_store_url`'s, so webhooks find the shop."""
    text = (raw or "").strip()
    if not text or len(text) > 500:
        raise BadStoreURL("store_url is required (the address of your WooCommerce store)")
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.scheme not in ("http", "https"):
        raise BadStoreURL("store_url must start with https:// (or http://)")
    if "@" in parts.netloc:
        raise BadStoreURL("store_url must not contain a user name or password")
    if parts.fragment or "#" in text or parts.query or "?" in text:
        raise BadStoreURL("store_url must not have a query or a #fragment")
    try:
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise BadStoreURL("store_url has a bad port") from None
    if not host or not _HOST.match(host) or not _PATH.match(parts.path):
        raise BadStoreURL("store_url is not a valid store address")
    shown_host = f"[{host}]" if ":" in host else host
    api_url = f"{parts.scheme}://{shown_host}{f':{port}' if port else ''}{parts.path.rstrip('/')}"
    return normalize_store_url(api_url), api_url, host in LOOPBACK


def _token_key(token: str) -> str:
    return f"{TOKEN_PREFIX}:{hashlib.sha256(token.encode()).hexdigest()}"


def _consume(conn: redis.Redis, token: str) -> dict | None:
    """The pending connect of `token`, removed so that it can never be used again (GET and DEL in one
    transaction: of two concurrent callbacks, one gets it)."""
    if not isinstance(token, str) or not 20 <= len(token) <= 100:
        return None
    with conn.pipeline(transaction=True) as pipe:
        pipe.get(_token_key(token))
        pipe.delete(_token_key(token))
        value, removed = pipe.execute()
    return json.loads(value) if value and removed else None


@bp.errorhandler(redis.RedisError)
def _redis_down(err):
    log.error("woocommerce connect: Redis unavailable: %s", type(err).__name__)
    return jsonify(error="temporarily unavailable"), 503


@bp.get("")
def start():
    try:
        key, api_url, loopback = parse_store_url(request.args.get("store_url", ""))
    except BadStoreURL as err:
        return jsonify(error=str(err)), 400
    app_url = current_app.config["COPYDESK"].app_url.rstrip("/")
    if not app_url.startswith("https://") and not loopback:
        return jsonify(error="COPYDESK_APP_URL must be https: WooCommerce only sends keys to an https "
                             "callback_url (plain http works only for a store on 127.0.0.1 or localhost)"), 400
    token = secrets.token_urlsafe(32)
    get_redis().set(_token_key(token), json.dumps({"store": key, "api_url": api_url}), ex=TOKEN_TTL)
    query = urlencode({"app_name": APP_NAME, "scope": SCOPE, "user_id": token,
                       "return_url": f"{app_url}/connect/woocommerce/return",
                       "callback_url": f"{app_url}/connect/woocommerce/callback"})
    log.info("woocommerce connect started for %s", key)
    return redirect(f"{api_url}/wc-auth/v1/authorize?{query}")


@bp.post("/callback")
def callback():
    """The store's POST of the new keys. Exactly 200 with an empty body when accepted, else 400."""
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict) or any(k not in data for k in CALLBACK_KEYS):
        return _refused("not a WooCommerce key callback")
    if not all(isinstance(data[k], str) and data[k] for k in CALLBACK_KEYS[1:4]):
        return _refused("keys missing")
    pending = _consume(get_redis(), data["user_id"])
    if pending is None:
        return _refused("unknown or used user_id")
    if data["key_permissions"] != SCOPE:
        return _refused(f"permissions are not {SCOPE}")
    credentials = {"consumer_key": data["consumer_key"], "consumer_secret": data["consumer_secret"],
                   "key_id": str(data["key_id"])[:20], "key_permissions": SCOPE, "webhooks": planned_webhooks()}
    settings = current_app.config["COPYDESK"]
    shop = add_shop(get_db(), current_app.extensions["copydesk_vault"], platform="woocommerce",
                    domain=pending["api_url"], api_url=pending["api_url"], credentials=credentials,
                    actor="woocommerce-connect")
    jobs.queue(get_redis(), jobs.DEFAULT, settings.job_timeout).enqueue(
        "plugin.install.woocommerce_webhooks.register_job", shop.id, meta={"shop_id": shop.id},
        job_id=f"wc-webhooks-{shop.id}-{secrets.token_hex(6)}", result_ttl=jobs.RESULT_TTL,
        failure_ttl=jobs.FAILURE_TTL, description=f"create woocommerce webhooks shop={shop.id}")
    log.info("woocommerce store %s connected (shop %d); creating its webhooks", shop.domain, shop.id)
    return "", 200


def _refused(reason: str):
    log.warning("woocommerce key callback refused: %s", reason)
    return "", 400


RETURN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Copydesk</title></head>
<body><h1>{{ heading }}</h1><p>{{ text }}</p></body></html>"""


@bp.get("/return")
def returned():
    """Where the store sends the merchant afterwards: `success=1` (approved) or `0` (denied)."""
    if request.args.get("success") == "1":
        heading, text = "Connected", ("Copydesk is connected to your store. New products get draft copy "
                                      "within minutes; you can close this page.")
    else:
        token = request.args.get("user_id", "")
        if token:
            _consume(get_redis(), token)  # a denied link is dead
        heading, text = "Not connected", ("Access was denied in WooCommerce, so Copydesk has no access to "
                                          "your store. Start again from the connect link to retry.")
    response = current_app.make_response(render_template_string(RETURN_PAGE, heading=heading, text=text))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
