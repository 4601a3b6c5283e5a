"""Queueing work for the workers, by dotted name so that the web process never imports worker code.

Queues by cost: `generate` (holds the model), `publish` (store API writes), `default` (the rest).
"""

from __future__ import annotations

import hashlib
import secrets

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
NOTE_MAX = 300
"""Longest staff note for a regenerate, in characters."""
SEED_MAX = 2**31 - 1
"""Generation seeds are 0..SEED_MAX (a 32-bit database column); restore drafts take negative ones."""
RESTORE_VERSIONS = ("previous", "proposed")


def queue(connection: redis.Redis, name: str, job_timeout: int = 900) -> Queue:
    return Queue(name, connection=connection, default_timeout=job_timeout)


def _job_id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def fresh_seed() -> int:
    """A random seed for a staff regenerate (never 0, the configured default seed of automatic drafts)."""
    return secrets.randbelow(SEED_MAX) + 1


def _meta(shop_id: int | None) -> dict:
    """Job meta: the shop a job concerns, so that the panel shows a shop only its own jobs."""
    return {} if shop_id is None else {"shop_id": int(shop_id)}


def enqueue_generate(connection: redis.Redis, shop_id: int, product_id: str, *, trigger: str,
                     delivery: str = "", note: str = "", seed: int | None = None, job_timeout: int = 900,
                     pipeline=None):
    """Queue a generate job; with `pipeline`, it is written only when the caller executes it.

    `note`: a staff instruction for the prompt ("shorter", "mention the warranty"; at most NOTE_MAX
    characters). `seed`: the generation seed (0..SEED_MAX); a staff regenerate passes `fresh_seed()` so
    that the product's unchanged input makes a new draft instead of finding the old one. A note without a
    seed gets a fresh seed, for the same reason."""
    note = " ".join(str(note or "").split())
    if len(note) > NOTE_MAX:
        raise ValueError(f"note is {len(note)} characters; at most {NOTE_MAX}")
    if seed is None and note:
        seed = fresh_seed()
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX):
        raise ValueError(f"seed must be a whole number from 0 to {SEED_MAX}, not {seed!r}")
    extra = {**({"note": note} if note else {}), **({"seed": seed} if seed is not None else {})}
    key = _job_id(delivery or trigger, *([seed, note] if extra else []))
    return queue(connection, GENERATE, job_timeout).enqueue(
        "worker.tasks.generate_copy", shop_id, product_id, trigger=trigger, **extra,
        job_id=f"generate-{shop_id}-{product_id}-{key}", meta=_meta(shop_id),
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"generate shop={shop_id} product={product_id}",
        pipeline=pipeline,
    )


def enqueue_product_updated(connection: redis.Redis, shop_id: int, product_id: str, *, delivery: str = "",
                            pipeline=None):
    return queue(connection, DEFAULT).enqueue(
        "worker.tasks.product_updated", shop_id, product_id,
        job_id=f"product-updated-{shop_id}-{product_id}-{_job_id(delivery)}", meta=_meta(shop_id),
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, pipeline=pipeline,
    )


def enqueue_order_created(connection: redis.Redis, shop_id: int, order_id: str, *, delivery: str = "",
                          job_timeout: int = 900, pipeline=None):
    """Queue a follow-up draft for a new order: on the generate queue, as it needs the model."""
    return queue(connection, GENERATE, job_timeout).enqueue(
        "worker.tasks.order_created", shop_id, order_id,
        job_id=f"order-created-{shop_id}-{order_id}-{_job_id(delivery)}", meta=_meta(shop_id),
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"follow-up shop={shop_id} order={order_id}",
        pipeline=pipeline,
    )


def enqueue_regenerate(connection: redis.Redis, shop_id: int, draft_id: int, *, note: str = "",
                       seed: int | None = None, job_timeout: int = 900):
    """Queue writing a follow-up, answer or campaign draft again, with the staff's note and a new seed."""
    return queue(connection, GENERATE).enqueue(
        "worker.tasks.regenerate_draft", int(shop_id), int(draft_id), note=note, seed=seed,
        job_id=f"regenerate-{draft_id}-{_job_id(note, seed)}", meta=_meta(shop_id), job_timeout=job_timeout,
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        description=f"regenerate draft={draft_id}",
    )


def enqueue_publish(connection: redis.Redis, draft_id: int, *, actor: str, shop_id: int | None = None):
    """Queue the publish of an approved draft; `shop_id` (the draft's shop) goes into the job's meta."""
    return queue(connection, PUBLISH).enqueue(
        "worker.tasks.publish_draft", draft_id, actor=actor,
        job_id=f"publish-{draft_id}", on_failure=Callback("worker.tasks.publish_failed"), meta=_meta(shop_id),
        result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL, description=f"publish draft={draft_id}",
    )


def enqueue_restore(connection: redis.Redis, shop_id: int, draft_id: int, version: str, actor: str):
    """Queue putting back draft `draft_id`'s copy on the store: `version` "previous" (the store copy that the
    draft replaced; for a product's first draft, its original text) or "proposed" (the draft's own fields).
    The job (`worker.restore`) makes a new approved draft of that copy and publishes it; the draft must
    belong to `shop_id`, or the job fails."""
    if version not in RESTORE_VERSIONS:
        raise ValueError(f"version must be one of {', '.join(RESTORE_VERSIONS)}, not {version!r}")
    request = secrets.token_hex(8)  # the job finds its own draft again when RQ runs it a second time
    return queue(connection, PUBLISH).enqueue(
        "worker.tasks.restore_copy", int(shop_id), int(draft_id), version, actor=actor, request=request,
        job_id=f"restore-{draft_id}-{version}-{request}", on_failure=Callback("worker.tasks.restore_failed"),
        meta=_meta(shop_id), result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        description=f"restore {version} copy of draft={draft_id}",
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
        meta=_meta(shop_id), result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
        description=f"backfill shop={shop_id} page={page}",
        pipeline=pipeline,
    )
