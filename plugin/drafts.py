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


class ClaimsNotAccepted(DraftStateError):
    """The draft has claims the product data does not support, and a person has not accepted each one."""

    def __init__(self, draft_id: int, claims: list[dict]):
        self.claims = claims
        listed = "; ".join(f"“{c.get('text')}” ({c.get('field')})" for c in claims[:5])
        more = f" and {len(claims) - 5} more" if len(claims) > 5 else ""
        super().__init__(f"draft {draft_id} has {len(claims)} claim(s) not in the product data: {listed}{more}. "
                         "Accept each one, or edit it out, before approving")


def claim_key(claim: dict) -> str:
    """A flagged claim's identity for acceptance: the field, kind and words (stable across re-checks)."""
    return f"{claim.get('field', '')}|{claim.get('kind', '')}|{claim.get('text', '')}"


def open_claims(draft: Draft) -> list[dict]:
    """The draft's unsupported claims that no person has accepted yet (`checks["accepted"]`)."""
    checks = draft.checks or {}
    accepted = set(checks.get("accepted") or [])
    return [c for c in checks.get("claims") or [] if not c.get("supported") and claim_key(c) not in accepted]


def accept_claims(db: Session, draft: Draft, keys, *, actor: str) -> list[dict]:
    """Record that `actor` accepts the flagged claims named by `keys` (claim_key), with an audit entry listing
    them; returns the claims accepted now. The caller commits."""
    wanted = set(keys)
    now = [c for c in open_claims(draft) if claim_key(c) in wanted]
    if now:
        checks = dict(draft.checks or {})
        checks["accepted"] = list(dict.fromkeys([*(checks.get("accepted") or []), *map(claim_key, now)]))
        draft.checks = checks
        audit(db, action="draft.claims_accepted", actor=actor, shop_id=draft.shop_id, draft_id=draft.id,
              detail={"claims": [{k: c.get(k) for k in ("field", "kind", "text", "sentence")} for c in now]})
    return now


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


def approve(db: Session, draft: Draft, *, actor: str, accept: tuple[str, ...] | list[str] = ()) -> Draft:
    """Approve a pending or failed draft. Flagged claims must be accepted first: `accept` lists claim keys
    `actor` accepts now (recorded in the audit log); any left open raise ClaimsNotAccepted."""
    if draft.status not in ("pending", "failed"):
        raise DraftStateError(f"draft {draft.id} is {draft.status}; only pending or failed drafts can be approved")
    if accept:
        accept_claims(db, draft, accept, actor=actor)
    left = open_claims(draft)
    if left:
        raise ClaimsNotAccepted(draft.id, left)
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
                      actor: str, kind: str = "product_copy") -> int:
    """Mark the product's other pending drafts (of this kind: an order or question id can equal a product
    id) stale; returns how many."""
    query = select(Draft).where(Draft.shop_id == shop_id, Draft.kind == kind, Draft.product_id == product_id,
                                Draft.status == "pending")
    count = 0
    for draft in db.scalars(query):
        if draft.id != keep:
            transition(db, draft, "stale", actor=actor, reason=reason)
            count += 1
    return count
