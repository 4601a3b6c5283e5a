"""One page of a catalogue backfill: fetch it through the shop's adapter, pick the products that need copy,
and commit the page (generate jobs, counters, cursor, next page) in one transaction (`plugin.backfill`).

The fetch is paced by the shop's rate-limit bucket like every other store call; a transient store error
raises out of here and `worker.tasks.backfill_page` has RQ retry the page later. Products that already
have a pending, approved or published draft are skipped, so a second run queues nothing twice.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from plugin import backfill
from plugin.db import Draft
from worker.context import Context
from worker.pipeline import adapter, load_shop

log = logging.getLogger(__name__)
DRAFTED = ("pending", "approved", "published")
"""Draft statuses that mean a product needs no new draft."""


def run_page(ctx: Context, shop_id: int, run_id: str, page: int) -> str:
    state = backfill.status(ctx.redis, shop_id)
    why_not = backfill.page_due(state, run_id, page)
    if why_not:
        log.info("backfill shop %s run %s page %s not run: %s", shop_id, run_id, page, why_not)
        return f"skipped: {why_not}"
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        backfill.fail(ctx.redis, shop_id, run_id, "the shop is not installed")
        return "failed: shop not installed"
    shop, _settings = loaded
    products, following = adapter(ctx, shop).list_products(state["cursor"] or None, state["page_size"])
    wanted = products if state["all"] else [p for p in products if not p.has_copy]
    drafted = drafted_products(ctx, shop_id, [p.id for p in wanted])
    fresh = [p.id for p in wanted if p.id not in drafted]
    after = backfill.commit_page(
        ctx.redis, shop_id, run_id, page, cursor=following, seen=len(products), fresh=fresh,
        skipped_has_copy=len(products) - len(wanted), skipped_drafted=len(wanted) - len(fresh),
    )
    log.info("backfill shop %s page %s: %s", shop_id, page, backfill.describe(after) if after else "no state")
    return after["state"] if after else "gone"


def drafted_products(ctx: Context, shop_id: int, product_ids: list[str]) -> set[str]:
    """Which of `product_ids` already have a draft waiting, approved or published."""
    if not product_ids:
        return set()
    with ctx.sessions() as db:
        return set(db.scalars(select(Draft.product_id).where(
            Draft.shop_id == shop_id, Draft.kind == "product_copy", Draft.product_id.in_(product_ids),
            Draft.status.in_(DRAFTED))))
