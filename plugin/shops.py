"""Shops: connecting a store, its encrypted credentials, and its settings."""

from __future__ import annotations

import json
import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from plugin.crypto import Vault
from plugin.db import AuditEntry, Draft, Shop, utcnow
from plugin.errors import ShopNotFound
from plugin.platforms.base import COPY_FIELDS
from plugin.platforms.shopify import sanitize_shop_domain
from plugin.platforms.woocommerce import normalize_store_url

DEFAULT_SETTINGS: dict[str, object] = {
    "auto_publish": False,
    "generate_on_create": True,
    "generate_on_update_without_copy": False,
    "tone": "friendly and clear",
    "language": "en",
    "target_words": 80,
    "api_version": "2025-10",
    "seo_meta_keys": {},
    "order_note_namespace": "copydesk",
    "order_note_key": "follow_up",
    "requests_per_second": 2.0,
    "burst": 5.0,
    "write_fields": list(COPY_FIELDS),
    "skip_existing": False,
    "banned_words": [],
    "voice_examples": [],
    "monthly_cap": 0,
    "banned_defaults": True,
    "media_position": "last",
    "allow_links": False,
    "follow_ups": True,
    "follow_up_first_name": False,
    "follow_up_auto_publish": False,
    "policy_shipping": "",
    "policy_returns": "",
    "policy_warranty": "",
    "instant_answers": False,
    "answer_channel": "widget",
    "questions_per_ip_hour": 10,
}
"""Every shop setting with its default; a value's type is the setting's type."""

OPTIONAL_TEXT = ("policy_shipping", "policy_returns", "policy_warranty")
"""Text settings that may be empty; policies are staff-written facts that answers may quote."""
POLICY_MAX = 4000
ANSWER_CHANNELS = ("widget", "email")
"""Where an approved answer goes: stored for the storefront widget to show, or emailed to the asker."""

LIST_LIMITS = {"write_fields": (len(COPY_FIELDS), 40), "banned_words": (50, 80), "voice_examples": (10, 4000)}
"""List settings: (most items, most characters per item)."""
TARGET_WORDS = (20, 400)
MEDIA_POSITIONS = ("first", "last")
"""Where the original description's images, videos and tables go in a new one (model.checks.html)."""
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{2}|[0-9]{3}))?$")
_API_VERSION = re.compile(r"^(?:\d{4}-\d{2}|unstable)$")
_TRUE, _FALSE = ("true", "on", "1", "yes"), ("false", "off", "0", "no")


def effective_settings(shop: Shop) -> dict:
    return {**DEFAULT_SETTINGS, **(shop.settings or {})}


def _default(key: str) -> object:
    if key not in DEFAULT_SETTINGS:
        raise ValueError(f"unknown shop setting {key!r}; known: {', '.join(sorted(DEFAULT_SETTINGS))}")
    return DEFAULT_SETTINGS[key]


def parse_setting(key: str, raw: str) -> object:
    """`key=value` text (the command line, a form field), typed like the default and checked; unknown keys
    and bad values raise ValueError naming the setting. Lists take a JSON list or one item per line."""
    default = _default(key)
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered not in _TRUE + _FALSE:
            raise ValueError(f"{key} takes true or false, not {raw!r}")
        return lowered in _TRUE
    if isinstance(default, float):
        try:
            value: object = float(raw)
        except ValueError:
            raise ValueError(f"{key} takes a number, not {raw!r}") from None
    elif isinstance(default, int):
        try:
            value = int(raw.strip())
        except ValueError:
            raise ValueError(f"{key} takes a whole number, not {raw!r}") from None
    elif isinstance(default, dict):
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValueError(f"{key} takes a JSON object") from None
    elif isinstance(default, list):
        value = _parse_list(key, raw)
    else:
        value = raw
    return _check(key, value)


def _parse_list(key: str, raw: str) -> list:
    """A JSON list of strings, or text with one item per line (blank lines dropped)."""
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None  # not JSON after all (an item that starts with "["): read it as lines
        if isinstance(value, list):
            return value
    return [line.strip() for line in text.splitlines() if line.strip()]


def validate_settings(changes: dict) -> dict:
    """Check already-typed values (bool, int, float, list, dict, str: what a form gives, once parsed) and
    return them normalised; text for a non-text setting goes through `parse_setting`. Raises ValueError
    naming the setting on an unknown key or a bad value."""
    checked = {}
    for key, value in changes.items():
        default = _default(key)
        if isinstance(value, str) and not isinstance(default, str):
            checked[key] = parse_setting(key, value)
        else:
            checked[key] = _check(key, value)
    return checked


def _check(key: str, value: object) -> object:
    """One setting's value, type-checked against its default and normalised."""
    default = _default(key)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key} takes true or false, not {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{key} takes a number, not {value!r}")
        if not value > 0 or value == float("inf"):
            raise ValueError(f"{key} must be positive")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} takes a whole number, not {value!r}")
        return _check_int(key, value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ValueError(f"{key} takes a JSON object")
        return _check_dict(key, value)
    if isinstance(default, list):
        return _check_list(key, value)
    if not isinstance(value, str):
        raise ValueError(f"{key} takes text, not {value!r}")
    return _check_text(key, value.strip())


def _check_int(key: str, value: int) -> int:
    if key == "questions_per_ip_hour" and not 1 <= value <= 1000:
        raise ValueError(f"questions_per_ip_hour must be between 1 and 1000, not {value}")
    if key == "target_words" and not TARGET_WORDS[0] <= value <= TARGET_WORDS[1]:
        raise ValueError(f"target_words must be between {TARGET_WORDS[0]} and {TARGET_WORDS[1]}, not {value}")
    if value < 0:
        raise ValueError(f"{key} cannot be negative (0 means no cap)" if key == "monthly_cap"
                         else f"{key} cannot be negative")
    return value


def _check_dict(key: str, value: dict) -> dict:
    if key == "seo_meta_keys":
        unknown = sorted(set(value) - {"seo_title", "seo_description"})
        if unknown:
            raise ValueError(f"seo_meta_keys: unknown field(s) {', '.join(map(repr, unknown))}; "
                             "known: seo_title, seo_description")
        if not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise ValueError("seo_meta_keys: each meta key must be non-empty text")
        return {k: v.strip() for k, v in value.items()}
    return value


def _check_list(key: str, value: object) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{key} takes a list of text items (a JSON list, or one item per line)")
    most, longest = LIST_LIMITS[key]
    items: list[str] = []
    seen: set[str] = set()
    for item in (" ".join(v.split()) if key != "voice_examples" else v.strip() for v in value):
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            items.append(item)
    if key == "write_fields":
        unknown = [f for f in items if f not in COPY_FIELDS]
        if unknown:
            raise ValueError(f"write_fields: unknown field(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(COPY_FIELDS)}")
        if not items:
            raise ValueError("write_fields needs at least one field")
    if len(items) > most:
        raise ValueError(f"{key} takes at most {most} items, got {len(items)}")
    too_long = next((item for item in items if len(item) > longest), None)
    if too_long is not None:
        raise ValueError(f"{key}: each item is at most {longest} characters ({too_long[:30]!r}... is "
                         f"{len(too_long)})")
    return items


def _check_text(key: str, value: str) -> str:
    if key == "language":
        match = _LANGUAGE.match(value)
        if not match:
            raise ValueError(f"language takes a short language code such as en, de or pt-BR, not {value!r}")
        language, region = match.groups()
        return language.lower() + (f"-{region.upper()}" if region else "")
    if key == "media_position" and value not in MEDIA_POSITIONS:
        raise ValueError(f"media_position takes first or last, not {value!r}")
    if key == "api_version" and not _API_VERSION.match(value):
        raise ValueError(f"api_version takes a Shopify API version such as 2025-10, not {value!r}")
    if key == "answer_channel" and value not in ANSWER_CHANNELS:
        raise ValueError(f"answer_channel takes {' or '.join(ANSWER_CHANNELS)}, not {value!r}")
    if key in OPTIONAL_TEXT:
        if len(value) > POLICY_MAX:
            raise ValueError(f"{key} is at most {POLICY_MAX} characters")
        return value
    if not value:
        raise ValueError(f"{key} cannot be empty")
    if len(value) > 200:
        raise ValueError(f"{key} is at most 200 characters")
    return value


def add_shop(db: Session, vault: Vault, *, platform: str, domain: str, credentials: dict,
             api_url: str = "", settings: dict | None = None, actor: str = "cli") -> Shop:
    """Connect a store, or update its credentials if it is already known (re-connecting is normal)."""
    if platform == "shopify":
        key = sanitize_shop_domain(domain)
        if key is None:
            raise ValueError(f"not a Shopify shop domain (NAME.myshopify.com): {domain!r}")
        if not credentials.get("access_token"):
            raise ValueError("a Shopify shop needs an access token")
    elif platform == "woocommerce":
        key = normalize_store_url(domain)
        api_url = api_url or (domain if "://" in domain else f"https://{domain}")
        for name in ("consumer_key", "consumer_secret"):
            if not credentials.get(name):
                raise ValueError(f"a WooCommerce store needs {name.replace('_', '-')}")
        if not credentials.get("webhook_secret") and not credentials.get("webhooks"):
            # `webhooks`: per-webhook secrets of the webhooks Copydesk creates itself (connect flow)
            raise ValueError("a WooCommerce store needs webhook-secret")
    else:
        raise ValueError(f"platform must be shopify or woocommerce, not {platform!r}")
    settings = validate_settings(settings or {})
    shop = db.scalar(select(Shop).where(Shop.domain == key))
    if shop is None:
        shop = Shop(platform=platform, domain=key, settings={})
        db.add(shop)
    shop.platform = platform
    shop.api_url = api_url.rstrip("/")
    shop.credentials = vault.seal(credentials)
    shop.settings = {**(shop.settings or {}), **settings}
    shop.uninstalled_at = None
    db.flush()
    db.add(AuditEntry(shop_id=shop.id, actor=actor, action="shop.connected", detail={"platform": platform}))
    db.commit()
    return shop


def get_shop(db: Session, domain: str) -> Shop:
    """A shop by its domain or store URL (any spelling that normalises to it)."""
    shop = find_shop(db, domain)
    if shop is None:
        raise ShopNotFound(f"no shop {domain!r}; see `copydesk shop list`")
    return shop


def find_shop(db: Session, domain: str) -> Shop | None:
    candidates = {domain.strip().lower()}
    try:
        candidates.add(normalize_store_url(domain))
    except ValueError:
        pass
    return db.scalar(select(Shop).where(Shop.domain.in_(candidates)))


def set_settings(db: Session, shop: Shop, changes: dict, actor: str = "cli") -> dict:
    """Validate `changes` (`validate_settings`), store them with an audit entry, and return the shop's
    effective settings. Nothing is stored when any value is refused."""
    changes = validate_settings(changes)
    shop.settings = {**(shop.settings or {}), **changes}
    db.add(AuditEntry(shop_id=shop.id, actor=actor, action="shop.settings", detail=changes))
    db.commit()
    return effective_settings(shop)


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current calendar month, UTC: `monthly_cap` counts from here."""
    return (now or utcnow()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def drafts_this_month(db: Session, shop_id: int) -> int:
    """Drafts generated for the shop this calendar month (UTC), as `monthly_cap` counts them: restore
    drafts (negative seeds, `worker.restore`) are not generated and do not count."""
    return db.scalar(select(func.count(Draft.id)).where(
        Draft.shop_id == shop_id, Draft.seed >= 0, Draft.created_at >= month_start())) or 0


def list_shops(db: Session) -> list[Shop]:
    return list(db.scalars(select(Shop).order_by(Shop.id)))
