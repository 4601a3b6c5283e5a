"""RQ job entry points, enqueued by dotted name (`plugin.jobs`). Each is safe to run twice.

Transient store and database failures are retried by RQ (`worker.retry`); every other error raises into RQ's
failed registry with its traceback. Nothing here swallows an exception.
"""

from __future__ import annotations

import logging

from plugin.platforms.base import check_id
from worker import context
from worker.pipeline import adapter, generate_draft, load_shop, refresh_product
from worker.publish import mark_failed
from worker.publish import publish_draft as _publish
from worker.retry import retry_transient

log = logging.getLogger(__name__)


@retry_transient
def generate_copy(shop_id: int, product_id: str, *, trigger: str = "manual", seed: int | None = None,
                  note: str = ""):
    """A draft's id, None (shop or product gone), or a message when the shop's monthly cap stops it."""
    return generate_draft(context.get(), int(shop_id), check_id(product_id), trigger=trigger,
                          seed=None if seed is None else int(seed), note=str(note or ""))


@retry_transient
def product_updated(shop_id: int, product_id: str):
    return refresh_product(context.get(), int(shop_id), check_id(product_id))


@retry_transient
def publish_draft(draft_id: int, *, actor: str = "staff"):
    return _publish(context.get(), int(draft_id), actor=actor)


def publish_failed(job, connection, exc_type, exc_value, traceback):
    """RQ on_failure callback of publish jobs: the draft records why it was not published."""
    draft_id = int(job.args[0])
    mark_failed(context.get(), draft_id, f"publishing failed: {exc_type.__name__}: {exc_value}"[:500])


@retry_transient
def restore_copy(shop_id: int, draft_id: int, version: str, *, actor: str = "staff", request: str = ""):
    """Put back a draft's previous or proposed copy as a new published draft (`worker.restore`)."""
    from worker.restore import restore

    return restore(context.get(), int(shop_id), int(draft_id), str(version), actor=actor, request=str(request))


def restore_failed(job, connection, exc_type, exc_value, traceback):
    """RQ on_failure callback of restore jobs: the restore draft, if one was made, records why."""
    from worker.restore import failed

    failed(context.get(), int(job.args[0]), int(job.args[1]), str(job.kwargs.get("request") or ""),
           f"restore failed: {exc_type.__name__}: {exc_value}"[:500])


@retry_transient
def order_created(shop_id: int, order_id: str):
    """A follow-up draft for a new order (`worker.follow_up`), or why none is written."""
    from worker.follow_up import follow_up_order

    return follow_up_order(context.get(), int(shop_id), check_id(order_id))


@retry_transient
def regenerate_draft(shop_id: int, draft_id: int, *, note: str = "", seed: int | None = None):
    """Write a follow-up, answer or campaign draft again (product copy goes through `generate_copy`)."""
    from plugin.db import Draft

    ctx = context.get()
    with ctx.sessions() as db:
        draft = db.get(Draft, int(draft_id))
        if draft is None or draft.shop_id != int(shop_id):
            return "no such draft"
        kind = draft.kind
    seed = None if seed is None else int(seed)
    if kind == "order_follow_up":
        from worker.follow_up import regenerate
    elif kind == "answer":
        from worker.answers import regenerate
    elif kind == "campaign":
        from worker.campaigns import regenerate
    else:
        raise ValueError(f"draft {draft_id} is {kind}: regenerate it through generate_copy")
    return regenerate(ctx, int(draft_id), note=str(note or ""), seed=seed)


@retry_transient
def backfill_page(shop_id: int, run_id: str, page: int):
    from worker.backfill import run_page

    return run_page(context.get(), int(shop_id), str(run_id), int(page))


@retry_transient
def reconcile_shop(shop_id: int, *, since: str = ""):
    """Queue what the store's webhooks missed for one shop (`plugin.reconcile`); counts, or why not."""
    from plugin import reconcile

    ctx = context.get()
    loaded = load_shop(ctx, int(shop_id))
    if loaded is None:
        return "shop not installed"
    shop, settings = loaded
    return reconcile.run(ctx.redis, ctx.sessions, shop, settings, adapter(ctx, shop), since=str(since or ""),
                         job_timeout=ctx.settings.job_timeout)


def backfill_failed(job, connection, exc_type, exc_value, traceback):
    """RQ on_failure callback of backfill pages: the run stops as failed, with the reason, so that a new
    run can start (the failed job keeps its traceback in RQ's failed registry)."""
    from plugin import backfill

    backfill.fail(connection, int(job.args[0]), str(job.args[1]), f"{exc_type.__name__}: {exc_value}"[:500])
