"""Reliability under faults, with real processes (issue #9, parts 1 and 2).

1. A `copydesk worker` process SIGKILLed in the middle of a generate job and of a publish job: the next
   `copydesk worker` requeues the abandoned job at start-up (`worker.main.requeue_abandoned`); each product
   ends with exactly one draft and the store receives the copy exactly once.
2. The embedded redis-server (AOF, `appendfsync everysec`) stopped with jobs queued, by SIGTERM and by
   SIGKILL, and started again on the same folder: every webhook that got a 200 is still queued and runs.
   Redis down during intake: 503 with Retry-After; the store's redelivery is accepted once, processed once.

A job is held mid-flight with the emulator's fault injection (`delay_s`); the test waits until the emulator
has taken the delayed call (its fault queue is empty) and the job is in RQ's StartedJobRegistry, then kills.
No sleeps race anything: every wait is on a condition, with a deadline.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry, StartedJobRegistry

from plugin import jobs
from plugin.db import Draft
from plugin.drafts import approve
from plugin.redis_server import EmbeddedRedis
from plugin.settings import Settings
from tests.conftest import (
    APP_SECRET,
    CACHE_DIR,
    SECRET_KEY,
    SHOP_DOMAIN,
    SHOP_TOKEN,
    ThreadServer,
)
from tests.test_pipeline import NEW_PRODUCT, drafts, set_shop

HOLD_S = 4.0
"""How long the emulator holds the faulted call; the kill lands inside it."""


def wait_for(condition, what: str, timeout: float = 60.0, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}) while waiting for {what}: "
                                 f"{proc.stderr.read().decode()[-3000:] if proc.stderr else ''}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def worker_env(settings: Settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COPYDESK_", "REDIS_URL", "DATABASE_URL"))}
    env.update(COPYDESK_SECRET_KEY=SECRET_KEY, COPYDESK_INSTANCE=str(settings.instance_path),
               REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url, COPYDESK_MODEL=settings.model,
               COPYDESK_TORCH_THREADS="1", COPYDESK_CACHE_DIR=str(CACHE_DIR), COPYDESK_HTTP_TIMEOUT="30",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return env


def start_worker(settings: Settings, *args: str, log: Path) -> subprocess.Popen:
    """`copydesk worker ...` as a real process; its output goes to `log` (a pipe could fill and block it)."""
    with open(log, "ab") as out:
        # Its own process group: the kill takes the worker and the RQ scheduler process it starts, as a
        # container stop or an OOM kill of the unit would; an orphaned scheduler would keep taking locks in
        # the test session's Redis after the test.
        return subprocess.Popen([sys.executable, "-m", "plugin.cli", "worker", *args], env=worker_env(settings),
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def run_burst_worker(settings: Settings, *args: str, log: Path, timeout: float = 120) -> None:
    with open(log, "ab") as out:
        done = subprocess.run([sys.executable, "-m", "plugin.cli", "worker", "--burst", *args],
                              env=worker_env(settings), stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout)
    assert done.returncode == 0, log.read_text()[-3000:]


def faults_pending(devstore) -> list:
    return devstore._call("GET", "faults")["shopify"]


def kill_mid_job(proc: subprocess.Popen, devstore, registry: StartedJobRegistry, job_id: str, log: Path) -> None:
    """SIGKILL the worker once its job is started and the emulator is holding the job's faulted call."""
    wait_for(lambda: job_id in registry.get_job_ids(cleanup=False) and not faults_pending(devstore),
             "the job to be started and held by the store", proc=proc, timeout=90)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)  # reaped: a zombie's pid would still look alive
    assert proc.returncode == -signal.SIGKILL, log.read_text()[-3000:]


def shopify_writes(devstore, product_id) -> list[dict]:
    return [w for w in devstore.writes("shopify") if str(w["resource_id"]) == str(product_id)]


def test_worker_killed_mid_generate_job_is_requeued_and_writes_once(app, connected, devstore, redis_conn, settings,
                                                                    tmp_path):
    set_shop(app, connected["shopify"], auto_publish=True)
    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    assert devstore.flush(timeout=15) and [d["status"] for d in devstore.deliveries()] == [200]
    [job_id] = Queue(jobs.GENERATE, connection=redis_conn).job_ids
    devstore.fault("shopify", delay_s=HOLD_S)  # holds the job's product read
    log = tmp_path / "worker.log"
    proc = start_worker(settings, "--queues", jobs.GENERATE, log=log)
    started = StartedJobRegistry(jobs.GENERATE, connection=redis_conn)
    kill_mid_job(proc, devstore, started, job_id, log)
    assert drafts(app) == []  # killed before it wrote anything

    run_burst_worker(settings, log=log)  # start-up sweep requeues it; generate, auto-publish, publish

    assert "requeued job " + job_id in log.read_text()
    [draft] = drafts(app)
    assert draft.product_id == str(product_id) and draft.status == "published", draft.reason
    assert len(shopify_writes(devstore, product_id)) == 1
    assert devstore.product("shopify", product_id)["description_html"] == draft.fields["description_html"]
    for name in jobs.QUEUES:
        assert FailedJobRegistry(name, connection=redis_conn).get_job_ids() == []
        assert StartedJobRegistry(name, connection=redis_conn).get_job_ids() == []
        assert Queue(name, connection=redis_conn).count == 0


def test_worker_killed_mid_publish_write_publishes_once(app, connected, devstore, redis_conn, settings, tmp_path):
    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    assert devstore.flush(timeout=15)
    log = tmp_path / "worker.log"
    run_burst_worker(settings, "--queues", jobs.GENERATE, log=log)  # the draft
    [draft] = drafts(app)
    with app.extensions["copydesk_sessionmaker"]() as db:
        approve(db, db.get(Draft, draft.id), actor="staff")
    job = jobs.enqueue_publish(redis_conn, draft.id, actor="staff", shop_id=connected["shopify"])
    devstore.fault("shopify", delay_s=HOLD_S, skip=1)  # the re-read passes; the write is held
    proc = start_worker(settings, "--queues", jobs.PUBLISH, log=log)
    kill_mid_job(proc, devstore, StartedJobRegistry(jobs.PUBLISH, connection=redis_conn), job.id, log)
    # The store commits the held write though its caller is dead: the hard case for exactly-once.
    wait_for(lambda: shopify_writes(devstore, product_id), "the held write to land", timeout=30)
    assert drafts(app)[0].status == "approved"  # the worker died before recording it

    run_burst_worker(settings, "--queues", jobs.PUBLISH, log=log)

    assert "requeued job " + job.id in log.read_text()
    [draft] = drafts(app)
    assert draft.status == "published", draft.reason
    assert len(shopify_writes(devstore, product_id)) == 1  # the rerun saw its copy in the store: no 2nd write
    assert devstore.product("shopify", product_id)["description_html"] == draft.fields["description_html"]
    assert FailedJobRegistry(jobs.PUBLISH, connection=redis_conn).get_job_ids() == []
    assert StartedJobRegistry(jobs.PUBLISH, connection=redis_conn).get_job_ids() == []
    assert redis_conn.get(f"{jobs.PREFIX}:publishing:{draft.id}") is None


def test_the_sweep_requeues_only_jobs_whose_worker_is_dead(redis_conn):
    """A started job whose worker's pid is alive on this host stays started; once that pid is gone, the
    sweep puts the job back at the front of its queue."""
    from rq import SimpleWorker
    from rq.job import JobStatus

    from worker.main import requeue_abandoned

    queue = jobs.queue(redis_conn, jobs.DEFAULT)
    job = queue.enqueue("worker.tasks.product_updated", 1, "1")
    queue.remove(job)  # as a worker's dequeue does
    stand_in = subprocess.Popen(["sleep", "120"])  # the worker's process
    try:
        worker = SimpleWorker([queue], connection=redis_conn)
        worker.pid = stand_in.pid
        worker.register_birth()
        worker.prepare_execution(job)
        job.set_status(JobStatus.STARTED)
        assert requeue_abandoned(redis_conn, (jobs.DEFAULT,)) == []
        assert queue.count == 0 and job.id in queue.started_job_registry.get_job_ids(cleanup=False)
    finally:
        stand_in.kill()
        stand_in.wait(timeout=10)
    assert requeue_abandoned(redis_conn, (jobs.DEFAULT,)) == [job.id]
    assert queue.job_ids == [job.id] and job.get_status() == JobStatus.QUEUED
    assert queue.started_job_registry.get_job_ids(cleanup=False) == []
    assert job.get_meta()["abandoned"] == 1


# -- part 2: Redis restarted with jobs queued; Redis down during intake -------------------------------


@pytest.fixture
def own_redis(tmp_path):
    """An embedded redis-server (AOF, everysec) of this test's own, which the test stops and restarts."""
    server = EmbeddedRedis(tmp_path / "redis")
    procs = [server.start_child()]

    def restart():
        procs.append(server.start_child())

    server.proc = lambda: procs[-1]
    server.restart = restart
    yield server
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def stack(tmp_path, own_redis, devstore, tiny_model):
    """The web app over HTTP on `own_redis`, the Shopify emulator sending it webhooks, a shop connected."""
    from plugin.app import create_app
    from plugin.crypto import Vault
    from plugin.shops import add_shop

    settings = Settings(secret_key=SECRET_KEY, instance_path=tmp_path / "instance", redis_url=own_redis.url,
                        database_url=f"sqlite:///{tmp_path / 'copydesk.db'}", shopify_api_secret=APP_SECRET,
                        model=str(tiny_model), device="cpu", torch_threads=1, cache_dir=CACHE_DIR,
                        http_timeout=5.0)
    app = create_app(settings)
    web = ThreadServer(app)
    devstore.config(shopify={"shop_domain": SHOP_DOMAIN, "access_token": SHOP_TOKEN, "app_secret": APP_SECRET,
                             "webhook_url": f"{web.url}/webhooks/shopify"})
    with app.extensions["copydesk_sessionmaker"]() as db:
        add_shop(db, Vault(SECRET_KEY), platform="shopify", domain=SHOP_DOMAIN,
                 credentials={"access_token": SHOP_TOKEN}, api_url=devstore.base_url)
    yield app, settings
    web.stop()
    app.extensions["copydesk_engine"].dispose()


def aof_bytes(server: EmbeddedRedis) -> bytes:
    return b"".join(p.read_bytes() for p in (server.dir / "appendonlydir").glob("*.aof"))


@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
def test_queued_jobs_survive_a_redis_restart(stack, own_redis, devstore, tmp_path, stop):
    """SIGTERM: redis-server fsyncs the AOF as it shuts down. SIGKILL: with `appendfsync everysec` the AOF is
    written (to the OS) before each reply unless a background fsync is still running, when the write may
    wait up to 2 s; a process kill loses nothing the OS has, so the test kills only once the last job's id
    is in the AOF file (waited for, not slept). A power cut could still lose the last second."""
    app, settings = stack
    n = 3
    products = [devstore.create_product("shopify", **{**NEW_PRODUCT, "title": f"Linen Apron {i}"})
                for i in range(n)]
    assert devstore.flush(timeout=30)
    assert [d["status"] for d in devstore.deliveries()] == [200] * n
    conn = own_redis.client()
    queued = Queue(jobs.GENERATE, connection=conn).job_ids
    assert len(queued) == n
    proc = own_redis.proc()
    if stop == "sigterm":
        proc.terminate()
    else:
        wait_for(lambda: all(job_id.encode() in aof_bytes(own_redis) for job_id in queued),
                 "every queued job to be in the AOF", timeout=10)
        proc.kill()
    proc.wait(timeout=10)
    assert not own_redis.ping()

    own_redis.restart()

    assert Queue(jobs.GENERATE, connection=own_redis.client()).job_ids == queued  # nothing lost, same order
    run_burst_worker(settings, log=tmp_path / "worker.log")  # `copydesk worker --burst`
    made = drafts(app)
    assert sorted(d.product_id for d in made) == sorted(str(p) for p in products)  # one draft each
    conn = own_redis.client()
    assert Queue(jobs.GENERATE, connection=conn).count == 0
    assert FailedJobRegistry(jobs.GENERATE, connection=conn).get_job_ids() == []


def test_redis_down_during_intake_answers_503_and_the_redelivery_is_processed_once(stack, own_redis, devstore,
                                                                                  tmp_path):
    app, settings = stack
    proc = own_redis.proc()
    proc.terminate()
    proc.wait(timeout=10)
    assert not own_redis.ping()

    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    assert devstore.flush(timeout=30)
    [first] = devstore.deliveries()
    assert first["status"] == 503
    # The same request again, to see the whole answer: 503 with Retry-After, so that the store retries.
    body = first["body"].encode()
    headers = {k: v for k, v in first["headers"].items() if k.lower().startswith(("x-", "content-type"))}
    answer = app.test_client().post("/webhooks/shopify", data=body, headers=headers)
    assert answer.status_code == 503 and int(answer.headers["Retry-After"]) > 0

    own_redis.restart()
    devstore.fire("shopify", "products/create", product_id, redeliver=True)
    devstore.fire("shopify", "products/create", product_id, redeliver=True)
    assert devstore.flush(timeout=30)
    deliveries = devstore.deliveries()
    assert [d["status"] for d in deliveries] == [503, 200, 200]
    assert len({d["headers"]["X-Shopify-Webhook-Id"] for d in deliveries}) == 1  # one delivery, resent
    conn = own_redis.client()
    assert Queue(jobs.GENERATE, connection=conn).count == 1  # the second redelivery was a duplicate

    run_burst_worker(settings, log=tmp_path / "worker.log")  # `copydesk worker --burst`
    [draft] = drafts(app)
    assert draft.product_id == str(product_id)
    assert Queue(jobs.GENERATE, connection=conn).count == 0
    assert FailedJobRegistry(jobs.GENERATE, connection=conn).get_job_ids() == []
