"""Kinds of draft: what each one holds, how staff edit it, and where an approved one goes.

Product copy is written back to the product; an order follow-up to its order (a customer-visible note on
WooCommerce, a metafield on Shopify); an answer to the customer who asked (the storefront widget, or
email); campaign copy is approved and exported by staff, never sent anywhere by Copydesk. The panel's
draft page, edits and limits come from here, so a new kind needs no new review screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from plugin.platforms.base import COPY_FIELDS, SEO_DESCRIPTION_MAX, SEO_TITLE_MAX


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    limit: int
    html: bool = False
    rows: int = 3


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    subject: str
    """What `Draft.product_id` names: a product, an order, a question, a campaign."""
    fields: tuple[Field, ...]
    delivers: str
    """Where approval sends it: "store" (the product), "order", "customer", or "" (staff export it)."""
    approve_label: str

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


_PRODUCT_LABELS = {"description_html": "Description", "short_description": "Short description",
                   "seo_title": "SEO title", "seo_description": "SEO description"}
_PRODUCT_LIMITS = {"seo_title": SEO_TITLE_MAX, "seo_description": SEO_DESCRIPTION_MAX, "short_description": 1000,
                   "description_html": 20000}

PRODUCT_COPY = Kind("product_copy", "product copy", "product",
                    tuple(Field(n, _PRODUCT_LABELS[n], _PRODUCT_LIMITS[n], html=n == "description_html",
                                rows=8 if n == "description_html" else 2) for n in COPY_FIELDS),
                    "store", "Approve and publish")
ORDER_FOLLOW_UP = Kind("order_follow_up", "order follow-up", "order",
                       (Field("message", "Message to the customer", 3000, rows=8),), "order", "Approve and send")
ANSWER = Kind("answer", "answer", "question", (Field("answer", "Answer to the customer", 2000, rows=6),),
              "customer", "Approve and send")
CAMPAIGN = Kind("campaign", "campaign", "campaign",
                (Field("email_subject", "Email subject", 120, rows=1),
                 Field("email_preheader", "Email preheader", 150, rows=1),
                 Field("email_body", "Email body", 5000, rows=10),
                 Field("social_posts", "Social posts (one per paragraph)", 2000, rows=6)),
                "", "Approve")

KINDS: dict[str, Kind] = {k.name: k for k in (PRODUCT_COPY, ORDER_FOLLOW_UP, ANSWER, CAMPAIGN)}


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown draft kind {name!r}; known: {', '.join(KINDS)}") from None
