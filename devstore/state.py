"""In-memory store state for both platforms, guarded by one lock.

Products and orders use one internal record shape; shopify_shapes.py and woo_shapes.py render them.
"""

from __future__ import annotations

import itertools
import re
import threading
from datetime import UTC, datetime

from .config import StoreConfig
from .errors import NotFound
from .throttle import FaultQueue, LeakyBucket

PLATFORMS = ("shopify", "woocommerce")
SHOPIFY_TOPICS = ("products/create", "products/update", "orders/create")
WOO_TOPICS = ("product.created", "product.updated", "order.created")


def now() -> datetime:
    """Current UTC time at second precision, like both platforms' timestamps."""
    return datetime.now(UTC).replace(microsecond=0)


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "product"


def check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise ValueError(f"platform: must be one of {', '.join(PLATFORMS)}")
    return platform


class Store:
    """All mutable emulator state. Callers hold `store.lock` while reading or changing it."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.base_url: str | None = config.public_url.rstrip("/") if config.public_url else None
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.products: dict[str, dict[int, dict]] = {p: {} for p in PLATFORMS}
            self.orders: dict[str, dict[int, dict]] = {p: {} for p in PLATFORMS}
            self.writes: list[dict] = []
            self.deliveries: list[dict] = []
            self.woo_webhooks: dict[int, dict] = {}
            self.api_keys: dict[str, dict] = {}  # WooCommerce REST keys issued by /wc-auth (woo_auth.py)
            self.auth_callbacks: list[dict] = []
            self.faults = {p: FaultQueue() for p in PLATFORMS}
            self.bucket = LeakyBucket(self.config.bucket_max, self.config.restore_rate)
            self.nonces: dict[tuple[str, str], int] = {}
            self.last_shopify_delivery: dict[tuple[str, int], dict] = {}
            from .shopify_auth import AuthState  # here: shopify_auth reaches the store through the app

            self.auth = AuthState()
            self._ids = {
                "shopify": itertools.count(8_100_000_001),
                "shopify_variant": itertools.count(45_100_000_001),
                "shopify_order": itertools.count(5_600_000_001),
                "woocommerce": itertools.count(10),
                "woocommerce_order": itertools.count(100),
                "misc": itertools.count(1),
            }
            self.order_numbers = {p: itertools.count(1001) for p in PLATFORMS}
            if self.config.woocommerce.webhook_url:
                self.subscribe_woo(
                    self.config.woocommerce.webhook_url, self.config.woocommerce.webhook_secret
                )

    def next_id(self, kind: str) -> int:
        return next(self._ids[kind])

    # -- products -------------------------------------------------------------------------------
    def add_product(self, platform: str, fields: dict) -> dict:
        """Create a product from control-API/sample fields and return the internal record."""
        check_platform(platform)
        title = fields.get("title") or fields.get("name")
        if not title:
            raise ValueError("title: required")
        with self.lock:
            pid = int(fields["id"]) if fields.get("id") else self.next_id(platform)
            stamp = now()
            attributes = [
                {"name": k, "options": v if isinstance(v, list) else [str(v)], "variation": False}
                for k, v in (fields.get("attributes") or {}).items()
            ]
            options = fields.get("options") or {}
            attributes += [{"name": k, "options": list(v), "variation": True} for k, v in options.items()]
            product = {
                "id": pid,
                "title": title,
                "handle": fields.get("handle") or slugify(title),
                "description_html": fields.get("description_html", fields.get("description", "")) or "",
                "short_description": fields.get("short_description", "") or "",
                "category": fields.get("category", fields.get("product_type", "")) or "",
                "vendor": fields.get("vendor", "") or "",
                "tags": list(fields.get("tags") or []),
                "attributes": attributes,
                "sku": fields.get("sku", "") or "",
                "price": str(fields.get("price", "0.00")),
                "images": [
                    {"id": self.next_id("misc"), "src": img.get("src", ""), "alt": img.get("alt", "")}
                    for img in fields.get("images") or []
                ],
                "seo_title": fields.get("seo_title"),
                "seo_description": fields.get("seo_description"),
                "meta_data": [
                    {"id": self.next_id("misc"), "key": m["key"], "value": m["value"]}
                    for m in fields.get("meta_data") or []
                ],
                "status": fields.get("status", "active" if platform == "shopify" else "publish"),
                "created_at": stamp,
                "updated_at": stamp,
            }
            product["variants"] = self._variants(platform, product, options)
            self.products[platform][pid] = product
            return product

    def _variants(self, platform: str, product: dict, options: dict) -> list[dict]:
        kind = "shopify_variant" if platform == "shopify" else platform
        combos = list(itertools.product(*options.values())) if options else [()]
        variants = []
        for i, combo in enumerate(combos, 1):
            chosen = dict(zip(options.keys(), combo, strict=True))
            suffix = "-".join(slugify(v)[:6].upper() for v in combo)
            variants.append(
                {
                    "id": self.next_id(kind),
                    "title": " / ".join(combo) if combo else "Default Title",
                    "sku": f"{product['sku']}-{suffix}" if suffix and product["sku"] else product["sku"],
                    "price": product["price"],
                    "options": chosen,
                    "position": i,
                }
            )
        return variants

    def product(self, platform: str, pid: int) -> dict:
        with self.lock:
            try:
                return self.products[check_platform(platform)][int(pid)]
            except (KeyError, ValueError) as exc:
                raise NotFound(f"{platform} product {pid}") from exc

    def touch(self, record: dict) -> None:
        """Bump updated_at (second precision: two changes in one second share a stamp, as live)."""
        record["updated_at"] = now()

    def upsert_meta(self, meta: list[dict], items: list[dict]) -> None:
        """WooCommerce update_meta_data semantics: match by id, else by key, else add."""
        for item in items:
            row = None
            if item.get("id") is not None:
                row = next((m for m in meta if m["id"] == int(item["id"])), None)
            if row is None and item.get("key") is not None:
                row = next((m for m in meta if m["key"] == item["key"]), None)
            if row is None:
                meta.append({"id": self.next_id("misc"), "key": item["key"], "value": item.get("value")})
            else:
                row["value"] = item.get("value")
                if item.get("key"):
                    row["key"] = item["key"]

    # -- orders ---------------------------------------------------------------------------------
    def add_order(self, platform: str, fields: dict) -> dict:
        """Also: customer_locale, test, cancelled (Shopify cancelledAt, WooCommerce status), status, meta_data."""
        check_platform(platform)
        with self.lock:
            lines = []
            for item in fields.get("line_items") or []:
                product = self.product(platform, item["product_id"])
                variant = product["variants"][0]
                lines.append(
                    {
                        "id": self.next_id("misc"),
                        "product_id": product["id"],
                        "variant_id": variant["id"],
                        "title": product["title"],
                        "variant_title": None if variant["title"] == "Default Title" else variant["title"],
                        "sku": variant["sku"],
                        "vendor": product["vendor"],
                        "price": product["price"],
                        "quantity": int(item.get("quantity", 1)),
                    }
                )
            if not lines:
                raise ValueError("line_items: at least one item is required")
            customer = fields.get("customer") or {}
            stamp = now()
            oid = self.next_id("shopify_order" if platform == "shopify" else "woocommerce_order")
            order = {
                "id": oid,
                "number": next(self.order_numbers[platform]),
                "line_items": lines,
                "customer": {
                    "id": self.next_id("misc"),
                    "first_name": customer.get("first_name", "Ada"),
                    "last_name": customer.get("last_name", "Lovelace"),
                    "email": customer.get("email", "ada@example.com"),
                    "accepts_marketing": bool(customer.get("accepts_marketing",
                                                           fields.get("buyer_accepts_marketing", False))),
                },
                "note": fields.get("note", "") or "",
                "tags": list(fields.get("tags") or []),
                "customer_locale": fields.get("customer_locale") or None,
                "test": bool(fields.get("test", False)),
                "cancelled_at": stamp if fields.get("cancelled") else None,
                "status": fields.get("status") or ("cancelled" if fields.get("cancelled") else "processing"),
                "metafields": [],
                "meta_data": [{"id": self.next_id("misc"), "key": m["key"], "value": m["value"]}
                              for m in fields.get("meta_data") or []],
                "notes": [],
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.orders[platform][oid] = order
            return order

    def order(self, platform: str, oid: int) -> dict:
        with self.lock:
            try:
                return self.orders[check_platform(platform)][int(oid)]
            except (KeyError, ValueError) as exc:
                raise NotFound(f"{platform} order {oid}") from exc

    # -- writes, webhooks -----------------------------------------------------------------------
    def record_write(self, platform: str, op: str, resource_id, body) -> None:
        with self.lock:
            self.writes.append(
                {
                    "platform": platform,
                    "op": op,
                    "resource_id": str(resource_id),
                    "body": body,
                    "at": now().isoformat(),
                }
            )

    def subscribe_woo(self, url: str, secret: str, topics=WOO_TOPICS, name: str = "Copydesk") -> list[dict]:
        """Create active WooCommerce webhooks (no ping: this is the control path, not REST)."""
        created = []
        with self.lock:
            for topic in topics:
                existing = next(
                    (
                        h
                        for h in self.woo_webhooks.values()
                        if h["topic"] == topic and h["delivery_url"] == url
                    ),
                    None,
                )
                if existing is not None:
                    existing.update(secret=secret, status="active", failure_count=0)
                    created.append(existing)
                    continue
                created.append(
                    self.add_woo_webhook(
                        {
                            "name": f"{name} {topic}",
                            "topic": topic,
                            "delivery_url": url,
                            "secret": secret,
                        }
                    )
                )
        return created

    def add_woo_webhook(self, data: dict) -> dict:
        with self.lock:
            wid = self.next_id("misc")
            stamp = now()
            hook = {
                "id": wid,
                "name": data.get("name") or f"Webhook {wid}",
                "status": data.get("status") or "active",
                "topic": data["topic"],
                "delivery_url": data["delivery_url"],
                "secret": data["secret"],
                "failure_count": 0,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.woo_webhooks[wid] = hook
            return hook
