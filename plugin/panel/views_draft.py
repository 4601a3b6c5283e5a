"""One draft: the store's copy beside the proposal, checks, edits, and the review actions."""

from __future__ import annotations

import secrets

import redis
from flask import abort, redirect, render_template, request

from plugin import jobs
from plugin.drafts import ClaimsNotAccepted, DraftStateError, approve, audit, claim_key, open_claims, reject
from plugin.kinds import KINDS, PRODUCT_COPY
from plugin.panel import queries, render
from plugin.panel.auth import current, purl
from plugin.panel.blueprint import bp
from plugin.panel.views_queue import notice, title_of
from plugin.platforms.base import CopyFields
from plugin.state import get_db, get_redis

LABELS = {f.name: f.label for f in PRODUCT_COPY.fields}
LIMITS = {f.name: f.limit for f in PRODUCT_COPY.fields}
EDITABLE = ("pending", "failed", "stale")


def _draft(draft_id: int):
    draft = queries.draft_of_shop(get_db(), current().shop_id, draft_id)
    if draft is None:
        abort(404)
    return draft


def _kind(draft):
    return KINDS.get(draft.kind, PRODUCT_COPY)


def _rows(draft) -> list[dict]:
    rows = []
    for field in _kind(draft).fields:
        name = field.name
        before, after = (draft.previous or {}).get(name, ""), (draft.fields or {}).get(name, "")
        rows.append({"name": name, "label": field.label, "before": before, "after": after,
                     "before_html": render.preview(before) if field.html else None,
                     "after_html": render.preview(after) if field.html else None,
                     "diff": render.word_diff(render.field_text(name, before), render.field_text(name, after)),
                     "limit": field.limit, "rows": field.rows})
    return rows


def _page(draft, *, edits: dict | None = None, error: str = "", status: int = 200):
    principal = current()
    flt = queries.Filter.from_args(request.args)
    newer, older = queries.neighbours(get_db(), principal.shop_id, draft, flt)
    checks = draft.checks or {}
    accepted = set(checks.get("accepted") or [])
    claims = [{**c, "key": claim_key(c), "accepted": claim_key(c) in accepted} for c in checks.get("claims") or []]
    ticked = set(request.form.getlist("accept")) if request.method == "POST" else set()
    return render_template("panel/draft.html", draft=draft, kind=_kind(draft), title=title_of(draft),
                           rows=_rows(draft),
                           edits=edits or {}, error=error, flt=flt, newer=newer, older=older,
                           editable=draft.status in EDITABLE, checks=checks, claims=claims, ticked=ticked,
                           open_claims=len(open_claims(draft)), notice=notice()), status


@bp.get("/drafts/<int:draft_id>")
def draft_page(draft_id: int):
    return _page(_draft(draft_id))


def _edited_fields(draft) -> dict[str, str]:
    """The fields as submitted, cleaned; ValueError names a field that is too long."""
    fields = dict(draft.fields or {})
    kind = _kind(draft)
    for field in kind.fields:
        if field.name not in request.form:
            continue
        value = request.form[field.name].replace("\r\n", "\n").strip()
        if len(value) > field.limit:
            raise ValueError(f"{field.label} is {len(value)} characters; at most {field.limit}")
        fields[field.name] = render.clean_html(value) if field.html else value
    if kind is PRODUCT_COPY:
        CopyFields.from_dict(fields)  # the platforms' own limits
    return fields


def _save_edits(db, draft, fields: dict, actor: str) -> list[str]:
    """Store edited fields with an audit entry; the claims are checked again on the edited copy, so a claim
    edited out needs no acceptance and a new one does."""
    kind = _kind(draft)
    changed = [k for k in kind.field_names if fields.get(k, "") != (draft.fields or {}).get(k, "")]
    if changed:
        from model.checks import recheck_grounding  # pure Python (model.grounding); no torch

        if kind is PRODUCT_COPY:
            draft.checks = recheck_grounding(draft.checks or {}, draft.input_snapshot or {}, fields)
        else:
            draft.checks = recheck_text_kind(draft.checks or {}, draft.input_snapshot or {}, fields)
        draft.fields = fields
        audit(db, action="draft.edited", actor=actor, shop_id=draft.shop_id, draft_id=draft.id,
              detail={"fields": changed})
    return changed


def recheck_text_kind(checks: dict, snapshot: dict, fields: dict) -> dict:
    """Claims made again for an edited follow-up, answer or campaign against the facts it was written from."""
    from model.checks.text_kinds import recheck  # pure Python (model.grounding); no torch

    return recheck(checks, snapshot, fields)


def _after_review(draft, msg: str):
    """Straight on to the next draft in the queue, the way reviewing twenty in a row should feel."""
    flt = queries.Filter.from_args(request.args)
    newer, older = queries.neighbours(get_db(), current().shop_id, draft, flt)
    target = older or newer
    if target:
        return redirect(purl("panel.draft_page", draft_id=target, msg=msg, ref=draft.id, **flt.as_args()))
    return redirect(purl("panel.queue", msg=msg, ref=draft.id, **flt.as_args()))


@bp.post("/drafts/<int:draft_id>")
def draft_action(draft_id: int):
    principal = current()
    db = get_db()
    draft = _draft(draft_id)
    action = request.form.get("action", "")
    if action in ("save", "approve"):
        if action == "approve" and draft.status == "approved":  # its publish job was lost: queue it again
            return _publish(draft, "republish")
        if draft.status not in EDITABLE:
            return _page(draft, error=f"This draft is {draft.status}; it can no longer be edited.", status=409)
        try:
            fields = _edited_fields(draft)
        except ValueError as err:
            return _page(draft, edits=request.form, error=str(err), status=400)
        _save_edits(db, draft, fields, principal.actor)
        if action == "save":
            db.commit()
            return redirect(purl("panel.draft_page", draft_id=draft.id, msg="saved", ref=draft.id))
        if draft.status == "stale":
            db.rollback()
            return _page(draft, error="The product changed in the store after this draft was made. "
                                      "Regenerate it, or reject it.", status=409)
        ticked = request.form.getlist("accept")
        left = [c for c in open_claims(draft) if claim_key(c) not in ticked]
        if left:  # edits are kept (their claims were checked again); nothing is accepted or approved
            db.commit()
            return _page(draft, error=f"{ClaimsNotAccepted(draft.id, left)} (tick “accept” beside each claim "
                                      "under Checks).", status=400)
        try:  # commits the edits, and the claims accepted, with the approval
            approve(db, draft, actor=principal.actor, accept=ticked)
        except DraftStateError as err:
            db.rollback()
            return _page(draft, error=str(err), status=409)
        if not _kind(draft).delivers:  # campaign copy: staff export it; nothing is sent
            return redirect(purl("panel.draft_page", draft_id=draft.id, msg="approved", ref=draft.id))
        return _publish(draft, "approved")
    if action == "reject":
        reason = request.form.get("reason", "").strip()[:500]
        if not reason:
            return _page(draft, error="Say why the draft is rejected (the reason is kept with it).", status=400)
        try:
            reject(db, draft, actor=principal.actor, reason=reason)
        except DraftStateError as err:
            return _page(draft, error=str(err), status=409)
        return _after_review(draft, "rejected")
    if action == "regenerate":
        note = request.form.get("note", "").strip()[:300]
        try:
            if _kind(draft) is PRODUCT_COPY:
                jobs.enqueue_generate(get_redis(), draft.shop_id, draft.product_id, trigger="staff.regenerate",
                                      delivery=f"regenerate-{draft.id}-{secrets.token_hex(8)}", note=note,
                                      seed=jobs.fresh_seed())
            else:
                jobs.enqueue_regenerate(get_redis(), draft.shop_id, draft.id, note=note, seed=jobs.fresh_seed())
        except redis.RedisError:
            abort(503, "the queue is unavailable; try again in a moment")
        audit(db, action="draft.regenerate", actor=principal.actor, shop_id=draft.shop_id, draft_id=draft.id,
              detail={"note": note} if note else {})
        db.commit()
        return redirect(purl("panel.draft_page", draft_id=draft.id, msg="regenerating"))
    abort(400, "unknown action")


def _publish(draft, msg: str):
    principal = current()
    try:
        jobs.enqueue_publish(get_redis(), draft.id, actor=principal.actor, shop_id=draft.shop_id)
    except redis.RedisError:
        db = get_db()
        draft.reason = "approved; publishing waits for the queue: press Approve again to retry"
        db.commit()
        abort(503, "the queue is unavailable: the draft is approved; press Approve again in a moment")
    return _after_review(draft, msg)
