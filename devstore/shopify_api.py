"""Shopify GraphQL Admin API: `POST /admin/api/<version>/graphql.json`.

No GraphQL parser: the operation is recognised by its root field, arguments come from variables (or simple
literals), and a fixed superset of fields is returned. Every response carries extensions.cost from a real
leaky bucket.
"""

from __future__ import annotations

import base64
import hmac
import re
import time
from datetime import datetime

from flask import Blueprint, jsonify, request

from . import shopify_shapes as shapes
from .context import rt
from .errors import NotFound
from .shopify_auth import subscription_create
from .webhooks import fire_shopify

bp = Blueprint("shopify_api", __name__)

OPERATIONS = ("webhookSubscriptionCreate", "productUpdate", "orderUpdate", "products", "product", "orders",
              "order")
VERSION = re.compile(r"^(\d{4}-\d{2}|unstable)$")
SEO_TITLE_MAX = 255
FAULT_BODIES = {
    400: "Bad Request",
    429: "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def find_op(query: str) -> str | None:
    for name in OPERATIONS:
        if re.search(rf"\b{name}\s*\(", query):
            return name
    return None


def field_args(query: str, name: str, variables: dict) -> dict:
    """Flat arguments of `name(...)`: `$var` resolved from variables, literals as str/int."""
    match = re.search(rf"\b{name}\s*\(([^)]*)\)", query)
    args: dict = {}
    if not match:
        return args
    for key, value in re.findall(r'(\w+)\s*:\s*(\$\w+|"(?:[^"\\]|\\.)*"|-?\d+|\w+)', match.group(1)):
        if value.startswith("$"):
            args[key] = variables.get(value[1:])
        elif value.startswith('"'):
            args[key] = value[1:-1]
        elif value.lstrip("-").isdigit():
            args[key] = int(value)
        else:
            args[key] = value
    return args


def parse_gid(value, kind: str) -> int | None:
    match = re.fullmatch(rf"gid://shopify/{kind}/(\d+)", str(value or ""))
    return int(match.group(1)) if match else None


def _cost(requested, actual, bucket) -> dict:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": bucket.status(),
        }
    }


def _throttled(requested, store):
    return jsonify(
        {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {
                        "code": "THROTTLED",
                        "documentation": "https://shopify.dev/api/usage/rate-limits",
                    },
                }
            ],
            "extensions": _cost(requested, None, store.bucket),
        }
    )


@bp.post("/admin/api/<version>/graphql.json")
def graphql(version: str):
    runtime = rt()
    store, cfg = runtime.store, runtime.store.config.shopify
    if not VERSION.match(version):
        return jsonify({"errors": "Not Found"}), 404
    token = request.headers.get("X-Shopify-Access-Token", "")
    if not (hmac.compare_digest(token, cfg.access_token) or store.auth.token_ok(token)):
        return jsonify(
            {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
        ), 401
    with store.lock:
        fault = store.faults["shopify"].next()
    if fault:
        if "status" in fault:
            status = int(fault["status"])
            resp = jsonify({"errors": FAULT_BODIES[status]})
            resp.status_code = status
            if status == 429 or fault.get("retry_after") is not None:
                resp.headers["Retry-After"] = str(float(fault.get("retry_after", 2.0)))
            return resp
        if fault.get("throttle"):
            with store.lock:
                return _throttled(store.config.mutation_cost, store)
        time.sleep(float(fault.get("delay_s", 0)))
    payload = request.get_json(silent=True) or {}
    query, variables = payload.get("query") or "", payload.get("variables") or {}
    op = find_op(query)
    if op is None:
        return jsonify(
            {
                "errors": [
                    {
                        "message": "devstore: unsupported operation (expected product, products, "
                        "order, orders, productUpdate or orderUpdate)"
                    }
                ]
            }
        )
    fired: list[int] = []
    with store.lock:
        requested = _requested_cost(op, query, variables, store.config.mutation_cost)
        if not store.bucket.take(requested):
            return _throttled(requested, store)
        data, actual = HANDLERS[op](query, variables, fired)
        store.bucket.refund(requested - actual)
        body = {"data": data, "extensions": _cost(requested, actual, store.bucket)}
    for pid in fired:
        fire_shopify(store, runtime.sender, "products/update", pid)
    return jsonify(body)


def _variants_first(query: str, variables: dict) -> int:
    return int(field_args(query, "variants", variables).get("first") or 0)


def _requested_cost(op: str, query: str, variables: dict, mutation_cost: int) -> int:
    if op in ("productUpdate", "orderUpdate", "webhookSubscriptionCreate"):
        return mutation_cost
    if op == "product":
        return 1 + _variants_first(query, variables)
    if op == "products":
        first = int(field_args(query, "products", variables).get("first") or 0)
        return 1 + first * (1 + _variants_first(query, variables))
    lines = int(field_args(query, "lineItems", variables).get("first") or 0)
    if op == "orders":
        return 2 + int(field_args(query, "orders", variables).get("first") or 0) * (1 + lines)
    return 1 + lines


def _product(query, variables, fired):
    pid = parse_gid(field_args(query, "product", variables).get("id"), "Product")
    try:
        product = rt().store.product("shopify", pid)
    except NotFound:
        return {"product": None}, 1
    first = _variants_first(query, variables) or 100
    node = shapes.product_node(product, first)
    return {"product": node}, 1 + len(node["variants"]["nodes"])


def _page(args: dict) -> tuple[int, int | None]:
    """A connection's `first` (1..250) and the position its `after` cursor names (0 without one; None when
    the cursor is not one of ours)."""
    first = max(1, min(int(args.get("first") or 10), 250))
    if not args.get("after"):
        return first, 0
    try:
        return first, int(base64.b64decode(args["after"]).decode().split(":", 1)[1])
    except (ValueError, IndexError):
        return first, None


def _products(query, variables, fired):
    args = field_args(query, "products", variables)
    first, after = _page(args)
    if after is None:
        return {"products": None}, 1
    since = _updated_after(args.get("query"))
    ids = sorted(i for i, p in rt().store.products["shopify"].items()
                 if i > after and (since is None or p["updated_at"] > since))
    page = ids[:first]
    vfirst = _variants_first(query, variables) or 100
    nodes = [shapes.product_node(rt().store.products["shopify"][i], vfirst) for i in page]
    cursors = [base64.b64encode(f"Product:{i}".encode()).decode() for i in page]
    conn = {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": len(ids) > first,
            "hasPreviousPage": after > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }
    return {"products": conn}, 1 + sum(1 + len(n["variants"]["nodes"]) for n in nodes)


def _updated_after(search) -> datetime | None:
    """The one search filter the emulator honours: `updated_at:>'2026-01-02T03:04:05Z'`."""
    match = re.search(r"updated_at:>'?([0-9T:+\-.Z]+)'?", str(search or ""))
    return datetime.fromisoformat(match.group(1).replace("Z", "+00:00")) if match else None


def _product_update(query, variables, fired):
    store = rt().store
    args = field_args(query, "productUpdate", variables)
    data = args.get("product") or args.get("input") or {}
    errors = []
    pid = parse_gid(data.get("id"), "Product")
    product = store.products["shopify"].get(pid) if pid else None
    if product is None:
        errors.append({"field": ["id"], "message": "Product does not exist"})
    seo = data.get("seo") or {}
    if len(seo.get("title") or "") > SEO_TITLE_MAX:
        errors.append(
            {"field": ["seo", "title"], "message": "SEO title is too long (maximum is 255 characters)"}
        )
    if errors:
        return {"productUpdate": {"product": None, "userErrors": errors}}, store.config.mutation_cost
    for key, attr in (
        ("descriptionHtml", "description_html"),
        ("title", "title"),
        ("handle", "handle"),
        ("productType", "category"),
        ("vendor", "vendor"),
        ("tags", "tags"),
    ):
        if key in data:
            product[attr] = data[key]
    if "title" in seo:
        product["seo_title"] = seo["title"]
    if "description" in seo:
        product["seo_description"] = seo["description"]
    store.touch(product)
    store.record_write("shopify", "productUpdate", pid, data)
    fired.append(pid)
    node = shapes.product_node(product)
    return {"productUpdate": {"product": node, "userErrors": []}}, store.config.mutation_cost


def _order(query, variables, fired):
    oid = parse_gid(field_args(query, "order", variables).get("id"), "Order")
    order = rt().store.orders["shopify"].get(oid) if oid else None
    return {"order": shapes.order_node(order) if order else None}, 1 + (
        len(order["line_items"]) if order else 0
    )


def _orders(query, variables, fired):
    """`orders(first:, after:, query:)`, oldest first; the one search filter honoured is `name:#1001`
    (also `name:1001`, quoted or not); other search terms are ignored."""
    args = field_args(query, "orders", variables)
    first, after = _page(args)
    if after is None:
        return {"orders": None}, 2
    name = _name_filter(args.get("query"))
    orders = rt().store.orders["shopify"]
    ids = sorted(i for i, o in orders.items()
                 if i > after and (name is None or str(o["number"]) == name))
    page = ids[:first]
    nodes = [shapes.order_node(orders[i]) for i in page]
    cursors = [base64.b64encode(f"Order:{i}".encode()).decode() for i in page]
    conn = {
        "nodes": nodes,
        "edges": [{"cursor": c, "node": n} for c, n in zip(cursors, nodes, strict=True)],
        "pageInfo": {
            "hasNextPage": len(ids) > first,
            "hasPreviousPage": after > 0,
            "startCursor": cursors[0] if cursors else None,
            "endCursor": cursors[-1] if cursors else None,
        },
    }
    return {"orders": conn}, 2 + sum(1 + len(orders[i]["line_items"]) for i in page)


def _name_filter(search) -> str | None:
    """The order number in a `name:#1001` search term (without the `#`), or None when there is none."""
    match = re.search(r"""(?:^|\s)name:(['"]?)#?([^\s'"]+)\1""", str(search or ""))
    return match.group(2).casefold() if match else None


def _order_update(query, variables, fired):
    store = rt().store
    args = field_args(query, "orderUpdate", variables)
    data = args.get("input") or {}
    oid = parse_gid(data.get("id"), "Order")
    order = store.orders["shopify"].get(oid) if oid else None
    if order is None:
        return {
            "orderUpdate": {
                "order": None,
                "userErrors": [{"field": ["id"], "message": "Order does not exist"}],
            }
        }, store.config.mutation_cost
    for field in data.get("metafields") or []:
        row = next(
            (
                m
                for m in order["metafields"]
                if m["namespace"] == field.get("namespace") and m["key"] == field.get("key")
            ),
            None,
        )
        if row is None:
            order["metafields"].append(
                {
                    "id": store.next_id("misc"),
                    "namespace": field.get("namespace"),
                    "key": field.get("key"),
                    "value": field.get("value"),
                    "type": field.get("type"),
                }
            )
        else:
            row.update({"value": field.get("value"), "type": field.get("type", row["type"])})
    if "note" in data:
        order["note"] = data["note"] or ""
    if "tags" in data:
        order["tags"] = list(data["tags"] or [])
    store.touch(order)
    store.record_write("shopify", "orderUpdate", oid, data)
    return {"orderUpdate": {"order": shapes.order_node(order), "userErrors": []}}, store.config.mutation_cost


HANDLERS = {
    "product": _product,
    "products": _products,
    "productUpdate": _product_update,
    "order": _order,
    "orders": _orders,
    "orderUpdate": _order_update,
    "webhookSubscriptionCreate": subscription_create,
}
