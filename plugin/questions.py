"""Storefront endpoints for customer questions (the widget's), per platform.

Shopify, through the app proxy (manifest.json `app_proxy`: the storefront's `/apps/copydesk/*` arrives
here as `/proxy/*`, same origin for the customer, so no CORS). Every request carries Shopify's
`signature` query parameter, checked as platforms.md 1.5 says: drop `signature`, sort by key, join the
values of a repeated key with commas, concatenate `key=value` with no separator, hex HMAC-SHA256 with
the app secret, compared in constant time. A missing or wrong signature, or a `timestamp` more than
MAX_AGE seconds old or LEEWAY ahead, is 401; a repeated `signature`/`shop`/`timestamp`, a timestamp
that is not a number or a shop that is not a shop domain, 400.

WooCommerce: public endpoints under `/questions/w/<widget key>` (the shop's publishable key,
`plugin.questions_store.widget_key`), a per-IP limit per hour in Redis (shop setting
`questions_per_ip_hour`; 429 with Retry-After), and CORS for the store's own origin only.

    POST  .../questions          {question, product_id?, email?, order_number?} → 202 {token, status}
    GET   .../questions/<token>  → {status: "pending", message} or {status: "answered"|"refused", answer}

The widget script is `/proxy/widget.js` and `/questions/widget.js` (plugin/static/copydesk-widget.js).
The client IP is `request.remote_addr`: behind a reverse proxy, configure it to pass the real one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from urllib.parse import urlsplit

import redis
from flask import Blueprint, current_app, jsonify, request, send_from_directory

from plugin import questions_store as store
from plugin.db import Shop
from plugin.platforms.shopify import sanitize_shop_domain
from plugin.shops import effective_settings, find_shop
from plugin.state import get_db, get_redis

bp = Blueprint("questions", __name__)
MAX_AGE = 90
"""Seconds an app proxy request's timestamp stays valid: Shopify's own library allows 90 s of difference."""
LEEWAY = 90
"""Seconds a timestamp may be ahead of our clock (clock skew) before it counts as from the future."""
ANONYMOUS_FACTOR = 20
"""Proxy questions from visitors who are not logged in share one per-shop allowance of this many times the
per-visitor limit: they arrive from Shopify's servers, so their own address is not known."""
SINGLE = ("signature", "shop", "timestamp")
STATIC = Path(__file__).resolve().parent / "static"


class ProxyRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, **headers):
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def proxy_message(args) -> str:
    """The signed string of an app proxy request's query (`args`: a MultiDict, values in arrival order)."""
    pairs = sorted((key, ",".join(args.getlist(key))) for key in args.keys() if key != "signature")
    return "".join(f"{key}={value}" for key, value in pairs)


def verify_proxy(args, secrets: list[str], now: float | None = None) -> str:
    """The shop domain of a verified app proxy request; raises ProxyRefused (400 or 401) otherwise."""
    for key in SINGLE:
        if len(args.getlist(key)) > 1:
            raise ProxyRefused(400, f"{key} given more than once")
    signature = args.get("signature", "")
    if not signature:
        raise ProxyRefused(401, "unauthorized")
    stamp = args.get("timestamp", "")
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise ProxyRefused(400, "timestamp is missing or not a number")
    message = proxy_message(args).encode()
    given = signature.lower().encode("utf-8", "replace")  # bytes: a non-ASCII str would raise, not refuse
    good = any(hmac.compare_digest(hmac.new(secret.encode(), message, hashlib.sha256).hexdigest().encode(), given)
               for secret in secrets if secret)
    if not good:
        raise ProxyRefused(401, "unauthorized")
    age = (time.time() if now is None else now) - int(stamp)
    if age > MAX_AGE or age < -LEEWAY:
        raise ProxyRefused(401, "unauthorized")
    domain = sanitize_shop_domain(args.get("shop", ""))
    if domain is None:
        raise ProxyRefused(400, "shop is not a Shopify shop domain")
    return domain


def _proxy_shop() -> Shop:
    settings = current_app.config["COPYDESK"]
    secrets = [settings.shopify_api_secret, *settings.shopify_api_secret_previous.split(",")]
    domain = verify_proxy(request.args, [s.strip() for s in secrets if s.strip()])
    shop = find_shop(get_db(), domain)
    if shop is None or shop.platform != "shopify" or shop.uninstalled_at is not None:
        raise ProxyRefused(404, "this shop does not use Copydesk")
    return shop


def _ask(shop: Shop, channel: str):
    settings = effective_settings(shop)
    try:
        ask = store.parse_ask(request.get_json(silent=True), need_email=settings["answer_channel"] == "email")
    except store.QuestionError as err:
        return _error(400, str(err))
    app_settings = current_app.config["COPYDESK"]
    digest = store.ip_hash(app_settings.secret_key, request.remote_addr or "")
    db = get_db()
    question = store.store_question(db, current_app.extensions["copydesk_vault"], shop, ask, channel=channel,
                                    ip_digest=digest)
    try:
        store.enqueue_answer(get_redis(), question, app_settings.job_timeout)
    except redis.RedisError:
        db.delete(question)
        db.commit()
        return _error(503, "questions cannot be taken right now; try again shortly", **{"Retry-After": "30"})
    response = jsonify(token=question.token, status="pending", message=store.HOLDING_REPLY)
    response.status_code = 202
    return response


def _status(shop: Shop, token: str):
    question = store.find(get_db(), shop.id, token)
    if question is None:
        return _error(404, "no such question")
    response = jsonify(store.view(question))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(ProxyRefused)
def _refused(err: ProxyRefused):
    return _error(err.status, str(err))


@bp.get("/proxy/widget.js")
@bp.get("/questions/widget.js")
def widget_script():
    response = send_from_directory(STATIC, "copydesk-widget.js", mimetype="text/javascript", max_age=300)
    response.headers["Access-Control-Allow-Origin"] = "*"  # a public script; it carries no data
    return response


@bp.post("/proxy/questions")
def proxy_ask():
    shop = _proxy_shop()
    per_hour = int(effective_settings(shop)["questions_per_ip_hour"])
    customer = request.args.get("logged_in_customer_id", "")
    if customer.isdigit():
        who, limit = f"customer:{customer}", per_hour
    else:
        who, limit = "anonymous", per_hour * ANONYMOUS_FACTOR
    try:
        wait = store.rate_limited(get_redis(), shop.id, who, limit)
    except redis.RedisError:
        return _error(503, "questions cannot be taken right now", **{"Retry-After": "30"})
    if wait:
        return _error(429, "too many questions; try again later", **{"Retry-After": str(wait)})
    return _ask(shop, "app_proxy")


@bp.get("/proxy/questions/<token>")
def proxy_status(token: str):
    return _status(_proxy_shop(), token)


# ------------------------------------------------------------------------------------------ WooCommerce


def store_origins(shop: Shop) -> set[str]:
    """The origins the shop's widget runs on: its store URL's, and its domain's over https and http."""
    origins = {f"https://{shop.domain}", f"http://{shop.domain}"}
    parts = urlsplit(shop.api_url or "")
    if parts.scheme and parts.netloc:
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return {o.lower() for o in origins}


def _cors(response, shop: Shop | None):
    origin = request.headers.get("Origin", "")
    response.headers["Vary"] = "Origin"
    if shop is not None and origin and origin.lower() in store_origins(shop):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def _woo_shop(key: str) -> Shop | None:
    shop = store.shop_for_key(get_db(), key)
    return shop if shop is not None and shop.platform == "woocommerce" else None


@bp.route("/questions/w/<key>", methods=["OPTIONS"])
@bp.route("/questions/w/<key>/<token>", methods=["OPTIONS"])
def woo_preflight(key: str, token: str = ""):
    return _cors(current_app.response_class(status=204), _woo_shop(key))


@bp.post("/questions/w/<key>")
def woo_ask(key: str):
    shop = _woo_shop(key)
    if shop is None:
        return _cors(_error(404, "unknown widget key"), None)
    limit = int(effective_settings(shop)["questions_per_ip_hour"])
    digest = store.ip_hash(current_app.config["COPYDESK"].secret_key, request.remote_addr or "")
    try:
        wait = store.rate_limited(get_redis(), shop.id, digest, limit)
    except redis.RedisError:
        return _cors(_error(503, "questions cannot be taken right now", **{"Retry-After": "30"}), shop)
    if wait:
        return _cors(_error(429, "too many questions from here; try again later", **{"Retry-After": str(wait)}),
                     shop)
    return _cors(_ask(shop, "woocommerce"), shop)


@bp.get("/questions/w/<key>/<token>")
def woo_status(key: str, token: str):
    shop = _woo_shop(key)
    if shop is None:
        return _cors(_error(404, "unknown widget key"), None)
    return _cors(_status(shop, token), shop)
