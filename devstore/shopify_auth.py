"""Shopify app auth as the emulated shop sees it: token exchange, refresh, the authorization-code grant,
expiring tokens, webhook subscriptions and uninstalling (platforms.md 1.3).

- `POST /admin/oauth/access_token`: token exchange (a session token signed with the app secret, `aud` the
  app's API key), `grant_type=refresh_token`, or a `code` from `/admin/oauth/authorize`. Expiring offline
  tokens live `shopify.token_lifetime_s` seconds (3600 by default; set it lower through `/_devstore/config`
  to force refreshes); a refresh token stays usable until its replacement is used once.
- `GET /admin/oauth/authorize`: approves at once and redirects to `redirect_uri` with `code, hmac, shop,
  state, timestamp` (hex HMAC over the sorted query, as Shopify signs it).
- Control: `GET /_devstore/shopify/auth` (calls by grant, live tokens, subscriptions), `POST
  /_devstore/shopify/uninstall` (revokes every token and sends `app/uninstalled` to the subscription),
  `POST /_devstore/shopify/expire` (access tokens expire now; refresh tokens still work).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from flask import Blueprint, jsonify, redirect, request

bp = Blueprint("shopify_auth", __name__)
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE = "urn:shopify:params:oauth:token-type:offline-access-token"
TOPIC_ENUMS = {"PRODUCTS_CREATE": "products/create", "PRODUCTS_UPDATE": "products/update",
               "ORDERS_CREATE": "orders/create", "APP_UNINSTALLED": "app/uninstalled",
               "APP_SCOPES_UPDATE": "app/scopes_update"}


@dataclass
class AuthState:
    """Issued tokens and subscriptions of the emulated shop (reset with the store)."""

    access: dict[str, float] = field(default_factory=dict)
    """access token -> expiry (epoch seconds)."""
    refresh: dict[str, dict] = field(default_factory=dict)
    """refresh token -> {expires_at, replaces}."""
    codes: dict[str, str] = field(default_factory=dict)
    """authorization code -> scope."""
    calls: list[str] = field(default_factory=list)
    """Grant of every access_token call: token-exchange, refresh_token, authorization_code."""
    subscriptions: dict[str, str] = field(default_factory=dict)
    """topic -> callback URI (webhookSubscriptionCreate)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token_ok(self, token: str) -> bool:
        with self.lock:
            expires = self.access.get(token)
        return expires is not None and expires > time.time()


def _store():
    from .context import rt

    return rt().store


def _error(code: str, status: int = 400):
    return jsonify({"error": code, "error_description": code.replace("_", " ")}), status


def _issue(store, scope: str, expiring: bool) -> dict:
    cfg, auth = store.config.shopify, store.auth
    access = "shpat_" + secrets.token_hex(16)
    now = time.time()
    body = {"access_token": access, "scope": scope}
    with auth.lock:
        auth.access[access] = now + (cfg.token_lifetime_s if expiring else 10 * 365 * 86400)
        if expiring:
            refresh = "shprt_" + secrets.token_hex(16)
            auth.refresh[refresh] = {"expires_at": now + cfg.refresh_token_lifetime_s, "used": False}
            body.update(expires_in=int(cfg.token_lifetime_s), refresh_token=refresh,
                        refresh_token_expires_in=int(cfg.refresh_token_lifetime_s))
    return body


def _client_ok(data: dict, cfg) -> bool:
    return (hmac.compare_digest(str(data.get("client_id", "")), cfg.api_key)
            and hmac.compare_digest(str(data.get("client_secret", "")), cfg.app_secret))


@bp.post("/admin/oauth/access_token")
def access_token():
    store = _store()
    cfg = store.config.shopify
    data = request.get_json(silent=True) or request.form.to_dict()
    if not _client_ok(data, cfg):
        return _error("invalid_client", 401)
    grant = data.get("grant_type") or ("authorization_code" if data.get("code") else "")
    with store.auth.lock:
        store.auth.calls.append({TOKEN_EXCHANGE: "token-exchange"}.get(grant, grant))
    expiring = str(data.get("expiring", "0")) == "1"
    scope = ",".join(store.config.shopify.scopes)
    if grant == TOKEN_EXCHANGE:
        if data.get("subject_token_type") != ID_TOKEN or data.get("requested_token_type") != OFFLINE:
            return _error("invalid_request")
        try:
            claims = jwt.decode(str(data.get("subject_token", "")), cfg.app_secret, algorithms=["HS256"],
                                audience=cfg.api_key, leeway=10)
        except jwt.PyJWTError:
            return _error("invalid_subject_token")
        if claims.get("dest") != f"https://{cfg.shop_domain}":
            return _error("invalid_subject_token")
        return jsonify(_issue(store, scope, expiring))
    if grant == "refresh_token":
        return _refresh(store, str(data.get("refresh_token", "")), scope)
    if grant == "authorization_code":
        with store.auth.lock:
            granted = store.auth.codes.pop(str(data.get("code", "")), None)
        if granted is None:
            return _error("invalid_grant")
        return jsonify(_issue(store, granted, expiring))
    return _error("unsupported_grant_type")


def _refresh(store, token: str, scope: str):
    auth = store.auth
    with auth.lock:
        record = auth.refresh.get(token)
        if record is None or record["used"] or record["expires_at"] <= time.time():
            return _error("invalid_grant")
        record["used"] = True
    return jsonify(_issue(store, scope, True))


def hex_hmac(secret: str, params: dict) -> str:
    message = urlencode(sorted(params.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@bp.get("/admin/oauth/authorize")
def authorize():
    store = _store()
    cfg = store.config.shopify
    uri, state = request.args.get("redirect_uri", ""), request.args.get("state", "")
    if request.args.get("client_id") != cfg.api_key or not uri.startswith(("http://", "https://")) or not state:
        return _error("invalid_request")
    code = secrets.token_hex(16)
    with store.auth.lock:
        store.auth.codes[code] = request.args.get("scope") or ",".join(cfg.scopes)
    params = {"code": code, "shop": cfg.shop_domain, "state": state, "timestamp": str(int(time.time()))}
    params["hmac"] = hex_hmac(cfg.app_secret, params)
    return redirect(f"{uri}?{urlencode(params)}")


def subscription_create(query, variables, fired):
    """GraphQL `webhookSubscriptionCreate(topic:, webhookSubscription: {uri})`."""
    from .shopify_api import field_args

    store = _store()
    args = field_args(query, "webhookSubscriptionCreate", variables)
    topic = TOPIC_ENUMS.get(str(args.get("topic") or ""))
    sub = args.get("webhookSubscription") or {}
    uri = str(sub.get("uri") or sub.get("callbackUrl") or "")
    if topic is None or not uri.startswith(("http://", "https://")):
        errors = [{"field": ["topic" if topic is None else "webhookSubscription"], "message": "is invalid"}]
        return {"webhookSubscriptionCreate": {"webhookSubscription": None, "userErrors": errors}}, 10
    with store.auth.lock:
        store.auth.subscriptions[topic] = uri
    node = {"id": f"gid://shopify/WebhookSubscription/{store.next_id('misc')}", "topic": args["topic"],
            "uri": uri}
    return {"webhookSubscriptionCreate": {"webhookSubscription": node, "userErrors": []}}, 10


@bp.get("/_devstore/shopify/auth")
def auth_report():
    auth = _store().auth
    with auth.lock:
        return jsonify({"calls": list(auth.calls), "subscriptions": dict(auth.subscriptions),
                        "live_tokens": sum(1 for t in auth.access.values() if t > time.time())})


@bp.post("/_devstore/shopify/uninstall")
def uninstall():
    """Revoke every issued token and send `app/uninstalled` (twice with `{"twice": true}`)."""
    from .context import rt
    from .webhooks import b64_hmac_sha256

    runtime = rt()
    store = runtime.store
    cfg = store.config.shopify
    with store.auth.lock:
        store.auth.access.clear()
        store.auth.refresh.clear()
        url = store.auth.subscriptions.get("app/uninstalled") or cfg.webhook_url
    if not url:
        return jsonify({"webhooks": []})
    body = json.dumps({"id": 548380009, "name": "Dev shop", "domain": cfg.shop_domain,
                       "myshopify_domain": cfg.shop_domain}, separators=(",", ":")).encode()
    ids = []
    for _ in range(2 if (request.get_json(silent=True) or {}).get("twice") else 1):  # twice: two events
        ids.append(str(uuid.uuid4()))
        headers = {"Content-Type": "application/json", "X-Shopify-Topic": "app/uninstalled",
                   "X-Shopify-Hmac-Sha256": b64_hmac_sha256(cfg.app_secret, body),
                   "X-Shopify-Shop-Domain": cfg.shop_domain, "X-Shopify-API-Version": cfg.api_version,
                   "X-Shopify-Webhook-Id": ids[-1]}
        runtime.sender.enqueue({"platform": "shopify", "kind": "event", "topic": "app/uninstalled",
                                "resource_id": "", "url": url, "headers": headers, "body": body})
    return jsonify({"webhooks": ids})


@bp.post("/_devstore/shopify/expire")
def expire():
    """Expire every issued access token now (refresh tokens stay valid): the next API call gets 401."""
    auth = _store().auth
    with auth.lock:
        for token in auth.access:
            auth.access[token] = 0.0
    return jsonify({"ok": True})
