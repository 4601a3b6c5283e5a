"""What webhook intake needs to know of a shop, kept for a few seconds in each web process.

Looking the shop up in the database and decrypting its webhook secret on every delivery cost about a
third of intake's time (bench/intake.py). A change to a shop (connected, uninstalled, new secret)
reaches intake within `ttl` seconds; a delivery refused meanwhile is retried by the store.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from plugin.crypto import DecryptError, Vault
from plugin.shops import effective_settings, find_shop

log = logging.getLogger(__name__)
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class IntakeShop:
    id: int
    platform: str
    domain: str
    active: bool
    webhook_secret: str
    settings: dict
    webhook_secrets: tuple[str, ...] = ()
    """Every secret a delivery may be signed with: `webhook_secret`, then one per webhook Copydesk
    created on a WooCommerce store (each has its own)."""


class ShopDirectory:
    def __init__(self, sessions, vault: Vault, ttl: float = 5.0):
        self._sessions, self._vault, self._ttl = sessions, vault, ttl
        self._cache: dict[str, tuple[float, IntakeShop | None]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> IntakeShop | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = self._load(key)
        with self._lock:
            if len(self._cache) >= MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (now + self._ttl, info)
        return info

    def forget(self, key: str) -> None:
        """Drop a shop from this process's cache (it was just disconnected here)."""
        with self._lock:
            self._cache.pop(key, None)

    def _load(self, key: str) -> IntakeShop | None:
        with self._sessions() as db:
            shop = find_shop(db, key)
            if shop is None:
                return None
            try:
                credentials = self._vault.open(shop.credentials)
            except DecryptError:
                log.error("credentials of %s cannot be decrypted (was COPYDESK_SECRET_KEY changed?)", shop.domain)
                credentials = {}
            secret = credentials.get("webhook_secret", "")
            hooks = credentials.get("webhooks") or {}
            every = (secret, *(str(h.get("secret") or "") for h in hooks.values() if isinstance(h, dict)))
            return IntakeShop(id=shop.id, platform=shop.platform, domain=shop.domain,
                              active=shop.uninstalled_at is None, webhook_secret=secret,
                              settings=effective_settings(shop), webhook_secrets=tuple(s for s in every if s))
