"""After Shopify hands over a token: store it, register the app's webhooks, and (for the embedded panel)
install a shop from its first session token.

Webhook topics come from `manifest.json` (`platforms.shopify.webhooks.topics`): each is subscribed with
GraphQL `webhookSubscriptionCreate` at `{COPYDESK_APP_URL}{route}`. The compliance topics are not: they
can only be configured in `shopify.app.toml` or the Partner Dashboard (platforms.md 1.2).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import requests
from flask import current_app

from plugin.errors import StoreAPIError
from plugin.install import shopify_tokens
from plugin.platforms.http import make_session, send

log = logging.getLogger(__name__)
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"
HTTP = "copydesk_shopify_http"
SUBSCRIBE = """mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
 webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
 webhookSubscription { id } userErrors { field message } } }"""


def shopify_manifest(path: Path = MANIFEST) -> dict:
    """The Shopify part of manifest.json: scopes, API version, webhook route and topics."""
    return json.loads(path.read_text())["platforms"]["shopify"]


def topic_enum(topic: str) -> str:
    """`products/create` → `PRODUCTS_CREATE` (GraphQL's WebhookSubscriptionTopic)."""
    return topic.replace("/", "_").upper()


def api_base(shop: str) -> str:
    """Where a new install's API lives: `app.extensions[API_BASE](shop)`, by default `https://{shop}`."""
    return current_app.extensions.get(shopify_tokens.API_BASE, shopify_tokens.default_api_base)(shop).rstrip("/")


def http() -> requests.Session:
    """The web process's session for calls to Shopify (made on first use, kept on the app)."""
    session = current_app.extensions.get(HTTP)
    if session is None:
        session = current_app.extensions.setdefault(HTTP, make_session())
    return session


def register_webhooks(session: requests.Session, base: str, token: str, app_url: str, timeout: float) -> list[str]:
    """Subscribe every manifest topic; returns the topics subscribed (an existing subscription counts).
    Raises StoreAPIError when Shopify refuses one for another reason."""
    conf = shopify_manifest()
    endpoint = f"{base}/admin/api/{conf['api_version']}/graphql.json"
    uri = f"{app_url.rstrip('/')}{conf['webhooks']['route']}"
    done = []
    for topic in conf["webhooks"]["topics"]:
        variables = {"topic": topic_enum(topic), "sub": {"uri": uri, "format": "JSON"}}
        response = send(session, "POST", endpoint, timeout=timeout, json={"query": SUBSCRIBE, "variables": variables},
                        headers={"X-Shopify-Access-Token": token})
        try:
            body = response.json()
            result = body["data"]["webhookSubscriptionCreate"]
        except (ValueError, KeyError, TypeError):
            raise StoreAPIError(f"webhookSubscriptionCreate {topic}: unexpected answer",
                                status=response.status_code) from None
        errors = [e.get("message", "") for e in result.get("userErrors") or []]
        if errors and not all("already been taken" in e for e in errors):
            raise StoreAPIError(f"webhookSubscriptionCreate {topic} refused: {'; '.join(errors)[:200]}")
        done.append(topic)
    return done


def complete_install(db, vault, domain: str, creds: dict, base: str, actor: str):
    """Store the token for `domain` (sealed), then subscribe the webhooks. A failed subscription is logged
    and leaves the install in place (TOML subscriptions and `copydesk reconcile` cover the gap)."""
    settings = current_app.config["COPYDESK"]
    shop = shopify_tokens.install(db, vault, domain, creds, base, actor)
    try:
        topics = register_webhooks(http(), base, creds["access_token"], settings.app_url, settings.http_timeout)
        log.info("installed on %s; webhooks: %s", domain, ", ".join(topics))
    except StoreAPIError as err:
        log.warning("installed on %s, but subscribing webhooks failed: %s", domain, err)
    return shop


def install_from_session_token(db, vault, domain: str, session_token: str):
    """Managed install, first embedded load: exchange the session token and install. Raises
    `InvalidSubjectToken` (ask for a new session token) or StoreAuthError / StoreAPIError."""
    from plugin.shops import find_shop
    from plugin.state import get_redis

    settings = current_app.config["COPYDESK"]
    base = api_base(domain)
    # Two first loads at once (App Bridge fetches in parallel) exchange once; the other finds the shop.
    with get_redis().lock(f"copydesk:shopify-install:{domain}", timeout=60, blocking_timeout=65):
        shop = find_shop(db, domain)
        if shop is not None:
            db.refresh(shop)
            if shop.uninstalled_at is None and shop.platform == "shopify":
                return shop
        creds = shopify_tokens.exchange_session_token(http(), base, settings, session_token, settings.http_timeout)
        return complete_install(db, vault, domain, creds, base, actor="shopify:token-exchange")

