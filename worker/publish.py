"""The publish pipeline: write an approved draft to the store, never over a person's later edit.

The product is re-read first. If it changed since the draft was made, the draft becomes `stale` with
the reason and nothing is written. The copy it replaces stays on the draft (`previous`) for restore.

What is written: the copy fields in the shop's `write_fields` that the platform stores and the draft has
text for (a restore draft also clears the fields whose restored value is empty, `checks["clear"]`);
with `skip_existing`, fields that already have content in the store are left alone (restores excepted:
they exist to put copy back). The audit entry lists the fields written.

Exactly once: a Redis lock per draft (expiring, so a killed worker does not hold it forever) keeps two
publish jobs for one draft from both writing, and a job retried after a write that did land (worker
killed, timeout after the store committed) finds the store already showing the draft's copy in the
fields it would write and records it as published instead of writing again. No database transaction is
held open across store calls.
"""

from __future__ import annotations

import html
import logging

from plugin.db import Draft
from plugin.drafts import supersede_pending, transition
from plugin.errors import ProductNotFound, StoreAPIError, TransientStoreError
from plugin.jobs import PREFIX, own_write_key
from plugin.platforms.base import COPY_FIELDS, CopyFields, html_to_text, text_digest
from worker import held_locks
from worker.context import Context
from worker.pipeline import adapter, changed_fields, load_shop, remember_product

log = logging.getLogger(__name__)
OWN_WRITE_TTL = 24 * 3600


def publish_draft(ctx: Context, draft_id: int, *, actor: str) -> str:
    lock = ctx.redis.lock(f"{PREFIX}:publishing:{draft_id}", timeout=ctx.settings.job_timeout, blocking=False)
    if not lock.acquire():
        return "another job is publishing this draft"
    held_locks.remember(lock)
    try:
        with ctx.sessions() as db:
            draft = db.get(Draft, draft_id)
            kind = draft.kind if draft is not None else "product_copy"
        if kind == "order_follow_up":
            from worker.follow_up import publish_follow_up

            return publish_follow_up(ctx, draft_id, actor=actor)
        if kind == "answer":
            from worker.answers import deliver_answer

            return deliver_answer(ctx, draft_id, actor=actor)
        if kind != "product_copy":
            return f"not published: {kind} drafts are exported by staff, not sent"
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
        checks = dict(draft.checks or {})
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return _finish(ctx, draft_id, "failed", actor, reason="the shop is not installed")
    shop, settings = loaded
    store = adapter(ctx, shop)
    restore = "restore_of" in checks
    wanted = fields_wanted(copy, settings["write_fields"], store.copy_fields,
                           clear=checks.get("clear", []) if restore else [])
    try:
        current = store.get_product(product_id)
        shown = [f for f in wanted if shows(current.copy, copy, f)]
        skipped = [f for f in wanted if f not in shown and not restore and settings["skip_existing"]
                   and has_content(current.copy, f)]
        to_write = [f for f in wanted if f not in shown and f not in skipped]
        if not to_write and shown:
            return _finish(ctx, draft_id, "published", actor, detail={
                "note": "store already showed this copy", "fields": [], **({"skipped": skipped} if skipped else {})})
        if current.content_hash() != input_hash:
            changed = changed_fields(snapshot, current.snapshot())
            return _finish(ctx, draft_id, "stale", actor, product=current,
                           reason=f"not published: the product changed in the store after this draft was made "
                                  f"({changed}); regenerate or edit it")
        if not to_write:
            return _finish(ctx, draft_id, "failed", actor, reason=_nothing_to_write(skipped, settings))
        # Mark the write as ours before making it: the store's update webhook can beat our response. The
        # marker is the description the store will show, whether or not this write changes it.
        shown_after = copy.description_html if "description_html" in to_write else current.description_html
        ctx.redis.set(own_write_key(shop_id, product_id), text_digest(shown_after), ex=OWN_WRITE_TTL)
        store.update_copy(product_id, copy, to_write)
    except ProductNotFound:
        return _finish(ctx, draft_id, "failed", actor, reason="the product no longer exists in the store")
    except TransientStoreError:
        raise  # RQ retries; the draft stays approved (publish_failed marks it if retries run out)
    except StoreAPIError as err:  # not worth retrying: say so on the draft, and fail the job
        _finish(ctx, draft_id, "failed", actor, reason=f"the store refused the copy: {err}")
        raise
    return _finish(ctx, draft_id, "published", actor, previous=current.copy.as_dict(),
                   detail={"fields": to_write, **({"skipped": skipped} if skipped else {})})


def fields_wanted(copy: CopyFields, write_fields, platform_fields, *, clear=()) -> list[str]:
    """The copy fields a publish may write, in COPY_FIELDS order: in the shop's `write_fields`, kept by the
    platform, and with text in the draft, or named in `clear` (a restore putting back an empty field)."""
    return [f for f in COPY_FIELDS if f in write_fields and f in platform_fields
            and (getattr(copy, f) or f in clear)]


def shows(current: CopyFields, copy: CopyFields, name: str) -> bool:
    """Whether the store already shows `copy`'s value of field `name`. Descriptions compare by visible text
    (stores rewrite markup); a short description is written escaped in a paragraph (WooCommerce)."""
    have, want = getattr(current, name), getattr(copy, name)
    if name == "description_html":
        return text_digest(have) == text_digest(want)
    if name == "short_description":
        return text_digest(have) == text_digest(html.escape(want))
    return " ".join(have.split()) == " ".join(want.split())


def has_content(current: CopyFields, name: str) -> bool:
    value = getattr(current, name)
    return bool(html_to_text(value) if name in ("description_html", "short_description") else value.strip())


def _nothing_to_write(skipped: list[str], settings: dict) -> str:
    if skipped:
        return (f"nothing written: the store already has copy in {', '.join(skipped)} and the shop's "
                "skip_existing setting keeps it; turn it off and approve again to replace it")
    return (f"nothing written: the draft has no copy for the fields this shop writes "
            f"({', '.join(settings['write_fields'])})")


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
