"""Batched generation across jobs: thread workers sharing one model through the batcher."""

from __future__ import annotations

import threading

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from plugin import jobs
from plugin.db import Draft
from worker import context
from worker.batcher import Batcher
from worker.main import run_threads

PRODUCTS = [{"title": f"Linen Apron {c}", "category": "Kitchen", "attributes": {"Colour": c}}
            for c in ("Sage", "Rust", "Ink")]


def test_batcher_merges_concurrent_calls_and_keeps_each_row(tiny_generator):
    batcher = Batcher(tiny_generator, max_rows=32, max_wait=0.5)
    chats = [[{"role": "user", "content": f"Describe product {i}."}] for i in range(3)]
    out: dict[int, list[str]] = {}

    def call(i):
        out[i] = batcher.generate([chats[i]], max_new_tokens=8 + i, seed=i, temperature=0.7)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert batcher.batches == [3]  # one model call for three jobs
    for i in range(3):  # each job gets exactly what it would have got alone
        assert out[i] == tiny_generator.generate([chats[i]], max_new_tokens=8 + i, seed=i, temperature=0.7)


def test_batcher_hands_a_model_error_to_every_job_of_the_batch(tiny_generator):
    batcher = Batcher(tiny_generator, max_wait=0.0)
    with pytest.raises(ValueError):
        batcher.generate([[{"role": "user", "content": "x"}]], max_new_tokens=0, seed=0)
    assert batcher.generate([[{"role": "user", "content": "x"}]], max_new_tokens=2, seed=0)  # still serving


def test_thread_workers_write_three_drafts_in_one_batched_call(app, connected, devstore, settings, redis_conn,
                                                               tiny_generator):
    ids = [str(devstore.create_product("woocommerce", fire=False, **p)) for p in PRODUCTS]
    for product_id in ids:
        jobs.enqueue_generate(redis_conn, connected["woocommerce"], product_id, trigger="t")
    context.init(None)
    context.init(context.Context.build(settings, redis_conn))
    context.get().use_generator(tiny_generator)
    try:
        run_threads(settings, redis_conn, (jobs.GENERATE,), burst=True, concurrency=3, max_wait=1.0)
        batcher = context.get()._installed
        assert isinstance(batcher, Batcher) and batcher.batches == [12]  # 3 products x 4 fields
    finally:
        context.init(None)
    with app.extensions["copydesk_sessionmaker"]() as db:
        drafted = sorted(db.scalars(select(Draft.product_id)))
    assert drafted == sorted(ids)
    assert Queue(jobs.GENERATE, connection=redis_conn).count == 0
    assert not FailedJobRegistry(jobs.GENERATE, connection=redis_conn).get_job_ids()
