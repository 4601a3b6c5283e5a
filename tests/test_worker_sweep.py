"""A running worker requeues the jobs of a worker that died beside it (issue #9, part 1).

`tests/test_faults.py` shows the start-up sweep of a new worker. Here a second worker is already running when
the first is SIGKILLed mid-job: its periodic sweep (`copydesk worker --sweep-every`) requeues the job, and it
writes the one draft. Also: the sweep releases the locks the dead job held (`worker.held_locks`), never a
lock another job has taken since, and never the jobs of sibling thread workers of the sweeping process.
"""

from __future__ import annotations

import os
import signal
import subprocess

from rq import SimpleWorker, Worker
from rq.job import JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from plugin import jobs
from tests.test_faults import faults_pending, shopify_writes, start_worker, wait_for
from tests.test_pipeline import NEW_PRODUCT, drafts, set_shop
from worker.main import requeue_abandoned

HOLD_S = 40.0
"""The dead worker's product read is held this long: the second worker starts meanwhile."""


def test_a_running_worker_requeues_the_job_of_a_worker_that_died(app, connected, devstore, redis_conn, settings,
                                                                 tmp_path):
    set_shop(app, connected["shopify"], auto_publish=True)
    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    assert devstore.flush(timeout=15)
    [job_id] = jobs.queue(redis_conn, jobs.GENERATE).job_ids
    devstore.fault("shopify", delay_s=HOLD_S)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = start_worker(settings, "--queues", jobs.GENERATE, log=first_log)
    started = StartedJobRegistry(jobs.GENERATE, connection=redis_conn)
    wait_for(lambda: job_id in started.get_job_ids(cleanup=False) and not faults_pending(devstore),
             "the first worker to start the job", proc=first, timeout=90)
    second = start_worker(settings, "--sweep-every", "1", log=second_log)
    try:
        wait_for(lambda: any(w.pid == second.pid for w in Worker.all(connection=redis_conn)),
                 "the second worker to register", proc=second, timeout=90)
        assert "requeued job" not in second_log.read_text()  # its start-up sweep left a live worker's job
        assert job_id in started.get_job_ids(cleanup=False)

        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=10)

        [draft] = wait_for(lambda: [d for d in drafts(app) if d.status == "published"],
                           "the second worker to requeue the job and publish its draft", proc=second, timeout=60)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(timeout=30)
    assert "requeued job " + job_id in second_log.read_text()
    assert len(drafts(app)) == 1 and draft.product_id == str(product_id)
    assert len(shopify_writes(devstore, product_id)) == 1
    assert FailedJobRegistry(jobs.GENERATE, connection=redis_conn).get_job_ids() == []
    assert started.get_job_ids(cleanup=False) == []


def _started_job(redis_conn, pid: int, locks: dict[str, str]):
    """A publish job started by a worker registered under `pid`, having recorded `locks` (name → token)."""
    queue = jobs.queue(redis_conn, jobs.PUBLISH)
    job = queue.enqueue("worker.tasks.publish_draft", 7, actor="staff")
    queue.remove(job)  # as a worker's dequeue does
    job.meta["locks"] = locks
    job.save_meta()
    worker = SimpleWorker([queue], connection=redis_conn)
    worker.pid = pid
    worker.register_birth()
    worker.prepare_execution(job)
    job.set_status(JobStatus.STARTED)
    return queue, job


def test_the_sweep_releases_the_dead_jobs_locks_only_while_they_are_its_own(redis_conn):
    draft_lock = redis_conn.lock(f"{jobs.PREFIX}:publishing:7", timeout=900)
    order_lock = redis_conn.lock(f"{jobs.PREFIX}:follow-up:1:1001", timeout=900)
    assert draft_lock.acquire(blocking=False) and order_lock.acquire(blocking=False)
    stand_in = subprocess.Popen(["sleep", "120"])
    queue, job = _started_job(redis_conn, stand_in.pid, {
        draft_lock.name: draft_lock.local.token.decode(), order_lock.name: order_lock.local.token.decode()})
    # The order lock expired meanwhile and another job took it: its token is no longer the dead job's.
    redis_conn.set(order_lock.name, b"another-job")
    stand_in.kill()
    stand_in.wait(timeout=10)

    assert requeue_abandoned(redis_conn, (jobs.PUBLISH,), starting=False) == [job.id]

    assert redis_conn.get(draft_lock.name) is None
    assert redis_conn.get(order_lock.name) == b"another-job"
    assert queue.job_ids == [job.id] and "locks" not in job.get_meta()


def test_a_running_sweep_leaves_its_sibling_threads_jobs(redis_conn):
    """A job started by a worker under this process's pid belongs, once running, to a sibling thread."""
    queue, job = _started_job(redis_conn, os.getpid(), {})
    assert requeue_abandoned(redis_conn, (jobs.PUBLISH,), starting=False) == []
    assert job.id in queue.started_job_registry.get_job_ids(cleanup=False) and queue.count == 0
    # At start-up the same pid cannot be a live worker's (a restarted container reuses pids).
    assert requeue_abandoned(redis_conn, (jobs.PUBLISH,), starting=True) == [job.id]

