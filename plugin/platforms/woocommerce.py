"""WooCommerce: webhook verification and parsing, and the REST API v3 adapter.

Webhooks: base64 HMAC-SHA256 of the raw body with the per-webhook secret (platforms.md 2.1); the
creation ping is an unsigned form body `webhook_id=N`. WooCommerce's delivery id changes on every
send, so duplicates are keyed on store, topic, resource id and `date_modified_gmt`.
REST: Basic auth over https; OAuth 1.0a (query string, HMAC-SHA256) over plain http, as WooCommerce
only tries Basic when `is_ssl()`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
from datetime import datetime
from urllib.parse import urlsplit

from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth1

from plugin.errors import BadRequest, BadSignature, ProductNotFound, RateLimited, StoreAPIError
from plugin.platforms.base import (
    CopyFields,
    Order,
    OrderLine,
    Product,
    StoreAdapter,
    WebhookEvent,
    check_id,
    fields_to_write,
    locale_code,
    text_digest,
    utc_stamp,
)
from plugin.platforms.http import send

PLATFORM = "woocommerce"
REQUIRED_HEADERS = ("X-WC-Webhook-Topic", "X-WC-Webhook-Resource", "X-WC-Webhook-Event")
TOPICS = ("product.created", "product.updated", "order.created")
_PING = re.compile(rb"^webhook_id=\d{1,20}$")
LOCALE_KEYS = ("_customer_locale", "wpml_language", "_wpml_language", "pll_language")
"""Order meta that carries the buyer's language (WooCommerce has no core field: multilingual plugins)."""
MARKETING_KEYS = ("_accepts_marketing", "_wc_marketing_consent", "mailpoet_subscribe_on_checkout")
"""Order meta recording a marketing opt-in at checkout (no core field either: without one, no consent)."""
CANCELLED = ("cancelled", "refunded", "failed", "trash")
UNPAID = ("pending", "on-hold")
"""Statuses no follow-up is written for."""
DEFAULT_SEO_KEYS = {"seo_title": "_yoast_wpseo_title", "seo_description": "_yoast_wpseo_metadesc"}
_ID = re.compile(r"^[0-9]{1,20}$")


def _same_number(data: dict, number: str) -> bool:
    """Whether a v3 order's `number` (or, without one, its id) is `number`, ignoring case."""
    return str(data.get("number") or data.get("id") or "").strip().casefold() == number.casefold()


def normalize_store_url(url: str) -> str:
    """The key a store is known by: host[:port][/path], lower case, without scheme or trailing slash."""
    parts = urlsplit(url.strip() if "://" in url else f"https://{url.strip()}")
    if not parts.hostname:
        raise ValueError(f"not a store URL: {url[:100]!r}")
    host = parts.hostname.lower() + (f":{parts.port}" if parts.port else "")
    return host + parts.path.rstrip("/")


def is_ping(headers, body: bytes) -> bool:
    """WooCommerce's unsigned `webhook_id=N` sent when a webhook is created or saved."""
    return not headers.get("X-WC-Webhook-Signature") and bool(_PING.match(body.strip()))


def signature_ok(body: bytes, header: str, secret: str) -> bool:
    if not header or not secret:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def source_of(headers) -> str:
    source = headers.get("X-WC-Webhook-Source", "")
    if not source:
        raise BadSignature("missing X-WC-Webhook-Source")
    try:
        return normalize_store_url(source)
    except ValueError as err:
        raise BadSignature("unknown store") from err


def parse_webhook(headers, body: bytes, secret: str | tuple[str, ...] | list[str]) -> WebhookEvent:
    """Verify, then parse one delivery. Raises BadSignature (401) or BadRequest (400).

    `secret`: the store's secret, or every secret its webhooks may sign with (one per webhook)."""
    given = headers.get("X-WC-Webhook-Signature", "")
    if not any([signature_ok(body, given, s) for s in ([secret] if isinstance(secret, str) else secret)]):
        raise BadSignature("invalid signature")
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise BadRequest(f"missing headers: {', '.join(missing)}")
    topic = headers["X-WC-Webhook-Topic"]
    if topic not in TOPICS:  # verified but not ours: acknowledge, or WooCommerce disables the webhook
        return WebhookEvent(platform=PLATFORM, shop=source_of(headers), topic=f"unhandled:{topic[:60]}",
                            resource_id="", dedupe_key=f"unhandled|{hashlib.sha256(body).hexdigest()}")
    try:
        payload = json.loads(body)
        resource_id = check_id(payload["id"], "id")
    except (ValueError, KeyError, TypeError, RecursionError) as err:  # RecursionError: deep nesting
        raise BadRequest("body is not a WooCommerce resource") from err
    store = source_of(headers)
    modified = str(payload.get("date_modified_gmt") or payload.get("date_modified") or "")[:40]
    description = payload.get("description") if topic.startswith("product.") else ""
    return WebhookEvent(
        platform=PLATFORM,
        shop=store,
        topic=topic,
        resource_id=resource_id,
        dedupe_key=f"{store}|{topic}|{resource_id}|{modified}",
        description_digest=text_digest(description) if isinstance(description, str) else "",
        triggered_at=modified,
    )


class WooCommerceAdapter(StoreAdapter):
    platform = PLATFORM

    @property
    def base(self) -> str:
        return self.api_url.rstrip("/") + "/wp-json/wc/v3"

    @property
    def auth(self):
        key, secret = self.credentials["consumer_key"], self.credentials["consumer_secret"]
        if self.api_url.startswith("https://"):
            return HTTPBasicAuth(key, secret)
        return OAuth1(key, secret, signature_method="HMAC-SHA256", signature_type="query")

    def _call(self, method: str, path: str, **kwargs):
        """One REST call, paced per store: WooCommerce has no limit of its own, but shared WordPress
        hosts fall over under bulk writes (shop settings `requests_per_second`, `burst`)."""
        if self.bucket is not None:
            self.bucket.wait_and_take(1.0)
        try:
            response = send(self.session, method, f"{self.base}/{path}", timeout=self.timeout, auth=self.auth,
                            **kwargs)
        except RateLimited as err:  # a host or WAF limit
            if self.bucket is not None:
                self.bucket.block_for(err.retry_after or 10.0)
            raise
        if response.status_code == 404:
            raise ProductNotFound(f"{path.split('/')[0]} not found in {self.domain}", status=404)
        try:
            return response.json()
        except ValueError as err:
            raise StoreAPIError(f"{method} {path}: the store did not answer JSON (is WooCommerce's REST API "
                                "enabled with pretty permalinks?)") from err

    def _seo_keys(self) -> dict[str, str]:
        return {**DEFAULT_SEO_KEYS, **(self.settings.get("seo_meta_keys") or {})}

    def get_product(self, product_id: str) -> Product:
        return self._product_from_data(self._call("GET", f"products/{check_id(product_id)}"))

    def update_copy(self, product_id: str, copy: CopyFields, fields=None) -> None:
        names = fields_to_write(copy, fields)
        keys = self._seo_keys()
        body: dict = {}
        if "description_html" in names:
            body["description"] = copy.description_html
        if "short_description" in names:  # drafts hold plain text: always escaped, never taken as markup
            text = copy.short_description
            body["short_description"] = f"<p>{html.escape(text)}</p>" if text else ""
        meta = [{"key": keys[f], "value": getattr(copy, f)} for f in ("seo_title", "seo_description")
                if f in names]
        if meta:
            body["meta_data"] = meta
        if not body:
            return
        self._call("PUT", f"products/{check_id(product_id)}", json=body)

    def add_order_note(self, order_id: str, note: str, *, customer_visible: bool) -> None:
        """An order note; `customer_visible` makes WooCommerce email it to the customer."""
        self._call("POST", f"orders/{check_id(order_id)}/notes",
                   json={"note": note, "customer_note": customer_visible, "added_by_user": False})

    def get_order(self, order_id: str) -> Order:
        """`GET orders/<id>` and its customer notes. A test order is one WooPayments took in test mode
        (meta `_wcpay_mode` = test): WooCommerce itself has no test flag."""
        return self._order_from_data(self._call("GET", f"orders/{check_id(order_id)}"))

    def find_order(self, number: str) -> Order | None:
        """The order numbered `number`: `GET orders/<number>` when it is digits (WooCommerce's number is the
        id), else, or when that order is numbered otherwise (a sequential-numbers plugin), the
        `GET orders?search=<number>` listing, keeping only an order whose `number` is exactly that."""
        number = str(number or "").strip().lstrip("#").strip()
        if not number or len(number) > 40:
            return None
        if _ID.match(number):
            try:
                data = self._call("GET", f"orders/{number}")
            except ProductNotFound:
                data = None
            if isinstance(data, dict) and _same_number(data, number):
                return self._order_from_data(data)
        found, _ = self._get_listing("orders", {"search": number, "per_page": 50, "status": "any"})
        for item in found if isinstance(found, list) else []:
            if isinstance(item, dict) and _same_number(item, number):
                return self._order_from_data(item)
        return None

    def _order_from_data(self, data: dict) -> Order:
        """A v3 order document to an Order, with its customer notes (one more call)."""
        order_id = check_id(data.get("id"), "order id")
        meta = {m.get("key"): m.get("value") for m in data.get("meta_data") or [] if isinstance(m, dict)}
        notes = self._call("GET", f"orders/{order_id}/notes", params={"type": "customer"})
        billing = data.get("billing") or {}
        lines = tuple(OrderLine(product_id=str(li.get("product_id") or ""),
                                title=li.get("name") or "", quantity=int(li.get("quantity") or 1))
                      for li in data.get("line_items") or [] if isinstance(li, dict))
        return Order(
            id=order_id, name=str(data.get("number") or data.get("id")),
            first_name=billing.get("first_name") or "", email=billing.get("email") or "",
            customer_locale=next((locale_code(meta[k]) for k in LOCALE_KEYS if locale_code(meta.get(k))), ""),
            accepts_marketing=any(str(meta.get(k) or "").lower() in ("1", "yes", "true") for k in MARKETING_KEYS),
            test=str(meta.get("_wcpay_mode") or "").lower() == "test",
            cancelled=str(data.get("status") or "") in CANCELLED, lines=lines,
            awaiting_payment=str(data.get("status") or "") in UNPAID,
            follow_up_notes=tuple(str(n.get("note") or "") for n in notes if isinstance(notes, list)
                                  and isinstance(n, dict) and n.get("customer_note")),
        )

    def list_products(self, cursor: str | None, page_size: int,
                      updated_since: datetime | None = None) -> tuple[list[Product], str | None]:
        """`GET products?page=&per_page=&status=any`; the cursor is the page number (None: page 1), and
        there is no next page once `page` reaches X-WP-TotalPages. `updated_since`: `modified_after=ISO`
        with `dates_are_gmt=true` (WooCommerce 5.8+; without it the time is read in the store's zone)."""
        if not 1 <= page_size <= 100:
            raise ValueError(f"page_size must be between 1 and 100 for WooCommerce, got {page_size}")
        page = int(check_id(cursor or "1", "cursor"))
        params: dict = {"page": page, "per_page": page_size, "status": "any"}
        if updated_since is not None:
            params.update(modified_after=utc_stamp(updated_since)[:-1], dates_are_gmt="true")
        data, headers = self._get_listing("products", params)
        if not isinstance(data, list):
            raise StoreAPIError("GET products: the store did not answer a list")
        try:
            pages = int(headers.get("X-WP-TotalPages") or 0)
        except ValueError:
            pages = 0
        products = [self._product_from_data(item) for item in data if isinstance(item, dict)]
        return products, (str(page + 1) if page < pages else None)

    def _get_listing(self, path: str, params: dict):
        """A paced GET of a collection, returning its JSON and headers (`_call` returns the JSON only)."""
        if self.bucket is not None:
            self.bucket.wait_and_take(1.0)
        try:
            response = send(self.session, "GET", f"{self.base}/{path}", timeout=self.timeout, auth=self.auth,
                            params=params)
        except RateLimited as err:
            if self.bucket is not None:
                self.bucket.block_for(err.retry_after or 10.0)
            raise
        if response.status_code == 404:
            raise StoreAPIError(f"GET {path}: not found (is WooCommerce's REST API enabled?)", status=404)
        try:
            return response.json(), response.headers
        except ValueError as err:
            raise StoreAPIError(f"GET {path}: the store did not answer JSON (is WooCommerce's REST API "
                                "enabled with pretty permalinks?)") from err

    def _product_from_data(self, data: dict) -> Product:
        """A v3 product document (one product, or an item of a listing) to a Product."""
        meta = {m.get("key"): m.get("value") for m in data.get("meta_data") or [] if isinstance(m, dict)}
        keys = self._seo_keys()
        attributes = {a["name"]: ", ".join(str(o) for o in a.get("options") or [])
                      for a in data.get("attributes") or [] if a.get("name")}
        return Product(
            id=check_id(data.get("id"), "product id"),
            title=data.get("name") or "",
            description_html=data.get("description") or "",
            short_description=data.get("short_description") or "",  # the store's own HTML
            seo_title=str(meta.get(keys["seo_title"]) or ""),
            seo_description=str(meta.get(keys["seo_description"]) or ""),
            category=", ".join(c.get("name", "") for c in data.get("categories") or []),
            vendor="",
            tags=tuple(t.get("name", "") for t in data.get("tags") or []),
            attributes=attributes,
            variants=({"title": "", "sku": data.get("sku") or "", "price": str(data.get("price") or ""),
                       "options": {}},) if data.get("sku") else (),
            updated_at=data.get("date_modified_gmt") or "", created_at=data.get("date_created_gmt") or "",
        )
