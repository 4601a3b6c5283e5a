"""Application factory of the store emulator."""

from __future__ import annotations

from flask import Flask, request

from . import control, samples, shopify_api, shopify_auth, storefront, woo_api, woo_auth, woo_webhooks_api
from .config import StoreConfig
from .context import Runtime
from .state import Store
from .webhooks import Sender


def create_app(config: StoreConfig | None = None) -> Flask:
    """Build the emulator app: one Shopify shop and one WooCommerce store in memory."""
    config = config or StoreConfig()
    app = Flask(__name__)
    app.json.sort_keys = False
    store = Store(config)
    if config.seed:
        samples.load(store)
    app.extensions["devstore"] = Runtime(store=store, sender=Sender(store))

    @app.before_request
    def learn_base_url() -> None:
        if store.base_url is None and not request.path.startswith("/_devstore"):
            with store.lock:
                store.base_url = store.base_url or request.host_url.rstrip("/")

    for bp in (shopify_api.bp, shopify_auth.bp, woo_api.bp, control.bp, storefront.bp):
        app.register_blueprint(bp)
    for bp in (woo_auth.bp, woo_webhooks_api.bp, woo_webhooks_api.control_bp):
        app.register_blueprint(bp)
    return app
