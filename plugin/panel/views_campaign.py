"""Campaigns: staff choose products, a theme and details; a worker writes the email and social posts.

The job (`worker.campaigns.write_campaign`, by dotted name: the web process never imports worker code)
makes a `campaign` draft that is reviewed in the queue like any other. Approving it only marks it approved:
staff export the copy (`/panel/drafts/<id>/export.txt` or `.json`) and send it themselves.
"""

from __future__ import annotations

import redis
from flask import Response, abort, current_app, jsonify, redirect, render_template, request
from sqlalchemy import or_, select

from plugin import jobs
from plugin.db import Draft, ProductState
from plugin.drafts import audit
from plugin.kinds import CAMPAIGN
from plugin.panel import queries
from plugin.panel.auth import current, purl
from plugin.panel.blueprint import bp
from plugin.state import get_db, get_redis

MAX_PRODUCTS = 12
LIMITS = {"theme": 200, "offer": 200, "ends": 100, "details": 500}
"""Characters allowed per form field (`worker.campaigns.SPEC_LIMITS`)."""
OCCASIONS = (("sale", "A sale"), ("season", "A season"), ("launch", "A launch"), ("other", "Something else"))
LISTED_PRODUCTS = 200
RECENT = 20
EXPORTABLE = ("pending", "approved", "published")
TASK = "worker.campaigns.write_campaign"


def _products(shop_id: int, q: str = "", ids: list[str] | None = None) -> list[ProductState]:
    query = select(ProductState).where(ProductState.shop_id == shop_id)
    if ids is not None:
        query = query.where(ProductState.product_id.in_(ids))
    elif q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(or_(ProductState.title.ilike(f"%{escaped}%", escape="\\"), ProductState.product_id == q))
    return list(get_db().scalars(query.order_by(ProductState.title, ProductState.id).limit(LISTED_PRODUCTS)))


def _recent(shop_id: int) -> list[Draft]:
    return list(get_db().scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == CAMPAIGN.name)
                                 .order_by(Draft.id.desc()).limit(RECENT)))


def _page(*, form=None, error: str = "", notice: str = "", status: int = 200):
    principal = current()
    q = (request.args.get("q") or "").strip()[:200]
    form = form if form is not None else {}
    chosen = set(form.getlist("products")) if hasattr(form, "getlist") else set()
    products = _products(principal.shop_id, q)
    listed = {p.product_id for p in products}
    products += [p for p in _products(principal.shop_id, ids=sorted(chosen)) if p.product_id not in listed]
    return render_template("panel/campaign.html", products=products, chosen=chosen, q=q, form=form,
                           occasions=OCCASIONS, limits=LIMITS, max_products=MAX_PRODUCTS,
                           recent=_recent(principal.shop_id), error=error, notice=notice), status


@bp.get("/campaigns")
def campaigns_page():
    ref = request.args.get("ref", "")
    notice = (f"Campaign {ref} is being written; its draft will appear in the review queue."
              if request.args.get("msg") == "queued" and ref.isdigit() else "")
    return _page(notice=notice)


def _spec(form, shop_id: int) -> dict:
    """The campaign as submitted, checked; ValueError says what to fix."""
    spec = {name: " ".join(form.get(name, "").split()) for name in LIMITS}
    for name, limit in LIMITS.items():
        if len(spec[name]) > limit:
            raise ValueError(f"The {name} is {len(spec[name])} characters; at most {limit}.")
    occasion = form.get("occasion", "other")
    if occasion not in dict(OCCASIONS):
        raise ValueError("Choose what the campaign is for.")
    if not spec["theme"]:
        spec["theme"] = {"sale": "Sale", "season": "Seasonal picks", "launch": "New arrivals"}.get(occasion, "")
    if not spec["theme"]:
        raise ValueError("Say what the campaign is about (the theme).")
    ids = list(dict.fromkeys(p for p in form.getlist("products") if p))
    if not ids:
        raise ValueError("Choose at least one product.")
    if len(ids) > MAX_PRODUCTS:
        raise ValueError(f"Choose at most {MAX_PRODUCTS} products; {len(ids)} are ticked.")
    if any(not (p.isascii() and p.isdigit() and len(p) <= 20) for p in ids):
        abort(400, "a product id is not a number")
    known = {p.product_id for p in _products(shop_id, ids=ids)}
    if set(ids) - known:  # another shop's product, or one never seen: no such product here
        abort(400, "a chosen product is not one of this shop's products")
    return {**spec, "occasion": occasion, "products": ids}


def next_number(conn: redis.Redis, shop_id: int) -> str:
    """The shop's next campaign number: a Redis counter, kept above the numbers its drafts already use
    (so that a flushed Redis does not hand out a number twice)."""
    used = [int(n) for n in get_db().scalars(select(Draft.product_id).where(
        Draft.shop_id == shop_id, Draft.kind == CAMPAIGN.name)) if str(n).isdigit()]
    floor = max(used, default=0)
    number = conn.incr(f"{jobs.PREFIX}:campaign-seq:{shop_id}")
    if number <= floor:
        number = conn.incrby(f"{jobs.PREFIX}:campaign-seq:{shop_id}", floor + 1 - number)
    return str(number)


def enqueue_campaign(conn: redis.Redis, shop_id: int, number: str, spec: dict, *, job_timeout: int = 900):
    return jobs.queue(conn, jobs.GENERATE, job_timeout).enqueue(
        TASK, int(shop_id), number, spec, job_id=f"campaign-{shop_id}-{number}", meta={"shop_id": int(shop_id)},
        result_ttl=jobs.RESULT_TTL, failure_ttl=jobs.FAILURE_TTL,
        description=f"campaign shop={shop_id} number={number}")


@bp.post("/campaigns")
def campaigns_create():
    principal = current()
    try:
        spec = _spec(request.form, principal.shop_id)
    except ValueError as err:
        return _page(form=request.form, error=str(err), status=400)
    conn = get_redis()
    try:
        number = next_number(conn, principal.shop_id)
        enqueue_campaign(conn, principal.shop_id, number, spec,
                         job_timeout=current_app.config["COPYDESK"].job_timeout)
    except redis.RedisError:
        abort(503, "the queue is unavailable; try again in a moment")
    db = get_db()
    audit(db, action="campaign.requested", actor=principal.actor, shop_id=principal.shop_id,
          detail={"number": number, "theme": spec["theme"], "products": spec["products"]})
    db.commit()
    return redirect(purl("panel.campaigns_page", msg="queued", ref=number))


def _export_draft(draft_id: int) -> Draft:
    draft = queries.draft_of_shop(get_db(), current().shop_id, draft_id)
    if draft is None or draft.kind != CAMPAIGN.name:
        abort(404)
    if draft.status not in EXPORTABLE:
        abort(409, f"this campaign draft is {draft.status}; only pending or approved ones are exported")
    return draft


def export_data(draft: Draft) -> dict:
    snapshot = draft.input_snapshot or {}
    spec = snapshot.get("campaign") or {}
    fields = {name: str((draft.fields or {}).get(name, "")) for name in CAMPAIGN.field_names}
    return {"draft_id": draft.id, "campaign": draft.product_id, "status": draft.status,
            "theme": spec.get("theme", ""), "offer": spec.get("offer", ""), "ends": spec.get("ends", ""),
            "products": [p.get("title", "") for p in snapshot.get("products") or [] if p.get("id")],
            "fields": fields,
            "social_posts": [p.strip() for p in fields["social_posts"].split("\n\n") if p.strip()]}


def export_text(data: dict) -> str:
    lines = [f"Campaign {data['campaign']}: {data['theme']}", f"Status: {data['status']}", ""]
    for field in CAMPAIGN.fields:
        lines += [f"{field.label}:", data["fields"][field.name], ""]
    return "\n".join(lines)


def _exported(draft: Draft, fmt: str) -> None:
    db = get_db()
    audit(db, action="draft.exported", actor=current().actor, shop_id=draft.shop_id, draft_id=draft.id,
          detail={"format": fmt})
    db.commit()


@bp.get("/drafts/<int:draft_id>/export.txt")
def campaign_export_txt(draft_id: int):
    draft = _export_draft(draft_id)
    _exported(draft, "txt")
    return Response(export_text(export_data(draft)), mimetype="text/plain",
                    headers={"Content-Disposition": f'attachment; filename="campaign-{draft.product_id}.txt"'})


@bp.get("/drafts/<int:draft_id>/export.json")
def campaign_export_json(draft_id: int):
    draft = _export_draft(draft_id)
    _exported(draft, "json")
    response = jsonify(export_data(draft))
    response.headers["Content-Disposition"] = f'attachment; filename="campaign-{draft.product_id}.json"'
    return response

