"""Shopify access tokens: token exchange, the authorization-code exchange, refresh (platforms.md 1.3).

Copydesk asks for expiring offline tokens (`expiring=1`): an access token that lives an hour and a
refresh token that lives 90 days. Both, with their expiry times, are sealed together in the shop's
credentials (`plugin.crypto.Vault`) and replaced together in one commit, so a reader never sees a new
access token beside an old refresh token.

A token is refreshed when it has less than `REFRESH_MARGIN` seconds left, or when the Admin API answers
401. Only one process refreshes a shop at a time: the refresh runs under a Redis lock per shop, and
whoever waited for the lock re-reads the stored pair and uses it when it is newer than the one it had
(a refresh token is single use: refreshing twice would throw a pair away).

Where a shop's API lives: `api_base(shop)` is `https://{shop}`. Tests and the demo point new installs at
the store emulator by replacing the function in `app.extensions[API_BASE]` (a callable taking the
shop domain and returning a base URL); an installed shop keeps the base it was installed with in
`Shop.api_url` (empty for the real `https://{shop}`). Tokens and response bodies are never logged.
"""

from __future__ import annotations

import logging
import time

import requests

from plugin.db import AuditEntry, Shop
from plugin.errors import StoreAPIError, StoreAuthError, TransientStoreError

log = logging.getLogger(__name__)
API_BASE = "copydesk_shopify_api_base"
"""`app.extensions` key of the `api_base(shop) -> base URL` function (default `https://{shop}`)."""
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"
REFRESH_MARGIN = 300.0
"""Seconds: a token with less left than this is refreshed before it is used."""
LOCK_TIMEOUT = 30
"""Seconds a refresh lock is held at most (a crashed holder frees it)."""


class InvalidSubjectToken(StoreAuthError):
    """Shopify refused the session token (`invalid_subject_token`): ask App Bridge for a new one."""


def default_api_base(shop: str) -> str:
    return f"https://{shop}"


def base_of(shop: Shop) -> str:
    """The base URL of an installed shop's API: its override, or `https://{domain}`."""
    return (shop.api_url or default_api_base(shop.domain)).rstrip("/")


def _post(http: requests.Session, base: str, body: dict, timeout: float) -> dict:
    """POST /admin/oauth/access_token; the answer's JSON, or an error naming only the status and code."""
    url = f"{base.rstrip('/')}/admin/oauth/access_token"
    try:
        response = http.post(url, json=body, timeout=timeout, allow_redirects=False)
    except requests.RequestException as err:
        raise TransientStoreError(f"POST {url}: {type(err).__name__}") from None
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    if response.status_code >= 300 or not data.get("access_token"):
        code = str(data.get("error") or "")[:60]
        where = f"POST {url} answered {response.status_code} {code}".rstrip()
        if code == "invalid_subject_token":
            raise InvalidSubjectToken(where, status=response.status_code)
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientStoreError(where, status=response.status_code)
        if response.status_code in (400, 401, 403):
            raise StoreAuthError(where, status=response.status_code)
        raise StoreAPIError(where, status=response.status_code)
    return data


def credentials_from(data: dict, now: float | None = None) -> dict:
    """What we keep of an access_token answer: both tokens, their expiry (epoch seconds) and the scope."""
    now = time.time() if now is None else now
    creds = {"access_token": str(data["access_token"]), "scope": str(data.get("scope") or "")}
    if data.get("expires_in") is not None:
        creds["expires_at"] = now + float(data["expires_in"])
    if data.get("refresh_token"):
        creds["refresh_token"] = str(data["refresh_token"])
        if data.get("refresh_token_expires_in") is not None:
            creds["refresh_token_expires_at"] = now + float(data["refresh_token_expires_in"])
    return creds


def exchange_session_token(http, base: str, settings, session_token: str, timeout: float) -> dict:
    """Token exchange: a session token for an expiring offline access token (and its refresh token)."""
    return credentials_from(_post(http, base, {
        "client_id": settings.shopify_api_key, "client_secret": settings.shopify_api_secret,
        "grant_type": TOKEN_EXCHANGE, "subject_token": session_token, "subject_token_type": ID_TOKEN,
        "requested_token_type": OFFLINE_TOKEN, "expiring": "1"}, timeout))


def exchange_code(http, base: str, settings, code: str, timeout: float) -> dict:
    """Authorization-code grant, step 5: the code for an expiring offline token."""
    return credentials_from(_post(http, base, {
        "client_id": settings.shopify_api_key, "client_secret": settings.shopify_api_secret,
        "code": code, "expiring": "1"}, timeout))


def _refresh_call(http, base: str, settings, creds: dict, timeout: float) -> dict:
    fresh = credentials_from(_post(http, base, {
        "client_id": settings.shopify_api_key, "client_secret": settings.shopify_api_secret,
        "grant_type": "refresh_token", "refresh_token": creds["refresh_token"]}, timeout))
    fresh["scope"] = fresh.get("scope") or creds.get("scope", "")
    return fresh


def needs_refresh(creds: dict, now: float | None = None) -> bool:
    """True when the access token is expiring within REFRESH_MARGIN and a refresh token is at hand."""
    expires = creds.get("expires_at")
    if expires is None or not creds.get("refresh_token"):
        return False
    return float(expires) - (time.time() if now is None else now) < REFRESH_MARGIN


def lock_key(shop_id: int) -> str:
    return f"copydesk:shopify-refresh:{shop_id}"


def refresh(sessions, vault, conn, http, settings, shop_id: int, *, stale_token: str = "",
            timeout: float = 10.0) -> dict:
    """The shop's credentials with a usable access token, refreshing under the shop's Redis lock.

    `stale_token`: the access token the caller found expired or refused (401); when the stored token
    differs from it and is not expiring, another process has refreshed already and that pair is returned.
    """
    with conn.lock(lock_key(shop_id), timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT + 5):
        with sessions() as db:
            shop = db.get(Shop, shop_id)
            if shop is None or shop.uninstalled_at is not None:
                raise StoreAuthError(f"shop {shop_id} is not installed")
            creds = vault.open(shop.credentials)
            fresh_enough = not needs_refresh(creds)
            if creds.get("access_token") and creds["access_token"] != stale_token and fresh_enough:
                return creds  # someone refreshed while we waited, or it was never stale
            if not creds.get("refresh_token"):
                raise StoreAuthError(f"{shop.domain}: the access token was refused and there is no refresh token")
            new = _refresh_call(http, base_of(shop), settings, creds, timeout)
            shop.credentials = vault.seal({**creds, **new})  # one column, one commit: the pair together
            db.add(AuditEntry(shop_id=shop.id, actor="copydesk", action="shop.token_refreshed", detail={}))
            db.commit()
            log.info("refreshed the access token of %s", shop.domain)
            return {**creds, **new}


def usable_credentials(sessions, vault, conn, http, settings, shop: Shop, *, timeout: float = 10.0) -> dict:
    """The shop's decrypted credentials, refreshed first when the access token is about to expire."""
    creds = vault.open(shop.credentials)
    if needs_refresh(creds):
        return refresh(sessions, vault, conn, http, settings, shop.id, stale_token=creds["access_token"],
                       timeout=timeout)
    return creds


def refresher(sessions, vault, conn, http, settings, shop_id: int, timeout: float = 10.0):
    """A callable for an adapter: given the refused access token, the refreshed credentials."""
    def on_unauthorized(stale_token: str) -> dict:
        return refresh(sessions, vault, conn, http, settings, shop_id, stale_token=stale_token, timeout=timeout)
    return on_unauthorized


def install(db, vault, domain: str, creds: dict, api_url: str, actor: str) -> Shop:
    """Store a new install's credentials (sealed) and clear a previous uninstall."""
    from plugin.shops import add_shop

    creds = {**creds, "installed_at": time.time()}  # a late app/uninstalled of an older install is ignored
    return add_shop(db, vault, platform="shopify", domain=domain, credentials=creds,
                    api_url="" if api_url == default_api_base(domain) else api_url, actor=actor)
