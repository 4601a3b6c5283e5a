"""WooCommerce REST API v3 under /wp-json/wc/v3/: products, orders, order notes, webhooks.

Auth as WooCommerce does it: OAuth 1.0a on plain HTTP; Basic or key query params only over HTTPS.
"""

from __future__ import annotations

import math
import secrets
import time
from datetime import UTC, datetime
from functools import wraps
from urllib.parse import urlencode

from flask import Blueprint, jsonify, request

from . import oauth1
from . import woo_shapes as shapes
from .context import rt
from .errors import NotFound, OAuthError
from .state import WOO_TOPICS, now
from .webhooks import fire_woo, ping_woo
from .woo_auth import credentials_for

bp = Blueprint("woo_api", __name__, url_prefix="/wp-json/wc/v3")

FAULTS = {
    400: ("rest_invalid_param", "Invalid parameter(s): description"),
    429: ("rest_too_many_requests", "Too Many Requests"),
    500: ("internal_server_error", "<p>There has been a critical error on this website.</p>"),
    503: ("service_unavailable", "Service Unavailable"),
}
CANNOT = {
    "GET": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "POST": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "PUT": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
}


def wc_error(code: str, message: str, status: int):
    resp = jsonify({"code": code, "message": message, "data": {"status": status}})
    resp.status_code = status
    return resp


def is_ssl() -> bool:
    return request.is_secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def authenticate():
    """None when authenticated, else the WooCommerce error response."""
    store = rt().store
    consumer_key, consumer_secret = credentials_for(store)  # the configured pair, or a /wc-auth key
    if is_ssl():
        auth = request.authorization
        user = auth.username if auth and auth.type == "basic" else None
        password = auth.password if auth and auth.type == "basic" else None
        if oauth1.verify_basic(user, password, request.args, consumer_key, consumer_secret):
            return None
        if user is not None or "consumer_key" in request.args:
            return wc_error("woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401)
    # Like WooCommerce, OAuth 1.0a is tried after Basic (which only runs over HTTPS).
    if "oauth_signature" in request.args or request.headers.get("Authorization", "").startswith("OAuth "):
        scheme = "https" if is_ssl() else request.scheme
        base_url = f"{scheme}://{request.host}{request.path}"
        try:
            with store.lock:
                oauth1.verify_oauth(
                    request.method,
                    base_url,
                    request.query_string.decode(),
                    request.headers.get("Authorization"),
                    consumer_key,
                    consumer_secret,
                    store.nonces,
                    store.config.oauth_window_s,
                )
            return None
        except OAuthError as exc:
            return wc_error(exc.code, exc.message, 401)
    code, message = CANNOT.get(request.method, CANNOT["GET"])
    return wc_error(code, message, 401)


def guarded(view):
    """Apply injected faults, then authenticate, then run the view."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        store = rt().store
        with store.lock:
            fault = store.faults["woocommerce"].next()
        if fault:
            if "status" in fault or fault.get("throttle"):
                status = int(fault.get("status", 429))
                resp = wc_error(*FAULTS[status], status)
                if status == 429 or fault.get("retry_after") is not None:
                    resp.headers["Retry-After"] = str(int(float(fault.get("retry_after", 2))))
                return resp
            time.sleep(float(fault.get("delay_s", 0)))
        denied = authenticate()
        return denied if denied is not None else view(*args, **kwargs)

    return wrapper


def base() -> str:
    return rt().store.base_url or request.host_url.rstrip("/")


def _paging():
    """(page, per_page) of a listing request, or WooCommerce's 400 answer."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", 10))
    except ValueError:
        return wc_error("rest_invalid_param", "Invalid parameter(s): page", 400)
    if page < 1 or not 1 <= per_page <= 100:
        return wc_error("rest_invalid_param", "Invalid parameter(s): per_page", 400)
    return page, per_page


@bp.get("/products")
@guarded
def list_products():
    store = rt().store
    paging = _paging()
    if not isinstance(paging, tuple):
        return paging
    page, per_page = paging
    status = request.args.get("status", "any")
    try:  # the emulated store's zone is UTC, so dates_are_gmt makes no difference here
        since = datetime.fromisoformat(request.args["modified_after"]) if "modified_after" in request.args else None
    except ValueError:
        return wc_error("rest_invalid_param", "Invalid parameter(s): modified_after", 400)
    since = since.replace(tzinfo=since.tzinfo or UTC) if since else None
    with store.lock:
        items = [
            p
            for _, p in sorted(store.products["woocommerce"].items(), reverse=True)
            if (status == "any" or p["status"] == status) and (since is None or p["updated_at"] > since)
        ]
        total = len(items)
        body = [shapes.product_v3(p, base()) for p in items[(page - 1) * per_page : page * per_page]]
    pages = math.ceil(total / per_page) if total else 0
    resp = jsonify(body)
    resp.headers["X-WP-Total"] = str(total)
    resp.headers["X-WP-TotalPages"] = str(pages)
    query = {k: v for k, v in request.args.items() if not k.startswith(("oauth_", "consumer_"))}
    links = []
    if page > 1:
        links.append(f'<{base()}{request.path}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
    if page < pages:
        links.append(f'<{base()}{request.path}?{urlencode({**query, "page": page + 1})}>; rel="next"')
    if links:
        resp.headers["Link"] = ", ".join(links)
    return resp


@bp.get("/products/<int:pid>")
@guarded
def get_product(pid: int):
    store = rt().store
    try:
        with store.lock:
            return jsonify(shapes.product_v3(store.product("woocommerce", pid), base()))
    except NotFound:
        return wc_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)


@bp.get("/products/<int:pid>/variations")
@guarded
def list_variations(pid: int):
    store = rt().store
    try:
        with store.lock:
            product = store.product("woocommerce", pid)
            variable = any(a["variation"] for a in product["attributes"])
            body = [shapes.variation_v3(product, v, base()) for v in product["variants"]] if variable else []
    except NotFound:
        return wc_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 404)
    resp = jsonify(body)
    resp.headers["X-WP-Total"] = str(len(body))
    resp.headers["X-WP-TotalPages"] = "1" if body else "0"
    return resp


@bp.route("/products/<int:pid>", methods=["PUT", "POST", "PATCH"])
@guarded
def update_product(pid: int):
    store = rt().store
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return wc_error("rest_invalid_json", "Invalid JSON body passed.", 400)
    with store.lock:
        try:
            product = store.product("woocommerce", pid)
        except NotFound:
            return wc_error("woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
        for key, attr in (
            ("name", "title"),
            ("description", "description_html"),
            ("short_description", "short_description"),
            ("status", "status"),
            ("slug", "handle"),
        ):
            if key in data:
                product[attr] = data[key]
        if isinstance(data.get("meta_data"), list):
            store.upsert_meta(product["meta_data"], data["meta_data"])
        store.touch(product)
        store.record_write("woocommerce", "product.update", pid, data)
        body = shapes.product_v3(product, base())
    fire_woo(store, rt().sender, "product.updated", pid)
    return jsonify(body)


SEQUENTIAL_NUMBER_KEY = "_order_number"
"""Order meta of a sequential-numbers plugin (WooCommerce Sequential Order Numbers): when an order has it,
its REST `number` is that value rather than its id, and order search finds it by that number."""


def order_v3(order: dict) -> dict:
    body = shapes.order_v3(order, base())
    custom = next((m["value"] for m in order["meta_data"] if m["key"] == SEQUENTIAL_NUMBER_KEY and m["value"]), None)
    if custom is not None:
        body["number"] = str(custom)
    return body


def _order_matches(body: dict, term: str) -> bool:
    """WooCommerce's order search, roughly: the id, the number, billing names and email, item names."""
    if not term:
        return True
    billing = body["billing"]
    fields = [str(body["id"]), body["number"], billing["first_name"], billing["last_name"], billing["email"],
              *(li["name"] for li in body["line_items"])]
    return any(term.casefold() in str(f).casefold() for f in fields)


@bp.get("/orders")
@guarded
def list_orders():
    """`GET orders?search=&status=&page=&per_page=`, newest first."""
    store = rt().store
    paging = _paging()
    if not isinstance(paging, tuple):
        return paging
    page, per_page = paging
    status, term = request.args.get("status", "any"), request.args.get("search", "").strip()
    with store.lock:
        items = [order_v3(o) for _, o in sorted(store.orders["woocommerce"].items(), reverse=True)
                 if status == "any" or o["status"] == status]
    items = [body for body in items if _order_matches(body, term)]
    pages = math.ceil(len(items) / per_page) if items else 0
    resp = jsonify(items[(page - 1) * per_page : page * per_page])
    resp.headers["X-WP-Total"] = str(len(items))
    resp.headers["X-WP-TotalPages"] = str(pages)
    return resp


@bp.get("/orders/<int:oid>")
@guarded
def get_order(oid: int):
    store = rt().store
    try:
        with store.lock:
            return jsonify(order_v3(store.order("woocommerce", oid)))
    except NotFound:
        return wc_error("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)


@bp.route("/orders/<int:oid>/notes", methods=["GET", "POST"])
@guarded
def order_notes(oid: int):
    store = rt().store
    with store.lock:
        try:
            order = store.order("woocommerce", oid)
        except NotFound:
            return wc_error("woocommerce_rest_order_invalid_id", "Invalid order ID.", 404)
        if request.method == "GET":
            return jsonify([shapes.note_v3(oid, n, base()) for n in reversed(order["notes"])])
        data = request.get_json(silent=True) or {}
        if not data.get("note"):
            return wc_error("rest_missing_callback_param", "Missing parameter(s): note", 400)
        note = {
            "id": store.next_id("misc"),
            "note": str(data["note"]),
            "customer_note": bool(data.get("customer_note", False)),
            "author": "admin" if data.get("added_by_user") else "WooCommerce",
            "created_at": now(),
        }
        order["notes"].append(note)
        store.record_write("woocommerce", "order.note", oid, data)
        return jsonify(shapes.note_v3(oid, note, base())), 201


@bp.route("/webhooks", methods=["GET", "POST"])
@guarded
def webhooks():
    runtime = rt()
    store = runtime.store
    if request.method == "GET":
        with store.lock:
            return jsonify([shapes.webhook_v3(h, base()) for h in store.woo_webhooks.values()])
    data = request.get_json(silent=True) or {}
    missing = [k for k in ("topic", "delivery_url") if not data.get(k)]
    if missing:
        return wc_error("rest_missing_callback_param", f"Missing parameter(s): {', '.join(missing)}", 400)
    if data["topic"] not in WOO_TOPICS and not data["topic"].startswith(
        ("product.", "order.", "customer.", "coupon.", "action.")
    ):
        return wc_error("rest_invalid_param", "Invalid parameter(s): topic", 400)
    secret = data.get("secret") or secrets.token_urlsafe(38)[:50]
    with store.lock:
        hook = store.add_woo_webhook({**data, "secret": secret})
        body = shapes.webhook_v3(hook, base())
    ping_woo(runtime.sender, hook)
    return jsonify(body), 201
