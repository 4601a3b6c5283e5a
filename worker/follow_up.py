"""Post-purchase follow-ups: a thank-you with care notes for a new order, reviewed, then written to the order.

`follow_up_order` skips (and audits `order.skipped`, ids only) when the shop's `follow_ups` setting is off,
the order is a test or cancelled one, or it already has a follow-up (a draft of any status, or a note in
the store). Otherwise it reads the products bought, writes the message with the shop's generator, checks
it (grounding against the products and the shop's policies, banned words and invented prices, promotion
when the buyer did not accept marketing, language), and stores an `order_follow_up` draft. Sentences with
an unsupported claim, a banned word or, without consent, promotion are dropped; when too little remains
the message becomes a plain thank-you plus care lines copied verbatim from the products' own data, so a
follow-up never invents a care instruction. The snapshot holds no personal data but the first name, and
that only when the shop's `follow_up_first_name` is on. Nothing here logs customer data.

`publish_follow_up` writes an approved draft to the order exactly once: a Redis lock per order, and a
retry finds the message already on the order (WooCommerce customer note, Shopify metafield) and records
it as published instead of writing it again.
"""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import prompts
from model.checks import CheckResult, language, rules
from model.checks import text_kinds as kinds
from model.checks.result import sentences
from plugin import jobs
from plugin.db import Draft
from plugin.drafts import audit, transition
from plugin.errors import ProductNotFound, StoreAPIError, TransientStoreError
from plugin.platforms.base import Order, digest, html_to_text
from plugin.questions_guard import inert
from worker import held_locks
from worker.context import Context
from worker.pipeline import adapter, load_shop, style_for

log = logging.getLogger(__name__)
KIND, TASK, ACTOR = "order_follow_up", "order_follow_up", "worker"
MAX_PRODUCTS, MAX_NEW_TOKENS, MAX_CHARS, MIN_WORDS = 5, 180, 1200, 10
PROMOTION = re.compile(
    r"\d{1,3}\s?%\s?off\b|\b(?:discount(?:s|ed)?|sales?|offers?|shop now|coupons?|promo(?:tions?|s)?|"
    r"promo codes?|vouchers?|deals?|next (?:order|purchase)|buy (?:more|again)|subscribe)\b", re.I)
"""Promotion: refused in a message to a buyer who did not accept marketing."""
CARE = re.compile(r"\b(?:care|wash(?:able|ing|ed)?|clean(?:ing|ed)?|stor(?:e|age|ing)|dry(?:ing)?|"
                  r"tumble|iron(?:ing)?|bleach|dishwasher|polish|oil(?:ing)?)\b", re.I)
THANKS = {"en": "Thank you for your order{name}!", "de": "Vielen Dank für Ihre Bestellung{name}!",
          "fr": "Merci pour votre commande{name} !", "es": "¡Gracias por tu pedido{name}!",
          "it": "Grazie per il tuo ordine{name}!", "nl": "Bedankt voor je bestelling{name}!"}


def follow_up_order(ctx: Context, shop_id: int, order_id: str) -> int | str:
    """A follow-up draft's id for a new order, or why none was written."""
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return "shop not installed"
    shop, settings = loaded
    if not settings["follow_ups"]:
        return _skip(ctx, shop_id, order_id, "follow-ups are off for this shop")
    store = adapter(ctx, shop)
    try:
        order = store.get_order(order_id)
    except ProductNotFound:
        return _skip(ctx, shop_id, order_id, "the order does not exist in the store")
    reason = ("a test order" if order.test else "the order is cancelled" if order.cancelled
              else "the order already has a follow-up note" if order.follow_up_notes else "")
    with ctx.sessions() as db:
        existing = db.scalar(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == KIND,
                                                 Draft.product_id == order.id).order_by(Draft.id))
        if existing is not None and not reason:
            reason, approved = f"the order already has follow-up draft {existing.id}", existing.status == "approved"
            if approved:  # an auto-approved draft whose publish job was lost: queue it again (idempotent)
                jobs.enqueue_publish(ctx.redis, existing.id, actor="auto-publish", shop_id=shop_id)
    if reason:
        return _skip(ctx, shop_id, order.id, reason)
    products = []
    for product_id in order.product_ids[:MAX_PRODUCTS]:
        try:
            products.append(store.get_product(product_id).snapshot())
        except ProductNotFound:
            continue
    return _write(ctx, shop_id, settings, snapshot_of(order, products, settings), seed=ctx.settings.seed,
                  trigger="order.created")


def snapshot_of(order: Order, products: list[dict], settings: dict) -> dict:
    """The draft's input: the products and policies it may draw on, and of the buyer only the language
    code, the consent flag and, when the shop allows it, the first name."""
    buyer = {"name": order.name, "language": order.customer_locale, "accepts_marketing": order.accepts_marketing}
    if settings["follow_up_first_name"] and order.first_name:
        buyer["first_name"] = order.first_name.strip()[:40]
    return {"id": order.id, "title": f"Order {order.name}", "order": buyer, "products": products,
            "policies": {name: str(settings.get(f"policy_{name}") or "") for name in kinds.POLICY_NAMES}}


def _skip(ctx: Context, shop_id: int, order_id: str, reason: str) -> str:
    with ctx.sessions() as db:
        audit(db, action="order.skipped", actor=ACTOR, shop_id=shop_id,
              detail={"order_id": str(order_id), "reason": reason})
        db.commit()
    log.info("follow-up skipped for shop %s order %s: %s", shop_id, order_id, reason)
    return f"skipped: {reason}"


def compose(generator, snapshot: dict, settings: dict, *, seed: int, note: str = "") -> tuple[dict, dict]:
    """Write and check the message: `({"message": text}, checks)` and the generation's provenance."""
    from model.checks import record_of

    buyer = snapshot["order"]
    first_name = inert(buyer.get("first_name", "")) if settings["follow_up_first_name"] else ""
    style = style_for({**settings, "language": buyer.get("language") or settings["language"]}, note)
    records = [record_of(p) for p in snapshot["products"]]
    messages = prompts.render(TASK, order={"name": buyer["name"], "first_name": first_name}, products=records,
                              policies=snapshot["policies"], promotion=bool(buyer["accepts_marketing"]), style=style)
    [raw] = generator.generate([messages], max_new_tokens=[MAX_NEW_TOKENS], seed=[seed], temperature=0.5,
                               top_p=0.9)
    text = " ".join(html_to_text(raw).split())[:MAX_CHARS]
    results, claims = check(snapshot, text, settings)
    fixes: list[str] = []
    if not all(r.passed for r in results.values()):
        text, fixes = repair(snapshot, text, results, claims, first_name)
        results, claims = check(snapshot, text, settings)
    checks = {"passed": all(r.passed for r in results.values()), "claims": claims,
              "flags": [f"{n}: {p}" for n, r in results.items() for p in r.problems],
              "results": {n: r.to_dict() for n, r in results.items()},
              "language": buyer.get("language") or settings["language"],
              "accepts_marketing": bool(buyer["accepts_marketing"]), "first_name_used": bool(first_name),
              **({"fixes": fixes} if fixes else {}), **({"note": style["note"]} if style["note"] else {})}
    provenance = {"model_id": generator.model_id, "model_revision": getattr(generator, "revision", ""),
                  "adapter": getattr(generator, "adapter", "") or "", "prompt_version": prompts.version(TASK)}
    return {"message": text, "checks": checks}, provenance


def check(snapshot: dict, text: str, settings: dict) -> tuple[dict[str, CheckResult], list[dict]]:
    """grounding, rules, promotion (without consent) and language over the message; the claims."""
    fields = {"message": text}
    grounding, claims = kinds.check(snapshot, fields)
    facts = kinds.facts_record(snapshot)
    results = {"grounding": grounding,
               "rules": rules.check(facts, fields, banned=settings.get("banned_words") or (),
                                    use_defaults=bool(settings.get("banned_defaults", True)))}
    found = [] if snapshot["order"]["accepts_marketing"] else [m.group(0) for m in PROMOTION.finditer(text)]
    results["promotion"] = CheckResult("promotion", not found,
                                       [f"message: promotion “{t}” without the buyer's consent" for t in found],
                                       {"found": found} if found else {})
    expected = snapshot["order"].get("language") or settings["language"]
    verdict = language.check_text(text, expected, drop=language.data_words(facts))
    results["language"] = CheckResult(
        "language", verdict["verdict"] != "wrong",
        [f"message: written in {verdict['language']}, not {expected}"] if verdict["verdict"] == "wrong" else [],
        {"expected": expected, "fields": {"message": verdict}})
    return results, claims


def repair(snapshot: dict, text: str, results: dict, claims: list[dict], first_name: str) -> tuple[str, list[str]]:
    """The message without its offending sentences, or, when too little stands, the grounded fallback."""
    terms = {c["text"] for c in claims if not c.get("supported")}
    terms |= {p["text"] for key in ("banned", "leakage", "prices")
              for p in results["rules"].detail.get(key, [])}
    terms |= set(results["promotion"].detail.get("found", []))
    norm = [" ".join(t.lower().split()) for t in terms if t.strip()]
    kept, fixes = [], []
    for sentence in sentences(text):
        if any(t in " ".join(sentence.lower().split()) for t in norm):
            fixes.append(f"dropped: “{sentence}”")
        else:
            kept.append(sentence)
    if results["language"].passed and len(" ".join(kept).split()) >= MIN_WORDS:
        return " ".join(kept), fixes
    return fallback(snapshot, first_name), fixes + ["replaced by a thank-you and care lines from the product data"]


def fallback(snapshot: dict, first_name: str = "") -> str:
    """A plain thank-you in the buyer's language, and care lines copied verbatim from the products' data."""
    code = str(snapshot["order"].get("language") or "en").split("-")[0]
    lines = [THANKS.get(code, THANKS["en"]).format(name=f", {first_name}" if first_name else "")]
    for product in snapshot["products"]:
        for name, value in (product.get("attributes") or {}).items():
            if CARE.search(f"{name} {value}"):
                lines.append(f"{product['title']}: {name}: {value}.")
        lines += [s for s in sentences(html_to_text(product.get("description_html", ""))) if CARE.search(s)][:3]
    return " ".join(dict.fromkeys(lines))[:MAX_CHARS]


def _write(ctx: Context, shop_id: int, settings: dict, snapshot: dict, *, seed: int, trigger: str,
           note: str = "") -> int:
    written, provenance = compose(ctx.generator(shop_id), snapshot, settings, seed=seed, note=note)
    checks, order_id = written["checks"], str(snapshot["id"])
    auto = bool(settings["follow_up_auto_publish"]) and checks["passed"]
    with ctx.sessions() as db:
        draft = Draft(shop_id=shop_id, kind=KIND, product_id=order_id, status="pending",
                      fields={"message": written["message"]}, previous={}, input_snapshot=snapshot,
                      input_hash=digest(snapshot), seed=seed, checks=checks, **provenance)
        db.add(draft)
        try:
            db.flush()
        except IntegrityError:  # the same job ran twice at once: the other draft stands
            db.rollback()
            return db.scalar(select(Draft.id).where(Draft.shop_id == shop_id, Draft.kind == KIND,
                                                    Draft.product_id == order_id, Draft.seed == seed,
                                                    Draft.input_hash == digest(snapshot)))
        audit(db, action="draft.created", actor=ACTOR, shop_id=shop_id, draft_id=draft.id,
              detail={"trigger": trigger, "kind": KIND, "order_id": order_id, "seed": seed,
                      "prompt": provenance["prompt_version"],
                      "checks": "passed" if checks["passed"] else [f.split(":")[0] for f in checks["flags"]]})
        for older in db.scalars(select(Draft).where(Draft.shop_id == shop_id, Draft.kind == KIND,
                                                    Draft.product_id == order_id, Draft.status == "pending",
                                                    Draft.id != draft.id)):
            transition(db, older, "stale", actor=ACTOR, reason=f"superseded by draft {draft.id}")
        if auto:
            transition(db, draft, "approved", actor=ACTOR, detail={"auto_publish": True})
        elif settings["follow_up_auto_publish"]:
            draft.reason = "not sent automatically: the checks flagged a problem; a person reviews it"
        db.commit()
        draft_id = draft.id
    if auto:
        jobs.enqueue_publish(ctx.redis, draft_id, actor="auto-publish", shop_id=shop_id)
    log.info("follow-up draft %s written for shop %s order %s", draft_id, shop_id, order_id)
    return draft_id


def regenerate(ctx: Context, draft_id: int, *, note: str = "", seed: int | None = None) -> int | str:
    """Write a follow-up again from its draft's snapshot (no store call): a new draft that supersedes the
    order's pending ones. Refused once a follow-up for the order was sent."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None or draft.kind != KIND:
            return "no such follow-up draft"
        shop_id, order_id, snapshot = draft.shop_id, draft.product_id, dict(draft.input_snapshot)
        sent = db.scalar(select(Draft.id).where(Draft.shop_id == shop_id, Draft.kind == KIND,
                                                Draft.product_id == order_id,
                                                Draft.status.in_(("approved", "published"))))
    if sent is not None:
        return f"not regenerated: draft {sent} was already approved or sent for this order"
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return "shop not installed"
    return _write(ctx, shop_id, loaded[1], snapshot, seed=jobs.fresh_seed() if seed is None else seed,
                  trigger="regenerate", note=note)


def publish_follow_up(ctx: Context, draft_id: int, *, actor: str) -> str:
    """Write an approved follow-up to its order, once (see the module docstring)."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None:
            return "no such draft"
        shop_id, order_id, status = draft.shop_id, draft.product_id, draft.status
        message = str((draft.fields or {}).get("message") or "")
    if status != "approved":
        return f"not published: draft is {status}"
    lock = ctx.redis.lock(f"{jobs.PREFIX}:follow-up:{shop_id}:{order_id}", timeout=ctx.settings.job_timeout,
                          blocking_timeout=5)
    if not lock.acquire():
        raise TransientStoreError("another job is writing this order's follow-up")
    held_locks.remember(lock)
    try:
        loaded = load_shop(ctx, shop_id)
        if loaded is None:
            return _finish(ctx, draft_id, "failed", actor, reason="the shop is not installed")
        store = adapter(ctx, loaded[0])
        try:
            order = store.get_order(order_id)
            if _same(message) in {_same(n) for n in order.follow_up_notes}:
                return _finish(ctx, draft_id, "published", actor, detail={"note": "the order already shows it"})
            if order.cancelled:
                return _finish(ctx, draft_id, "stale", actor, reason="not sent: the order was cancelled")
            sent = _sent_draft(ctx, shop_id, order_id, draft_id)
            if sent is not None or order.follow_up_notes:  # never a second message to the same buyer
                return _finish(ctx, draft_id, "stale", actor, reason="not sent: the order already has a follow-up"
                               + (f" (draft {sent})" if sent is not None else ""))
            if order.awaiting_payment:  # retried with backoff; still unpaid after the retries, the draft fails
                raise TransientStoreError("the order is not paid yet: the follow-up waits")
            store.add_order_note(order_id, message, customer_visible=True)
        except ProductNotFound:
            return _finish(ctx, draft_id, "failed", actor, reason="the order no longer exists in the store")
        except TransientStoreError:
            raise
        except StoreAPIError as err:
            _finish(ctx, draft_id, "failed", actor, reason=f"the store refused the note: {err}")
            raise
        return _finish(ctx, draft_id, "published", actor, detail={"order_id": order_id})
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 - expired or lost with Redis: the timeout frees it anyway
            log.warning("follow-up lock for draft %s was already released", draft_id)


def _sent_draft(ctx: Context, shop_id: int, order_id: str, draft_id: int) -> int | None:
    with ctx.sessions() as db:
        return db.scalar(select(Draft.id).where(Draft.shop_id == shop_id, Draft.kind == KIND, Draft.id != draft_id,
                                                Draft.product_id == order_id, Draft.status == "published"))


def _same(text: str) -> str:
    return " ".join(html_to_text(text).split())


def _finish(ctx: Context, draft_id: int, status: str, actor: str, *, reason: str = "",
            detail: dict | None = None) -> str:
    with ctx.sessions() as db:
        transition(db, db.get(Draft, draft_id), status, actor=actor, reason=reason, detail=detail)
        db.commit()
    log.info("follow-up draft %s %s", draft_id, status)
    return status
