"""Shopify lifecycle and privacy webhooks: `app/uninstalled`, `app/scopes_update`, and the mandatory
compliance topics `customers/data_request`, `customers/redact`, `shop/redact` (platforms.md 1.2).

Called by `plugin.webhooks` after the HMAC check (401 on a bad one) and inside its dedupe transaction:
an exception here leaves the delivery unmarked, so Shopify retries it. Every handler is idempotent.

- `app/uninstalled` (may come twice, or late): marks the shop uninstalled, replaces its credentials with
  an empty sealed document, cancels its queued and scheduled jobs; drafts stay until `shop/redact`.
  A delivery triggered before the current install (`X-Shopify-Triggered-At`) is ignored.
- `app/scopes_update`: stores `current` as the shop's granted scopes.
- `customers/data_request`: a JSON export (audit entries and drafts about the orders named, i.e. order
  follow-ups, and the questions asked with the customer's email, with their answers) stored as a
  `DataExport` row, fetched by the merchant at /panel/exports/<id>.
- `customers/redact`: deletes that customer's order records, drafts, questions (with their answer
  drafts) and earlier exports.
- `shop/redact`: deletes the shop row; drafts, audit, staff and exports go with it (ON DELETE CASCADE).

The compliance topics and `app/uninstalled` are accepted for a shop that is already uninstalled.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import current_app, request
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import delete, select

from plugin.db import AuditEntry, DataExport, Draft, Shop, utcnow
from plugin.errors import BadRequest
from plugin.jobs import QUEUES, queue
from plugin.questions_store import by_email

log = logging.getLogger(__name__)
TOPICS = ("app/uninstalled", "app/scopes_update", "customers/data_request", "customers/redact", "shop/redact")
AFTER_UNINSTALL = ("app/uninstalled", "customers/data_request", "customers/redact", "shop/redact")
"""Topics handled even for a shop marked uninstalled (shop/redact comes 48 hours after uninstall)."""
SCAN = 10_000


def topic_of(event_topic: str) -> str | None:
    """The Shopify topic of a verified delivery `plugin.platforms.shopify` left unhandled, if it is ours."""
    topic = event_topic.removeprefix("unhandled:")
    return topic if topic in TOPICS else None


def dispatch(conn, shop_id: int, topic: str, body: bytes) -> str:
    """Handle one lifecycle or compliance delivery; returns the status word for the 200 answer."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise BadRequest("body is not JSON") from err
    if not isinstance(payload, dict):
        raise BadRequest("body is not a JSON object")
    _check_shape(topic, payload)
    with current_app.extensions["copydesk_sessionmaker"]() as db:
        shop = db.get(Shop, shop_id)
        if shop is None:
            return "ignored"
        return HANDLERS[topic](db, conn, shop, payload)


SHAPES = {"customer": dict, "data_request": dict, "orders_requested": list, "orders_to_redact": list}
"""The type of each payload field the handlers read, when it is present (null counts as absent)."""


def _check_shape(topic: str, payload: dict) -> None:
    """A field of the wrong type is a malformed delivery (400), not an error in the handler."""
    for name, kind in SHAPES.items():
        if payload.get(name) is not None and not isinstance(payload[name], kind):
            raise BadRequest(f"{topic}: {name} must be a JSON {'object' if kind is dict else 'array'}")


def _triggered_at() -> float | None:
    raw = request.headers.get("X-Shopify-Triggered-At", "")[:19]
    try:
        return datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def uninstalled(db, conn, shop: Shop, payload: dict) -> str:
    vault = current_app.extensions["copydesk_vault"]
    creds = vault.open(shop.credentials) if shop.credentials else {}
    triggered = _triggered_at()
    if triggered is not None and creds.get("installed_at") and triggered < float(creds["installed_at"]) - 1:
        return "ignored"  # a late delivery about an earlier install
    cancelled = cancel_jobs(conn, shop.id)
    if shop.uninstalled_at is None:
        shop.uninstalled_at = utcnow()
        db.add(AuditEntry(shop_id=shop.id, actor="shopify", action="shop.uninstalled",
                          detail={"jobs_cancelled": cancelled}))
    shop.credentials = vault.seal({})
    db.commit()
    current_app.extensions["copydesk_directory"].forget(shop.domain)
    return "uninstalled"


def cancel_jobs(conn, shop_id: int) -> int:
    """Cancel the shop's queued and scheduled (retrying) jobs; running ones find the shop uninstalled."""
    count = 0
    for name in QUEUES:
        q = queue(conn, name)
        ids = q.get_job_ids(0, SCAN) + ScheduledJobRegistry(queue=q).get_job_ids(0, SCAN)
        for job in Job.fetch_many(ids, connection=conn):
            if job is not None and job.meta.get("shop_id") == shop_id:
                job.cancel()
                count += 1
    return count


def scopes_update(db, conn, shop: Shop, payload: dict) -> str:
    from plugin.install.shopify_tokens import LOCK_TIMEOUT, lock_key

    current = payload.get("current")
    if not isinstance(current, list) or not all(isinstance(s, str) for s in current):
        raise BadRequest("app/scopes_update without a current scope list")
    vault = current_app.extensions["copydesk_vault"]
    with conn.lock(lock_key(shop.id), timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_TIMEOUT + 5):
        db.refresh(shop)  # a refresh may have just replaced the pair
        creds = vault.open(shop.credentials)
        if not creds.get("access_token"):
            return "ignored"
        shop.credentials = vault.seal({**creds, "scope": ",".join(current)})
        db.add(AuditEntry(shop_id=shop.id, actor="shopify", action="shop.scopes_updated",
                          detail={"scopes": current}))
        db.commit()
    return "scopes-updated"


def _ids(values) -> set[str]:
    return {str(v) for v in values or [] if isinstance(v, int | str) and str(v).isdigit()}


def _customer_rows(db, shop_id: int, order_ids: set[str], customer_id: str):
    """Audit entries and drafts about these orders or this customer."""
    def about(detail: dict) -> bool:
        return (str(detail.get("order_id", "")) in order_ids
                or (customer_id != "" and str(detail.get("customer_id", "")) == customer_id))
    entries = [e for e in db.scalars(select(AuditEntry).where(AuditEntry.shop_id == shop_id,
                                                              AuditEntry.action.like("order.%")))
               if about(e.detail or {})]
    drafts = list(db.scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind.like("order%"),
                                                 Draft.product_id.in_(order_ids or {""}))))
    return entries, drafts


def _questions(db, shop_id: int, customer: dict) -> list:
    """The customer's questions (asked with the email of the payload), and their answer drafts."""
    email = customer.get("email")
    if not isinstance(email, str) or not email.strip():
        return []
    return by_email(db, current_app.extensions["copydesk_vault"], shop_id, email)


def _answer_drafts(db, shop_id: int, questions) -> list:
    ids = [str(q.id) for q in questions]
    return list(db.scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == "answer",
                                               Draft.product_id.in_(ids)))) if ids else []


def data_request(db, conn, shop: Shop, payload: dict) -> str:
    customer = payload.get("customer") or {}
    customer_id = str(customer.get("id") or "")
    orders = _ids(payload.get("orders_requested"))
    request_id = str((payload.get("data_request") or {}).get("id") or "")[:64]
    entries, drafts = _customer_rows(db, shop.id, orders, customer_id)
    questions = _questions(db, shop.id, customer)
    export = {
        "shop": shop.domain, "customer_id": customer_id, "data_request_id": request_id,
        "orders_requested": sorted(orders), "generated_at": utcnow().isoformat(),
        "order_events": [{"action": e.action, "at": e.created_at.isoformat(), "detail": e.detail} for e in entries],
        "order_drafts": [{"id": d.id, "kind": d.kind, "order_id": d.product_id, "status": d.status,
                          "fields": d.fields, "created_at": d.created_at.isoformat()} for d in drafts],
        "questions": [{"id": q.id, "question": q.text, "product_id": q.product_id, "order_number": q.order_number,
                       "status": q.status, "answer": q.answer, "asked_at": q.created_at.isoformat(),
                       "answered_at": q.answered_at.isoformat() if q.answered_at else None} for q in questions],
    }
    row = DataExport(shop_id=shop.id, request_id=request_id, customer_id=customer_id, payload=export)
    db.add(row)
    db.flush()
    db.add(AuditEntry(shop_id=shop.id, actor="shopify", action="privacy.data_request",
                      detail={"export_id": row.id}))
    db.commit()
    return "exported"


def customer_redact(db, conn, shop: Shop, payload: dict) -> str:
    customer_id = str((payload.get("customer") or {}).get("id") or "")
    entries, drafts = _customer_rows(db, shop.id, _ids(payload.get("orders_to_redact")), customer_id)
    questions = _questions(db, shop.id, payload.get("customer") or {})
    drafts += _answer_drafts(db, shop.id, questions)
    for row in entries + drafts + questions:
        db.delete(row)
    if customer_id:
        db.execute(delete(DataExport).where(DataExport.shop_id == shop.id, DataExport.customer_id == customer_id))
    db.add(AuditEntry(shop_id=shop.id, actor="shopify", action="privacy.customer_redacted",
                      detail={"records": len(entries) + len(drafts) + len(questions)}))
    db.commit()
    return "redacted"


def shop_redact(db, conn, shop: Shop, payload: dict) -> str:
    cancel_jobs(conn, shop.id)
    domain = shop.domain
    db.delete(shop)
    db.commit()
    current_app.extensions["copydesk_directory"].forget(domain)
    log.info("shop/redact: deleted everything of %s", domain)
    return "redacted"


HANDLERS = {"app/uninstalled": uninstalled, "app/scopes_update": scopes_update,
            "customers/data_request": data_request, "customers/redact": customer_redact,
            "shop/redact": shop_redact}
