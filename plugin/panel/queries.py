"""The review queue's queries, always scoped to one shop."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from plugin.db import DRAFT_STATUSES, AuditEntry, Draft
from plugin.kinds import KINDS as _KINDS

PAGE_SIZE = 25
KINDS = tuple(_KINDS)
SEARCHED_FIELDS = tuple(dict.fromkeys(f.name for kind in _KINDS.values() for f in kind.fields))
BULK_LIMIT = 2000
"""'All matching the filter' acts on at most this many drafts at a time."""
MAX_ID = 2**31 - 1
"""Draft ids are 32-bit integers: a larger number in a URL or form is no draft (not a database error)."""
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Filter:
    status: str = "pending"
    kind: str = ""
    q: str = ""

    @classmethod
    def from_args(cls, args) -> Filter:
        status = args.get("status", "pending")
        kind = args.get("kind", "")
        return cls(status=status if status in DRAFT_STATUSES or status == "all" else "pending",
                   kind=kind if kind in KINDS else "", q=(args.get("q") or "").replace("\x00", "").strip()[:200])

    def as_args(self) -> dict:
        return {k: v for k, v in (("status", self.status), ("kind", self.kind), ("q", self.q)) if v}


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered(shop_id: int, flt: Filter):
    query = select(Draft).where(Draft.shop_id == shop_id)
    if flt.status != "all":
        query = query.where(Draft.status == flt.status)
    if flt.kind:
        query = query.where(Draft.kind == flt.kind)
    if flt.q:
        pattern = _like(flt.q)
        # The values only (the title, and each field's text), never the JSON's keys and quoting: a search
        # for "title" or "_" must not match every draft through the names of its fields.
        texts = [Draft.input_snapshot["title"].as_string()]
        texts += [Draft.fields[name].as_string() for name in SEARCHED_FIELDS]
        query = query.where(or_(Draft.product_id == flt.q, *(t.ilike(pattern, escape="\\") for t in texts)))
    return query


def page_of(db: Session, shop_id: int, flt: Filter, page: int) -> tuple[list[Draft], int]:
    """One page of drafts, newest first, and how many match in all."""
    query = filtered(shop_id, flt)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(query.order_by(Draft.id.desc()).limit(PAGE_SIZE).offset(max(page - 1, 0) * PAGE_SIZE))
    return list(rows), total


def matching_ids(db: Session, shop_id: int, flt: Filter) -> list[int]:
    return list(db.scalars(filtered(shop_id, flt).with_only_columns(Draft.id).order_by(Draft.id.desc())
                           .limit(BULK_LIMIT)))


def status_counts(db: Session, shop_id: int) -> dict[str, int]:
    rows = db.execute(select(Draft.status, func.count()).where(Draft.shop_id == shop_id).group_by(Draft.status))
    counts = dict.fromkeys(DRAFT_STATUSES, 0)
    counts.update({status: n for status, n in rows})
    return counts


def parse_id(value: str) -> int | None:
    """A draft id from a form field: ASCII digits within range, else None."""
    return int(value) if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID else None


def draft_of_shop(db: Session, shop_id: int, draft_id: int) -> Draft | None:
    if not 0 < draft_id <= MAX_ID:
        return None
    draft = db.get(Draft, draft_id)
    return draft if draft is not None and draft.shop_id == shop_id else None


def neighbours(db: Session, shop_id: int, draft: Draft, flt: Filter) -> tuple[int | None, int | None]:
    """The drafts before and after this one in the queue's order (newest first) under the filter."""
    query = filtered(shop_id, flt).with_only_columns(Draft.id)
    newer = db.scalar(query.where(Draft.id > draft.id).order_by(Draft.id.asc()).limit(1))
    older = db.scalar(query.where(Draft.id < draft.id).order_by(Draft.id.desc()).limit(1))
    return newer, older


def product_drafts(db: Session, shop_id: int, product_id: str) -> list[Draft]:
    return list(db.scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == "product_copy",
                                               Draft.product_id == product_id).order_by(Draft.id.asc())))


def audit_for(db: Session, shop_id: int, draft_ids: list[int]) -> dict[int, list[AuditEntry]]:
    entries: dict[int, list[AuditEntry]] = {i: [] for i in draft_ids}
    if draft_ids:
        rows = db.scalars(select(AuditEntry).where(AuditEntry.shop_id == shop_id,
                                                   AuditEntry.draft_id.in_(draft_ids)).order_by(AuditEntry.id))
        for entry in rows:
            entries[entry.draft_id].append(entry)
    return entries
