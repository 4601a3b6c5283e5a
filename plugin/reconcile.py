"""Reconciliation: queue what the stores' webhooks missed, without queuing again what was handled.

WooCommerce never retries a failed delivery and Shopify gives up after 8 tries (platforms.md 1.1, 2.1), so
a timer (`copydesk reconcile`, every 15 minutes) queues one `worker.tasks.reconcile_shop` job per active
shop. The job lists the products changed since the shop's watermark minus OVERLAP (or, before its first
run, since the last accepted product webhook minus OVERLAP, or since the shop was connected) through the
store's API, and compares each with what Copydesk last saw (`ProductState.content_hash`):

- a product Copydesk never saw and never drafted gets a generate job, if the shop's `generate_on_create`
  is on (as its `product.created` webhook would have);
- a product whose content changed gets a `product_updated` job;
- a product already seen with the same content, or with a generate or product-updated job waiting (its
  webhook arrived and is being handled), or whose WooCommerce delivery was accepted, is left alone.

Jobs get ids derived from the product's content hash, so a second run before the worker drains queues
nothing new. The watermark (the time the listing started) is written only after every page was queued.
No Flask and no worker imports here: `worker/tasks.py` supplies the store adapter.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import redis
from rq import Queue
from rq.registry import ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import select

from plugin import jobs
from plugin.db import Draft, ProductState

log = logging.getLogger(__name__)
OVERLAP = timedelta(minutes=10)
"""Looked back past the watermark: store clocks and listing order are not exact."""
PAGE_SIZE = 50
TRIGGER = "reconcile"
DRAFTED = ("pending", "approved", "published")


def watermark_key(shop_id: int) -> str:
    return f"{jobs.PREFIX}:reconcile:{int(shop_id)}"


def last_event_key(shop_id: int) -> str:
    """ISO time of the shop's last accepted product webhook (set by `plugin.webhooks`)."""
    return f"{jobs.PREFIX}:last-product-event:{int(shop_id)}"


def parse_time(text: str) -> datetime:
    """An ISO time; without a zone it is read as UTC. ValueError names the bad value."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an ISO time: {text!r} (e.g. 2026-01-31T12:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stored(conn: redis.Redis, key: str) -> datetime | None:
    raw = conn.get(key)
    return parse_time(raw.decode()) if raw else None


def _aware(when: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC times."""
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


def since_for(conn: redis.Redis, shop_id: int, connected_at: datetime | None, since: str = "") -> datetime | None:
    """Where a run starts: `since` when given; else the watermark or the last product event, minus
    OVERLAP, but never before the shop was connected (products last changed before that are `copydesk
    backfill`'s job); else when the shop was connected."""
    if since:
        return parse_time(since)
    connected_at = _aware(connected_at)
    mark = _stored(conn, watermark_key(shop_id)) or _stored(conn, last_event_key(shop_id))
    if mark is None:
        return connected_at
    return max(mark - OVERLAP, connected_at) if connected_at is not None else mark - OVERLAP


def _created_since(product, connected_at: datetime | None) -> bool:
    """Whether the store made the product after the shop was connected (unknown: assume so)."""
    if not product.created_at or connected_at is None:
        return True
    try:
        return parse_time(product.created_at) >= connected_at.replace(microsecond=0)
    except ValueError:
        return True


def enqueue(conn: redis.Redis, shop_id: int, *, since: str = "", job_timeout: int = 900):
    """Queue `worker.tasks.reconcile_shop` for a shop; None when one is already waiting or running."""
    if since:
        parse_time(since)
    job_id = f"reconcile-{int(shop_id)}"
    if job_id in _waiting(conn, jobs.DEFAULT):
        return None
    return jobs.queue(conn, jobs.DEFAULT, job_timeout).enqueue(
        "worker.tasks.reconcile_shop", int(shop_id), since=since, job_id=job_id, meta={"shop_id": int(shop_id)},
        result_ttl=jobs.RESULT_TTL, failure_ttl=jobs.FAILURE_TTL, description=f"reconcile shop={shop_id}",
    )


def _waiting(conn: redis.Redis, name: str) -> set[str]:
    """Ids of the jobs queued, running or scheduled for a retry on queue `name`."""
    q = Queue(name, connection=conn)
    return {*q.get_job_ids(), *StartedJobRegistry(queue=q).get_job_ids(),
            *ScheduledJobRegistry(queue=q).get_job_ids()}


def pending_products(conn: redis.Redis, shop_id: int) -> dict[str, set[str]]:
    """Product ids with a generate or product-updated job waiting or running, per kind (job ids are
    `generate-{shop}-{product}-...` and `product-updated-{shop}-{product}-...`, `plugin.jobs`)."""
    found: dict[str, set[str]] = {"generate": set(), "product-updated": set()}
    for name in (jobs.GENERATE, jobs.DEFAULT):
        for job_id in _waiting(conn, name):
            for kind in found:
                prefix = f"{kind}-{int(shop_id)}-"
                if job_id.startswith(prefix):
                    found[kind].add(job_id[len(prefix):].rsplit("-", 1)[0])
    return found


def _webhook_seen(conn: redis.Redis, shop, product) -> bool:
    """WooCommerce only: whether this very version's delivery was accepted (its dedupe key is rebuilt from
    the store, topic, id and `date_modified_gmt`; Shopify's key is a delivery id we cannot know)."""
    if shop.platform != "woocommerce" or not product.updated_at:
        return False
    return any(conn.exists(jobs.delivery_key("woocommerce", f"{shop.domain}|{topic}|{product.id}|"
                                                            f"{product.updated_at}"))
               for topic in ("product.created", "product.updated"))


def plan_page(db, conn: redis.Redis, shop, shop_settings: dict, products, pending: dict[str, set[str]]) -> list:
    """(action, product, content hash) for a page: action is "generate" or "updated"; the rest is skipped."""
    ids = [p.id for p in products]
    states = {s.product_id: s.content_hash for s in db.scalars(select(ProductState).where(
        ProductState.shop_id == shop.id, ProductState.product_id.in_(ids)))}
    drafted = set(db.scalars(select(Draft.product_id).where(
        Draft.shop_id == shop.id, Draft.kind == "product_copy", Draft.product_id.in_(ids),
        Draft.status.in_(DRAFTED))))
    plan = []
    for product in products:
        digest = product.content_hash()
        known = states.get(product.id)
        if known == digest or product.id in pending["generate"] | pending["product-updated"]:
            continue
        if _webhook_seen(conn, shop, product):
            continue
        if known is None and product.id in drafted:
            continue
        if known is None and _created_since(product, _aware(shop.created_at)):
            if shop_settings["generate_on_create"]:  # what its product.created webhook would have done
                plan.append(("generate", product.id, digest))
        else:  # changed, or an older product changed that Copydesk never saw: as product.updated would
            plan.append(("updated", product.id, digest))
    return plan


def queue_plan(conn: redis.Redis, shop_id: int, plan: list, job_timeout: int) -> None:
    """Queue a page's jobs in one MULTI/EXEC: all of them or none."""
    with conn.pipeline(transaction=True) as pipe:
        for action, product_id, digest in plan:
            delivery = f"{TRIGGER}:{product_id}:{digest}"
            if action == "generate":
                jobs.enqueue_generate(conn, shop_id, product_id, trigger=TRIGGER, delivery=delivery,
                                      job_timeout=job_timeout, pipeline=pipe)
            else:
                jobs.enqueue_product_updated(conn, shop_id, product_id, delivery=delivery, pipeline=pipe)
        pipe.execute()


def run(conn: redis.Redis, sessions, shop, shop_settings: dict, store, *, since: str = "",
        job_timeout: int = 900, page_size: int = PAGE_SIZE) -> dict:
    """One reconcile of `shop` through its adapter `store`; returns counts. Advances the watermark last."""
    started = datetime.now(UTC)
    start = since_for(conn, shop.id, shop.created_at, since)
    pending = pending_products(conn, shop.id)
    counts = {"since": start.isoformat() if start else "", "seen": 0, "generate": 0, "updated": 0}
    cursor = None
    while True:
        products, cursor = store.list_products(cursor, page_size, updated_since=start)
        with sessions() as db:
            plan = plan_page(db, conn, shop, shop_settings, products, pending)
        queue_plan(conn, shop.id, plan, job_timeout)
        counts["seen"] += len(products)
        for action, product_id, _digest in plan:
            counts[action] += 1
            pending["generate" if action == "generate" else "product-updated"].add(product_id)
        if cursor is None:
            break
    conn.set(watermark_key(shop.id), started.isoformat())
    log.info("reconcile shop %s since %s: %s seen, %s generate, %s updated", shop.id, counts["since"] or "-",
             counts["seen"], counts["generate"], counts["updated"])
    return counts


def command(settings, args) -> int:
    """`copydesk reconcile [--shop D] [--since ISO]`: queue a reconcile job per active shop."""
    from plugin import shops
    from plugin.commands import open_session
    from plugin.redis_server import connect

    with open_session(settings) as db:
        targets = [shops.get_shop(db, args.shop)] if args.shop else shops.list_shops(db)
    conn = connect(settings.redis_url, settings.instance_path)
    for shop in targets:
        if shop.uninstalled_at is not None:
            print(f"{shop.domain}: uninstalled, skipped")
            continue
        job = enqueue(conn, shop.id, since=args.since, job_timeout=settings.job_timeout)
        print(f"{shop.domain}: " + (f"reconcile queued (job {job.id})" if job else "a reconcile is already queued"))
    return 0
