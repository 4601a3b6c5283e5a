"""The publish pipeline: write an approved draft to the store, never over a person's later edit.

The product is re-read first. If it changed since the draft was made, the draft becomes `stale` with
the reason and nothing is written. The copy it replaces stays on the draft (`previous`) for restore.

Exactly once: a Redis lock per draft (expiring, so a killed worker does not hold it forever) keeps two
publish jobs for one draft from both writing, and a job retried after a write that did land (worker
killed, timeout after the store committed) finds the store already showing the draft's copy and
records it as published instead of writing again. No database transaction is held open across store
calls.
"""

from __future__ import annotations

import logging

from plugin.db import Draft
from plugin.drafts import supersede_pending, transition
from plugin.errors import ProductNotFound, StoreAPIError, TransientStoreError
from plugin.jobs import PREFIX, own_write_key
from plugin.platforms.base import CopyFields, text_digest
from worker.context import Context
from worker.pipeline import adapter, changed_fields, load_shop, remember_product

log = logging.getLogger(__name__)
OWN_WRITE_TTL = 24 * 3600


def publish_draft(ctx: Context, draft_id: int, *, actor: str) -> str:
    lock = ctx.redis.lock(f"{PREFIX}:publishing:{draft_id}", timeout=ctx.settings.job_timeout, blocking=False)
    if not lock.acquire():
        return "another job is publishing this draft"
    try:
        return _publish(ctx, draft_id, actor)
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired or lost with Redis: the timeout frees it anyway
            log.warning("publish lock for draft %s was already released", draft_id)


def _publish(ctx: Context, draft_id: int, actor: str) -> str:
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None:
            return "no such draft"
        if draft.status != "approved":
            return f"not published: draft is {draft.status}"
        shop_id, product_id, input_hash = draft.shop_id, draft.product_id, draft.input_hash
        snapshot, copy = dict(draft.input_snapshot), CopyFields.from_dict(draft.fields)
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return _finish(ctx, draft_id, "failed", actor, reason="the shop is not installed")
    store = adapter(ctx, loaded[0])
    try:
        current = store.get_product(product_id)
        if _already_written(current.copy, copy):
            return _finish(ctx, draft_id, "published", actor, detail={"note": "store already showed this copy"})
        if current.content_hash() != input_hash:
            changed = changed_fields(snapshot, current.snapshot())
            return _finish(ctx, draft_id, "stale", actor, product=current,
                           reason=f"not published: the product changed in the store after this draft was made "
                                  f"({changed}); regenerate or edit it")
        # Mark the write as ours before making it: the store's update webhook can beat our response.
        ctx.redis.set(own_write_key(shop_id, product_id), text_digest(copy.description_html), ex=OWN_WRITE_TTL)
        store.update_copy(product_id, copy)
    except ProductNotFound:
        return _finish(ctx, draft_id, "failed", actor, reason="the product no longer exists in the store")
    except TransientStoreError:
        raise  # RQ retries; the draft stays approved (publish_failed marks it if retries run out)
    except StoreAPIError as err:  # not worth retrying: say so on the draft, and fail the job
        _finish(ctx, draft_id, "failed", actor, reason=f"the store refused the copy: {err}")
        raise
    return _finish(ctx, draft_id, "published", actor, previous=current.copy.as_dict(),
                   detail={"fields": [k for k, v in copy.as_dict().items() if v]})


def _finish(ctx: Context, draft_id: int, status: str, actor: str, *, reason: str = "", detail: dict | None = None,
            previous: dict | None = None, product=None) -> str:
    """Record the outcome in one transaction: status, audit entry, and what follows from it."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if previous is not None:
            draft.previous = previous
        transition(db, draft, status, actor=actor, reason=reason, detail=detail)
        if status == "published":
            supersede_pending(db, shop_id=draft.shop_id, product_id=draft.product_id, keep=draft.id,
                              reason=f"draft {draft.id} was published", actor=actor)
        if product is not None:
            remember_product(db, draft.shop_id, product)
        db.commit()
    log.info("draft %s %s", draft_id, status)
    return status


def mark_failed(ctx: Context, draft_id: int, reason: str) -> None:
    """A publish job gave up (retries exhausted): the draft says so instead of staying approved."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is not None and draft.status == "approved":
            transition(db, draft, "failed", actor="worker", reason=reason)
            db.commit()


def _already_written(current: CopyFields, copy: CopyFields) -> bool:
    if not copy.description_html:
        return False
    return (text_digest(current.description_html) == text_digest(copy.description_html)
            and (not copy.seo_title or current.seo_title == copy.seo_title))
