"""Running workers: `copydesk worker`.

Jobs run in the worker process itself (RQ's SimpleWorker), not in a forked work horse: the model is
loaded once per process, a forked child of a multi-threaded torch parent can hang, and CUDA cannot be
used after a fork (ARCHITECTURE.md).

With `--concurrency N` (N > 1) the process runs N workers in threads over the same queues, sharing one
model through `worker.batcher.Batcher`, so up to N generate jobs are written in one batched model call.
Job timeouts then use timer threads instead of SIGALRM (which only the main thread can receive), and
the main thread turns Ctrl-C / SIGTERM into a warm shutdown of every thread: current jobs finish.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid

import redis
from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from plugin import jobs
from plugin.redis_server import connect
from plugin.settings import Settings
from worker import context

log = logging.getLogger(__name__)


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live in a thread other than the main one."""

    death_penalty_class = TimerDeathPenalty
    dequeue_timeout = 5  # seconds a thread blocks for work before checking whether it should stop

    def _install_signal_handlers(self):
        pass  # signals reach the main thread only; it calls stop() on every worker


def build_worker(settings: Settings, connection: redis.Redis, queues=jobs.QUEUES, *,
                 worker_class=SimpleWorker, name: str | None = None) -> SimpleWorker:
    """Initialise this process's context (once) and return a worker over `queues` (in priority order)."""
    try:
        context.get()
    except RuntimeError:
        context.init(context.Context.build(settings, connection))
    return worker_class([jobs.queue(connection, q, settings.job_timeout) for q in queues],
                        connection=connection, name=name)


def run(settings: Settings, queues=jobs.QUEUES, *, burst: bool = False, preload: bool = True,
        concurrency: int = 1, max_rows: int = 32) -> bool:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if concurrency < 1:
        raise ValueError("concurrency: must be at least 1")
    connection = connect(settings.redis_url, settings.instance_path)
    if concurrency == 1:
        worker = build_worker(settings, connection, queues)
        if preload and jobs.GENERATE in queues:
            log.info("loading model %s", settings.model)
            context.get().generator()
        return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
    return run_threads(settings, connection, queues, burst=burst, concurrency=concurrency, max_rows=max_rows)


def run_threads(settings: Settings, connection: redis.Redis, queues, *, burst: bool, concurrency: int,
                max_rows: int = 32, max_wait: float = 0.05) -> bool:
    """N thread workers in this process, one shared model behind a batcher."""
    base = uuid.uuid4().hex[:12]
    workers = [build_worker(settings, connection, queues, worker_class=ThreadWorker, name=f"{base}-{i}")
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
