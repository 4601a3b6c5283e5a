"""Running workers: `copydesk worker`.

Jobs run in the worker process itself (RQ's SimpleWorker), not in a forked work horse: the model is
loaded once per process, a forked child of a multi-threaded torch parent can hang, and CUDA cannot be
used after a fork (ARCHITECTURE.md). One worker process per model replica; add processes to scale.
"""

from __future__ import annotations

import logging

import redis
from rq import SimpleWorker

from plugin import jobs
from plugin.redis_server import connect
from plugin.settings import Settings
from worker import context


def build_worker(settings: Settings, connection: redis.Redis, queues=jobs.QUEUES) -> SimpleWorker:
    """Initialise this process's context and return a worker over `queues` (in priority order)."""
    context.init(context.Context.build(settings, connection))
    return SimpleWorker([jobs.queue(connection, q, settings.job_timeout) for q in queues], connection=connection)


def run(settings: Settings, queues=jobs.QUEUES, *, burst: bool = False, preload: bool = True) -> bool:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    connection = connect(settings.redis_url, settings.instance_path)
    worker = build_worker(settings, connection, queues)
    if preload and jobs.GENERATE in queues:
        logging.getLogger(__name__).info("loading model %s", settings.model)
        context.get().generator()
    return worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
