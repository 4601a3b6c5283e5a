"""Shopify: webhook verification and parsing, and the GraphQL Admin API adapter.

Webhooks: base64 HMAC-SHA256 of the raw body with the app's client secret, headers as in
shopify-app-js `validate.ts` (platforms.md 1.1). The Admin API is GraphQL only (new public apps must
not use REST); throttling arrives in the body (`extensions.code == "THROTTLED"`) or as 429.
Order reads and the follow-up metafield live in `plugin.platforms.shopify_orders`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime

from plugin.errors import (
    BadRequest,
    BadSignature,
    ProductNotFound,
    RateLimited,
    StoreAPIError,
    StoreAuthError,
    TransientStoreError,
)
from plugin.platforms.base import (
    CopyFields,
    Product,
    StoreAdapter,
    WebhookEvent,
    check_id,
    fields_to_write,
    text_digest,
    utc_stamp,
)
from plugin.platforms.http import send
from plugin.platforms.shopify_orders import ShopifyOrders, gid

PLATFORM = "shopify"
REQUIRED_HEADERS = ("X-Shopify-Topic", "X-Shopify-Shop-Domain", "X-Shopify-API-Version", "X-Shopify-Webhook-Id")
TOPICS = {"products/create": "product.created", "products/update": "product.updated",
          "orders/create": "order.created"}
_SHOP = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$")

PRODUCT_QUERY = """query($id: ID!) { product(id: $id) { id title handle descriptionHtml productType vendor
 tags updatedAt seo { title description } options { name values }
 variants(first: 100) { nodes { title sku price selectedOptions { name value } } } } }"""
# What each call asks of Shopify's cost bucket up front (connections cost 2 + `first`); the unused part
# comes back after the call, as Shopify refunds it too.
PRODUCT_QUERY_COST, PRODUCT_UPDATE_COST = 110.0, 10.0
PRODUCT_UPDATE = """mutation($product: ProductUpdateInput!) { productUpdate(product: $product) {
 product { id updatedAt } userErrors { field message } } }"""


def sanitize_shop_domain(value: str) -> str | None:
    """The shop's `name.myshopify.com` host, or None (anchored pattern; platforms.md 1.3.2)."""
    value = (value or "").strip().lower()
    return value if _SHOP.match(value) else None


def signature_ok(body: bytes, header: str, secrets: list[str]) -> bool:
    """Constant-time check of X-Shopify-Hmac-Sha256 against each accepted secret."""
    if not header:
        return False
    given = header.strip().encode()
    ok = False
    for secret in secrets:
        if not secret:
            continue
        expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        ok |= hmac.compare_digest(expected, given)
    return ok


def shop_of(headers) -> str:
    """The shop domain a delivery claims to be from (unauthenticated until the signature is checked)."""
    domain = sanitize_shop_domain(headers.get("X-Shopify-Shop-Domain", ""))
    if domain is None:
        raise BadRequest("missing or invalid X-Shopify-Shop-Domain")
    return domain


def parse_webhook(headers, body: bytes, secrets: list[str]) -> WebhookEvent:
    """Verify, then parse one delivery. Raises BadSignature (401) or BadRequest (400)."""
    if not signature_ok(body, headers.get("X-Shopify-Hmac-Sha256", ""), secrets):
        raise BadSignature("invalid signature")
    missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
    if missing:
        raise BadRequest(f"missing headers: {', '.join(missing)}")
    topic = headers["X-Shopify-Topic"]
    if topic not in TOPICS:  # verified but not ours to handle: acknowledge, or Shopify counts a failure
        return WebhookEvent(platform=PLATFORM, shop=shop_of(headers), topic=f"unhandled:{topic[:60]}",
                            resource_id="", dedupe_key=headers["X-Shopify-Webhook-Id"].strip()[:100])
    try:
        payload = json.loads(body)
        resource_id = check_id(payload["id"], "id")
    except (ValueError, KeyError, TypeError, RecursionError) as err:  # RecursionError: deep nesting
        raise BadRequest("body is not a Shopify resource") from err
    description = payload.get("body_html") if topic.startswith("products/") else ""
    return WebhookEvent(
        platform=PLATFORM,
        shop=shop_of(headers),
        topic=TOPICS[topic],
        resource_id=resource_id,
        dedupe_key=headers["X-Shopify-Webhook-Id"].strip()[:100],
        description_digest=text_digest(description) if isinstance(description, str) else "",
        triggered_at=headers.get("X-Shopify-Triggered-At", ""),
    )


class ShopifyAdapter(ShopifyOrders, StoreAdapter):
    platform = PLATFORM
    copy_fields = ("description_html", "seo_title", "seo_description")
    on_unauthorized = None
    """Optional `f(refused_access_token) -> credentials`: refreshes an expired token (worker.pipeline)."""

    @property
    def endpoint(self) -> str:
        base = self.api_url.rstrip("/") if self.api_url else f"https://{self.domain}"
        version = self.settings.get("api_version") or "2025-10"
        return f"{base}/admin/api/{version}/graphql.json"

    def graphql(self, query: str, variables: dict, cost: float = 10.0, *, _retried: bool = False) -> dict:
        """Run one query, paced by the shop's bucket; throttling becomes RateLimited (and pauses every
        worker of this shop) with a wait computed from throttleStatus. A 401 is answered once by
        `on_unauthorized` (a token refresh), then the query runs again."""
        if self.bucket is not None:
            self.bucket.wait_and_take(cost)
        try:
            response = send(
                self.session, "POST", self.endpoint, timeout=self.timeout,
                json={"query": query, "variables": variables},
                headers={"X-Shopify-Access-Token": self.credentials["access_token"]},
            )
        except RateLimited as err:  # HTTP 429
            if self.bucket is not None:
                self.bucket.block_for(err.retry_after or 2.0)
            raise
        except StoreAuthError as err:
            if err.status != 401 or self.on_unauthorized is None or _retried:
                raise
            self.credentials = self.on_unauthorized(self.credentials["access_token"])
            return self.graphql(query, variables, cost, _retried=True)
        if response.status_code == 404:
            raise StoreAPIError("Shopify API endpoint not found (check the shop domain and API version)",
                                status=404)
        try:
            body = response.json()
        except ValueError:
            raise TransientStoreError("Shopify answered something other than JSON", status=response.status_code) \
                from None
        if not isinstance(body, dict):
            raise StoreAPIError("Shopify answered an unexpected JSON document")
        cost_report = (body.get("extensions") or {}).get("cost") or {}
        self.throttle_status = cost_report.get("throttleStatus")
        if self.bucket is not None:
            self.bucket.observe_throttle_status(self.throttle_status)
            requested, actual = cost_report.get("requestedQueryCost"), cost_report.get("actualQueryCost")
            if requested is not None and actual is not None and requested > actual:
                self.bucket.refund(min(float(requested) - float(actual), cost))
        errors = body.get("errors")
        if errors:
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)):
                wait = self._throttle_wait(body)
                if self.bucket is not None:
                    self.bucket.block_for(wait)
                raise RateLimited("Shopify throttled the request", retry_after=wait)
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
            raise StoreAPIError(f"Shopify GraphQL error: {messages[:300]}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise StoreAPIError("Shopify answered without data")
        return data

    @staticmethod
    def _throttle_wait(body: dict) -> float:
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        needed = float(cost.get("requestedQueryCost") or 10) - float(status.get("currentlyAvailable") or 0)
        rate = float(status.get("restoreRate") or 50)
        return max(1.0, needed / rate)

    def get_product(self, product_id: str) -> Product:
        node = self.graphql(PRODUCT_QUERY, {"id": gid("Product", product_id)}, PRODUCT_QUERY_COST).get("product")
        if not node:
            raise ProductNotFound(f"product {product_id} not found in {self.domain}", status=404)
        return _product_from_node(node)

    def update_copy(self, product_id: str, copy: CopyFields, fields=None) -> None:
        """productUpdate with descriptionHtml and seo. Shopify has no core short-description field."""
        names = fields_to_write(copy, fields) & set(self.copy_fields)
        if not names:
            return
        product: dict = {"id": gid("Product", product_id)}
        if "description_html" in names:
            product["descriptionHtml"] = copy.description_html
        seo = {k: getattr(copy, f) for k, f in (("title", "seo_title"), ("description", "seo_description"))
               if f in names}
        if seo:
            product["seo"] = seo
        result = self.graphql(PRODUCT_UPDATE, {"product": product}, PRODUCT_UPDATE_COST).get("productUpdate") or {}
        errors = result.get("userErrors") or []
        if errors:
            text = "; ".join(e.get("message", "") for e in errors)
            if "does not exist" in text.lower():
                raise ProductNotFound(f"product {product_id}: {text}")
            raise StoreAPIError(f"productUpdate refused: {text[:300]}")

    def list_products(self, cursor: str | None, page_size: int,
                      updated_since: datetime | None = None) -> tuple[list[Product], str | None]:
        """One page of `products(first:, after:, query:)`, paced by the bucket at its requested cost. A page
        size above LIST_PAGE_MAX is clamped to it (Shopify refuses queries that cost more than 1000).
        `updated_since`: the search filter `updated_at:>'ISO'`."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        n = min(page_size, LIST_PAGE_MAX)
        search = f"updated_at:>'{utc_stamp(updated_since)}'" if updated_since is not None else None
        data = self.graphql(PRODUCTS_QUERY, {"n": n, "cursor": cursor or None, "query": search}, list_cost(n))
        connection = data.get("products")
        if not isinstance(connection, dict):
            raise StoreAPIError("Shopify answered no products connection (an invalid cursor?)")
        info = connection.get("pageInfo") or {}
        following = info.get("endCursor") if info.get("hasNextPage") else None
        return [_product_from_node(node) for node in connection.get("nodes") or []], following or None


PRODUCTS_QUERY = """query($n: Int!, $cursor: String, $query: String) {
 products(first: $n, after: $cursor, query: $query) { nodes { id title
 handle descriptionHtml productType vendor tags updatedAt createdAt seo { title description } options { name values }
 variants(first: 20) { nodes { title sku price selectedOptions { name value } } } }
 pageInfo { hasNextPage endCursor } } }"""
LIST_VARIANTS = 20
MAX_QUERY_COST = 1000
LIST_PAGE_MAX = (MAX_QUERY_COST - 2) // (1 + LIST_VARIANTS)
"""47: Shopify refuses a query whose requested cost exceeds 1000, and a bucket holds 1000 at most."""


def list_cost(n: int) -> float:
    """Requested cost of a products page: 2, plus per product 1 and its 20-variant connection."""
    return float(2 + n * (1 + LIST_VARIANTS))


def _product_from_node(node: dict) -> Product:
    """A GraphQL `Product` node (from `product` or a `products` page) to a Product."""
    product_id = check_id(str(node.get("id") or "").rsplit("/", 1)[-1], "product id")
    attributes = {o["name"]: ", ".join(o.get("values") or []) for o in node.get("options") or []
                  if o.get("name") and o.get("name") != "Title"}
    variants = tuple(
        {"title": v.get("title") or "", "sku": v.get("sku") or "", "price": str(v.get("price") or ""),
         "options": {o["name"]: o["value"] for o in v.get("selectedOptions") or []}}
        for v in ((node.get("variants") or {}).get("nodes") or [])
    )
    seo = node.get("seo") or {}
    return Product(
        id=product_id, title=node.get("title") or "", description_html=node.get("descriptionHtml") or "",
        seo_title=seo.get("title") or "", seo_description=seo.get("description") or "",
        category=node.get("productType") or "", vendor=node.get("vendor") or "",
        tags=tuple(node.get("tags") or ()), attributes=attributes, variants=variants,
        updated_at=node.get("updatedAt") or "", created_at=node.get("createdAt") or "",
    )
