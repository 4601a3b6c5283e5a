"""Webhook sender: a background thread drains a queue of deliveries; every POST has a timeout.

Builders render the bodies and headers exactly as Shopify and WooCommerce 7.9 send them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import uuid

import requests

from . import shopify_shapes, woo_shapes
from .state import SHOPIFY_TOPICS, WOO_TOPICS, Store, now

log = logging.getLogger(__name__)
WOO_USER_AGENT = "WooCommerce/7.9.0 Hookshot (WordPress/6.1.9)"
_STOP = object()


def b64_hmac_sha256(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Sender:
    """Delivers queued webhooks one at a time (FIFO) and records each result in `store.deliveries`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def enqueue(self, delivery: dict) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="devstore-webhooks", daemon=True)
                self._thread.start()
        self._queue.put(delivery)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery has been attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=self.store.config.webhook_timeout_s + 1)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                self._deliver(item)
            except Exception:  # a broken delivery must not kill the sender thread
                log.exception("webhook delivery crashed")
            finally:
                self._queue.task_done()

    def _deliver(self, item: dict) -> None:
        started = time.monotonic()
        status, error = None, None
        try:
            resp = requests.post(
                item["url"],
                data=item["body"],
                headers=item["headers"],
                timeout=self.store.config.webhook_timeout_s,
                allow_redirects=False,
            )
            status = resp.status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        record = {
            "platform": item["platform"],
            "kind": item["kind"],
            "topic": item["topic"],
            "resource_id": item["resource_id"],
            "url": item["url"],
            "headers": item["headers"],
            "body": item["body"].decode(),
            "status": status,
            "error": error,
            "at": now().isoformat(),
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
        with self.store.lock:
            record["id"] = len(self.store.deliveries) + 1
            self.store.deliveries.append(record)
            hook = self.store.woo_webhooks.get(item.get("webhook_id") or -1)
            if hook is not None and item["kind"] == "event":
                if status is not None and 200 <= status < 303:
                    hook["failure_count"] = 0
                else:  # WooCommerce: no retry; disabled once failure_count > 5
                    hook["failure_count"] += 1
                    if hook["failure_count"] > 5:
                        hook["status"] = "disabled"


def fire_shopify(
    store: Store, sender: Sender, topic: str, resource_id: int, redeliver: bool = False
) -> list[str]:
    """Queue a Shopify delivery; `redeliver` re-sends the last one (same webhook id, original payload)."""
    if topic not in SHOPIFY_TOPICS:
        raise ValueError(f"topic: must be one of {', '.join(SHOPIFY_TOPICS)}")
    cfg = store.config.shopify
    with store.lock:
        url = store.auth.subscriptions.get(topic) or cfg.webhook_url  # webhookSubscriptionCreate, else config
        if not url:
            return []
        key = (topic, int(resource_id))
        last = store.last_shopify_delivery.get(key)
        if redeliver and last:
            sender.enqueue(dict(last, headers=dict(last["headers"])))
            return [last["headers"]["X-Shopify-Webhook-Id"]]
        if topic.startswith("products/"):
            payload = shopify_shapes.product_rest(store.product("shopify", resource_id))
        else:
            payload = shopify_shapes.order_rest(store.order("shopify", resource_id), cfg.shop_domain)
        body = _compact_json(payload)
        webhook_id = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Shopify-Captain-Hook",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": b64_hmac_sha256(cfg.app_secret, body),
            "X-Shopify-Shop-Domain": cfg.shop_domain,
            "X-Shopify-API-Version": cfg.api_version,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Triggered-At": now().strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
        }
        item = {
            "platform": "shopify",
            "kind": "event",
            "topic": topic,
            "resource_id": str(resource_id),
            "url": url,
            "headers": headers,
            "body": body,
        }
        store.last_shopify_delivery[key] = item
    sender.enqueue(item)
    return [webhook_id]


def fire_woo(store: Store, sender: Sender, topic: str, resource_id: int) -> list[str]:
    """Queue one delivery per active WooCommerce webhook on `topic`; each gets a new delivery id."""
    if topic not in WOO_TOPICS:
        raise ValueError(f"topic: must be one of {', '.join(WOO_TOPICS)}")
    resource, event = topic.split(".", 1)
    with store.lock:
        base = store.base_url or ""
        if resource == "product":
            payload = woo_shapes.product_v3(store.product("woocommerce", resource_id), base)
        else:
            payload = woo_shapes.order_v3(store.order("woocommerce", resource_id), base)
        body = woo_shapes.wp_json_encode(payload)
        hooks = [h for h in store.woo_webhooks.values() if h["topic"] == topic and h["status"] == "active"]
        ids = []
        for hook in hooks:
            delivery_id = uuid.uuid4().hex
            headers = {
                "User-Agent": WOO_USER_AGENT,
                "Content-Type": "application/json",
                "X-WC-Webhook-Source": f"{base}/",
                "X-WC-Webhook-Topic": topic,
                "X-WC-Webhook-Resource": resource,
                "X-WC-Webhook-Event": event,
                "X-WC-Webhook-Signature": b64_hmac_sha256(hook["secret"], body),
                "X-WC-Webhook-ID": str(hook["id"]),
                "X-WC-Webhook-Delivery-ID": delivery_id,
                "Connection": "close",
            }
            sender.enqueue(
                {
                    "platform": "woocommerce",
                    "kind": "event",
                    "topic": topic,
                    "resource_id": str(resource_id),
                    "url": hook["delivery_url"],
                    "headers": headers,
                    "body": body,
                    "webhook_id": hook["id"],
                }
            )
            ids.append(delivery_id)
    return ids


def ping_woo(sender: Sender, hook: dict) -> None:
    """WooCommerce deliver_ping(): unsigned form body `webhook_id=N`, no X-WC-Webhook-* headers."""
    sender.enqueue(
        {
            "platform": "woocommerce",
            "kind": "ping",
            "topic": "ping",
            "resource_id": str(hook["id"]),
            "url": hook["delivery_url"],
            "body": f"webhook_id={hook['id']}".encode(),
            "webhook_id": hook["id"],
            "headers": {
                "User-Agent": WOO_USER_AGENT,
                "Content-Type": "application/x-www-form-urlencoded",
                "Connection": "close",
            },
        }
    )


def _compact_json(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
