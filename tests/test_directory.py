"""The web process's short-lived view of shops for webhook intake."""

from __future__ import annotations

import time

from plugin.crypto import Vault
from plugin.db import Shop
from plugin.directory import ShopDirectory
from plugin.shops import add_shop
from tests.conftest import SECRET_KEY


def test_directory_caches_briefly_and_sees_changes_after_its_ttl(app):
    sessions = app.extensions["copydesk_sessionmaker"]
    vault = Vault(SECRET_KEY)
    directory = ShopDirectory(sessions, vault, ttl=0.2)
    assert directory.get("new-shop.myshopify.com") is None
    with sessions() as db:
        shop = add_shop(db, vault, platform="shopify", domain="new-shop.myshopify.com",
                        credentials={"access_token": "t", "webhook_secret": "custom-app-secret"})
    assert directory.get("new-shop.myshopify.com") is None  # still the cached answer
    time.sleep(0.25)
    info = directory.get("new-shop.myshopify.com")
    assert (info.id, info.active, info.webhook_secret) == (shop.id, True, "custom-app-secret")
    assert info.settings["auto_publish"] is False  # effective settings, defaults included
    with sessions() as db:
        db.get(Shop, shop.id).credentials = b"not a fernet token"
        db.commit()
    time.sleep(0.25)
    assert directory.get("new-shop.myshopify.com").webhook_secret == ""  # unreadable: no secret, no crash
