"""A shop's product history and restore, its settings, its jobs, and the catalogue backfill."""

from __future__ import annotations

from datetime import datetime

import redis
from flask import abort, current_app, jsonify, redirect, render_template, request
from sqlalchemy import func, select

from plugin import backfill, jobs, shops
from plugin.db import DataExport, Draft, Shop
from plugin.drafts import audit
from plugin.install import woocommerce_webhooks
from plugin.panel import jobs_view, queries
from plugin.panel.auth import current, purl
from plugin.panel.blueprint import bp
from plugin.panel.views_draft import LABELS
from plugin.panel.views_queue import notice, title_of
from plugin.platforms.base import COPY_FIELDS, check_id
from plugin.state import get_db, get_redis


def _product_id(raw: str) -> str:
    """A store product id (ASCII digits) or 404: anything else names no product, and text such as a NUL
    byte must not reach the database (PostgreSQL refuses it)."""
    try:
        return check_id(raw, "product id")
    except ValueError:
        abort(404)


@bp.get("/products/<product_id>")
def history(product_id: str):
    principal = current()
    drafts = queries.product_drafts(get_db(), principal.shop_id, _product_id(product_id))
    if not drafts:
        abort(404)
    trail = queries.audit_for(get_db(), principal.shop_id, [d.id for d in drafts])
    original = next((d for d in drafts if d.status == "published"), drafts[0])
    return render_template("panel/history.html", drafts=list(reversed(drafts)), trail=trail, original=original,
                           title=title_of(drafts[-1]), product_id=product_id, labels=LABELS, fields=COPY_FIELDS,
                           notice=notice())


@bp.post("/products/<product_id>/restore")
def restore(product_id: str):
    principal = current()
    product_id = _product_id(product_id)
    version = request.form.get("version", "")
    if version not in ("previous", "proposed"):
        abort(400, "version must be previous or proposed")
    draft_id = queries.parse_id(request.form.get("draft_id", ""))
    draft = queries.draft_of_shop(get_db(), principal.shop_id, draft_id) if draft_id else None
    if draft is None or draft.product_id != product_id:
        abort(404)
    try:
        jobs.enqueue_restore(get_redis(), principal.shop_id, draft.id, version, actor=principal.actor)
    except redis.RedisError:
        abort(503, "the queue is unavailable; try again in a moment")
    audit(get_db(), action="draft.restore_requested", actor=principal.actor, shop_id=principal.shop_id,
          draft_id=draft.id, detail={"version": version})
    get_db().commit()
    return redirect(purl("panel.history", product_id=product_id, msg="restoring"))


SETTINGS_FORM = ("generate_on_create", "auto_publish", "write_fields", "skip_existing", "tone", "target_words",
                 "language", "banned_words", "voice_examples", "monthly_cap", "banned_defaults", "media_position",
                 "allow_links", "follow_ups", "follow_up_first_name", "follow_up_auto_publish", "policy_shipping",
                 "policy_returns", "policy_warranty", "instant_answers", "answer_channel", "questions_per_ip_hour")
CHECKBOXES = ("generate_on_create", "auto_publish", "skip_existing", "banned_defaults", "allow_links", "follow_ups",
              "follow_up_first_name", "follow_up_auto_publish", "instant_answers")
MULTILINE = ("banned_words", "voice_examples", "policy_shipping", "policy_returns", "policy_warranty")


def _shop() -> Shop:
    return get_db().get(Shop, current().shop_id)


@bp.route("/settings", methods=["GET", "POST"])
def settings_page():
    shop = _shop()
    error = ""
    conf = shops.effective_settings(shop)
    if request.method == "POST":
        changes, typed, errors = _read_settings_form()
        if not errors:
            try:
                shops.set_settings(get_db(), shop, changes, actor=current().actor)
            except ValueError as err:
                get_db().rollback()
                errors.append(str(err))
            else:
                return redirect(purl("panel.settings_page", msg="settings"))
        error = "; ".join(errors)
        conf = {**conf, **typed}  # what was typed, not the stored values: one mistake does not lose the rest
    used = shops.drafts_this_month(get_db(), shop.id)
    exports = list(get_db().scalars(select(DataExport).where(DataExport.shop_id == shop.id)
                                    .order_by(DataExport.id.desc()).limit(50)))
    return render_template("panel/settings.html", conf=conf, error=error,
                           labels=LABELS, fields=COPY_FIELDS, used=used, exports=exports, widget=_widget(shop),
                           notice=notice()), 400 if error else 200


def _widget(shop: Shop) -> dict:
    """How to put the questions widget on the storefront: the script tag (WooCommerce, with the shop's
    publishable key) or the theme snippet (Shopify, through the app proxy)."""
    from plugin import questions_store

    app_url = current_app.config["COPYDESK"].app_url.rstrip("/")
    if shop.platform == "shopify":
        return {"platform": "shopify",
                "tag": '<script src="/apps/copydesk/widget.js" data-endpoint="/apps/copydesk" '
                       'data-product="{{ product.id | escape }}" defer></script>'}
    key = questions_store.widget_key(get_db(), shop)
    return {"platform": "woocommerce", "key": key,
            "tag": f'<script src="{app_url}/questions/widget.js" data-app="{app_url}" data-key="{key}" '
                   'data-product="PRODUCT_ID" defer></script>'}


def _read_settings_form() -> tuple[dict, dict, list[str]]:
    """The form's settings, typed; what was typed, for showing the form again; and what was wrong."""
    changes: dict[str, object] = {}
    typed: dict[str, object] = {}
    errors: list[str] = []
    for key in SETTINGS_FORM:
        if key not in CHECKBOXES and key != "write_fields" and key not in request.form:
            continue  # not on the form that was sent: left as it is
        raw = request.form.get(key, "")
        try:
            if key in CHECKBOXES:
                changes[key] = raw == "on"
            elif key == "write_fields":
                changes[key] = [f for f in COPY_FIELDS if f in request.form.getlist(key)]
            elif key in MULTILINE:
                changes[key] = shops.parse_setting(key, raw.replace("\r\n", "\n"))
            else:
                changes[key] = shops.parse_setting(key, raw.strip())
            typed[key] = changes[key]
        except ValueError as err:
            errors.append(str(err))
            typed[key] = raw.splitlines() if key in ("banned_words", "voice_examples") else raw
    return changes, typed, errors


@bp.get("/jobs")
def jobs_page():
    principal = current()
    conn = get_redis()
    webhooks = woocommerce_webhooks.health(conn, principal.shop_id) if principal.platform == "woocommerce" else None
    return render_template("panel/jobs.html", groups=jobs_view.shop_jobs(conn, get_db(), principal.shop_id),
                           backfill=backfill.status(conn, principal.shop_id), webhooks=webhooks, notice=notice())


@bp.post("/jobs/<job_id>/retry")
def retry_job(job_id: str):
    db = get_db()
    # The entry is written first: a locked or lost database answers 503 before the job has moved, and once
    # this transaction holds its write, the commit after the requeue does not wait on anyone.
    audit(db, action="job.retried", actor=current().actor, shop_id=current().shop_id, detail={"job": job_id[:100]})
    db.flush()
    if not jobs_view.retry(get_redis(), db, current().shop_id, job_id):
        db.rollback()
        abort(404)
    db.commit()
    return redirect(purl("panel.jobs_page", msg="retried"))


@bp.post("/backfill")
def backfill_action():
    principal = current()
    action = request.form.get("action", "start")
    conn = get_redis()
    try:
        if action == "start":
            backfill.start(conn, principal.shop_id, all_products=request.form.get("all") == "on",
                           job_timeout=current_app.config["COPYDESK"].job_timeout)
        elif action in ("pause", "resume", "cancel"):
            getattr(backfill, action)(conn, principal.shop_id)
        else:
            abort(400, "unknown backfill action")
    except backfill.BackfillError as err:
        abort(409, str(err))
    audit(get_db(), action=f"backfill.{action}", actor=principal.actor, shop_id=principal.shop_id)
    get_db().commit()
    return redirect(purl("panel.jobs_page", msg="backfill" if action == "start" else ""))


@bp.get("/backfill.json")
def backfill_json():
    state = backfill.status(get_redis(), current().shop_id)
    if state is None:
        return jsonify(state=None)
    try:
        started = datetime.fromisoformat(state["started_at"])
        drafts = get_db().scalar(select(func.count(Draft.id)).where(
            Draft.shop_id == current().shop_id, Draft.created_at >= started)) or 0
    except ValueError:
        drafts = 0
    return jsonify(**state, drafts_written=drafts, line=backfill.describe(state))
