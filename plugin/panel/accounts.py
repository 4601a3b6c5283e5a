"""Staff accounts for the standalone panel: passwords, login throttling, server-side sessions.

A panel session is a random id in the signed cookie that points at a record in Redis; logging out
deletes the record, so a copied cookie stops working at once. Passwords are hashed with Werkzeug's
scrypt. Failed logins are counted per address and per email, and both are throttled.
"""

from __future__ import annotations

import json
import secrets

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from plugin.db import AuditEntry, Shop, Staff, utcnow
from plugin.jobs import PREFIX

SESSION_TTL = 12 * 3600
LOGIN_WINDOW = 15 * 60
LOGIN_LIMIT = 10
"""At most this many failed logins per address, and per email, in LOGIN_WINDOW seconds."""
MIN_PASSWORD = 10
_DUMMY_HASH = generate_password_hash("timing-equaliser")


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 255 or any(c.isspace() for c in email):
        raise ValueError(f"not an email address: {email[:60]!r}")
    return email


def add_staff(db: Session, shop: Shop, email: str, password: str, *, actor: str = "cli") -> Staff:
    """Create a staff account for `shop`, or set a new password on an existing one."""
    email = normalize_email(email)
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    staff = db.scalar(select(Staff).where(Staff.shop_id == shop.id, Staff.email == email))
    action = "staff.password" if staff else "staff.added"
    if staff is None:
        staff = Staff(shop_id=shop.id, email=email, password_hash="")
        db.add(staff)
    staff.password_hash = generate_password_hash(password)
    db.flush()
    db.add(AuditEntry(shop_id=shop.id, actor=actor, action=action, detail={"email": email}))
    db.commit()
    return staff


def remove_staff(db: Session, shop: Shop, email: str, *, actor: str = "cli") -> bool:
    staff = db.scalar(select(Staff).where(Staff.shop_id == shop.id, Staff.email == normalize_email(email)))
    if staff is None:
        return False
    db.delete(staff)
    db.add(AuditEntry(shop_id=shop.id, actor=actor, action="staff.removed", detail={"email": staff.email}))
    db.commit()
    return True


def list_staff(db: Session, shop: Shop) -> list[Staff]:
    return list(db.scalars(select(Staff).where(Staff.shop_id == shop.id).order_by(Staff.email)))


def verify_login(db: Session, email: str, password: str) -> list[Staff]:
    """The accounts (one per shop) that this email and password open; empty when none does.
    The same person may review several shops with one email and password."""
    try:
        email = normalize_email(email)
    except ValueError:
        check_password_hash(_DUMMY_HASH, password)  # the same work whether or not the email exists
        return []
    accounts = list(db.scalars(
        select(Staff).join(Shop, Shop.id == Staff.shop_id)
        .where(Staff.email == email, Shop.uninstalled_at.is_(None)).order_by(Staff.shop_id)))
    if not accounts:
        check_password_hash(_DUMMY_HASH, password)
        return []
    opened = [a for a in accounts if check_password_hash(a.password_hash, password)]
    for account in opened:
        account.last_login_at = utcnow()
    db.commit()
    return opened


def _fail_keys(address: str, email: str) -> list[str]:
    return [f"{PREFIX}:login-fail:addr:{address}", f"{PREFIX}:login-fail:email:{email.strip().lower()[:255]}"]


def throttled(conn: redis.Redis, address: str, email: str) -> bool:
    counts = conn.mget(_fail_keys(address, email))
    return any(int(c or 0) >= LOGIN_LIMIT for c in counts)


def record_failure(conn: redis.Redis, address: str, email: str) -> None:
    pipe = conn.pipeline()
    for key in _fail_keys(address, email):
        pipe.incr(key)
        pipe.expire(key, LOGIN_WINDOW, nx=True)
    pipe.execute()


def clear_failures(conn: redis.Redis, address: str, email: str) -> None:
    conn.delete(*_fail_keys(address, email))


def _session_key(sid: str) -> str:
    return f"{PREFIX}:panel-session:{sid}"


def open_session(conn: redis.Redis, accounts: list[Staff]) -> str:
    """A new session (a fresh id at every login, so a planted id is useless) for these accounts."""
    sid = secrets.token_urlsafe(32)
    record = {"email": accounts[0].email, "shops": {str(a.shop_id): a.id for a in accounts},
              "shop_id": accounts[0].shop_id, "csrf": secrets.token_urlsafe(32)}
    conn.set(_session_key(sid), json.dumps(record), ex=SESSION_TTL)
    return sid


def load_session(conn: redis.Redis, sid: str) -> dict | None:
    if not sid or len(sid) > 100:
        return None
    raw = conn.get(_session_key(sid))
    if raw is None:
        return None
    conn.expire(_session_key(sid), SESSION_TTL)  # sliding: 12 hours after the last request
    return json.loads(raw)


def save_session(conn: redis.Redis, sid: str, record: dict) -> None:
    conn.set(_session_key(sid), json.dumps(record), ex=SESSION_TTL)


def close_session(conn: redis.Redis, sid: str) -> None:
    if sid:
        conn.delete(_session_key(sid))


def staff_still_valid(db: Session, record: dict, shop_id: int) -> bool:
    """A session only opens shops whose account still exists (removing an account locks it out)."""
    staff_id = record.get("shops", {}).get(str(shop_id))
    if staff_id is None:
        return False
    staff = db.get(Staff, int(staff_id))
    return staff is not None and staff.shop_id == shop_id
