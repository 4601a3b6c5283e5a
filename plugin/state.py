"""Per-request access to the app's resources: a database session per request, the shared Redis."""

from __future__ import annotations

import redis
from flask import current_app, g
from sqlalchemy.orm import Session


def get_db() -> Session:
    if "db" not in g:
        g.db = current_app.extensions["copydesk_sessionmaker"]()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()


def get_redis() -> redis.Redis:
    return current_app.extensions["copydesk_redis"]
