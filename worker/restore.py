"""Restore: put copy back on the store, as a new approved draft published like any other.

`restore(ctx, shop_id, draft_id, version)` takes draft `draft_id`'s copy: "previous", the store's copy
that the draft replaced (for a product's first draft, its original, pre-Copydesk text), or "proposed",
the draft's own fields. It reads the product from the store, records a new `product_copy` draft of that
copy (approved by the staff member who asked, with the store's current copy as its `previous` and the
current product as its input), and publishes it through `worker.publish`, so the per-draft lock, the
own-write marker and the staleness check apply as for any publish.

Restoring "previous" puts back empty fields as empty (a product that had no description loses the one
Copydesk wrote): they are listed in the new draft's `checks["clear"]`, and publishing clears them.
Restoring "proposed" writes the draft's fields that have text, as its first publish did. Either way only
the shop's `write_fields` are written; `skip_existing` does not apply.

WooCommerce short descriptions are kept as the store's HTML in `previous`, while drafts hold plain text
that is written escaped in a paragraph: a restored short description is the old one's text.

Restore drafts take negative seeds, the next one free for the product, so that they never meet the
`uq_draft_input` constraint of a generated draft (seeds 0 and up) and are not counted as generated
(`monthly_cap`). The job's `request` token is kept in `checks["request"]`: when RQ runs the same job
again, it finds its draft and publishes that instead of making another.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from plugin.db import Draft
from plugin.drafts import transition
from plugin.jobs import RESTORE_VERSIONS
from plugin.platforms.base import COPY_FIELDS, CopyFields, html_to_text
from worker.context import Context
from worker.pipeline import adapter, load_shop
from worker.publish import mark_failed, publish_draft

log = logging.getLogger(__name__)
ATTEMPTS = 5
"""Tries at a free seed when concurrent restores of one product race for the same one."""


def restore(ctx: Context, shop_id: int, draft_id: int, version: str, *, actor: str, request: str = "") -> int | None:
    """Make and publish a restore draft of draft `draft_id`'s `version`; returns the new draft's id (its
    status says whether it was published), or None when the shop is not installed."""
    if version not in RESTORE_VERSIONS:
        raise ValueError(f"version must be one of {', '.join(RESTORE_VERSIONS)}, not {version!r}")
    with ctx.sessions() as db:
        source = db.get(Draft, draft_id)
        if source is None or source.shop_id != shop_id:
            raise LookupError(f"no draft {draft_id} in shop {shop_id}")
        if source.kind != "product_copy":
            raise ValueError(f"draft {draft_id} is {source.kind}, not product copy")
        if version == "previous" and not source.previous:
            raise ValueError(f"draft {draft_id} has no record of the copy it replaced")
        source = _detached(db, source)
        existing = find_request(db, shop_id, source.product_id, request)
    if existing is not None:  # this job ran before: publishing again is safe (lock, already-written check)
        publish_draft(ctx, existing, actor=actor)
        return existing
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        log.info("restore skipped: shop %s not installed", shop_id)
        return None
    product = adapter(ctx, loaded[0]).get_product(source.product_id)
    copy = restored_copy(source, version)
    clear = [f for f in COPY_FIELDS if not getattr(copy, f)] if version == "previous" else []
    new_id = _create(ctx, source, product, copy, version=version, clear=clear, actor=actor, request=request)
    status = publish_draft(ctx, new_id, actor=actor)
    log.info("restore of draft %s (%s) as draft %s: %s", draft_id, version, new_id, status)
    return new_id


def restored_copy(source: Draft, version: str) -> CopyFields:
    """The copy to put back. The store's short description is HTML; a draft's is plain text."""
    if version == "proposed":
        return CopyFields.from_dict(source.fields)
    previous = dict(source.previous)
    previous["short_description"] = html_to_text(str(previous.get("short_description") or ""))
    return CopyFields.from_dict(previous)


def _create(ctx: Context, source: Draft, product, copy: CopyFields, *, version: str, clear: list[str], actor: str,
            request: str) -> int:
    """Insert the approved restore draft with the next free negative seed of the product."""
    proposed = version == "proposed"
    for _ in range(ATTEMPTS):
        with ctx.sessions() as db:
            draft = Draft(
                shop_id=source.shop_id, kind="product_copy", product_id=source.product_id, status="pending",
                fields=copy.as_dict(), previous=product.copy.as_dict(), input_snapshot=product.snapshot(),
                input_hash=product.content_hash(), seed=next_seed(db, source.shop_id, source.product_id),
                model_id=source.model_id if proposed else "", model_revision=source.model_revision if proposed else "",
                adapter=source.adapter if proposed else "", prompt_version=source.prompt_version if proposed else "",
                checks={"restore_of": source.id, "version": version, "clear": clear, "request": request},
            )
            db.add(draft)
            try:
                db.flush()
            except IntegrityError:  # another restore of this product took the seed: take the next
                db.rollback()
                continue
            transition(db, draft, "approved", actor=actor, detail={"restore_of": source.id, "version": version})
            db.commit()
            return draft.id
    raise RuntimeError(f"could not find a free seed for a restore draft of product {source.product_id}")


def next_seed(db, shop_id: int, product_id: str) -> int:
    """One below the lowest seed of the product's drafts, and below zero."""
    lowest = db.scalar(select(func.min(Draft.seed)).where(Draft.shop_id == shop_id, Draft.kind == "product_copy",
                                                          Draft.product_id == product_id))
    return min(lowest or 0, 0) - 1


def find_request(db, shop_id: int, product_id: str, request: str) -> int | None:
    """The restore draft that the job with token `request` made, if it made one."""
    if not request:
        return None
    for draft_id, checks in db.execute(select(Draft.id, Draft.checks).where(
            Draft.shop_id == shop_id, Draft.kind == "product_copy", Draft.product_id == product_id,
            Draft.seed < 0)):
        if (checks or {}).get("request") == request:
            return draft_id
    return None


def failed(ctx: Context, shop_id: int, draft_id: int, request: str, reason: str) -> None:
    """A restore job gave up: its draft, if it made one, says why instead of staying approved."""
    with ctx.sessions() as db:
        source = db.get(Draft, draft_id)
        made = find_request(db, shop_id, source.product_id, request) if source is not None else None
    if made is not None:
        mark_failed(ctx, made, reason)


def _detached(db, draft: Draft) -> Draft:
    db.expunge(draft)
    return draft
