"""DevStoreClient: a thin requests wrapper over the control API, for tests, benchmarks and the demo."""

from __future__ import annotations

import time

import requests


class DevStoreClient:
    """Calls /_devstore/*; every call has a timeout and raises requests.HTTPError on a non-2xx answer."""

    def __init__(self, base_url: str, timeout: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, json: dict | None = None, params: dict | None = None):
        resp = self.session.request(
            method, f"{self.base_url}/_devstore/{path}", json=json, params=params, timeout=self.timeout
        )
        resp.raise_for_status()
        return resp.json()

    def config(self, shopify: dict | None = None, woocommerce: dict | None = None) -> dict:
        body = {k: v for k, v in (("shopify", shopify), ("woocommerce", woocommerce)) if v}
        return self._call("POST", "config", body)

    def reset(self, seed: bool = False) -> dict:
        return self._call("POST", "reset", {"seed": seed})

    def seed(self) -> dict:
        """Load the sample products (no webhooks); returns {"ids": {platform: [...]}}."""
        return self._call("POST", "seed")

    def create_product(self, platform: str, fire: bool = True, **fields) -> int:
        return self._call("POST", "products", {"platform": platform, "fire": fire, **fields})["id"]

    def edit_product(self, platform: str, product_id: int, fire: bool = True, **fields) -> dict:
        return self._call("POST", f"products/{platform}/{product_id}/edit", {**fields, "fire": fire})

    def create_order(self, platform: str, line_items: list[dict], fire: bool = True, **fields) -> int:
        body = {"platform": platform, "line_items": line_items, "fire": fire, **fields}
        return self._call("POST", "orders", body)["id"]

    def fire(self, platform: str, topic: str, resource_id: int, redeliver: bool = False) -> list[str]:
        body = {"platform": platform, "topic": topic, "id": resource_id, "redeliver": redeliver}
        return self._call("POST", "fire", body)["webhooks"]

    def fault(self, platform: str, count: int = 1, **fault) -> dict:
        """E.g. fault("shopify", status=429, retry_after=1), fault("woocommerce", delay_s=2)."""
        return self._call("POST", "faults", {"platform": platform, "count": count, **fault})

    def clear_faults(self) -> dict:
        return self._call("DELETE", "faults")

    def writes(self, platform: str | None = None) -> list[dict]:
        return self._call("GET", "writes", params={"platform": platform} if platform else None)

    def deliveries(self, platform: str | None = None) -> list[dict]:
        return self._call("GET", "deliveries", params={"platform": platform} if platform else None)

    def flush(self, timeout: float = 10) -> bool:
        """Block until every queued webhook has been attempted."""
        return self._call("POST", "flush", {"timeout": timeout})["ok"]

    def wait_deliveries(self, count: int, platform: str | None = None, timeout: float = 10) -> list[dict]:
        """Poll until at least `count` deliveries are recorded; returns them (raises TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(platform)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(found)} of {count} deliveries after {timeout} s")
            time.sleep(0.05)

    def woo_webhooks(self) -> list[dict]:
        """The WooCommerce webhooks as the store holds them (secrets and failure counts included)."""
        return self._call("GET", "woo/webhooks")

    def disable_woo_webhook(self, webhook_id: int) -> dict:
        """Disable a webhook as WooCommerce does after repeated failed deliveries."""
        return self._call("POST", f"woo/webhooks/{webhook_id}/disable")

    def delete_woo_webhook(self, webhook_id: int) -> dict:
        """Delete a webhook as a merchant does in wp-admin."""
        return self._call("DELETE", f"woo/webhooks/{webhook_id}")

    def woo_auth(self) -> dict:
        """REST keys issued by /wc-auth/v1/authorize and the key callbacks sent."""
        return self._call("GET", "woo/auth")

    def product(self, platform: str, product_id: int) -> dict:
        return self._call("GET", f"products/{platform}/{product_id}")

    def products(self) -> list[dict]:
        return self._call("GET", "products")

    def order(self, platform: str, order_id: int) -> dict:
        return self._call("GET", f"orders/{platform}/{order_id}")
