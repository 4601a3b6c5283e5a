"""Job-level retry for transient store failures.

A job wrapped with `@retry_transient` that hits a `TransientStoreError` (timeouts, 5xx, 429/THROTTLED)
returns `rq.Retry` so that RQ runs it again later, after the store's `Retry-After` when it gave one.
After MAX_RETRIES it raises, so the job lands in RQ's failed registry with its reason. Every other
error raises at once: nothing is swallowed.
"""

from __future__ import annotations

import functools
import logging
import math

from rq import Retry, get_current_job

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
        except TransientStoreError as err:
            job = get_current_job()
            done = (job.number_of_retries or 0) if job else MAX_RETRIES
            if done >= MAX_RETRIES:
                raise
            wait = max(float(err.retry_after or 0), BACKOFF[min(done, len(BACKOFF) - 1)])
            log.warning("%s: %s; retry %d/%d in %ds", func.__name__, err, done + 1, MAX_RETRIES, wait)
            return Retry(max=MAX_RETRIES, interval=math.ceil(wait))

    return wrapper
