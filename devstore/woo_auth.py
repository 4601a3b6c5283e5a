"""WooCommerce's app key flow, `/wc-auth/v1/authorize` (platforms.md 2.5; WC_Auth in class-wc-auth.php).

There is no login or grant screen: the merchant's answer is `config.woocommerce.auth_decision`
("approve", the default, or "deny"), so a test's browser (requests following redirects) goes straight
through. On approve the store makes REST keys, POSTs them as JSON to `callback_url` and, only if that
answers exactly 200, redirects to `return_url?success=1&user_id=...`; any other answer deletes the
keys and shows "Access denied" (401), as WooCommerce does. On deny: `return_url?success=0&user_id=...`.

Like WooCommerce, `callback_url` must be https, except that the emulator also takes plain http to a
loopback address (127.0.0.1, localhost), where the tests and the demo run Copydesk.
Issued keys work on the REST API beside the configured pair (`credentials_for`).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from flask import Blueprint, jsonify, redirect, request

from . import oauth1
from .context import rt

bp = Blueprint("woo_auth", __name__, url_prefix="/wc-auth/v1")
SCOPES = ("read", "write", "read_write")
REQUIRED = ("app_name", "scope", "user_id", "return_url", "callback_url")
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CALLBACK_TIMEOUT_S = 60.0


def _error(message: str, status: int = 400):
    return jsonify({"error": message}), status


def _callback_ok(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK


def _with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@bp.get("/authorize")
def authorize():
    args = request.args
    missing = [k for k in REQUIRED if not args.get(k)]
    if missing:
        return _error(f"Missing parameter {missing[0]}")
    if args["scope"] not in SCOPES:
        return _error("Invalid scope")
    if not _callback_ok(args["callback_url"]):
        return _error("The callback_url needs to be over SSL")
    if not urlsplit(args["return_url"]).scheme.startswith("http"):
        return _error("Invalid return_url")
    store = rt().store
    if store.config.woocommerce.auth_decision == "deny":
        return redirect(_with_query(args["return_url"], success="0", user_id=args["user_id"]))
    key = issue_key(store, args["app_name"], args["scope"])
    body = {"key_id": key["key_id"], "user_id": args["user_id"], "consumer_key": key["consumer_key"],
            "consumer_secret": key["consumer_secret"], "key_permissions": key["permissions"]}
    try:
        resp = requests.post(args["callback_url"], json=body, timeout=CALLBACK_TIMEOUT_S, allow_redirects=False,
                             headers={"Content-Type": "application/json;charset=UTF-8"})
        status = resp.status_code
    except requests.RequestException:
        status = None
    with store.lock:
        store.auth_callbacks.append({"url": args["callback_url"], "status": status, "key_id": key["key_id"]})
    if status != 200:
        revoke_key(store, key["consumer_key"])
        return _error("Access denied: an error occurred in the request and at the time were unable to send "
                      "the consumer data", 401)
    return redirect(_with_query(args["return_url"], success="1", user_id=args["user_id"]))


def issue_key(store, app_name: str, scope: str) -> dict:
    with store.lock:
        key = {"key_id": store.next_id("misc"), "description": f"{app_name[:50]} - API ({scope})",
               "permissions": scope, "consumer_key": f"ck_{secrets.token_hex(20)}",
               "consumer_secret": f"cs_{secrets.token_hex(20)}"}
        store.api_keys[key["consumer_key"]] = key
        return key


def revoke_key(store, consumer_key: str) -> None:
    with store.lock:
        store.api_keys.pop(consumer_key, None)


def presented_key() -> str:
    """The consumer key a REST request names (Basic user, query param, or OAuth 1.0a parameter)."""
    auth = request.authorization
    if auth is not None and auth.type == "basic" and auth.username:
        return auth.username
    for name in ("consumer_key", "oauth_consumer_key"):
        if request.args.get(name):
            return request.args[name]
    header = request.headers.get("Authorization", "")
    if header.strip().startswith("OAuth "):
        return dict(oauth1.header_params(header)).get("oauth_consumer_key", "")
    return ""


def credentials_for(store) -> tuple[str, str]:
    """(consumer_key, consumer_secret) to check this request against: an issued key it names, else the
    configured pair. Caller holds no lock."""
    cfg = store.config.woocommerce
    given = presented_key()
    with store.lock:
        for key, issued in store.api_keys.items():
            if hmac.compare_digest(key, given):
                return key, issued["consumer_secret"]
    return cfg.consumer_key, cfg.consumer_secret
