"""The review queue and bulk actions."""

from __future__ import annotations

import json
import secrets

import redis
from flask import abort, jsonify, redirect, render_template, request

from plugin import jobs
from plugin.db import Draft
from plugin.drafts import open_claims, transition
from plugin.jobs import PREFIX
from plugin.kinds import KINDS
from plugin.panel import queries
from plugin.panel.auth import current, purl
from plugin.panel.blueprint import bp
from plugin.state import get_db, get_redis

BULK_TTL = 24 * 3600
NOTICES = {
    "approved": "Draft {ref} approved; publishing to the store.",
    "rejected": "Draft {ref} rejected.",
    "saved": "Draft {ref} saved.",
    "regenerating": "A new draft for this product is being written; it will appear in the queue.",
    "republish": "Draft {ref} queued for publishing again.",
    "settings": "Settings saved.",
    "retried": "Job queued again.",
    "restoring": "Restoring that copy to the store.",
    "backfill": "Backfill started.",
    "nothing": "Nothing to do: no draft was selected.",
}


def notice() -> str:
    """A fixed message chosen by code (never text from the URL), with a draft number filled in."""
    template = NOTICES.get(request.args.get("msg", ""))
    ref = request.args.get("ref", "")
    return template.format(ref=ref if ref.isdigit() else "") if template else ""


def title_of(draft: Draft) -> str:
    return str((draft.input_snapshot or {}).get("title") or f"Product {draft.product_id}")

UNSENT_KINDS = tuple(name for name, kind in KINDS.items() if not kind.delivers)


@bp.get("/")
def queue():
    principal = current()
    flt = queries.Filter.from_args(request.args)
    try:
        page = min(max(int(request.args.get("page", "1")), 1), queries.MAX_PAGE)
    except ValueError:
        abort(400, "page must be a number")
    db = get_db()
    drafts, total = queries.page_of(db, principal.shop_id, flt, page)
    pages = max((total + queries.PAGE_SIZE - 1) // queries.PAGE_SIZE, 1)
    return render_template("panel/queue.html", drafts=drafts, total=total, page=page, pages=pages, flt=flt,
                           counts=queries.status_counts(db, principal.shop_id), kinds=queries.KINDS,
                           title_of=title_of, notice=notice())


@bp.post("/bulk")
def bulk():
    principal = current()
    action = request.form.get("action", "")
    if action not in ("approve", "reject"):
        abort(400, "action must be approve or reject")
    reason = request.form.get("reason", "").strip()[:500]
    if action == "reject" and not reason:
        abort(400, "say why the drafts are rejected")
    db = get_db()
    if request.form.get("all") == "1":
        ids = queries.matching_ids(db, principal.shop_id, queries.Filter.from_args(request.form))
    else:
        ids = [i for i in map(queries.parse_id, request.form.getlist("ids")) if i][:queries.BULK_LIMIT]
    if not ids:
        return redirect(purl("panel.queue", msg="nothing"))
    changed, skipped, flagged = [], 0, 0
    allowed = ("pending", "failed") if action == "approve" else ("pending", "approved", "stale", "failed")
    for draft_id in ids:
        draft = queries.draft_of_shop(db, principal.shop_id, draft_id)
        if draft is None or draft.status not in allowed:
            skipped += 1
            continue
        if action == "approve" and draft.kind in UNSENT_KINDS:  # campaigns: approved and exported one by one
            skipped += 1
            continue
        if action == "approve" and open_claims(draft):  # a person accepts each claim on the draft's page
            flagged += 1
            continue
        transition(db, draft, "approved" if action == "approve" else "rejected", actor=principal.actor,
                   reason=reason if action == "reject" else "", detail={"bulk": True})
        changed.append(draft.id)
    db.commit()
    run = secrets.token_hex(8)
    conn = get_redis()
    conn.set(_run_key(principal.shop_id, run), json.dumps({"action": action, "ids": changed, "skipped": skipped,
                                                               "flagged": flagged}),
             ex=BULK_TTL)
    if action == "approve":
        try:
            for draft_id in changed:
                jobs.enqueue_publish(conn, draft_id, actor=principal.actor, shop_id=principal.shop_id)
        except redis.RedisError:
            abort(503, "the queue is unavailable: the drafts are approved; publish them again from their pages")
    return redirect(purl("panel.bulk_progress", run=run))


def _run_key(shop_id: int, run: str) -> str:
    return f"{PREFIX}:panel-bulk:{shop_id}:{run}"


def _load_run(run: str) -> dict:
    if not run.isalnum() or len(run) > 32:
        abort(404)
    raw = get_redis().get(_run_key(current().shop_id, run))
    if raw is None:
        abort(404)
    return json.loads(raw)


def run_progress(run: str) -> dict:
    state = _load_run(run)
    counts: dict[str, int] = {}
    ids = state["ids"]
    db = get_db()
    for start in range(0, len(ids), 500):
        for draft in db.query(Draft.status).filter(Draft.id.in_(ids[start:start + 500]),
                                                   Draft.shop_id == current().shop_id):
            counts[draft.status] = counts.get(draft.status, 0) + 1
    target = "published" if state["action"] == "approve" else "rejected"
    finished = sum(n for s, n in counts.items() if s in (target, "failed", "stale", "rejected"))
    return {"action": state["action"], "total": len(ids), "skipped": state["skipped"],
            "flagged": state.get("flagged", 0), "counts": counts,
            "finished": finished, "done": finished >= len(ids)}


@bp.get("/bulk/<run>")
def bulk_progress(run: str):
    return render_template("panel/bulk.html", run=run, progress=run_progress(run))


@bp.get("/bulk/<run>.json")
def bulk_progress_json(run: str):
    return jsonify(run_progress(run))
