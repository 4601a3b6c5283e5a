"""Queueing work for the workers, by dotted name so that the web process never imports worker code.

Queues by cost: `generate` (holds the model), `publish` (store API writes), `default` (the rest).
"""

from __future__ import annotations

import hashlib

import redis
from rq import Callback, Queue

GENERATE, PUBLISH, DEFAULT = "generate", "publish", "default"
QUEUES = (PUBLISH, DEFAULT, GENERATE)
"""The order a worker serves them: cheap store writes first, so approved copy is not held up behind
a backlog of generation."""
PREFIX = "copydesk"
RESULT_TTL = 3600
FAILURE_TTL = 30 * 24 * 3600
"""Failed jobs stay in RQ's failed registry, with their reason, for 30 days."""


def queue(connection: redis.Redis, name: str, job_timeout: int = 900) -> Queue:
    return Queue(name, connection=connection, default_timeout=job_timeout)


def _job_id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def enqueue_generate(connection: redis.Redis, shop_id: int, product_id: str, *, trigger: str,
                     delivery: str = "", job_timeout: int = 900, pipeline=None):
    """Queue a generate job; with `pipeline`, it is written only when the caller executes it."""
    return queue(connection, GENERATE, job_timeout).enqueue(
        "worker.tasks.generate_copy", shop_id, product_id, trigger=trigger,
        job_id=f"generate-{shop_id}-{product_id}-{_job_id(delivery or trigger)}",
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"generate shop={shop_id} product={product_id}",
        pipeline=pipeline,
    )


def enqueue_product_updated(connection: redis.Redis, shop_id: int, product_id: str, *, delivery: str = "",
                            pipeline=None):
    return queue(connection, DEFAULT).enqueue(
        "worker.tasks.product_updated", shop_id, product_id,
        job_id=f"product-updated-{shop_id}-{product_id}-{_job_id(delivery)}",
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, pipeline=pipeline,
    )


def enqueue_order_created(connection: redis.Redis, shop_id: int, order_id: str, *, delivery: str = "",
                          pipeline=None):
    return queue(connection, DEFAULT).enqueue(
        "worker.tasks.order_created", shop_id, order_id,
        job_id=f"order-created-{shop_id}-{order_id}-{_job_id(delivery)}",
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, pipeline=pipeline,
    )


def enqueue_publish(connection: redis.Redis, draft_id: int, *, actor: str):
    return queue(connection, PUBLISH).enqueue(
        "worker.tasks.publish_draft", draft_id, actor=actor,
        job_id=f"publish-{draft_id}", on_failure=Callback("worker.tasks.publish_failed"),
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"publish draft={draft_id}",
    )


def delivery_key(platform: str, dedupe_key: str) -> str:
    return f"{PREFIX}:delivery:{platform}:{hashlib.sha256(dedupe_key.encode()).hexdigest()}"


def own_write_key(shop_id: int, product_id: str) -> str:
    return f"{PREFIX}:wrote:{shop_id}:{product_id}"


def enqueue_backfill_page(connection: redis.Redis, shop_id: int, run_id: str, page: int, *, attempt: int = 0,
                          pipeline=None):
    """Queue page `page` (0-based) of backfill run `run_id`; the page's cursor is read from the run's state
    in Redis when the job runs (`plugin.backfill`). `attempt` tells a resumed page's job from the first."""
    return queue(connection, DEFAULT).enqueue(
        "worker.tasks.backfill_page", shop_id, run_id, page,
        job_id=f"backfill-{shop_id}-{run_id}-{page}-{attempt}", on_failure=Callback("worker.tasks.backfill_failed"),
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"backfill shop={shop_id} page={page}",
        pipeline=pipeline,
    )
