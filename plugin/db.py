"""The database: schema and sessions (SQLAlchemy 2.x; SQLite by default, PostgreSQL by URL).

Durable state only: shops and their encrypted credentials, what we last saw of each product, drafts
with everything needed to reproduce them, and the audit log. Short-lived state (delivery dedupe,
own-write markers, locks) lives in Redis.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

DRAFT_STATUSES = ("pending", "approved", "published", "rejected", "stale", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, list: JSON}


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    """Shopify: `name.myshopify.com`. WooCommerce: the store URL without scheme or trailing slash."""
    api_url: Mapped[str] = mapped_column(String(500), default="")
    """Where the store's API lives: the WooCommerce site URL, or an override for Shopify's."""
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    """Encrypted JSON (plugin.crypto.Vault); never stored in the clear."""
    settings: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ProductState(Base):
    """What we last knew of a product, refreshed by update webhooks, for stale-draft detection."""

    __tablename__ = "product_states"
    __table_args__ = (UniqueConstraint("shop_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500), default="")
    content_hash: Mapped[str] = mapped_column(String(64))
    has_copy: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Draft(Base):
    __tablename__ = "drafts"
    __table_args__ = (
        # One draft per product, input and seed: a duplicate or retried job cannot make a second one.
        UniqueConstraint("shop_id", "kind", "product_id", "input_hash", "seed", name="uq_draft_input"),
        Index("ix_drafts_shop_status", "shop_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30), default="product_copy")
    product_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str] = mapped_column(Text, default="")
    fields: Mapped[dict] = mapped_column(default=dict)
    """The proposed copy: description_html, short_description, seo_title, seo_description."""
    previous: Mapped[dict] = mapped_column(default=dict)
    """The store's copy when the draft was made (restored by `drafts restore`)."""
    input_snapshot: Mapped[dict] = mapped_column(default=dict)
    input_hash: Mapped[str] = mapped_column(String(64))
    model_id: Mapped[str] = mapped_column(String(255), default="")
    model_revision: Mapped[str] = mapped_column(String(64), default="")
    adapter: Mapped[str] = mapped_column(String(255), default="")
    prompt_version: Mapped[str] = mapped_column(String(64), default="")
    seed: Mapped[int] = mapped_column(Integer, default=0)
    checks: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Staff(Base):
    """A person who reviews drafts in the standalone panel (`copydesk staff add`). Embedded Shopify
    users are not stored: Shopify vouches for them with a session token on every request."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("shop_id", "email", name="uq_staff_email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), default=None)
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="CASCADE"), default=None)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DataExport(Base):
    """A `customers/data_request` export: what Copydesk holds about one customer, for the merchant to fetch
    at /panel/exports/<id>. Deleted with the shop, or by that customer's `customers/redact`."""

    __tablename__ = "data_exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    request_id: Mapped[str] = mapped_column(String(64), default="")
    customer_id: Mapped[str] = mapped_column(String(64), default="")
    payload: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Question(Base):
    """A storefront customer's question (`plugin.questions`). The asker's email is sealed with the shop
    Vault like credentials; the IP is kept only as a keyed hash. The answer draft (kind "answer") names
    the question by id in `Draft.product_id`."""

    __tablename__ = "questions"
    __table_args__ = (Index("ix_questions_shop_status", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    """Unguessable; the widget polls the answer with it."""
    product_id: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)
    email_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    """Vault-sealed {"email": ...}; None when the asker gave none."""
    order_number: Mapped[str] = mapped_column(String(32), default="")
    channel: Mapped[str] = mapped_column(String(20))
    """Where it was asked: "app_proxy" (Shopify) or "woocommerce"."""
    status: Mapped[str] = mapped_column(String(20), default="new")
    """new (queued) → pending (a person reviews the answer) | answered | refused."""
    answer: Mapped[str] = mapped_column(Text, default="")
    ip_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (web) don't block the writer (worker)
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _json(value) -> str:
    # Unicode kept as is, so that the panel's text search finds "café" in stored copy.
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 10}, json_serializer=_json)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json)


SQLITE_BUSY, SQLITE_LOCKED = 5, 6


def is_transient(err: BaseException) -> bool:
    """Whether a database error is worth trying again later: the connection was lost (PostgreSQL restarted,
    the network dropped), the server refused it for now (starting up, shutting down, too many clients), a
    serialization failure or deadlock, or SQLite's file was locked past its busy timeout. Constraint
    violations, bad SQL, a missing table and the like are not: they would fail again."""
    if not isinstance(err, DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    if not isinstance(err, OperationalError):
        return False
    orig = err.orig
    if type(orig).__module__.startswith("sqlite3"):  # sqlite3 raises OperationalError for much else too
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
        return "locked" in str(orig) or "busy" in str(orig)
    return True  # psycopg2: connection (08), operator intervention (57), resources (53), rollback (40)


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, expire_on_commit=False)


def init_db(engine: Engine) -> None:
    """Create missing tables (idempotent). Several processes starting at once (gunicorn workers, a
    worker) may race to create the same table; the loser finds it made and checks again."""
    for attempt in range(3):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError):
            if attempt == 2:
                raise
