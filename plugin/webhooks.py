"""Webhook intake: verify over the raw bytes, parse, drop duplicates and our own writes, enqueue, 200.

Status codes (platforms.md 1.1, 2.1): 401 bad or missing signature or unknown WooCommerce store
(nothing stored or queued); 400 malformed body or missing headers; 413 over the size limit; 200 for
WooCommerce's unsigned ping without queuing; 503 when Redis is unavailable, so the store retries and a
delivery is never acknowledged and then lost. Bodies are never logged: they hold customer data.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from plugin import jobs, reconcile
from plugin.directory import ShopDirectory
from plugin.errors import BadSignature, WebhookError
from plugin.install import compliance
from plugin.platforms import shopify, woocommerce
from plugin.platforms.base import WebhookEvent
from plugin.state import get_redis

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
log = logging.getLogger(__name__)

HANDLED_TOPICS = frozenset(shopify.TOPICS) | frozenset(woocommerce.TOPICS) | frozenset(compliance.TOPICS)
"""Store topics (as the stores name them) this intake dispatches or deliberately acknowledges; every topic
in manifest.json must be here (tests/test_manifest.py). The Shopify install work adds app/uninstalled,
app/scopes_update, customers/data_request, customers/redact and shop/redact as their handlers land."""


@bp.errorhandler(WebhookError)
def _refuse(err: WebhookError):
    log.info("webhook refused: %s %s", err.status, err.reason)
    return jsonify(error=err.reason if err.status != 401 else "unauthorized"), err.status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_err):
    return jsonify(error="payload too large"), 413


@bp.errorhandler(redis.RedisError)
def _redis_down(err):
    log.error("webhook not accepted, Redis unavailable: %s", type(err).__name__)
    return jsonify(error="temporarily unavailable"), 503, {"Retry-After": "30"}


def _raw_body() -> bytes:
    """The exact bytes the store signed; read before anything parses the form or JSON."""
    length = request.content_length
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if length is not None and length > limit:
        raise RequestEntityTooLarge()
    body = request.get_data(cache=True)
    if length is None and len(body) >= limit:  # chunked: Werkzeug stops at the limit without saying so
        raise RequestEntityTooLarge()
    return body


@bp.post("/shopify")
def shopify_webhook():
    body = _raw_body()
    settings = current_app.config["COPYDESK"]
    domain = shopify.sanitize_shop_domain(request.headers.get("X-Shopify-Shop-Domain", ""))
    shop = _directory().get(domain) if domain else None
    secrets = [settings.shopify_api_secret, settings.shopify_api_secret_previous]
    if shop is not None and shop.platform == "shopify":
        secrets.insert(0, shop.webhook_secret)  # a custom app made in the shop's admin signs with its own
    event = shopify.parse_webhook(request.headers, body, secrets)
    late_ok = compliance.topic_of(event.topic) in compliance.AFTER_UNINSTALL  # shop/redact: 48 h after uninstall
    if shop is None or shop.platform != "shopify" or not (shop.active or late_ok):
        log.info("webhook for a shop that is not installed: %s %s", event.shop, event.topic)
        return jsonify(status="ignored"), 200
    return _accept(shop, event)


@bp.post("/woocommerce")
def woocommerce_webhook():
    body = _raw_body()
    if woocommerce.is_ping(request.headers, body):
        return jsonify(status="pong"), 200
    shop = _directory().get(woocommerce.source_of(request.headers))
    if shop is None or shop.platform != "woocommerce" or not shop.active:
        raise BadSignature("unknown store")
    event = woocommerce.parse_webhook(request.headers, body, shop.webhook_secrets or shop.webhook_secret)
    return _accept(shop, event)


def _directory() -> ShopDirectory:
    return current_app.extensions["copydesk_directory"]


def _accept(shop, event: WebhookEvent):
    """Dedupe, drop our own write-backs, enqueue. Raises RedisError (→ 503) if the queue is down.

    The delivery marker and the job are written in one MULTI/EXEC, guarded by WATCH on the marker:
    either both exist or neither does, so a delivery can never be marked seen without its job (and
    then refused as a duplicate when the store retries), and of two identical deliveries racing, only
    one transaction commits; the other sees the marker change and answers "duplicate".
    """
    conn = get_redis()
    settings = current_app.config["COPYDESK"]
    key = jobs.delivery_key(event.platform, event.dedupe_key)
    with conn.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(key)
            if pipe.exists(key):
                return _duplicate(event)
            pipe.multi()  # RQ sees the transaction already open and queues into it
            status = _dispatch(conn, pipe, shop, event)
            pipe.set(key, "1", ex=settings.dedupe_ttl)
            if event.topic.startswith("product."):  # where `copydesk reconcile` starts looking
                pipe.set(reconcile.last_event_key(shop.id), datetime.now(UTC).isoformat())
            pipe.execute()
        except redis.WatchError:
            return _duplicate(event)
    log.info("webhook %s: %s %s %s", status, event.shop, event.topic, event.resource_id)
    return jsonify(status=status), 200


def _duplicate(event: WebhookEvent):
    log.info("duplicate delivery: %s %s %s", event.shop, event.topic, event.resource_id)
    return jsonify(status="duplicate"), 200


def _dispatch(conn: redis.Redis, pipe, shop, event: WebhookEvent) -> str:
    """Queue what the event calls for into `pipe` (reads go through `conn`)."""
    lifecycle = compliance.topic_of(event.topic) if event.platform == "shopify" else None
    if lifecycle is not None:  # uninstall, scopes, privacy: plugin.install.compliance
        return compliance.dispatch(conn, shop.id, lifecycle, request.get_data(cache=True))
    shop_settings = shop.settings
    timeout = current_app.config["COPYDESK"].job_timeout
    if event.topic == "product.created":
        if not shop_settings["generate_on_create"]:
            return "ignored"
        jobs.enqueue_generate(conn, shop.id, event.resource_id, trigger="product.created",
                              delivery=event.dedupe_key, job_timeout=timeout, pipeline=pipe)
        return "queued"
    if event.topic == "product.updated":
        wrote = conn.get(jobs.own_write_key(shop.id, event.resource_id))
        if wrote is not None and event.description_digest and wrote.decode() == event.description_digest:
            return "own-write"
        jobs.enqueue_product_updated(conn, shop.id, event.resource_id, delivery=event.dedupe_key, pipeline=pipe)
        return "queued"
    if event.topic == "order.created":
        jobs.enqueue_order_created(conn, shop.id, event.resource_id, delivery=event.dedupe_key, job_timeout=timeout,
                                   pipeline=pipe)
        return "queued"
    return "ignored"
