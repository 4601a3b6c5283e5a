"""WooCommerce webhooks by id (`/wp-json/wc/v3/webhooks/<id>`: read, update, delete) and the control
switches tests use to play WooCommerce's own moves (`/_devstore/woo/...`).

List and create (with the creation ping) live in woo_api.py. As in WooCommerce, a webhook cannot be
trashed (DELETE needs `force=true`, else 501), its status is active, paused or disabled, and setting it
active again clears its failure count. Delivery to every active webhook, each signed with its own
secret, is webhooks.fire_woo.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from . import woo_shapes as shapes
from .context import rt
from .state import now
from .woo_api import base, guarded, wc_error

bp = Blueprint("woo_webhooks_api", __name__, url_prefix="/wp-json/wc/v3")
control_bp = Blueprint("woo_control", __name__, url_prefix="/_devstore/woo")
STATUSES = ("active", "paused", "disabled")
UPDATABLE = ("name", "status", "topic", "delivery_url", "secret")
MAX_FAILURES = 5
"""WooCommerce disables a webhook once failure_count exceeds this (`failed_delivery()`)."""


def _invalid_id():
    return wc_error("woocommerce_rest_webhook_invalid_id", "Invalid ID.", 404)


@bp.route("/webhooks/<int:wid>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
@guarded
def webhook(wid: int):
    store = rt().store
    with store.lock:
        hook = store.woo_webhooks.get(wid)
        if hook is None:
            return _invalid_id()
        if request.method == "GET":
            return jsonify(shapes.webhook_v3(hook, base()))
        if request.method == "DELETE":
            if request.args.get("force", "").lower() not in ("true", "1"):
                return wc_error("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", 501)
            del store.woo_webhooks[wid]
            return jsonify(shapes.webhook_v3(hook, base()))
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return wc_error("rest_invalid_json", "Invalid JSON body passed.", 400)
        if "status" in data and data["status"] not in STATUSES:
            return wc_error("rest_invalid_param", "Invalid parameter(s): status", 400)
        for key in UPDATABLE:
            if data.get(key):
                hook[key] = data[key]
        if data.get("status") == "active":
            hook["failure_count"] = 0
        hook["updated_at"] = now()
        return jsonify(shapes.webhook_v3(hook, base()))


@control_bp.get("/webhooks")
def list_with_secrets():
    """Every webhook as the store holds it, secrets and failure counts included (tests only)."""
    store = rt().store
    with store.lock:
        return jsonify([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in h.items()}
                        for h in store.woo_webhooks.values()])


@control_bp.post("/webhooks/<int:wid>/disable")
def disable(wid: int):
    """What WooCommerce does after more than MAX_FAILURES failed deliveries in a row."""
    store = rt().store
    with store.lock:
        hook = store.woo_webhooks.get(wid)
        if hook is None:
            return jsonify({"error": f"not found: webhook {wid}"}), 404
        hook.update(status="disabled", failure_count=MAX_FAILURES + 1, updated_at=now())
    return jsonify({"ok": True})


@control_bp.delete("/webhooks/<int:wid>")
def remove(wid: int):
    """A merchant deleting the webhook in wp-admin."""
    store = rt().store
    with store.lock:
        found = store.woo_webhooks.pop(wid, None)
    return jsonify({"ok": found is not None}), 200 if found is not None else 404


@control_bp.get("/auth")
def auth_state():
    """Issued REST keys (with their secrets: tests look for them in logs and the database) and the key
    callbacks sent, with the status each got."""
    store = rt().store
    with store.lock:
        return jsonify({"keys": [dict(k) for k in store.api_keys.values()],
                        "callbacks": list(store.auth_callbacks)})
