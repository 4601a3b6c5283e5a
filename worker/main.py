"""Running workers: `copydesk worker`.

Jobs run in the worker process itself (RQ's SimpleWorker), not in a forked work horse: the model is
loaded once per process, a forked child of a multi-threaded torch parent can hang, and CUDA cannot be
used after a fork (ARCHITECTURE.md).

With `--concurrency N` (N > 1) the process runs N workers in threads over the same queues, sharing one
model through `worker.batcher.Batcher`, so up to N generate jobs are written in one batched model call.
Job timeouts then use timer threads instead of SIGALRM (which only the main thread can receive), and
the main thread turns Ctrl-C / SIGTERM into a warm shutdown of every thread: current jobs finish.

Jobs abandoned by a dead worker (SIGKILL, the OOM killer, a crash): RQ 3.0 on its own leaves such a job
in the queue's StartedJobRegistry until its heartbeat expires -- for a SimpleWorker, the job's timeout
plus 60 s (960 s by default), as it does not heartbeat during a job -- and then moves it to the
FailedJobRegistry as AbandonedJobError (running the job's on_failure callback: a publish job marks its
draft failed) unless the job had RQ retries left; Copydesk enqueues without `Retry`, so the product would
get no draft and approved copy would not be published. `requeue_abandoned`, run when `copydesk worker`
starts, puts such jobs back at the front of their queue at once when their worker is provably dead: its
registration in Redis is gone, or it ran on this host and its pid no longer exists (a worker on another
host is left to RQ's timeout). Running workers sweep again every `sweep_every` seconds (60 by default,
between jobs, with RQ's registry clean-up), so a worker that dies beside live ones does not wait for the next
start. Every job is safe to run twice (worker/tasks.py); the locks the dead worker's job held (the
per-draft publish lock, a follow-up's per-order lock: `worker.held_locks`) are released, or the requeued
job would find them taken until they expired. A job abandoned MAX_ABANDONED times (one that kills its
worker, e.g. out of memory) is left to RQ, which fails it with AbandonedJobError.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.timeouts import TimerDeathPenalty
from rq.worker import Worker

from plugin import jobs
from plugin.redis_server import connect
from plugin.settings import Settings
from worker import context, held_locks

log = logging.getLogger(__name__)
MAX_ABANDONED = 3
"""Times a job is requeued after its worker died; after that RQ fails it (AbandonedJobError)."""
SWEEP_EVERY = 60
"""Seconds between a running worker's sweeps for abandoned jobs (`copydesk worker --sweep-every`)."""


class SweepingWorker(SimpleWorker):
    """A SimpleWorker that also requeues dead workers' jobs whenever RQ runs its maintenance (between jobs,
    and while idle: an idle worker wakes up from its blocking dequeue at least once per sweep interval)."""

    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        try:
            requeue_abandoned(self.connection, [q.name for q in self.queues], starting=False)
        except redis.RedisError as exc:  # Redis away: RQ's own loop reports and retries the connection
            log.warning("sweep for abandoned jobs failed: %s", exc)

    @property
    def dequeue_timeout(self) -> int:
        return max(1, min(self.worker_ttl - 15, int(self.maintenance_interval)))


class ThreadWorker(SweepingWorker):
    """A SweepingWorker that can live in a thread other than the main one."""

    death_penalty_class = TimerDeathPenalty
    dequeue_timeout = 5  # seconds a thread blocks for work before checking whether it should stop

    def _install_signal_handlers(self):
        pass  # signals reach the main thread only; it calls stop() on every worker


def build_worker(settings: Settings, connection: redis.Redis, queues=jobs.QUEUES, *,
                 worker_class=SweepingWorker, name: str | None = None,
                 sweep_every: int = SWEEP_EVERY) -> SimpleWorker:
    """Initialise this process's context (once) and return a worker over `queues` (in priority order)."""
    try:
        context.get()
    except RuntimeError:
        context.init(context.Context.build(settings, connection))
    return worker_class([jobs.queue(connection, q, settings.job_timeout) for q in queues],
                        connection=connection, name=name, maintenance_interval=sweep_every)


def run(settings: Settings, queues=jobs.QUEUES, *, burst: bool = False, preload: bool = True,
        concurrency: int = 1, max_rows: int = 32, sweep_every: int = SWEEP_EVERY) -> bool:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if concurrency < 1:
        raise ValueError("concurrency: must be at least 1")
    if sweep_every < 1:
        raise ValueError("sweep_every: must be at least 1 second")
    connection = connect(settings.redis_url, settings.instance_path)
    requeue_abandoned(connection, queues)
    if concurrency == 1:
        worker = build_worker(settings, connection, queues, sweep_every=sweep_every)
        if preload and jobs.GENERATE in queues:
            log.info("loading model %s", settings.model)
            context.get().generator()
        return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    return run_threads(settings, connection, queues, burst=burst, concurrency=concurrency, max_rows=max_rows,
                       sweep_every=sweep_every)


def run_threads(settings: Settings, connection: redis.Redis, queues, *, burst: bool, concurrency: int,
                max_rows: int = 32, max_wait: float = 0.05, sweep_every: int = SWEEP_EVERY) -> bool:
    """N thread workers in this process, one shared model behind a batcher."""
    base = uuid.uuid4().hex[:12]
    workers = [build_worker(settings, connection, queues, worker_class=ThreadWorker, name=f"{base}-{i}",
                            sweep_every=sweep_every)
               for i in range(concurrency)]
    if jobs.GENERATE in queues:
        log.info("loading model %s (shared by %d job threads)", settings.model, concurrency)
        context.get().use_batching(max_rows, max_wait)
        context.get().generator()
    worked = [False] * concurrency

    def serve(i: int) -> None:
        worked[i] = workers[i].work(burst=burst, with_scheduler=(i == 0), logging_level=settings.log_level)

    threads = [threading.Thread(target=serve, args=(i,), name=f"rq-worker-{i}") for i in range(concurrency)]

    def stop(signum, _frame):
        log.info("warm shutdown: finishing the current jobs of %d threads", concurrency)
        for worker in workers:
            worker._stop_requested = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return any(worked)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _worker_dead(connection: redis.Redis, name: str, host: str, starting: bool) -> bool:
    """Whether the worker `name` has certainly stopped: its key expired (a live worker keeps it for its job's
    timeout and more), or it ran on this host under a pid that no longer exists (or, while this process is
    `starting`, is this process's: a restarted container reuses pids). Later, this process's pid is a sibling
    thread worker's, alive. A killed worker's parent must have reaped it: a zombie's pid still answers."""
    if not name:  # cannot tell: leave it to RQ
        return False
    hostname, pid = connection.hmget(Worker.redis_worker_namespace_prefix + name, "hostname", "pid")
    if hostname is None and pid is None:
        return True
    if hostname is None or hostname.decode() != host or not pid:
        return False
    if int(pid) == os.getpid():
        return starting  # before we registered, our pid cannot be a live worker's
    return not _pid_alive(int(pid))


def requeue_abandoned(connection: redis.Redis, queues=jobs.QUEUES, *, starting: bool = True) -> list[str]:
    """Requeue (at the front) the started jobs of `queues` whose worker is dead; their ids. `starting`: this
    process runs no job yet (the start-up sweep), rather than a running worker's periodic sweep."""
    host, requeued = socket.gethostname(), []
    for name in queues:
        queue = jobs.queue(connection, name)
        registry = queue.started_job_registry
        for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
            try:
                execution = Execution.fetch(execution_id, job_id, connection)
                job = Job.fetch(job_id, connection=connection)
            except (ValueError, NoSuchJobError):  # already finished or expired: RQ's cleanup handles it
                continue
            if job.get_status(refresh=False) != JobStatus.STARTED or not _worker_dead(
                    connection, execution.worker_name, host, starting):
                continue
            times = int(job.meta.get("abandoned", 0)) + 1
            if times > MAX_ABANDONED:
                log.warning("job %s was abandoned %d times; leaving it to RQ to fail", job_id, times - 1)
                continue
            job.meta["abandoned"] = times
            job.save_meta()
            with connection.pipeline() as pipe:
                execution.delete(job, pipe)
                pipe.execute()
            held_locks.release_for(connection, job)  # their holder is dead
            Queue(job.origin, connection=connection).enqueue_job(job, at_front=True)
            log.warning("requeued job %s: worker %s died while running it", job_id, execution.worker_name)
            requeued.append(job_id)
    return requeued
