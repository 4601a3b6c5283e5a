"""A shop's jobs in RQ: queued, running, waiting to retry and failed (with the reason), and retrying one.

Jobs carry `meta["shop_id"]`; a job of another shop is invisible and cannot be retried from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy.orm import Session

from plugin.db import Draft
from plugin.jobs import QUEUES, queue

SCAN = 500
"""At most this many ids are looked at per queue and registry."""
SHOWN = 50


@dataclass(frozen=True)
class JobRow:
    id: str
    queue: str
    what: str
    state: str
    reason: str
    when: str


def job_shop(job: Job, db: Session) -> int | None:
    shop_id = job.meta.get("shop_id")
    if shop_id is not None:
        return int(shop_id)
    if job.func_name == "worker.tasks.publish_draft" and job.args:  # queued before jobs carried the shop
        draft = db.get(Draft, int(job.args[0]))
        return draft.shop_id if draft else None
    return None


def _what(job: Job) -> str:
    name = job.func_name.rsplit(".", 1)[-1].replace("_", " ")
    args = ", ".join(str(a) for a in job.args[1:]) if job.args else ""
    if job.func_name == "worker.tasks.publish_draft" and job.args:
        args = f"draft {job.args[0]}"
    return f"{name} {args}".strip()


def _reason(job: Job) -> str:
    text = (job.latest_result().exc_string if job.latest_result() else "") or job.exc_info or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _rows(conn: redis.Redis, db: Session, shop_id: int, name: str, ids: list[str], state: str) -> list[JobRow]:
    rows = []
    for job in Job.fetch_many(ids[:SCAN], connection=conn):
        if job is None or job_shop(job, db) != shop_id:
            continue
        when = job.ended_at or job.started_at or job.enqueued_at or job.created_at
        rows.append(JobRow(job.id, name, _what(job), state, _reason(job) if state == "failed" else "",
                           when.strftime("%Y-%m-%d %H:%M:%S") if when else ""))
        if len(rows) >= SHOWN:
            break
    return rows


def shop_jobs(conn: redis.Redis, db: Session, shop_id: int) -> dict[str, list[JobRow]]:
    groups: dict[str, list[JobRow]] = {"running": [], "queued": [], "retrying": [], "failed": []}
    for name in QUEUES:
        q = queue(conn, name)
        groups["queued"] += _rows(conn, db, shop_id, name, q.get_job_ids(0, SCAN), "queued")
        groups["running"] += _rows(conn, db, shop_id, name, StartedJobRegistry(queue=q).get_job_ids(0, SCAN),
                                   "running")
        groups["retrying"] += _rows(conn, db, shop_id, name, ScheduledJobRegistry(queue=q).get_job_ids(0, SCAN),
                                    "retrying")
        groups["failed"] += _rows(conn, db, shop_id, name, FailedJobRegistry(queue=q).get_job_ids(0, SCAN),
                                  "failed")
    return groups


def retry(conn: redis.Redis, db: Session, shop_id: int, job_id: str) -> bool:
    """Put a failed job of this shop back on its queue; False when there is no such job for the shop."""
    if len(job_id) > 200:
        return False
    try:
        job = Job.fetch(job_id, connection=conn)
    except (NoSuchJobError, ValueError):  # ValueError: not a valid RQ job id (e.g. "..")
        return False
    if job_shop(job, db) != shop_id or job.origin not in QUEUES:
        return False
    registry = FailedJobRegistry(queue=queue(conn, job.origin))
    if job.id not in registry.get_job_ids():
        return False
    registry.requeue(job)
    return True
