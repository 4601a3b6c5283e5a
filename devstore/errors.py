"""Exceptions of the store emulator."""


class DevStoreError(Exception):
    """Base class for emulator errors."""


class OAuthError(DevStoreError):
    """A WooCommerce OAuth 1.0a request failed verification; `code`/`message` follow WooCommerce."""

    def __init__(self, message: str, code: str = "woocommerce_rest_authentication_error") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(DevStoreError):
    """A product or order id that the store does not hold."""
