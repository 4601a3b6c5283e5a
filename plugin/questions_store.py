"""Customer questions: validating what the widget sends, storing it, the per-IP limit, the shop's public
widget key, what the widget is shown, and finding a customer's questions by email (privacy requests).

Never logged: question text, emails, tokens, keys, IPs.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from plugin.crypto import DecryptError, Vault
from plugin.db import Question, Shop
from plugin.jobs import FAILURE_TTL, GENERATE, PREFIX, RESULT_TTL, queue
from plugin.platforms.base import check_id
from plugin.questions_guard import plain

QUESTION_MAX = 1000
"""Longest question, in characters."""
HOLDING_REPLY = "Thanks — a person will answer shortly."
ORDER_REFUSED = ("We could not match that order number with the email address given, so we cannot answer "
                 "questions about it here. Please contact the shop directly.")
KEY_SETTING = "questions_key"
"""Shop.settings entry holding the shop's publishable widget key (WooCommerce)."""
WINDOW = 3600
_EMAIL = re.compile(r"^[^@\s<>]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_ORDER_NUMBER = re.compile(r"^#?\s?[A-Za-z0-9-]{1,30}$")


class QuestionError(ValueError):
    """What the widget sent cannot be accepted (answered 400 with this message)."""


@dataclass(frozen=True)
class Ask:
    question: str
    product_id: str = ""
    email: str = ""
    order_number: str = ""


def parse_ask(payload: object, *, need_email: bool = False) -> Ask:
    """Validate the widget's JSON; raises QuestionError naming the field."""
    if not isinstance(payload, dict):
        raise QuestionError("send a JSON object")
    text = payload.get("question")
    if not isinstance(text, str) or not text.strip():
        raise QuestionError("question is required")
    text = text.replace("\x00", "").strip()  # a NUL byte is never meant, and PostgreSQL refuses it
    if not text:
        raise QuestionError("question is required")
    if len(text) > QUESTION_MAX:
        raise QuestionError(f"question is at most {QUESTION_MAX} characters")
    product_id = payload.get("product_id") or ""
    if product_id != "":
        try:
            product_id = check_id(str(product_id), "product_id")
        except ValueError as err:
            raise QuestionError("product_id must be a product's number") from err
    email = str(payload.get("email") or "").strip()
    if email and (len(email) > 254 or not _EMAIL.match(email)):
        raise QuestionError("email is not an email address")
    order = str(payload.get("order_number") or "").strip()
    if order and not _ORDER_NUMBER.match(order):
        raise QuestionError("order_number is not an order number")
    if order and not email:
        raise QuestionError("a question about an order needs the email address the order was placed with")
    if need_email and not email:
        raise QuestionError("this shop answers by email: email is required")
    return Ask(text, product_id, email, order.lstrip("#").strip())


def ip_hash(secret_key: str, ip: str) -> str:
    """A keyed hash of the asker's IP: enough to rate-limit, never the address itself."""
    return hmac.new(secret_key.encode(), f"question-ip|{ip}".encode(), hashlib.sha256).hexdigest()


def rate_limited(conn: redis.Redis, shop_id: int, ip_digest: str, per_hour: int,
                 now: float | None = None) -> int:
    """Count one question from this IP; the seconds to wait when it is over `per_hour`, else 0."""
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    key = f"{PREFIX}:questions:ip:{shop_id}:{ip_digest}:{window}"
    pipe = conn.pipeline()
    pipe.incr(key)
    pipe.expire(key, WINDOW + 60)
    count = pipe.execute()[0]
    if count > per_hour:
        return max(1, int((window + 1) * WINDOW - now))
    return 0


def widget_key(db: Session, shop: Shop) -> str:
    """The shop's publishable widget key (made on first use): `<shop id>-<random>`. Not a secret, but not
    guessable either; it names the shop for the WooCommerce endpoints."""
    key = (shop.settings or {}).get(KEY_SETTING)
    if not key:
        key = f"{shop.id}-{secrets.token_urlsafe(24)}"
        shop.settings = {**(shop.settings or {}), KEY_SETTING: key}
        db.commit()
    return key


def shop_for_key(db: Session, key: str) -> Shop | None:
    """The installed shop whose widget key is `key` (compared in constant time), or None."""
    shop_id, _, rest = str(key).partition("-")
    if not shop_id.isdigit() or not rest or len(key) > 100:
        return None
    shop = db.get(Shop, int(shop_id))
    if shop is None or shop.uninstalled_at is not None:
        return None
    stored = str((shop.settings or {}).get(KEY_SETTING) or "")
    return shop if stored and hmac.compare_digest(stored.encode(), key.encode()) else None


def store_question(db: Session, vault: Vault, shop: Shop, ask: Ask, *, channel: str, ip_digest: str) -> Question:
    question = Question(shop_id=shop.id, token=secrets.token_urlsafe(24), product_id=ask.product_id,
                        text=ask.question, order_number=ask.order_number, channel=channel, status="new",
                        email_sealed=vault.seal({"email": ask.email}) if ask.email else None, ip_hash=ip_digest)
    db.add(question)
    db.commit()
    return question


def enqueue_answer(conn: redis.Redis, question: Question, job_timeout: int = 900):
    return queue(conn, GENERATE, job_timeout).enqueue(
        "worker.answers.answer_question", question.id, job_id=f"answer-question-{question.id}",
        meta={"shop_id": question.shop_id}, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        description=f"answer question={question.id}")


def find(db: Session, shop_id: int, token: str) -> Question | None:
    if not token or len(token) > 64:
        return None
    question = db.scalar(select(Question).where(Question.shop_id == shop_id, Question.token == token))
    # The lookup is by equality; compare again in constant time so timing says nothing about near misses.
    return question if question and hmac.compare_digest(question.token.encode(), token.encode()) else None


def view(question: Question) -> dict:
    """What the widget shows: the answer once given (plain text only), else the holding reply."""
    if question.status in ("answered", "refused") and question.answer:
        return {"status": question.status, "answer": plain(question.answer)}
    return {"status": "pending", "message": HOLDING_REPLY}


def asker_email(vault: Vault, question: Question) -> str:
    if not question.email_sealed:
        return ""
    return str(vault.open(question.email_sealed).get("email") or "")


def by_email(db: Session, vault: Vault, shop_id: int, email: str) -> list[Question]:
    """The shop's questions asked with `email` (case-insensitive); sealed emails are opened one by one."""
    wanted = email.strip().lower()
    if not wanted:
        return []
    found = []
    for question in db.scalars(select(Question).where(Question.shop_id == shop_id,
                                                      Question.email_sealed.is_not(None))):
        try:
            if asker_email(vault, question).lower() == wanted:
                found.append(question)
        except DecryptError:
            continue
    return found
