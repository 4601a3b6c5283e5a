"""Shopify session tokens: the JWT App Bridge attaches to every request of the embedded panel.

HS256, signed with the app's client secret (or the previous one while a rotation is under way);
`aud` is the app's API key; `iss` is `https://{shop}/admin` and `dest` `https://{shop}` for the same
shop; `exp`/`nbf` are checked with 10 seconds of leeway for clock skew (a token lives one minute).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt

from plugin.platforms.shopify import sanitize_shop_domain

LEEWAY_SECONDS = 10
REQUIRED = ["exp", "nbf", "iss", "dest", "aud", "sub"]


class InvalidSessionToken(Exception):
    """The token is missing, forged, expired or for another app or shop."""


@dataclass(frozen=True)
class SessionToken:
    shop: str
    user_id: str
    session_id: str


def _shop_of(url: object, path: str = "") -> str:
    parts = urlsplit(str(url))
    if parts.scheme != "https" or parts.path.rstrip("/") != path or parts.query or parts.fragment:
        raise InvalidSessionToken("the token's shop URL is malformed")
    shop = sanitize_shop_domain(parts.netloc)
    if shop is None:
        raise InvalidSessionToken("the token names no Shopify shop")
    return shop


def verify(token: str, *, api_key: str, secrets: list[str]) -> SessionToken:
    """The shop and user a session token vouches for, or InvalidSessionToken saying why not."""
    if not api_key or not any(secrets):
        raise InvalidSessionToken("the embedded panel needs SHOPIFY_API_KEY and SHOPIFY_API_SECRET")
    if not token or len(token) > 4096:
        raise InvalidSessionToken("no session token")
    claims = None
    for secret in filter(None, secrets):
        try:
            claims = jwt.decode(token, secret, algorithms=["HS256"], audience=api_key, leeway=LEEWAY_SECONDS,
                                options={"require": REQUIRED})
            break
        except jwt.InvalidSignatureError:
            continue  # perhaps signed with the other secret during a rotation
        except jwt.PyJWTError as err:
            raise InvalidSessionToken(f"session token rejected: {err}") from None
    if claims is None:
        raise InvalidSessionToken("session token rejected: bad signature")
    shop = _shop_of(claims["dest"])
    if _shop_of(claims["iss"], "/admin") != shop:
        raise InvalidSessionToken("the token's issuer and destination are different shops")
    return SessionToken(shop=shop, user_id=str(claims["sub"]), session_id=str(claims.get("sid", "")))
