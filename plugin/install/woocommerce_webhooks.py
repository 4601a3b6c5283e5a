"""Copydesk's own webhooks on a connected WooCommerce store: create, check and repair, delete.

Each of our webhooks (`TOPICS`) has its own random alphanumeric secret, made by Copydesk (platforms.md
2.1: a secret WooCommerce makes up has special characters and is never shown). Ids and secrets live in
the shop's encrypted credentials under `webhooks`: `{topic: {"id": N | None, "secret": "..."}}`.
WooCommerce never retries a delivery and disables a webhook once `failure_count > 5`, so `check_shop`
(run by `copydesk woocommerce check-webhooks` from a timer, or as an RQ job) re-enables disabled ones
and recreates deleted ones. A webhook the merchant paused is left paused and reported.

Every function takes `env`: anything with `sessions`, `vault`, `http`, `redis` and `settings` (the
worker's `Context` is one; `Env` builds one elsewhere). Secrets, keys and bodies are never logged.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
from dataclasses import dataclass

import redis
import requests
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from plugin.crypto import Vault
from plugin.db import AuditEntry, Shop, utcnow
from plugin.errors import StoreAPIError
from plugin.platforms.http import send
from plugin.platforms.woocommerce import TOPICS, WooCommerceAdapter
from plugin.settings import Settings

log = logging.getLogger(__name__)
SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
HEALTH_PREFIX = "copydesk:wc-webhooks"
ACTOR = "woocommerce-check"
PAGE = 100


@dataclass
class Env:
    settings: Settings
    sessions: sessionmaker
    vault: Vault
    http: requests.Session
    redis: redis.Redis


def new_secret() -> str:
    """A webhook secret of letters and digits only (nothing WordPress could HTML-escape)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def planned_webhooks() -> dict:
    """The `webhooks` credential of a freshly connected store: a secret per topic, no ids yet."""
    return {topic: {"id": None, "secret": new_secret()} for topic in TOPICS}


def delivery_url(settings: Settings) -> str:
    return settings.app_url.rstrip("/") + "/webhooks/woocommerce"


class WebhookAPI:
    """`/wp-json/wc/v3/webhooks` of one store, authenticated like the REST adapter."""

    def __init__(self, env, shop: Shop, credentials: dict):
        self._adapter = WooCommerceAdapter(domain=shop.domain, api_url=shop.api_url, credentials=credentials,
                                           settings={}, session=env.http, timeout=env.settings.http_timeout)

    def _call(self, method: str, path: str, **kwargs):
        adapter = self._adapter
        response = send(adapter.session, method, f"{adapter.base}/{path}", timeout=adapter.timeout,
                        auth=adapter.auth, **kwargs)
        if response.status_code == 404:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise StoreAPIError(f"{method} {path.split('?')[0]}: the store did not answer JSON") from err

    def list(self) -> list[dict]:
        found: list[dict] = []
        for page in range(1, 21):
            batch = self._call("GET", "webhooks", params={"per_page": PAGE, "page": page})
            if not isinstance(batch, list):
                raise StoreAPIError("GET webhooks: the store did not answer a list")
            found += [h for h in batch if isinstance(h, dict)]
            if len(batch) < PAGE:
                break
        return found

    def create(self, topic: str, url: str, secret: str) -> dict:
        hook = self._call("POST", "webhooks", json={"name": f"Copydesk {topic}", "topic": topic,
                                                    "delivery_url": url, "secret": secret, "status": "active"})
        if not isinstance(hook, dict) or "id" not in hook:
            raise StoreAPIError(f"POST webhooks ({topic}): no webhook in the answer")
        return hook

    def update(self, hook_id: int, **fields) -> dict | None:
        return self._call("PUT", f"webhooks/{int(hook_id)}", json=fields)

    def delete(self, hook_id: int) -> bool:
        """DELETE with force=true (WooCommerce webhooks cannot be trashed); False when already gone."""
        return self._call("DELETE", f"webhooks/{int(hook_id)}", params={"force": "true"}) is not None


def _load(env, shop_id: int) -> tuple[Shop, dict] | None:
    with env.sessions() as db:
        shop = db.get(Shop, int(shop_id))
        if shop is None or shop.platform != "woocommerce" or shop.uninstalled_at is not None:
            return None
        db.expunge(shop)
    return shop, env.vault.open(shop.credentials)


def _save(env, shop_id: int, credentials: dict, action: str, detail: dict) -> None:
    """Store the new credentials (sealed) with an audit entry, unless the shop left meanwhile."""
    with env.sessions() as db:
        shop = db.get(Shop, int(shop_id))
        if shop is None or shop.uninstalled_at is not None:
            return
        shop.credentials = env.vault.seal(credentials)
        db.add(AuditEntry(shop_id=shop.id, actor=ACTOR, action=action, detail=detail))
        db.commit()


def register(env, shop_id: int) -> dict:
    """Create our webhooks on the store (or adopt ones already pointing at us); safe to run twice.

    A webhook of ours that exists without a recorded id (a run that died between create and save) gets
    our secret and `active` again by PUT, rather than a second webhook on the same topic."""
    loaded = _load(env, shop_id)
    if loaded is None:
        return {"status": "shop not connected"}
    shop, credentials = loaded
    ours = credentials.get("webhooks") or planned_webhooks()
    api, url = WebhookAPI(env, shop, credentials), delivery_url(env.settings)
    existing = {int(h["id"]): h for h in api.list() if "id" in h}
    done = {}
    for topic in TOPICS:
        entry = ours.setdefault(topic, {"id": None, "secret": new_secret()})
        if entry.get("id") in existing and existing[entry["id"]].get("delivery_url") == url:
            done[topic] = "kept"
            continue
        stray = next((h for h in existing.values() if h.get("topic") == topic and h.get("delivery_url") == url), None)
        if stray is not None:
            api.update(stray["id"], secret=entry["secret"], status="active")
            entry["id"], done[topic] = int(stray["id"]), "adopted"
        else:
            entry["id"], done[topic] = int(api.create(topic, url, entry["secret"])["id"]), "created"
        log.info("woocommerce webhook %s on %s: %s (id %s)", topic, shop.domain, done[topic], entry["id"])
    credentials["webhooks"] = ours
    _save(env, shop.id, credentials, "woocommerce.webhooks_registered",
          {t: {"id": ours[t]["id"], "result": r} for t, r in done.items()})
    for topic in TOPICS:
        record_health(env.redis, shop.id, topic, webhook_id=ours[topic]["id"], status="active", fixed=False)
    return {"status": "ok", "webhooks": done}


def check_shop(env, shop_id: int) -> dict:
    """Re-enable our disabled webhooks and recreate deleted ones; returns {topic: what happened}."""
    loaded = _load(env, shop_id)
    if loaded is None:
        return {}
    shop, credentials = loaded
    ours = credentials.get("webhooks")
    if not ours:
        return {}  # connected with keys by hand (`copydesk shop add`): its webhooks are not ours to manage
    api, url = WebhookAPI(env, shop, credentials), delivery_url(env.settings)
    existing = {int(h["id"]): h for h in api.list() if "id" in h}
    results, fixes = {}, {}
    for topic, entry in ours.items():
        hook = existing.get(entry.get("id") or -1)
        if hook is None or hook.get("delivery_url") != url:
            entry["id"] = int(api.create(topic, url, entry["secret"])["id"])
            results[topic] = fixes[topic] = "recreated"
            status = "active"
        elif hook.get("status") == "disabled":
            api.update(entry["id"], status="active")
            results[topic] = fixes[topic] = "re-enabled"
            status = "active"
        else:
            status = str(hook.get("status") or "unknown")
            results[topic] = status  # "active", or "paused" by the merchant: left as it is
        record_health(env.redis, shop.id, topic, webhook_id=entry["id"], status=status, fixed=topic in fixes)
        if topic in fixes:
            log.warning("woocommerce webhook %s on %s was %s", topic, shop.domain,
                        "deleted" if fixes[topic] == "recreated" else "disabled by WooCommerce")
    if fixes:
        credentials["webhooks"] = ours
        _save(env, shop.id, credentials, "woocommerce.webhooks_repaired",
              {t: {"id": ours[t]["id"], "result": r} for t, r in fixes.items()})
    return results


def check_all(env) -> dict[str, dict]:
    """`check_shop` for every connected WooCommerce store; a store that fails is reported, not fatal."""
    with env.sessions() as db:
        shops = list(db.execute(select(Shop.id, Shop.domain).where(
            Shop.platform == "woocommerce", Shop.uninstalled_at.is_(None))))
    report = {}
    for shop_id, domain in shops:
        try:
            report[domain] = check_shop(env, shop_id)
        except StoreAPIError as err:
            log.warning("checking webhooks of %s failed: %s", domain, err)
            report[domain] = {"error": str(err)}
    return report


def disconnect(env, shop_id: int, actor: str) -> dict:
    """Delete our webhooks from the store, wipe the stored keys and mark the shop uninstalled.

    The keys are wiped even when the store cannot be reached (the merchant asked us to leave); the
    webhooks that could not be deleted are named in the audit entry and the result."""
    with env.sessions() as db:
        shop = db.get(Shop, int(shop_id))
        if shop is None or shop.platform != "woocommerce":
            raise ValueError(f"no WooCommerce store with id {shop_id}")
        if shop.uninstalled_at is not None:
            return {"status": "already disconnected"}
        credentials = env.vault.open(shop.credentials)
        api = WebhookAPI(env, shop, credentials)
        deleted, failed = [], []
        for topic, entry in (credentials.get("webhooks") or {}).items():
            if not entry.get("id"):
                continue
            try:
                api.delete(entry["id"])
                deleted.append(topic)
            except StoreAPIError as err:
                log.warning("could not delete webhook %s of %s: %s", topic, shop.domain, err)
                failed.append(topic)
        shop.credentials = env.vault.seal({})
        shop.uninstalled_at = utcnow()
        db.add(AuditEntry(shop_id=shop.id, actor=actor, action="woocommerce.disconnected",
                          detail={"webhooks_deleted": deleted, "webhooks_not_deleted": failed}))
        db.commit()
        domain = shop.domain
    env.redis.delete(_health_key(shop_id))
    log.info("woocommerce store %s disconnected (%d webhooks deleted)", domain, len(deleted))
    return {"status": "disconnected", "deleted": deleted, "not_deleted": failed}


def _health_key(shop_id: int) -> str:
    return f"{HEALTH_PREFIX}:{int(shop_id)}"


def record_health(conn: redis.Redis, shop_id: int, topic: str, *, webhook_id, status: str, fixed: bool) -> None:
    key = _health_key(shop_id)
    now = utcnow().strftime("%Y-%m-%d %H:%M:%S UTC")
    old = conn.hget(key, topic)
    row = json.loads(old) if old else {}
    row.update(topic=topic, id=webhook_id, status=status, checked_at=now)
    if fixed:
        row["fixed_at"] = now
    conn.hset(key, topic, json.dumps(row))


def health(conn: redis.Redis, shop_id: int) -> list[dict]:
    """Our webhooks' last known state for the panel: topic, id, status, checked_at, fixed_at."""
    rows = [json.loads(v) for v in conn.hgetall(_health_key(shop_id)).values()]
    return sorted(rows, key=lambda r: r.get("topic", ""))


# RQ entry points (queued by dotted name; they run in the worker, whose context holds the connections)

def register_job(shop_id: int):
    """Create the webhooks of a just-connected store; a transient store failure is retried by RQ."""
    from worker import context
    from worker.retry import retry_transient

    return retry_transient(register)(context.get(), int(shop_id))


def check_job(shop_id: int | None = None):
    """`check_shop` for one store, or `check_all` without a shop id."""
    from worker import context
    from worker.retry import retry_transient

    ctx = context.get()
    if shop_id is None:
        return check_all(ctx)
    return retry_transient(check_shop)(ctx, int(shop_id))
