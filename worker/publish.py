"""The publish pipeline: write an approved draft to the store, never over a person's later edit.

The product is re-read first. If it changed since the draft was made, the draft becomes `stale` with
the reason and nothing is written. The copy it replaces stays on the draft (`previous`) for restore.
A job retried after a write that did land (worker killed, timeout after the store committed) finds
the store already showing the draft's copy and records it as published instead of writing twice.
"""

from __future__ import annotations

import logging

from plugin.db import Draft
from plugin.drafts import supersede_pending, transition
from plugin.errors import ProductNotFound, StoreAPIError, TransientStoreError
from plugin.jobs import own_write_key
from plugin.platforms.base import CopyFields, copy_digest
from worker.context import Context
from worker.pipeline import adapter, changed_fields, load_shop, remember_product

log = logging.getLogger(__name__)
OWN_WRITE_TTL = 24 * 3600


def publish_draft(ctx: Context, draft_id: int, *, actor: str) -> str:
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None:
            return "no such draft"
        if draft.status == "published":
            return "already published"
        if draft.status != "approved":
            return f"not published: draft is {draft.status}"
        loaded = load_shop(ctx, draft.shop_id)
        if loaded is None:
            transition(db, draft, "failed", actor=actor, reason="the shop is not installed")
            db.commit()
            return "shop not installed"
        store = adapter(ctx, loaded[0])
        copy = CopyFields.from_dict(draft.fields)
        try:
            current = store.get_product(draft.product_id)
        except ProductNotFound:
            transition(db, draft, "failed", actor=actor, reason="the product no longer exists in the store")
            db.commit()
            return "product gone"
        if _already_written(current.copy, copy):
            transition(db, draft, "published", actor=actor, detail={"note": "store already showed this copy"})
            db.commit()
            return "published (already in store)"
        if current.content_hash() != draft.input_hash:
            changed = changed_fields(draft.input_snapshot, current.snapshot())
            transition(db, draft, "stale", actor=actor,
                       reason=f"not published: the product changed in the store after this draft was made "
                              f"({changed}); regenerate or edit it")
            remember_product(db, draft.shop_id, current)
            db.commit()
            return "stale"
        # Mark the write as ours before making it: the store's update webhook can beat our response.
        ctx.redis.set(own_write_key(draft.shop_id, draft.product_id), copy_digest(copy.description_html),
                      ex=OWN_WRITE_TTL)
        try:
            store.update_copy(draft.product_id, copy)
        except TransientStoreError:
            raise  # retried by RQ; the draft stays approved
        except StoreAPIError as err:  # not worth retrying: say so on the draft, and fail the job
            transition(db, draft, "failed", actor=actor, reason=f"the store refused the copy: {err}")
            db.commit()
            raise
        draft.previous = current.copy.as_dict()
        transition(db, draft, "published", actor=actor, detail={"fields": [k for k, v in copy.as_dict().items() if v]})
        supersede_pending(db, shop_id=draft.shop_id, product_id=draft.product_id, keep=draft.id,
                          reason=f"draft {draft.id} was published", actor=actor)
        db.commit()
    log.info("draft %s published", draft_id)
    return "published"


def _already_written(current: CopyFields, copy: CopyFields) -> bool:
    if not copy.description_html:
        return False
    return (copy_digest(current.description_html) == copy_digest(copy.description_html)
            and (not copy.seo_title or current.seo_title == copy.seo_title))
