"""Store platforms behind one interface. Adding a platform is one adapter module and one line here."""

from __future__ import annotations

import requests

from plugin.platforms.base import StoreAdapter
from plugin.platforms.shopify import ShopifyAdapter
from plugin.platforms.woocommerce import WooCommerceAdapter

ADAPTERS: dict[str, type[StoreAdapter]] = {
    "shopify": ShopifyAdapter,
    "woocommerce": WooCommerceAdapter,
}


def adapter_for(shop, credentials: dict, session: requests.Session, timeout: float, bucket=None) -> StoreAdapter:
    """The adapter for a `plugin.db.Shop` row, given its decrypted credentials and rate-limit bucket."""
    try:
        cls = ADAPTERS[shop.platform]
    except KeyError:
        raise ValueError(f"unknown platform {shop.platform!r}") from None
    return cls(domain=shop.domain, api_url=shop.api_url, credentials=credentials,
               settings=dict(shop.settings or {}), session=session, timeout=timeout, bucket=bucket)
