"""Job-level retry for transient store and database failures.

A job wrapped with `@retry_transient` that hits a `TransientStoreError` (timeouts, 5xx, 429/THROTTLED)
or a transient database error (`plugin.db.is_transient`: PostgreSQL restarted or unreachable, SQLite
locked past its busy timeout) returns `rq.Retry` so that RQ runs it again later, after the store's
`Retry-After` when it gave one. The failed transaction was rolled back, and every job is safe to run twice
(worker/tasks.py), so the rerun writes the draft and its audit entries once. After MAX_RETRIES it raises, so
the job lands in RQ's failed registry with its reason. Every other error raises at once: nothing is swallowed.
"""

from __future__ import annotations

import functools
import logging
import math

from rq import Retry, get_current_job
from sqlalchemy.exc import DBAPIError

from plugin.db import is_transient
from plugin.errors import TransientStoreError

MAX_RETRIES = 5
BACKOFF = (5, 15, 60, 180, 600)
"""Seconds before retry n (exponential-ish; the store's Retry-After wins when longer)."""
log = logging.getLogger(__name__)


def retry_transient(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (TransientStoreError, DBAPIError) as err:
            if isinstance(err, DBAPIError) and not is_transient(err):
                raise
            job = get_current_job()
            done = (job.number_of_retries or 0) if job else MAX_RETRIES
            if done >= MAX_RETRIES:
                raise
            wait = max(float(getattr(err, "retry_after", 0) or 0), BACKOFF[min(done, len(BACKOFF) - 1)])
            # A database error's text would carry the statement's parameters (product or customer data).
            reason = f"{type(err.orig).__name__}: {err.orig}" if isinstance(err, DBAPIError) else err
            log.warning("%s: %s; retry %d/%d in %ds", func.__name__, reason, done + 1, MAX_RETRIES, wait)
            return Retry(max=MAX_RETRIES, interval=math.ceil(wait))

    return wrapper
