"""Drafts: their life cycle (pending → approved → published, or rejected / stale / failed) and audit.

Every change of status writes an audit entry in the same transaction, so the log never disagrees
with the drafts.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.db import AuditEntry, Draft, utcnow

ACTIVE = ("pending", "approved")


class DraftStateError(ValueError):
    """The draft is not in a status that allows this action."""


def get_draft(db: Session, draft_id: int) -> Draft:
    draft = db.get(Draft, draft_id)
    if draft is None:
        raise LookupError(f"no draft {draft_id}")
    return draft


def list_drafts(db: Session, *, shop_id: int | None = None, status: str | None = None,
                limit: int = 100) -> list[Draft]:
    query = select(Draft).order_by(Draft.id.desc()).limit(limit)
    if shop_id is not None:
        query = query.where(Draft.shop_id == shop_id)
    if status:
        query = query.where(Draft.status == status)
    return list(db.scalars(query))


def audit(db: Session, *, action: str, actor: str, shop_id: int | None = None, draft_id: int | None = None,
          detail: dict | None = None) -> None:
    db.add(AuditEntry(shop_id=shop_id, draft_id=draft_id, actor=actor, action=action, detail=detail or {}))


def transition(db: Session, draft: Draft, status: str, *, actor: str, reason: str = "",
               detail: dict | None = None) -> Draft:
    """Change a draft's status and audit it; the caller commits."""
    previous = draft.status
    draft.status = status
    draft.reason = reason
    draft.updated_at = utcnow()
    if status == "published":
        draft.published_at = utcnow()
    audit(db, action=f"draft.{status}", actor=actor, shop_id=draft.shop_id, draft_id=draft.id,
          detail={"from": previous, **({"reason": reason} if reason else {}), **(detail or {})})
    return draft


def approve(db: Session, draft: Draft, *, actor: str) -> Draft:
    if draft.status not in ("pending", "failed"):
        raise DraftStateError(f"draft {draft.id} is {draft.status}; only pending or failed drafts can be approved")
    transition(db, draft, "approved", actor=actor)
    db.commit()
    return draft


def reject(db: Session, draft: Draft, *, actor: str, reason: str) -> Draft:
    if draft.status not in ACTIVE + ("stale", "failed"):
        raise DraftStateError(f"draft {draft.id} is {draft.status}; it cannot be rejected")
    transition(db, draft, "rejected", actor=actor, reason=reason)
    db.commit()
    return draft


def supersede_pending(db: Session, *, shop_id: int, product_id: str, keep: int | None, reason: str,
                      actor: str) -> int:
    """Mark the product's other pending drafts stale; returns how many."""
    query = select(Draft).where(Draft.shop_id == shop_id, Draft.product_id == product_id,
                                Draft.status == "pending")
    count = 0
    for draft in db.scalars(query):
        if draft.id != keep:
            transition(db, draft, "stale", actor=actor, reason=reason)
            count += 1
    return count
