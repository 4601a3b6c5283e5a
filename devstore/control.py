"""Control API under /_devstore/ used by tests, benchmarks and the demo (JSON in, JSON out)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from . import samples
from .context import rt
from .errors import NotFound
from .shopify_shapes import product_node, product_rest
from .state import check_platform
from .webhooks import fire_shopify, fire_woo
from .woo_shapes import order_v3, product_v3

bp = Blueprint("control", __name__, url_prefix="/_devstore")

CREATE_TOPIC = {"shopify": "products/create", "woocommerce": "product.created"}
UPDATE_TOPIC = {"shopify": "products/update", "woocommerce": "product.updated"}
ORDER_TOPIC = {"shopify": "orders/create", "woocommerce": "order.created"}
EDITABLE = (
    "title",
    "description_html",
    "short_description",
    "category",
    "vendor",
    "tags",
    "seo_title",
    "seo_description",
    "status",
    "price",
    "handle",
)
ALIASES = {
    "name": "title",
    "description": "description_html",
    "body_html": "description_html",
    "product_type": "category",
}


@bp.errorhandler(ValueError)
def bad_request(exc):
    return jsonify({"error": str(exc)}), 400


@bp.errorhandler(NotFound)
def not_found(exc):
    return jsonify({"error": f"not found: {exc}"}), 404


def _json() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def fire(platform: str, topic: str, rid: int, redeliver: bool = False) -> list[str]:
    runtime = rt()
    if platform == "shopify":
        return fire_shopify(runtime.store, runtime.sender, topic, rid, redeliver)
    return fire_woo(runtime.store, runtime.sender, topic, rid)


def raw_product(platform: str, product: dict) -> dict:
    """Internal record plus the platform renderings (for inspection)."""
    store = rt().store
    record = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in product.items()}
    record["platform"] = platform
    if platform == "shopify":
        record["graphql"] = product_node(product)
        record["rest"] = product_rest(product)
    else:
        record["rest"] = product_v3(product, store.base_url or "")
    return record


@bp.post("/config")
def config():
    store = rt().store
    data = _json()
    with store.lock:
        store.config.update(data)
        woo = data.get("woocommerce") or {}
        if woo.get("webhook_url"):
            store.subscribe_woo(woo["webhook_url"], store.config.woocommerce.webhook_secret)
    return jsonify({"ok": True})


@bp.post("/reset")
def reset():
    store = rt().store
    rt().sender.flush(timeout=store.config.webhook_timeout_s + 1)
    store.reset()
    if _json().get("seed", False):
        samples.load(store)
    return jsonify({"ok": True})


@bp.post("/seed")
def seed():
    ids = samples.load(rt().store)
    return jsonify({"ok": True, "ids": ids})


@bp.post("/flush")
def flush():
    done = rt().sender.flush(timeout=float(_json().get("timeout", 10)))
    return jsonify({"ok": done}), 200 if done else 504


@bp.post("/products")
def create_product():
    data = _json()
    platform = check_platform(data.pop("platform", ""))
    do_fire = data.pop("fire", True)
    product = rt().store.add_product(platform, data)
    delivered = fire(platform, CREATE_TOPIC[platform], product["id"]) if do_fire else []
    return jsonify({"id": product["id"], "webhooks": delivered}), 201


@bp.post("/products/<platform>/<int:pid>/edit")
def edit_product(platform: str, pid: int):
    store = rt().store
    data = _json()
    do_fire = data.pop("fire", True)
    with store.lock:
        product = store.product(check_platform(platform), pid)
        for key, value in data.items():
            key = ALIASES.get(key, key)
            if key not in EDITABLE:
                raise ValueError(f"{key}: not editable (editable: {', '.join(EDITABLE)})")
            product[key] = value
        store.touch(product)
    delivered = fire(platform, UPDATE_TOPIC[platform], pid) if do_fire else []
    return jsonify({"id": pid, "webhooks": delivered})


@bp.post("/orders")
def create_order():
    data = _json()
    platform = check_platform(data.pop("platform", ""))
    do_fire = data.pop("fire", True)
    order = rt().store.add_order(platform, data)
    delivered = fire(platform, ORDER_TOPIC[platform], order["id"]) if do_fire else []
    return jsonify({"id": order["id"], "webhooks": delivered}), 201


@bp.get("/orders/<platform>/<int:oid>")
def get_order(platform: str, oid: int):
    store = rt().store
    with store.lock:
        order = store.order(check_platform(platform), oid)
        record = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in order.items()}
        record["notes"] = [dict(n, created_at=n["created_at"].isoformat()) for n in order["notes"]]
        if platform == "woocommerce":
            record["rest"] = order_v3(order, store.base_url or "")
    return jsonify(record)


@bp.post("/fire")
def fire_webhook():
    data = _json()
    platform = check_platform(data.get("platform", ""))
    if "topic" not in data or "id" not in data:
        raise ValueError("topic and id are required")
    delivered = fire(platform, data["topic"], int(data["id"]), bool(data.get("redeliver", False)))
    return jsonify({"webhooks": delivered})


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    store = rt().store
    with store.lock:
        if request.method == "POST":
            data = _json()
            store.faults[check_platform(data.pop("platform", ""))].add(data)
        elif request.method == "DELETE":
            for queue in store.faults.values():
                queue.clear()
        return jsonify({p: q.pending() for p, q in store.faults.items()})


@bp.get("/writes")
def writes():
    store = rt().store
    platform = request.args.get("platform")
    with store.lock:
        return jsonify([w for w in store.writes if not platform or w["platform"] == platform])


@bp.get("/deliveries")
def deliveries():
    store = rt().store
    platform = request.args.get("platform")
    with store.lock:
        return jsonify([d for d in store.deliveries if not platform or d["platform"] == platform])


@bp.get("/products")
def products():
    store = rt().store
    with store.lock:
        return jsonify(
            [raw_product(p, prod) for p, items in store.products.items() for prod in items.values()]
        )


@bp.get("/products/<platform>/<int:pid>")
def product(platform: str, pid: int):
    store = rt().store
    with store.lock:
        return jsonify(raw_product(platform, store.product(check_platform(platform), pid)))
