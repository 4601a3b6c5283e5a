"""Catalogue backfill: queue generate jobs for a shop's products that have no copy yet.

A run is a chain of `backfill_page` jobs on the default queue (`worker/backfill.py`); each fetches one
page through the shop's adapter (paced by its rate-limit bucket, retried on transient errors), queues
generate jobs, and queues the next page. Its state lives in one Redis hash, `copydesk:backfill:{shop_id}`,
and every change to it is a WATCH/MULTI transaction, so a page commits its counters, cursor, generate jobs
and next page together, or not at all. A page job runs only while the run is `running` and the number of
pages done equals its page number: a pause, a cancel, a resume or a duplicated job can never make a page
count twice. Callable from the CLI and a panel alike: no Flask here.

States: running → paused → running ..., then done (catalogue complete or cap reached), cancelled, or
failed (a page job failed for good; the reason is kept in `error`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import redis

from plugin import jobs
from plugin.errors import CopydeskError

RUNNING, PAUSED, CANCELLED, DONE, FAILED = "running", "paused", "cancelled", "done", "failed"
ACTIVE = (RUNNING, PAUSED)
DEFAULT_LIMIT = 1000
"""Generate jobs one run queues at most, unless `--limit` says otherwise."""
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
"""WooCommerce's `per_page` maximum (Shopify pages are further clamped by query cost)."""
TRIGGER = "backfill"
INTS = ("shop_id", "cap", "page_size", "pages", "seen", "queued", "skipped_has_copy", "skipped_drafted", "attempt")


class BackfillError(CopydeskError):
    """A backfill command that does not fit the run's state (already running, nothing to resume...)."""


def key(shop_id: int) -> str:
    return f"{jobs.PREFIX}:backfill:{int(shop_id)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _decode(raw: dict) -> dict | None:
    if not raw:
        return None
    data = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()}
    for name in INTS:
        data[name] = int(data.get(name) or 0)
    data["all"] = data.get("all") == "1"
    data["skipped"] = data["skipped_has_copy"] + data["skipped_drafted"]
    return data


def status(conn: redis.Redis, shop_id: int) -> dict | None:
    """The shop's latest run (ints as ints, `all` as bool, `skipped` the sum), or None if it never ran."""
    return _decode(conn.hgetall(key(shop_id)))


def describe(state: dict) -> str:
    """One line for people: `run abc123 running: 4 pages, 180 seen, 120 queued, 60 skipped`."""
    line = (f"run {state['run_id']} {state['state']}: {state['pages']} pages, {state['seen']} seen, "
            f"{state['queued']} queued (cap {state['cap']}), {state['skipped']} skipped "
            f"({state['skipped_has_copy']} have copy, {state['skipped_drafted']} already drafted)")
    for name in ("finished_reason", "error"):
        if state.get(name):
            line += f"; {state[name]}"
    return line


def _change(conn: redis.Redis, shop_id: int, apply) -> dict:
    """Run `apply(state, pipe)` (state None when no run) in a transaction watched on the run's hash;
    `apply` queues its writes after `pipe.multi()`. Retried when another writer got there first."""
    with conn.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(key(shop_id))
                apply(_decode(pipe.hgetall(key(shop_id))), pipe)
                pipe.execute()
                return status(conn, shop_id)
            except redis.WatchError:
                continue


def start(conn: redis.Redis, shop_id: int, *, all_products: bool = False, limit: int = DEFAULT_LIMIT,
          page_size: int = DEFAULT_PAGE_SIZE, job_timeout: int = 900) -> dict:
    """Start a run and queue its first page; BackfillError when one is running or paused for the shop."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    run_id = secrets.token_hex(6)

    def apply(state, pipe):
        if state is not None and state["state"] in ACTIVE:
            raise BackfillError(f"backfill run {state['run_id']} is already {state['state']} for this shop "
                                f"(started {state['started_at']}); resume or cancel it first")
        now = _now()
        pipe.multi()
        pipe.delete(key(shop_id))
        pipe.hset(key(shop_id), mapping={
            "run_id": run_id, "shop_id": shop_id, "state": RUNNING, "all": "1" if all_products else "0",
            "cap": limit, "page_size": page_size, "pages": 0, "seen": 0, "queued": 0, "skipped_has_copy": 0,
            "skipped_drafted": 0, "cursor": "", "attempt": 0, "job_timeout": job_timeout,
            "started_at": now, "updated_at": now, "finished_at": "", "finished_reason": "", "error": "",
        })
        jobs.enqueue_backfill_page(conn, shop_id, run_id, 0, pipeline=pipe)

    return _change(conn, shop_id, apply)


def _require(state: dict | None, *allowed: str, action: str) -> dict:
    if state is None:
        raise BackfillError(f"no backfill has run for this shop: nothing to {action}")
    if state["state"] not in allowed:
        raise BackfillError(f"cannot {action} backfill run {state['run_id']}: it is {state['state']}")
    return state


def pause(conn: redis.Redis, shop_id: int) -> dict:
    """Stop after the page in progress; `resume` carries on from the saved cursor."""
    def apply(state, pipe):
        _require(state, RUNNING, action="pause")
        pipe.multi()
        pipe.hset(key(shop_id), mapping={"state": PAUSED, "updated_at": _now()})

    return _change(conn, shop_id, apply)


def resume(conn: redis.Redis, shop_id: int) -> dict:
    """Run a paused backfill again from its saved cursor."""
    def apply(state, pipe):
        state = _require(state, PAUSED, action="resume")
        attempt = state["attempt"] + 1
        pipe.multi()
        pipe.hset(key(shop_id), mapping={"state": RUNNING, "attempt": attempt, "updated_at": _now()})
        jobs.enqueue_backfill_page(conn, shop_id, state["run_id"], state["pages"], attempt=attempt, pipeline=pipe)

    return _change(conn, shop_id, apply)


def cancel(conn: redis.Redis, shop_id: int) -> dict:
    """Stop for good: no further page is fetched. Generate jobs already queued still run."""
    def apply(state, pipe):
        _require(state, RUNNING, PAUSED, action="cancel")
        now = _now()
        pipe.multi()
        pipe.hset(key(shop_id), mapping={"state": CANCELLED, "updated_at": now, "finished_at": now})

    return _change(conn, shop_id, apply)


def fail(conn: redis.Redis, shop_id: int, run_id: str, reason: str) -> dict | None:
    """Mark run `run_id` failed (a page job failed for good, or the shop is gone); no-op for another run."""
    def apply(state, pipe):
        pipe.multi()
        if state is not None and state["run_id"] == run_id and state["state"] in ACTIVE:
            now = _now()
            pipe.hset(key(shop_id), mapping={"state": FAILED, "error": reason[:500], "updated_at": now,
                                             "finished_at": now})

    return _change(conn, shop_id, apply)


def page_due(state: dict | None, run_id: str, page: int) -> str:
    """Why page `page` of `run_id` must not run now, or "" when it should."""
    if state is None or state["run_id"] != run_id:
        return "superseded by another run"
    if state["state"] != RUNNING:
        return f"run is {state['state']}"
    if state["pages"] != page:
        return f"page {page} already done"
    return ""


def commit_page(conn: redis.Redis, shop_id: int, run_id: str, page: int, *, cursor: str | None, seen: int,
                fresh: list[str], skipped_has_copy: int, skipped_drafted: int) -> dict | None:
    """Record one fetched page and queue its generate jobs (up to the cap) and the next page, atomically.

    A run paused meanwhile keeps this page and stops; a run cancelled or replaced meanwhile, or a page
    another job already committed, is left alone (nothing is queued). Returns the state after.
    """
    def apply(state, pipe):
        pipe.multi()
        if state is None or state["run_id"] != run_id or state["pages"] != page or state["state"] not in ACTIVE:
            return
        take = fresh[:max(0, state["cap"] - state["queued"])]
        timeout = int(state.get("job_timeout") or 900)
        for product_id in take:
            jobs.enqueue_generate(conn, shop_id, product_id, trigger=TRIGGER,
                                  delivery=f"backfill:{run_id}:{product_id}", job_timeout=timeout, pipeline=pipe)
        now = _now()
        changes = {"pages": page + 1, "seen": state["seen"] + seen, "queued": state["queued"] + len(take),
                   "skipped_has_copy": state["skipped_has_copy"] + skipped_has_copy,
                   "skipped_drafted": state["skipped_drafted"] + skipped_drafted,
                   "cursor": cursor or "", "updated_at": now}
        if cursor is None or changes["queued"] >= state["cap"]:
            changes.update(state=DONE, finished_at=now,
                           finished_reason="catalogue complete" if cursor is None else "limit reached")
        elif state["state"] == RUNNING:
            jobs.enqueue_backfill_page(conn, shop_id, run_id, page + 1, pipeline=pipe)
        pipe.hset(key(shop_id), mapping=changes)

    return _change(conn, shop_id, apply)
