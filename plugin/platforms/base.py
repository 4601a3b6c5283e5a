"""The one interface every store platform implements, over normalised dataclasses.

Raw platform JSON never leaves an adapter module: the rest of Copydesk sees `Product`, `CopyFields`,
`Order` and `WebhookEvent`, and talks to a store through a `StoreAdapter`.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import requests

COPY_FIELDS = ("description_html", "short_description", "seo_title", "seo_description")
SEO_TITLE_MAX = 70
SEO_DESCRIPTION_MAX = 160
_ID = re.compile(r"^[0-9]{1,20}$")
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def check_id(value: object, what: str = "id") -> str:
    """A store resource id as a string of digits, or ValueError: ids reach URLs and Redis keys."""
    text = str(value).strip()
    if not _ID.match(text):
        raise ValueError(f"{what} must be a positive integer, got {text[:40]!r}")
    return text


def utc_stamp(when: datetime) -> str:
    """An aware time as `2026-01-02T03:04:05Z` (naive times are refused: their zone is a guess)."""
    if when.tzinfo is None:
        raise ValueError(f"updated_since must carry a time zone, got {when!r}")
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def html_to_text(html: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed (for prompts and hashes)."""
    import html as htmllib

    text = _TAG.sub(" ", html or "")
    return _SPACE.sub(" ", htmllib.unescape(text)).strip()


def digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def text_digest(description_html: str) -> str:
    """Hash of a description's visible text: stores rewrite markup (WordPress adds paragraphs and line
    breaks, Shopify normalises HTML), so our own copy echoed back is recognised by its words."""
    return hashlib.sha256(_SPACE.sub("", html_to_text(description_html)).encode()).hexdigest()


@dataclass(frozen=True)
class CopyFields:
    description_html: str = ""
    short_description: str = ""
    seo_title: str = ""
    seo_description: str = ""

    def __post_init__(self) -> None:
        if len(self.seo_title) > SEO_TITLE_MAX:
            raise ValueError(f"seo_title is {len(self.seo_title)} characters; at most {SEO_TITLE_MAX}")
        if len(self.seo_description) > SEO_DESCRIPTION_MAX:
            raise ValueError(
                f"seo_description is {len(self.seo_description)} characters; at most {SEO_DESCRIPTION_MAX}"
            )

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CopyFields:
        return cls(**{k: str(data.get(k) or "") for k in COPY_FIELDS})


def fields_to_write(copy: CopyFields, fields: Iterable[str] | None) -> set[str]:
    """What `StoreAdapter.update_copy` writes: the fields named, empty ones included (an empty value clears
    the field: a restore puts back an empty original), or, with None, every field that has text."""
    if fields is None:
        return {name for name in COPY_FIELDS if getattr(copy, name)}
    names = set(fields)
    unknown = sorted(names - set(COPY_FIELDS))
    if unknown:
        raise ValueError(f"fields: unknown copy field(s) {unknown}; known: {', '.join(COPY_FIELDS)}")
    return names


@dataclass(frozen=True)
class Product:
    id: str
    title: str
    description_html: str = ""
    short_description: str = ""
    seo_title: str = ""
    seo_description: str = ""
    category: str = ""
    vendor: str = ""
    tags: tuple[str, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)
    variants: tuple[dict, ...] = ()
    updated_at: str = ""
    created_at: str = ""
    """Store times as the store wrote them (ISO); not content, so left out of snapshot and hash."""

    @property
    def copy(self) -> CopyFields:
        return CopyFields(
            description_html=self.description_html,
            short_description=self.short_description,
            seo_title=self.seo_title[:SEO_TITLE_MAX],
            seo_description=self.seo_description[:SEO_DESCRIPTION_MAX],
        )

    @property
    def has_copy(self) -> bool:
        return bool(html_to_text(self.description_html))

    def record(self) -> dict:
        """The prompt input: the product record shape shared with training data."""
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "vendor": self.vendor,
            "tags": list(self.tags),
            "attributes": dict(self.attributes),
            "variants": [dict(v) for v in self.variants],
            "description": html_to_text(self.description_html),
        }

    def snapshot(self) -> dict:
        """Everything a person could edit, as stored with a draft."""
        data = asdict(self)
        data.pop("updated_at")
        data.pop("created_at")
        data["tags"] = list(self.tags)
        data["variants"] = [dict(v) for v in self.variants]
        return data

    def content_hash(self) -> str:
        """Changes whenever a person changes the product's data or copy in the store.

        Prices are left out: a price or stock change does not make a description wrong."""
        data = self.snapshot()
        data["variants"] = [{k: v for k, v in variant.items() if k != "price"} for variant in data["variants"]]
        return digest(data)


@dataclass(frozen=True)
class OrderLine:
    product_id: str
    """"" when the product was deleted since the order was placed."""
    title: str
    quantity: int = 1


@dataclass(frozen=True)
class Order:
    """An order as a follow-up needs it. `first_name` and `email` are personal data: never logged, never
    stored in a draft's snapshot (only the first name, and only when the shop allows addressing by it)."""

    id: str
    name: str
    """What the store calls it: Shopify `#1001`, WooCommerce its number."""
    first_name: str = ""
    email: str = ""
    customer_locale: str = ""
    """The buyer's language code (`de`, `pt-BR`), "" when the store does not say."""
    accepts_marketing: bool = False
    test: bool = False
    cancelled: bool = False
    awaiting_payment: bool = False
    """WooCommerce `pending`/`on-hold`: placed but not paid; a follow-up waits until it is."""
    lines: tuple[OrderLine, ...] = ()
    follow_up_notes: tuple[str, ...] = ()
    """Follow-up text already on the order: Shopify our metafield's value, WooCommerce customer notes."""

    def __post_init__(self) -> None:
        check_id(self.id, "order id")

    @property
    def product_ids(self) -> list[str]:
        """Each product bought, once, in order of the lines."""
        return list(dict.fromkeys(line.product_id for line in self.lines if line.product_id))


def locale_code(value: object) -> str:
    """A store's locale (`de`, `de-DE`, `pt_BR`, `fr-CA`) as a language code (`de`, `de-DE`), or ""."""
    match = re.match(r"^([a-zA-Z]{2,3})(?:[-_]([a-zA-Z]{2}))?$", str(value or "").strip())
    if not match:
        return ""
    language, region = match.groups()
    return language.lower() + (f"-{region.upper()}" if region else "")


@dataclass(frozen=True)
class WebhookEvent:
    """A verified, parsed delivery."""

    platform: str
    shop: str
    """Shopify: the shop domain; WooCommerce: the normalised store URL."""
    topic: str
    """Normalised: product.created, product.updated, order.created."""
    resource_id: str
    dedupe_key: str
    description_digest: str = ""
    """text_digest() of the description in the payload (products only), to spot our own writes."""
    triggered_at: str = ""


class StoreAdapter(ABC):
    """A connection to one store. Constructed per shop with the process's shared `requests.Session`."""

    platform: str = ""
    copy_fields: tuple[str, ...] = COPY_FIELDS
    """The copy fields this platform stores; `update_copy` ignores the others."""

    def __init__(self, *, domain: str, api_url: str, credentials: dict, settings: dict,
                 session: requests.Session, timeout: float, bucket=None):
        """`bucket`: the shop's `plugin.ratelimit.ShopBucket`, shared by every worker; None paces nothing."""
        self.bucket = bucket
        self.domain = domain
        self.api_url = api_url
        self.credentials = credentials
        self.settings = settings
        self.session = session
        self.timeout = timeout

    @abstractmethod
    def get_product(self, product_id: str) -> Product: ...

    @abstractmethod
    def update_copy(self, product_id: str, copy: CopyFields, fields: Iterable[str] | None = None) -> None:
        """Write `copy` to the product: the `fields` named, empty values clearing theirs, or with None every
        field that has text (`fields_to_write`). Fields the store does not keep, and the rest, are left."""

    @abstractmethod
    def add_order_note(self, order_id: str, note: str, *, customer_visible: bool) -> None: ...

    @abstractmethod
    def get_order(self, order_id: str) -> Order:
        """The order with its lines, buyer's language and consent, and follow-up notes already written.
        Raises ProductNotFound (the store's not-found error) when the store has no such order."""

    @abstractmethod
    def find_order(self, number: str) -> Order | None:
        """The order the customer calls `number` (what the store shows them: Shopify's name `#1001` or
        `1001`, WooCommerce's order number), with `get_order`'s fields; None when no order has exactly that
        name or number. Not an ownership check: the caller still matches the order's email."""

    @abstractmethod
    def list_products(self, cursor: str | None, page_size: int,
                      updated_since: datetime | None = None) -> tuple[list[Product], str | None]:
        """One page of the catalogue from `cursor` (None: the first page); returns the products and the
        cursor of the next page, or None after the last. Cursors are opaque strings, per platform.
        `updated_since` (aware): only products changed after that time (`plugin.reconcile`)."""
