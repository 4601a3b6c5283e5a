"""Locks a job holds, recorded in the job so that a sweep can release them when the job's worker dies.

A publish job takes a Redis lock per draft (and a follow-up also one per order) so that two jobs never write
the same copy. A worker killed while holding one leaves it until its timeout (the job timeout, 900 s by
default), and the requeued job would meanwhile find it taken. `remember` writes the lock's name and token into
the running job's meta; `release_for` (called by `worker.main.requeue_abandoned` for a dead worker's job)
deletes each lock only while it still holds that token, so a lock that expired and was taken by another live
job is left alone.
"""

from __future__ import annotations

import redis
from redis.lock import Lock
from rq import get_current_job
from rq.job import Job

_RELEASE_IF_OURS = ("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
                    "return 0")


def remember(lock: Lock) -> None:
    """Record the acquired `lock` in the current job's meta (nothing outside a job)."""
    job = get_current_job()
    token = lock.local.token
    if job is None or token is None:
        return
    held = dict(job.meta.get("locks") or {})
    held[str(lock.name)] = token.decode() if isinstance(token, bytes) else str(token)
    job.meta["locks"] = held
    job.save_meta()


def release_for(connection: redis.Redis, job: Job) -> list[str]:
    """Release the locks `job` recorded that still carry its token; the names of those released."""
    released = [name for name, token in (job.meta.get("locks") or {}).items()
                if connection.eval(_RELEASE_IF_OURS, 1, name, token)]
    if job.meta.pop("locks", None) is not None:
        job.save_meta()
    return released
