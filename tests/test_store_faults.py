"""Store faults through the real worker path (issue #9, part 3): the emulator over real HTTP answers 429s,
5xx, slow answers and answers slower than `http_timeout`; the real RQ worker (burst, in this process) runs
the jobs on real Redis and the database; every test counts the store's writes, the drafts and the jobs.

Backoff is not shortened: a job that backs off sits in RQ's ScheduledJobRegistry with the delay
`worker/retry.py` chose, read back from the job's RETRIED results. `catch_up` then makes it due at once and
runs a burst worker with its scheduler, so RQ's own scheduler moves it to the queue, as a running worker's
does once the time has come. The model is a scripted stand-in (copy per product), as in
test_quality_gate.py: the tiny model takes minutes per draft on a loaded CPU, and writing is not what is
tested here.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.results import Result
from sqlalchemy import select

from devstore.client import DevStoreClient
from devstore.server import serve_in_thread
from plugin import jobs
from plugin.crypto import Vault
from plugin.db import AuditEntry, Draft
from plugin.drafts import approve
from plugin.shops import add_shop
from tests.conftest import APP_SECRET, SECRET_KEY
from tests.test_faults import wait_for
from tests.test_pipeline import drafts, set_shop

TIMEOUT_S = 3.0
"""`http_timeout` in this file (the suite's settings use 5 s)."""
PRODUCTS = {
    "Linen Apron": {"category": "Kitchen", "attributes": {"Material": "100% linen", "Length": "85 cm"}},
    "Wool Scarf": {"category": "Accessories", "attributes": {"Material": "100% wool", "Length": "180 cm"}},
    "Oak Board": {"category": "Kitchen", "attributes": {"Material": "oak", "Width": "30 cm"}},
}
COPY = {
    "Linen Apron": ("The Linen Apron is made of 100% linen and is 85 cm long.\n\nIt covers you from chest to knee "
                    "while you cook, bake or wash up, and goes in the wash with the kitchen towels.",
                    "A kitchen apron of 100% linen, 85 cm long.", "Linen Apron | Kitchen",
                    "The Linen Apron: 100% linen, 85 cm long, for cooking and baking at home."),
    "Wool Scarf": ("Wrap the Wool Scarf twice around your neck on cold mornings.\n\nKnitted from 100% wool and "
                   "180 cm long, it keeps the wind out on a walk to the station or a day in the hills.",
                   "A scarf of 100% wool, 180 cm long.", "Wool Scarf | Accessories",
                   "The Wool Scarf: 100% wool, 180 cm long, for cold mornings and windy walks."),
    "Oak Board": ("Slice bread, chop herbs and serve cheese on the Oak Board.\n\nMade of oak and 30 cm wide, "
                  "it lies flat on the counter and stands upright on a shelf between meals.",
                  "A board of oak, 30 cm wide, for bread, herbs and cheese.", "Oak Board | Kitchen",
                  "The Oak Board: oak, 30 cm wide, for slicing bread and serving cheese."),
}
CUES = ("product description", "sum up", "page title", "meta description")
PLATFORMS = ("shopify", "woocommerce")
TRAIL = ["draft.created", "draft.approved", "draft.published"]


class Copywriter:
    """A stand-in model: each product's own copy, found by the `Name:` line of the prompt."""

    model_id, revision = "scripted", "r1"

    def generate(self, conversations, *, max_new_tokens, seed, temperature=0.5, top_p=0.9):
        out = []
        for conversation in conversations:
            prompt = conversation[-1]["content"]
            title = next(t for t in COPY if f"Name: {t}\n" in prompt)
            ask = prompt.rsplit("\n", 2)[-2]
            out.append(COPY[title][next(i for i, cue in enumerate(CUES) if cue in ask)])
        return out


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, http_timeout=TIMEOUT_S)


@pytest.fixture
def tiny_generator():
    """The model the `worker` fixture installs: the stand-in (the tiny model is never loaded here)."""
    return Copywriter()


@pytest.fixture
def stack(app, connected, devstore, worker, redis_conn):
    return app, connected, devstore, worker, redis_conn


def writes(store, product_id) -> list[dict]:
    return [w for w in store.writes() if w["resource_id"] == str(product_id) and w["op"].startswith("product")]


def pending_faults(store) -> list:
    return [f for faults in store._call("GET", "faults").values() for f in faults]


def registry_ids(redis_conn, registry, name: str) -> list[str]:
    return registry(name, connection=redis_conn).get_job_ids(cleanup=False)


def scheduled(redis_conn, name: str) -> list[str]:  # backing off
    return registry_ids(redis_conn, ScheduledJobRegistry, name)


def backoffs(redis_conn, job_id: str) -> list[int]:
    """The delay (s) of each retry the job asked for, oldest first (worker/retry.py's Retry intervals)."""
    results = Job.fetch(job_id, connection=redis_conn).results()
    return [r.return_value.intervals[0] for r in reversed(results) if r.type == Result.Type.RETRIED]


def catch_up(worker, redis_conn, rounds: int = 6) -> int:
    """While jobs back off, make them due now and run a burst worker with its scheduler (RQ's scheduler moves
    them to their queue). Returns the number of rounds."""
    keys = [ScheduledJobRegistry(name, connection=redis_conn).key for name in jobs.QUEUES]
    for done in range(rounds):
        waiting = {key: redis_conn.zrange(key, 0, -1) for key in keys}
        if not any(waiting.values()):
            return done
        for key, job_ids in waiting.items():
            if job_ids:
                redis_conn.zadd(key, dict.fromkeys(job_ids, int(time.time()) - 1))
        worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
    raise AssertionError(f"still backing off after {rounds} rounds")


def assert_all_done(redis_conn):
    for name in jobs.QUEUES:
        for registry in (FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry):
            assert registry_ids(redis_conn, registry, name) == [], (registry.__name__, name)
        assert redis_conn.llen(f"rq:queue:{name}") == 0, name


def trail(app, draft_id: int) -> list[str]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        return [e.action for e in db.scalars(select(AuditEntry).where(AuditEntry.draft_id == draft_id)
                                             .order_by(AuditEntry.id))]


def approved_draft(stack, platform: str, title: str = "Linen Apron") -> tuple[str, Draft]:
    """A product with no copy, its draft written by the worker and approved by staff; nothing queued."""
    app, connected, devstore, worker, redis_conn = stack
    product_id = str(devstore.create_product(platform, fire=False, title=title, **PRODUCTS[title]))
    jobs.enqueue_generate(redis_conn, connected[platform], product_id, trigger="t")
    worker.drain()
    [draft] = drafts(app, product_id=product_id)
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft.id), actor="staff")
    assert writes(devstore, product_id) == [] and draft.status == "pending"
    return product_id, draft


def published_once(stack, platform: str, product_id: str, draft: Draft) -> Draft:
    app, _, devstore, _, redis_conn = stack
    [done] = drafts(app, product_id=product_id)
    assert done.id == draft.id and done.status == "published", done.reason
    assert len(writes(devstore, product_id)) == 1
    assert devstore.product(platform, int(product_id))["description_html"] == done.fields["description_html"]
    assert trail(app, done.id) == TRAIL
    assert pending_faults(devstore) == []  # every injected fault was met
    assert_all_done(redis_conn)
    return done


# -- 3a: 429 storms ---------------------------------------------------------------------------------------

STORMS = {  # (faults, retries, backoffs); Retry-After 1 s on every 429
    # Shopify's GraphQL POST is not retried by the transport: each 429 (or THROTTLED body) goes back to the
    # job. Two 429s on the re-read; THROTTLED on the write (the re-read before it passes); a 429 on the next
    # re-read. Each pauses the shop's shared bucket for about a second.
    "shopify": ([dict(status=429, count=2), dict(throttle=True, skip=1), dict(status=429)], 4, [5, 15, 60, 180]),
    # WooCommerce GET/PUT: the transport retries a short Retry-After 3 times; the 4th 429 in a row goes back
    # to the job. On the next run, two more on the re-read and two on the write are retried by the transport.
    "woocommerce": ([dict(status=429, count=6), dict(status=429, count=2, skip=1)], 1, [5]),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_publish_through_a_429_storm_writes_once(stack, platform):
    app, connected, devstore, worker, redis_conn = stack
    product_id, draft = approved_draft(stack, platform)
    storm, retries, expected = STORMS[platform]
    for fault in storm:
        devstore.fault(platform, retry_after=1, **fault)
    job = jobs.enqueue_publish(redis_conn, draft.id, actor="staff", shop_id=connected[platform])
    worker.drain()
    assert scheduled(redis_conn, jobs.PUBLISH) == [job.id]
    assert drafts(app)[0].status == "approved" and writes(devstore, product_id) == []

    assert catch_up(worker, redis_conn) == retries
    published_once(stack, platform, product_id, draft)
    assert backoffs(redis_conn, job.id) == expected
    assert Job.fetch(job.id, connection=redis_conn).number_of_retries == retries


# -- 3b/3e: 5xx during publish, then recovery ---------------------------------------------------------------

FIVE_XX = {  # 500 on the write; then 5xx on the re-read of the next run; then the store recovers
    "shopify": [dict(status=500, skip=1), dict(status=503)],
    # WooCommerce: the 500s go back to the job; the two 503s on the last re-read are retried by the transport.
    "woocommerce": [dict(status=500, skip=1), dict(status=500), dict(status=503, count=2)],
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_5xx_during_publish_backs_off_then_writes_once(stack, platform):
    app, connected, devstore, worker, redis_conn = stack
    product_id, draft = approved_draft(stack, platform)
    for fault in FIVE_XX[platform]:
        devstore.fault(platform, **fault)
    job = jobs.enqueue_publish(redis_conn, draft.id, actor="staff", shop_id=connected[platform])
    worker.drain()
    assert scheduled(redis_conn, jobs.PUBLISH) == [job.id]
    assert registry_ids(redis_conn, FailedJobRegistry, jobs.PUBLISH) == []
    assert drafts(app)[0].status == "approved" and writes(devstore, product_id) == []

    assert catch_up(worker, redis_conn) == 2
    published_once(stack, platform, product_id, draft)
    assert backoffs(redis_conn, job.id) == [10, 15]  # no Retry-After on a 5xx: 10 s, then the 15 s step


# -- 3c: store timeouts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_read_timeout_on_generate_is_retried_to_one_draft(stack, platform):
    app, connected, devstore, worker, redis_conn = stack
    set_shop(app, connected[platform], auto_publish=True)
    product_id = str(devstore.create_product(platform, fire=False, title="Linen Apron", **PRODUCTS["Linen Apron"]))
    devstore.fault(platform, delay_s=TIMEOUT_S + 1.5)  # the product read answers after the client gave up
    job = jobs.enqueue_generate(redis_conn, connected[platform], product_id, trigger="t")
    started = time.monotonic()
    worker.drain()
    assert TIMEOUT_S <= time.monotonic() - started
    assert scheduled(redis_conn, jobs.GENERATE) == [job.id] and drafts(app) == []

    assert catch_up(worker, redis_conn) == 1
    [draft] = drafts(app)
    assert draft.product_id == product_id and draft.status == "published", draft.reason
    assert len(writes(devstore, product_id)) == 1
    assert backoffs(redis_conn, job.id) == [5]
    assert_all_done(redis_conn)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_write_that_times_out_but_lands_is_not_written_twice(stack, platform):
    """The store applies the write after the client gave up; the retried job re-reads the product, finds its
    copy there and records the draft published without a second write."""
    app, connected, devstore, worker, redis_conn = stack
    product_id, draft = approved_draft(stack, platform)
    devstore.fault(platform, delay_s=TIMEOUT_S + 1.0, skip=1)  # the re-read passes; the write is held
    job = jobs.enqueue_publish(redis_conn, draft.id, actor="staff", shop_id=connected[platform])
    worker.drain()
    assert scheduled(redis_conn, jobs.PUBLISH) == [job.id]
    assert drafts(app)[0].status == "approved"
    # The held write lands about a second after the timeout, well inside the job's 5 s backoff.
    wait_for(lambda: writes(devstore, product_id), "the held write to land", timeout=30)
    assert devstore.flush(timeout=30)  # the store's update webhook for that write: recognised as our own
    assert [d["status"] for d in devstore.deliveries() if d["kind"] == "event"] == [200]
    assert [redis_conn.llen(f"rq:queue:{name}") for name in jobs.QUEUES] == [0, 0, 0]

    assert catch_up(worker, redis_conn) == 1
    done = published_once(stack, platform, product_id, draft)
    assert backoffs(redis_conn, job.id) == [5]
    with app.extensions["copydesk_sessionmaker"]() as db:
        entry = db.scalar(select(AuditEntry).where(AuditEntry.draft_id == done.id,
                                                   AuditEntry.action == "draft.published"))
    assert entry.detail["note"] == "store already showed this copy"


# -- 3d: slow answers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("platform", PLATFORMS)
def test_slow_store_answers_succeed_without_retries(stack, platform):
    app, connected, devstore, worker, redis_conn = stack
    set_shop(app, connected[platform], auto_publish=True)
    product_id = str(devstore.create_product(platform, fire=False, title="Linen Apron", **PRODUCTS["Linen Apron"]))
    slow = TIMEOUT_S / 2
    devstore.fault(platform, delay_s=slow, count=3)  # the generate read, the publish re-read, the write
    job = jobs.enqueue_generate(redis_conn, connected[platform], product_id, trigger="t")
    started = time.monotonic()
    worker.drain()  # one burst, no scheduler: nothing may back off
    assert time.monotonic() - started >= 3 * slow
    [draft] = drafts(app)
    assert draft.status == "published", draft.reason
    assert len(writes(devstore, product_id)) == 1 and pending_faults(devstore) == []
    for job_id in (job.id, f"publish-{draft.id}"):
        assert not Job.fetch(job_id, connection=redis_conn).number_of_retries
        assert backoffs(redis_conn, job_id) == []
    assert_all_done(redis_conn)


# -- 3f: a faulted shop does not hold up another --------------------------------------------------------------

OTHER_DOMAIN, OTHER_TOKEN = "other-shop.myshopify.com", "shpat_other_token"


@pytest.fixture
def other_store(stack, web):
    """A second Shopify store on its own emulator, connected to Copydesk: its own faults and writes."""
    app = stack[0]
    server = serve_in_thread()
    client = DevStoreClient(server.base_url)
    client.reset()
    client.config(shopify={"shop_domain": OTHER_DOMAIN, "access_token": OTHER_TOKEN, "app_secret": APP_SECRET,
                           "webhook_url": f"{web.url}/webhooks/shopify"})
    with app.extensions["copydesk_sessionmaker"]() as db:
        shop = add_shop(db, Vault(SECRET_KEY), platform="shopify", domain=OTHER_DOMAIN,
                        credentials={"access_token": OTHER_TOKEN}, api_url=server.base_url)
        shop_id = shop.id
    yield client, shop_id
    server.shutdown()


def test_a_faulted_shop_does_not_hold_up_another(stack, other_store):
    app, connected, devstore, worker, redis_conn = stack
    other, other_id = other_store
    faulted = connected["shopify"]
    for shop_id in (faulted, other_id):
        set_shop(app, shop_id, auto_publish=True)
    # The faulted shop's three product reads: a 429, a 500 and an answer slower than the timeout.
    devstore.fault("shopify", status=429, retry_after=1)
    devstore.fault("shopify", status=500)
    devstore.fault("shopify", delay_s=TIMEOUT_S + 1.0)
    mine, theirs, queued = [], [], []
    for title in PRODUCTS:  # interleaved: the healthy shop's jobs queue behind the faulted shop's
        for store, shop_id, ids in ((devstore, faulted, mine), (other, other_id, theirs)):
            ids.append(str(store.create_product("shopify", fire=False, title=title, **PRODUCTS[title])))
            queued.append(jobs.enqueue_generate(redis_conn, shop_id, ids[-1], trigger="t").id)

    worker.drain()  # one burst

    healthy = drafts(app, shop_id=other_id)
    assert sorted(d.product_id for d in healthy) == sorted(theirs)
    assert all(d.status == "published" for d in healthy), [d.reason for d in healthy]
    assert [len(writes(other, p)) for p in theirs] == [1, 1, 1]
    assert [backoffs(redis_conn, job_id) for job_id in queued[1::2]] == [[], [], []]  # not one retry
    assert drafts(app, shop_id=faulted) == [] and devstore.writes() == []
    assert sorted(scheduled(redis_conn, jobs.GENERATE)) == sorted(queued[0::2])  # rescheduled, not failed
    assert [backoffs(redis_conn, job_id) for job_id in queued[0::2]] == [[5], [10], [5]]
    for name in jobs.QUEUES:
        assert registry_ids(redis_conn, FailedJobRegistry, name) == []
    assert pending_faults(devstore) == []

    assert catch_up(worker, redis_conn) == 1
    recovered = drafts(app, shop_id=faulted)
    assert sorted(d.product_id for d in recovered) == sorted(mine)
    assert all(d.status == "published" for d in recovered), [d.reason for d in recovered]
    assert [len(writes(devstore, p)) for p in mine] == [1, 1, 1]
    assert [len(writes(other, p)) for p in theirs] == [1, 1, 1]
    assert_all_done(redis_conn)
