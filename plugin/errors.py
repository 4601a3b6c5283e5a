"""Copydesk's exceptions, one small tree.

    CopydeskError
    ├── SettingsError            bad or missing configuration, raised at start-up
    ├── ShopNotFound             no such shop in the database
    ├── WebhookError             a delivery we refuse; carries the HTTP status to answer
    │   ├── BadSignature         401: missing or wrong signature, unknown store
    │   ├── BadRequest           400: malformed body or missing headers
    │   └── PayloadTooLarge      413
    └── StoreAPIError            a store API call failed; carries `status` and `retry_after`
        ├── TransientStoreError  worth retrying later (5xx, timeouts, connection errors)
        │   └── RateLimited      429 / Shopify THROTTLED; `retry_after` in seconds
        ├── StoreAuthError       401/403: credentials revoked or wrong
        └── ProductNotFound      the product no longer exists in the store
"""

from __future__ import annotations


class CopydeskError(Exception):
    """Root of every error Copydesk raises on purpose."""


class SettingsError(CopydeskError, ValueError):
    pass


class ShopNotFound(CopydeskError, LookupError):
    pass


class WebhookError(CopydeskError):
    status = 400

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadSignature(WebhookError):
    status = 401


class BadRequest(WebhookError):
    status = 400


class PayloadTooLarge(WebhookError):
    status = 413


class StoreAPIError(CopydeskError):
    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class TransientStoreError(StoreAPIError):
    pass


class RateLimited(TransientStoreError):
    pass


class StoreAuthError(StoreAPIError):
    pass


class ProductNotFound(StoreAPIError):
    pass
