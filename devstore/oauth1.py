"""WooCommerce REST authentication, written from the spec (platforms.md 2.3), not from a library.

Plain HTTP: OAuth 1.0a one-legged (HMAC-SHA1/SHA256, key `consumer_secret&`, 15-minute window, single-use
nonce). HTTPS only: HTTP Basic or `consumer_key`/`consumer_secret` query params, as in WooCommerce's is_ssl().
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import parse_qsl, quote, unquote

from .errors import OAuthError

REQUIRED = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
ALGORITHMS = {"HMAC-SHA1": hashlib.sha1, "HMAC-SHA256": hashlib.sha256}


def enc(value: str) -> str:
    """RFC 3986 percent-encoding (RFC 5849 3.6): only unreserved characters stay as they are."""
    return quote(str(value), safe="~")


def base_string(method: str, base_url: str, params: list[tuple[str, str]], rfc: bool = True) -> str:
    """Signature base string; `rfc=False` gives WooCommerce's own variant (parameters encoded once)."""
    pairs = sorted((enc(k), enc(v)) for k, v in params if k != "oauth_signature")
    if rfc:
        normalized = enc("&".join(f"{k}={v}" for k, v in pairs))
    else:
        normalized = "%26".join(f"{k}%3D{v}" for k, v in pairs)
    return f"{method.upper()}&{enc(base_url)}&{normalized}"


def sign(
    method: str,
    base_url: str,
    params: list[tuple[str, str]],
    consumer_secret: str,
    algorithm: str = "HMAC-SHA256",
    rfc: bool = True,
) -> str:
    digest = ALGORITHMS[algorithm]
    raw = base_string(method, base_url, params, rfc).encode()
    return base64.b64encode(hmac.new(f"{consumer_secret}&".encode(), raw, digest).digest()).decode()


def header_params(authorization: str) -> list[tuple[str, str]]:
    """Parse `Authorization: OAuth k="v", ...` (accepted since WooCommerce 3.0)."""
    body = authorization.strip()[len("OAuth") :]
    params = []
    for part in body.split(","):
        if "=" not in part:
            continue
        key, value = part.strip().split("=", 1)
        params.append((unquote(key), unquote(value.strip('"'))))
    return [(k, v) for k, v in params if k != "realm"]


def verify_oauth(
    method: str,
    base_url: str,
    query_string: str,
    authorization: str | None,
    consumer_key: str,
    consumer_secret: str,
    nonces: dict,
    window_s: int,
    clock=time.time,
) -> None:
    """Raise OAuthError unless the request carries a valid one-legged OAuth 1.0a signature.

    `nonces` maps (consumer_key, nonce) -> timestamp and is updated on success (caller holds the lock).
    """
    params = parse_qsl(query_string, keep_blank_values=True)
    if authorization and authorization.strip().startswith("OAuth "):
        params += header_params(authorization)
    given = dict(params)
    missing = [p for p in REQUIRED if p not in given]
    if missing:
        raise OAuthError(f"Missing OAuth parameter {missing[0]}", "woocommerce_rest_authentication_error")
    if not hmac.compare_digest(given["oauth_consumer_key"], consumer_key):
        raise OAuthError("Consumer key is invalid.")
    algorithm = given["oauth_signature_method"]
    if algorithm not in ALGORITHMS:
        raise OAuthError("Invalid signature - signature method is invalid.")
    provided = given["oauth_signature"].replace(" ", "+")
    candidates = (sign(method, base_url, params, consumer_secret, algorithm, rfc) for rfc in (True, False))
    if not any(hmac.compare_digest(c, provided) for c in candidates):
        raise OAuthError("Invalid signature - provided signature does not match.")
    try:
        stamp = int(given["oauth_timestamp"])
    except ValueError as exc:
        raise OAuthError("Invalid timestamp.") from exc
    now = clock()
    if abs(now - stamp) > window_s:
        raise OAuthError("Invalid timestamp.")
    for key in [k for k, t in nonces.items() if t < now - window_s]:
        del nonces[key]
    nonce_key = (consumer_key, given["oauth_nonce"])
    if nonce_key in nonces:
        raise OAuthError("Invalid nonce - nonce has already been used.")
    nonces[nonce_key] = stamp


def verify_basic(
    username: str | None, password: str | None, query: dict, consumer_key: str, consumer_secret: str
) -> bool:
    """HTTPS-only key check: Basic credentials, else consumer_key/consumer_secret query params."""
    key = username if username is not None else query.get("consumer_key")
    secret = password if password is not None else query.get("consumer_secret")
    if key is None or secret is None:
        return False
    return hmac.compare_digest(key, consumer_key) and hmac.compare_digest(secret, consumer_secret)
