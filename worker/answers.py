"""Answers to customer questions: write one with the model, guard it, and deliver it once approved.

`answer_question(question_id)` (an RQ job on the generate queue, queued by `plugin.questions_store`):
a question about an order is answered only when the order's email matches the asker's (else a fixed
refusal that says nothing about the order); the product is fetched, `prompts/answer.j2` rendered with
the question only inside its delimited data block, the answer generated and checked: grounding against
the product and the shop's policies (`model.checks.text_kinds`) and the output guard
(`plugin.questions_guard`: markup, script, prompt echo, foreign emails or order numbers, links, invented
discounts). With the shop's `instant_answers` on and every check passed, the answer goes to the widget at
once (the draft is recorded as published by "instant"); otherwise the customer sees the holding reply and
a pending `answer` draft waits for review, flagged with what failed.

`deliver_answer` (from `worker.publish` for an approved answer draft) stores the answer for the widget, or
emails it (`answer_channel` "email", COPYDESK_SMTP_URL), exactly once. `regenerate` writes it again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

import prompts
from model.checks import rules, text_kinds
from plugin.db import Draft, Question, utcnow
from plugin.drafts import audit, supersede_pending, transition
from plugin.errors import ProductNotFound
from plugin.jobs import PREFIX
from plugin.questions_guard import inert, plain, problems
from plugin.questions_store import ORDER_REFUSED, asker_email
from worker import context
from worker.context import Context
from worker.pipeline import adapter, load_shop, style_for
from worker.retry import retry_transient

log = logging.getLogger(__name__)
TASK, ACTOR, MAX_NEW_TOKENS = "answer", "worker", 160
SENT_TTL = 90 * 24 * 3600


@retry_transient
def answer_question(question_id: int):
    """RQ entry point: the answer draft's id, or why none was written."""
    return write_answer(context.get(), int(question_id))


def owns_order(order, order_number: str, email: str) -> bool:
    """Whether `order` (a `plugin.platforms.base.Order`, or None) is the asker's: its number (or id) is the
    one given and its email the asker's, compared case-insensitively in constant time."""
    if order is None or not email or not getattr(order, "email", ""):
        return False
    number = order_number.lstrip("#").strip()
    names = {str(getattr(order, "name", "")).lstrip("#").strip(), str(getattr(order, "id", ""))}
    same_email = hmac.compare_digest(order.email.strip().lower().encode(), email.strip().lower().encode())
    return bool(number) and number in names and same_email


def _fetch_order(store, order_number: str):
    """The order the asker calls `order_number` (the number or name the store showed them), or None."""
    find_order = getattr(store, "find_order", None)
    if find_order is None or not order_number.strip():
        return None
    try:
        return find_order(order_number.strip())
    except (ProductNotFound, ValueError):
        return None


def _inert(value):
    """Product and policy text as prompt data: chat tokens and delimiters removed at every depth."""
    if isinstance(value, str):
        return inert(value)
    if isinstance(value, dict):
        return {k: _inert(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_inert(v) for v in value]
    return value


def _facts(snapshot: dict) -> str:
    record = text_kinds.facts_record(snapshot)
    return " ".join([record["title"], record["description"], *record["attributes"].values()])


def _generate(ctx: Context, shop_id: int, settings: dict, question: dict, product, *, seed: int, note: str):
    """(text, messages, snapshot, checks) for one question."""
    policies = {name: str(settings.get(f"policy_{name}") or "") for name in text_kinds.POLICY_NAMES}
    snapshot = {"title": f"Question about {product.title if product else 'the shop'}",
                "products": [product.snapshot()] if product else [], "policies": policies,
                "question_id": question["id"]}
    style = style_for(settings, note)
    record = _inert(product.record()) if product else None
    messages = prompts.render(TASK, question=inert(question["text"]), product=record, policies=_inert(policies),
                              style=style, order_verified=bool(question["order_number"]))
    generator = ctx.generator(shop_id)
    raw = generator.generate([messages], max_new_tokens=MAX_NEW_TOKENS, seed=seed, temperature=0.3, top_p=0.9)[0]
    text = plain(raw)
    grounding, claims = text_kinds.check(snapshot, {"answer": text})
    rule = rules.check(text_kinds.facts_record(snapshot), {"answer": text},
                       banned=settings.get("banned_words") or (), use_defaults=bool(settings.get("banned_defaults")))
    guard = problems(raw, system_prompt=messages[0]["content"], asker_email=question["email"],
                     asker_order=question["order_number"], facts=_facts(snapshot))
    if not text:
        guard.append("guard: the model wrote no answer")
    flags = [*guard, *(f"grounding: {p}" for p in grounding.problems), *(f"rules: {p}" for p in rule.problems)]
    checks = {"results": {"grounding": grounding.to_dict(), "rules": rule.to_dict(),
                          "guard": {"passed": not guard, "problems": guard, "detail": {}}},
              "claims": claims, "flags": flags, "passed": grounding.passed and rule.passed and not guard,
              "model": generator.model_id, **({"note": note} if note else {})}
    return text, snapshot, checks, generator


def write_answer(ctx: Context, question_id: int, *, seed: int | None = None, note: str = "") -> int | str:
    with ctx.sessions() as db:
        question = db.get(Question, question_id)
        if question is None:
            return "no such question"
        if seed is None and question.status != "new":
            existing = db.scalar(select(Draft.id).where(Draft.shop_id == question.shop_id, Draft.kind == "answer",
                                                        Draft.product_id == str(question.id)))
            return existing if existing is not None else f"question is {question.status}"
        shop_id = question.shop_id
        asked = {"id": question.id, "text": question.text, "order_number": question.order_number,
                 "product_id": question.product_id, "email": asker_email(ctx.vault, question)}
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return "shop not installed"
    shop, settings = loaded
    store = adapter(ctx, shop)
    if asked["order_number"] and not owns_order(_fetch_order(store, asked["order_number"]),
                                                 asked["order_number"], asked["email"]):
        _settle(ctx, question_id, "refused", ORDER_REFUSED)
        return "refused: the order is not the asker's"
    product = None
    if asked["product_id"]:
        try:
            product = store.get_product(asked["product_id"])
        except ProductNotFound:
            product = None
    seed = ctx.settings.seed if seed is None else seed
    text, snapshot, checks, generator = _generate(ctx, shop_id, settings, asked, product, seed=seed, note=note)
    instant = bool(settings["instant_answers"]) and checks["passed"] and not asked["order_number"] and not note
    input_hash = hashlib.sha256(json.dumps([snapshot, asked["text"]], sort_keys=True).encode()).hexdigest()
    with ctx.sessions() as db:
        draft = Draft(shop_id=shop_id, kind="answer", product_id=str(question_id), status="pending",
                      fields={"answer": text}, input_snapshot=snapshot, input_hash=input_hash,
                      model_id=generator.model_id, model_revision=getattr(generator, "revision", ""),
                      adapter=getattr(generator, "adapter", "") or "", prompt_version=prompts.version(TASK),
                      seed=seed, checks=checks)
        if not checks["passed"]:
            draft.reason = f"a person reviews this answer: {len(checks['flags'])} problem(s) flagged"
        db.add(draft)
        try:
            db.flush()
        except IntegrityError:  # the same job twice at once: the other one's draft stands
            db.rollback()
            return db.scalar(select(Draft.id).where(Draft.shop_id == shop_id, Draft.kind == "answer",
                                                    Draft.product_id == str(question_id),
                                                    Draft.input_hash == input_hash, Draft.seed == seed))
        audit(db, action="draft.created", actor=ACTOR, shop_id=shop_id, draft_id=draft.id,
              detail={"kind": "answer", "prompt": draft.prompt_version, "seed": seed,
                      "checks": "passed" if checks["passed"] else [f.split(":")[0] for f in checks["flags"]]})
        supersede_pending(db, shop_id=shop_id, product_id=str(question_id), keep=draft.id,
                          reason=f"superseded by draft {draft.id}", actor=ACTOR, kind="answer")
        if instant:
            transition(db, draft, "published", actor="instant", detail={"channel": "widget"})
        _settle_in(db, question_id, "answered" if instant else "pending", text if instant else "")
        db.commit()  # the draft, its audit entries and the question's state together
        draft_id = draft.id
    log.info("answer draft %s written for shop %s (%s)", draft_id, shop_id, "instant" if instant else "review")
    return draft_id


def _settle(ctx: Context, question_id: int, status: str, answer: str) -> None:
    with ctx.sessions() as db:
        _settle_in(db, question_id, status, answer)
        db.commit()


def _settle_in(db, question_id: int, status: str, answer: str) -> None:
    question = db.get(Question, question_id)
    if question is None or question.status == "answered":
        return
    question.status = status
    question.answer = answer
    if status in ("answered", "refused"):
        question.answered_at = utcnow()


def regenerate(ctx: Context, draft_id: int, *, note: str, seed: int | None):
    """Write the draft's question's answer again (a new pending draft; the old one is superseded)."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None or draft.kind != "answer":
            return "no such answer draft"
        question_id = int(draft.product_id)
    from plugin.jobs import fresh_seed

    return write_answer(ctx, question_id, seed=fresh_seed() if seed is None else seed, note=note)


def deliver_answer(ctx: Context, draft_id: int, *, actor: str) -> str:
    """Send an approved answer to its asker (widget or email, per `answer_channel`), exactly once."""
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        if draft is None:
            return "no such draft"
        if draft.status != "approved":
            return f"not sent: draft is {draft.status}"
        question = db.get(Question, int(draft.product_id))
        if question is None or question.shop_id != draft.shop_id:
            return _finish(ctx, draft_id, "failed", actor, reason="the question no longer exists")
        text = plain(draft.fields.get("answer", ""))
        email = asker_email(ctx.vault, question)
        shop_id = draft.shop_id
    loaded = load_shop(ctx, shop_id)
    if loaded is None:
        return _finish(ctx, draft_id, "failed", actor, reason="the shop is not installed")
    shop, settings = loaded
    if not text:
        return _finish(ctx, draft_id, "failed", actor, reason="the answer is empty")
    channel = settings["answer_channel"]
    if channel == "email":
        reason = _email(ctx, draft_id, shop.domain, email, text)
        if reason:
            return _finish(ctx, draft_id, "failed", actor, reason=reason)
    with ctx.sessions() as db:  # an earlier instant or approved answer is replaced by this one
        row = db.get(Question, int(question.id))
        row.answer, row.status, row.answered_at = text, "answered", utcnow()
        db.commit()
    return _finish(ctx, draft_id, "published", actor, detail={"channel": channel})


def _email(ctx: Context, draft_id: int, domain: str, to: str, text: str) -> str:
    """Send the answer by email, at most once per draft; "" when sent (or sent before), else why not."""
    from plugin import mail

    if not ctx.settings.smtp_url:
        return "not sent: this shop answers by email, and COPYDESK_SMTP_URL is not set"
    if not to:
        return "not sent: the customer gave no email address"
    marker = f"{PREFIX}:answer-sent:{draft_id}"
    if not ctx.redis.set(marker, "sending", nx=True, ex=SENT_TTL):
        state = ctx.redis.get(marker)
        if state == b"sent":
            return ""  # a retried job: the email went out already
        # An earlier try stopped mid-send (worker killed): whether the email left is unknown. A person
        # decides rather than the customer getting it twice or not at all.
        return "not sent: an earlier attempt stopped while sending; check the mailbox, then approve again"
    try:
        mail.send(ctx.settings.smtp_url, to, f"Your question to {domain}", f"{text}\n\n{domain}\n",
                  timeout=ctx.settings.http_timeout)
    except mail.MailError as err:
        ctx.redis.delete(marker)
        return f"not sent: {err}"
    except Exception:
        ctx.redis.delete(marker)  # refused before anything was sent (a bad address header, say)
        raise
    ctx.redis.set(marker, "sent", ex=SENT_TTL)
    return ""


def _finish(ctx: Context, draft_id: int, status: str, actor: str, *, reason: str = "",
            detail: dict | None = None) -> str:
    with ctx.sessions() as db:
        draft = db.get(Draft, draft_id)
        transition(db, draft, status, actor=actor, reason=reason, detail=detail)
        db.commit()
    log.info("answer draft %s %s", draft_id, status)
    return status
