"""A shop's own training records: its reviewed product-copy drafts (``copydesk train --shop``).

Every approved or published draft is a product the staff signed off. Its prompt is re-rendered from the
draft's ``input_snapshot`` (what the model saw) with the shop's style settings and the draft's staff note,
as ``worker.pipeline`` renders it; its targets are the draft's fields as they are now, so a field that a
reviewer edited (``draft.edited`` in the audit log) teaches the edited text. Per product only the newest
reviewed draft counts.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.db import AuditEntry, Draft, Shop

USABLE = ("approved", "published")
"""Draft statuses that count as reviewed copy."""
MIN_SHOP_DRAFTS = 20
"""Reviewed drafts (one per product) a shop needs before an adapter of its own is worth training."""
FIELD_NAMES = {"description_html": "description", "short_description": "short_description",
               "seo_title": "seo_title", "seo_description": "seo_description"}
"""Draft field → model copy field."""
SOURCE = "shop"


class NotEnoughDrafts(ValueError):
    """The shop has too few reviewed drafts to train on."""


def snapshot_record(snapshot: dict, product_id: str = "") -> dict:
    """A draft's ``input_snapshot`` (``Product.snapshot()``) as the worker's prompt record
    (``Product.record()``)."""
    from plugin.platforms.base import html_to_text

    return {
        "id": str(snapshot.get("id") or product_id),
        "title": str(snapshot.get("title", "")),
        "category": str(snapshot.get("category", "")),
        "vendor": str(snapshot.get("vendor", "")),
        "tags": list(snapshot.get("tags") or []),
        "attributes": dict(snapshot.get("attributes") or {}),
        "variants": [dict(v) for v in snapshot.get("variants") or []],
        "description": html_to_text(str(snapshot.get("description_html", ""))),
    }


def edited_fields(db: Session, draft_ids: list[int]) -> dict[int, set[str]]:
    """Which fields staff edited, per draft, from the ``draft.edited`` audit entries."""
    edited: dict[int, set[str]] = {}
    if not draft_ids:
        return edited
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "draft.edited",
                                               AuditEntry.draft_id.in_(draft_ids)))
    for entry in rows:
        edited.setdefault(entry.draft_id, set()).update((entry.detail or {}).get("fields", []))
    return edited


def shop_records(db: Session, shop: Shop, *, minimum: int = MIN_SHOP_DRAFTS) -> tuple[list[dict], dict]:
    """(records with ``copy`` and ``prompt_style``, counts) from ``shop``'s reviewed drafts. Raises
    ``NotEnoughDrafts`` below ``minimum`` products."""
    from plugin.shops import effective_settings
    from worker.pipeline import style_for

    drafts = list(db.scalars(select(Draft).where(Draft.shop_id == shop.id, Draft.kind == "product_copy",
                                                 Draft.status.in_(USABLE)).order_by(Draft.id)))
    latest: dict[str, Draft] = {}
    for draft in drafts:
        latest[draft.product_id] = draft  # ordered by id: the newest wins
    edited = edited_fields(db, [d.id for d in latest.values()])
    settings = effective_settings(shop)
    records = []
    for draft in latest.values():
        record = snapshot_record(draft.input_snapshot or {}, draft.product_id)
        if not record["title"].strip():
            continue
        fields = draft.fields or {}
        record.update(
            source=SOURCE,
            copy={ours: str(fields.get(theirs) or "") for theirs, ours in FIELD_NAMES.items()},
            prompt_style=style_for(settings, str((draft.checks or {}).get("note", ""))),
            edited=sorted(FIELD_NAMES[f] for f in edited.get(draft.id, ()) if f in FIELD_NAMES),
        )
        records.append(record)
    counts = {"drafts": len(drafts), "products": len(records),
              "edited_fields": sum(len(r["edited"]) for r in records),
              "edited_drafts": sum(bool(r["edited"]) for r in records)}
    if len(records) < minimum:
        raise NotEnoughDrafts(
            f"shop {shop.domain} has {len(records)} reviewed product-copy draft(s) (approved or published, one "
            f"per product); training needs at least {minimum}. Review more drafts and try again.")
    return records, counts
