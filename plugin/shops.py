"""Shops: connecting a store, its encrypted credentials, and its settings."""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.crypto import Vault
from plugin.db import AuditEntry, Shop
from plugin.errors import ShopNotFound
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
}


def effective_settings(shop: Shop) -> dict:
    return {**DEFAULT_SETTINGS, **(shop.settings or {})}


def parse_setting(key: str, raw: str) -> object:
    """`key=value` from the command line, typed like the default; unknown keys are refused."""
    if key not in DEFAULT_SETTINGS:
        raise ValueError(f"unknown shop setting {key!r}; known: {', '.join(sorted(DEFAULT_SETTINGS))}")
    default = DEFAULT_SETTINGS[key]
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered not in ("true", "false", "on", "off", "1", "0", "yes", "no"):
            raise ValueError(f"{key} takes true or false, not {raw!r}")
        return lowered in ("true", "on", "1", "yes")
    if isinstance(default, float):
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{key} takes a number, not {raw!r}") from None
        if value <= 0:
            raise ValueError(f"{key} must be positive")
        return value
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{key} takes a whole number, not {raw!r}") from None
    if isinstance(default, dict):
        try:
            value = json.loads(raw)
        except ValueError:
            raise ValueError(f"{key} takes a JSON object") from None
        if not isinstance(value, dict):
            raise ValueError(f"{key} takes a JSON object")
        return value
    return raw


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
        for name in ("consumer_key", "consumer_secret", "webhook_secret"):
            if not credentials.get(name):
                raise ValueError(f"a WooCommerce store needs {name.replace('_', '-')}")
    else:
        raise ValueError(f"platform must be shopify or woocommerce, not {platform!r}")
    for name, value in (settings or {}).items():
        if name not in DEFAULT_SETTINGS:
            raise ValueError(f"unknown shop setting {name!r}")
    shop = db.scalar(select(Shop).where(Shop.domain == key))
    if shop is None:
        shop = Shop(platform=platform, domain=key, settings={})
        db.add(shop)
    shop.platform = platform
    shop.api_url = api_url.rstrip("/")
    shop.credentials = vault.seal(credentials)
    shop.settings = {**(shop.settings or {}), **(settings or {})}
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
    shop.settings = {**(shop.settings or {}), **changes}
    db.add(AuditEntry(shop_id=shop.id, actor=actor, action="shop.settings", detail=changes))
    db.commit()
    return effective_settings(shop)


def list_shops(db: Session) -> list[Shop]:
    return list(db.scalars(select(Shop).order_by(Shop.id)))
