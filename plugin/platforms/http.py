"""HTTP transport for store APIs: one `requests.Session` per process, retries at the right layer.

The transport retries what is safe to retry without thought: connection failures (nothing reached the
server) for every method, and 429/502/503/504 for idempotent methods when the wait is short. Anything
longer goes back to the job, which RQ retries later (`worker/retry.py`), so a worker is never parked
on a long `Retry-After`. Every call has a timeout; bodies are never logged.
"""

from __future__ import annotations

import logging

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from plugin.errors import RateLimited, StoreAPIError, StoreAuthError, TransientStoreError

MAX_TRANSPORT_WAIT = 5.0
"""Seconds: a Retry-After longer than this is left to job-level retry."""
USER_AGENT = "Copydesk/0.1 (+self-hosted)"


class _ShortRetry(Retry):
    """urllib3 Retry that hands a long `Retry-After` back to the caller instead of sleeping through it."""

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if response is not None and error is None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > MAX_TRANSPORT_WAIT:
                # With raise_on_status=False, urllib3 returns this response to requests.
                raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:g}s is job-level"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _RedactQuery(logging.Filter):
    """urllib3 logs each request's URL at DEBUG; WooCommerce's OAuth 1.0a consumer key and signature
    travel in its query string, so the query is cut from those lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(a.split("?", 1)[0] + "?[redacted]" if isinstance(a, str) and "?" in a else a
                                for a in record.args)
        return True


SILENCED = ("oauthlib", "requests_oauthlib")
"""Libraries whose DEBUG lines print the consumer key, signatures and request bodies: WARNING and up only."""


def _redact_library_logs() -> None:
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactQuery) for f in logger.filters):
        logger.addFilter(_RedactQuery())
    for name in SILENCED:
        logging.getLogger(name).setLevel(logging.WARNING)


def make_session(retries: int = 3) -> requests.Session:
    """The process's session for store APIs (pass it explicitly; never a module global). Also keeps
    keys, signatures and bodies out of the HTTP libraries' DEBUG log lines."""
    _redact_library_logs()
    retry = _ShortRetry(
        total=retries,
        connect=retries,
        read=0,
        status=retries,
        backoff_factor=0.5,
        backoff_max=MAX_TRANSPORT_WAIT,
        status_forcelist=(429, 502, 503, 504),
        allowed_methods=frozenset({"GET", "PUT", "HEAD", "OPTIONS", "DELETE"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry, pool_connections=16, pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    return session


def retry_after_seconds(response: requests.Response, default: float = 2.0) -> float:
    """`Retry-After` in seconds (Shopify sends e.g. "2.0"); never milliseconds."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


def send(session: requests.Session, method: str, url: str, *, timeout: float, **kwargs) -> requests.Response:
    """One store API call: transport errors and error statuses become Copydesk's StoreAPIError tree.

    Returns the response for 2xx; 404 is returned too, for the adapter to interpret.
    """
    try:
        response = session.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    # `from None`: the library's message repeats the full URL, and WooCommerce's OAuth 1.0a signature and
    # consumer key travel in its query string; they must not reach logs or RQ's failed registry.
    except (requests.ConnectionError, requests.Timeout) as err:
        raise TransientStoreError(f"{method} {_redact(url)}: {type(err).__name__}") from None
    except requests.RequestException as err:
        raise StoreAPIError(f"{method} {_redact(url)}: {type(err).__name__}") from None
    status = response.status_code
    if status < 300 or status == 404:
        return response
    where = f"{method} {_redact(url)} answered {status}"
    if status == 429:
        raise RateLimited(where, status=status, retry_after=retry_after_seconds(response))
    if status in (401, 403):
        raise StoreAuthError(where, status=status)
    if status >= 500 or status == 408:
        raise TransientStoreError(where, status=status, retry_after=retry_after_seconds(response, 10.0))
    raise StoreAPIError(where, status=status)


def _redact(url: str) -> str:
    """The URL without its query string (OAuth signatures and keys live there)."""
    return url.split("?", 1)[0]
