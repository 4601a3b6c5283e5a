"""Configuration of the emulator: one dataclass, passed to create_app()."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ShopifyConfig:
    """The Shopify shop and the app installed on it."""

    shop_domain: str = "copydesk-dev.myshopify.com"
    access_token: str = "shpat_devstore_token"
    app_secret: str = "devstore-app-secret"
    api_version: str = "2025-10"
    webhook_url: str | None = None
    api_key: str = "devstore-api-key"
    """The app's client id (token exchange, authorization-code grant)."""
    scopes: tuple[str, ...] = ("read_products", "write_products", "read_orders", "write_orders")
    token_lifetime_s: float = 3600.0
    """Lifetime of an expiring offline access token; lower it to force refreshes."""
    refresh_token_lifetime_s: float = 90 * 86400.0


@dataclass
class WooConfig:
    """The WooCommerce store's REST keys and the secret used for config-created webhooks."""

    consumer_key: str = "ck_devstore"
    consumer_secret: str = "cs_devstore"
    webhook_secret: str = "devstore-webhook-secret"
    webhook_url: str | None = None
    auth_decision: str = "approve"
    """The merchant's answer on /wc-auth/v1/authorize: "approve" or "deny" (woo_auth.py)."""


@dataclass
class StoreConfig:
    """Everything the emulator needs; unknown keys are rejected by update()."""

    shopify: ShopifyConfig = field(default_factory=ShopifyConfig)
    woocommerce: WooConfig = field(default_factory=WooConfig)
    seed: bool = True
    """Load the sample products when the app is created (without firing webhooks)."""
    public_url: str | None = None
    """Base URL the store calls itself (webhook Source, permalinks); learnt from requests if None."""
    bucket_max: float = 2000.0
    """Shopify GraphQL leaky bucket size, in cost points."""
    restore_rate: float = 100.0
    """Shopify GraphQL bucket refill, in points per second."""
    mutation_cost: int = 10
    webhook_timeout_s: float = 5.0
    """Timeout of every webhook POST (Shopify allows 5 s in total)."""
    oauth_window_s: int = 15 * 60
    """WooCommerce OAuth 1.0a timestamp tolerance, either side."""

    def update(self, data: dict) -> None:
        """Apply a partial {shopify: {...}, woocommerce: {...}} mapping; ValueError on an unknown key."""
        for section, values in data.items():
            if section not in ("shopify", "woocommerce"):
                raise ValueError(f"Unknown config section: {section}")
            target = getattr(self, section)
            for key, value in (values or {}).items():
                if not hasattr(target, key):
                    raise ValueError(f"Unknown config key: {section}.{key}")
                setattr(target, key, value)
