"""Shopify orders over the GraphQL Admin API: read one by id or by the name the customer sees, and write
the follow-up metafield. A mixin of `plugin.platforms.shopify.ShopifyAdapter` (it needs its `graphql`)."""

from __future__ import annotations

import re

from plugin.errors import ProductNotFound, StoreAPIError
from plugin.platforms.base import Order, OrderLine, check_id, locale_code

ORDER_FIELDS = """id name test cancelledAt customerLocale
 customer { firstName emailMarketingConsent { marketingState } } email
 lineItems(first: 50) { nodes { title quantity product { id } } }
 metafields(first: 10, namespace: $ns) { nodes { namespace key value } }"""
ORDER_QUERY = "query($id: ID!, $ns: String!) { order(id: $id) { " + ORDER_FIELDS + " } }"
ORDERS_QUERY = ("query($search: String!, $ns: String!) { orders(first: 1, query: $search) { nodes { "
                + ORDER_FIELDS + " } } }")
ORDER_UPDATE = """mutation($input: OrderInput!) { orderUpdate(input: $input) {
 order { id } userErrors { field message } } }"""
# Up-front asks of the shop's cost bucket (a connection costs 2 more); the unused part is refunded.
ORDER_QUERY_COST, ORDERS_QUERY_COST, ORDER_UPDATE_COST = 120.0, 122.0, 10.0
_NAME = re.compile(r"^#?\s?([A-Za-z0-9][A-Za-z0-9._-]{0,39})$")
"""An order name as a customer types it: no search-syntax characters (quotes, colons, spaces, brackets)."""


def gid(kind: str, resource_id: str) -> str:
    return f"gid://shopify/{kind}/{check_id(resource_id)}"


def name_filter(number: str) -> str | None:
    """The `orders(query:)` filter for what the customer typed (`1001` → `name:#1001`), or None when it
    cannot be an order name."""
    match = _NAME.match(str(number or "").strip())
    if not match:
        return None
    value = match.group(1)
    return f"name:#{value}" if value.isdigit() else f"name:{value}"


def _bare(name: str) -> str:
    return str(name or "").strip().lstrip("#").strip().casefold()


def order_from_node(node: dict, namespace: str, key: str) -> Order:
    """A GraphQL `Order` node (ORDER_FIELDS, from `order` or `orders`) to an Order."""
    customer = node.get("customer") or {}
    consent = (customer.get("emailMarketingConsent") or {}).get("marketingState") or ""
    lines = tuple(OrderLine(product_id=str((li.get("product") or {}).get("id") or "").rsplit("/", 1)[-1],
                            title=li.get("title") or "", quantity=int(li.get("quantity") or 1))
                  for li in (node.get("lineItems") or {}).get("nodes") or [])
    notes = tuple(str(m.get("value") or "") for m in (node.get("metafields") or {}).get("nodes") or []
                  if m.get("namespace") == namespace and m.get("key") == key and m.get("value"))
    return Order(id=check_id(str(node.get("id") or "").rsplit("/", 1)[-1], "order id"),
                 name=node.get("name") or "", first_name=customer.get("firstName") or "",
                 email=node.get("email") or "", customer_locale=locale_code(node.get("customerLocale")),
                 accepts_marketing=consent.upper() == "SUBSCRIBED", test=bool(node.get("test")),
                 cancelled=bool(node.get("cancelledAt")), lines=lines, follow_up_notes=notes)


class ShopifyOrders:
    """Order calls of the Shopify adapter (`self.graphql`, `self.settings`, `self.domain` are the adapter's)."""

    def _note_field(self) -> tuple[str, str]:
        return (self.settings.get("order_note_namespace") or "copydesk",
                self.settings.get("order_note_key") or "follow_up")

    def get_order(self, order_id: str) -> Order:
        """`order(id:)`: customer data may come back redacted (null) without protected-data approval."""
        namespace, key = self._note_field()
        node = self.graphql(ORDER_QUERY, {"id": gid("Order", order_id), "ns": namespace},
                            ORDER_QUERY_COST).get("order")
        if not node:
            raise ProductNotFound(f"order {order_id} not found in {self.domain}", status=404)
        return order_from_node(node, namespace, key)

    def find_order(self, number: str) -> Order | None:
        """The order the customer calls `number` (`#1001`, `1001`): `orders(first: 1, query: "name:#1001")`,
        kept only when its name is exactly that (search matching is the store's, and may be loose)."""
        search = name_filter(number)
        if search is None:
            return None
        namespace, key = self._note_field()
        connection = self.graphql(ORDERS_QUERY, {"search": search, "ns": namespace}, ORDERS_QUERY_COST).get("orders")
        wanted = _bare(search.split(":", 1)[1])
        for node in (connection or {}).get("nodes") or []:
            if isinstance(node, dict) and _bare(node.get("name")) == wanted:
                return order_from_node(node, namespace, key)
        return None

    def add_order_note(self, order_id: str, note: str, *, customer_visible: bool) -> None:
        """An order metafield (settings `order_note_namespace`/`order_note_key`): never the buyer's own note,
        which `orderUpdate(note:)` would overwrite. Shopify shows metafields to customers only through the
        shop's notification templates, so `customer_visible` is the template's business."""
        namespace, key = self._note_field()
        metafield = {"namespace": namespace, "key": key, "type": "multi_line_text_field", "value": note}
        variables = {"input": {"id": gid("Order", order_id), "metafields": [metafield]}}
        errors = (self.graphql(ORDER_UPDATE, variables, ORDER_UPDATE_COST)["orderUpdate"] or {}).get("userErrors") or []
        if errors:
            raise StoreAPIError(f"orderUpdate refused: {'; '.join(e.get('message', '') for e in errors)[:300]}")
