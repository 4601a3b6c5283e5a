"""Reliability under database faults (issue #9, part 4), with real databases, real Redis, the real worker path
and the store emulator over real HTTP. Nothing is mocked: each fault is made by the database itself.

4a. A private PostgreSQL server (its own data folder and port; the machine's shared cluster is never touched)
    is crashed (`pg_ctl stop -m immediate`) while a real `copydesk worker` is in the middle of writing a draft
    (a trigger holds its audit insert, the draft row already inserted), and started again: crash recovery drops
    the half-written transaction, every job is retried by RQ (`worker.retry`), none fails, none is lost; the
    panel answers 503 while the server is down.
4b. Another connection holds SQLite's write lock: the worker's write waits out the busy timeout and is retried,
    the panel answers 503 with nothing changed, intake (reads only) still answers 200; once the lock goes,
    everything completes once. A short lock is simply waited out.
4c. A trigger makes the database refuse the `draft.created` audit insert, after the draft insert, in the same
    transaction: no draft is left without its audit entry; the job fails with the reason; after the trigger is
    dropped, the job retried from the panel writes the draft and its whole trail.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from sqlalchemy import select, text

from plugin import jobs
from plugin.db import AuditEntry, Draft
from plugin.drafts import claim_key, open_claims
from tests.conftest import APP_SECRET, CACHE_DIR, SECRET_KEY, SHOP_DOMAIN, SHOP_TOKEN, ThreadServer
from tests.panel_helpers import (  # noqa: F401  (shop: a fixture)
    audit_entries,
    csrf,
    failed_job,
    logged_in,
    make_staff,
    shop,
)
from tests.test_faults import start_worker, wait_for
from tests.test_pipeline import NEW_PRODUCT, drafts, set_shop

N_JOBS = 4
SHORT = {"target_words": 20}
"""The shortest copy a shop may ask for: less model work per job (the copy itself does not matter here)."""


def trail(app) -> dict[int, list[str]]:
    """Every draft id → the actions of its audit entries, in order (a draft without any maps to [])."""
    with app.extensions["copydesk_sessionmaker"]() as db:
        out: dict[int, list[str]] = {d: [] for d in db.scalars(select(Draft.id).order_by(Draft.id))}
        for entry in db.scalars(select(AuditEntry).where(AuditEntry.draft_id.is_not(None)).order_by(AuditEntry.id)):
            out.setdefault(entry.draft_id, []).append(entry.action)
    return out


def no_jobs_left(conn, *registries) -> bool:
    return all(Queue(q, connection=conn).count == 0 and not any(r(q, connection=conn).get_job_ids() for r in
                                                                 registries) for q in jobs.QUEUES)


# -- 4a: PostgreSQL crashed and restarted under load ---------------------------------------------------------

PG_BINS = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: float(Path(p).parts[-3]))


class PrivatePostgres:
    """initdb + pg_ctl on a temporary folder and a free port on 127.0.0.1 (trust auth); as root, the server
    runs as the `postgres` user, which owns the folder."""

    def __init__(self, bindir: Path):
        self.bin, self.root = bindir, Path(tempfile.mkdtemp(prefix="copydesk-pg-"))
        self.data, self.log = self.root / "data", self.root / "server.log"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.as_owner = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self.pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self.sql("CREATE ROLE copydesk LOGIN PASSWORD 'copydesk'", "CREATE DATABASE copydesk OWNER copydesk",
                 database="postgres")
        self.url = f"postgresql+psycopg2://copydesk:copydesk@127.0.0.1:{self.port}/copydesk"

    def pg(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_owner, str(self.bin / tool), *args], cwd=self.root, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start", "-o",
                f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}")

    def stop(self, mode: str) -> None:
        self.pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def sql(self, *statements: str, database: str = "copydesk"):
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                return cur.fetchone() if cur.description else None
        finally:
            conn.close()


@pytest.fixture
def private_pg():
    if not PG_BINS:
        pytest.skip("no PostgreSQL binaries under /usr/lib/postgresql/*/bin (.ci/run installs them)")
    server = PrivatePostgres(Path(PG_BINS[-1]).parent)
    yield server
    try:
        server.stop("fast")
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


HOLD_AUDIT = """CREATE UNLOGGED TABLE copydesk_hold (on_ boolean);
INSERT INTO copydesk_hold VALUES (true);
GRANT SELECT ON copydesk_hold TO copydesk;
CREATE FUNCTION copydesk_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
  IF EXISTS (SELECT 1 FROM copydesk_hold) THEN PERFORM pg_sleep(120); END IF; RETURN NEW; END $$;
CREATE TRIGGER copydesk_hold BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION copydesk_hold();"""
"""Audit inserts wait while `copydesk_hold` has a row. The table is unlogged: crash recovery empties it, so
the hold ends with the crash and no retry after the restart can meet it."""


ORPHANS = ("SELECT count(*) FROM drafts d WHERE NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.draft_id = d.id "
           "AND a.action = 'draft.created')")


def test_postgres_crashed_mid_write_retries_every_job_to_one_draft(private_pg, redis_server, redis_conn, devstore,
                                                                   tiny_model, tmp_path):
    from plugin.app import create_app
    from plugin.crypto import Vault
    from plugin.settings import Settings
    from plugin.shops import add_shop

    settings = Settings(secret_key=SECRET_KEY, instance_path=tmp_path / "instance", redis_url=redis_server.url,
                        database_url=private_pg.url, shopify_api_secret=APP_SECRET, model=str(tiny_model),
                        device="cpu", torch_threads=1, cache_dir=CACHE_DIR, http_timeout=5.0)
    app = create_app(settings, redis_client=redis_conn)
    web = ThreadServer(app)
    proc = None
    try:
        devstore.config(shopify={"shop_domain": SHOP_DOMAIN, "access_token": SHOP_TOKEN, "app_secret": APP_SECRET,
                                 "webhook_url": f"{web.url}/webhooks/shopify"})
        with app.extensions["copydesk_sessionmaker"]() as db:
            shop_id = add_shop(db, Vault(SECRET_KEY), platform="shopify", domain=SHOP_DOMAIN, settings=SHORT,
                               credentials={"access_token": SHOP_TOKEN}, api_url=devstore.base_url).id
        make_staff(app, shop_id)
        client = logged_in(app)
        products = [str(devstore.create_product("shopify", **{**NEW_PRODUCT, "title": f"Linen Apron {i}"}))
                    for i in range(N_JOBS)]
        assert devstore.flush(timeout=30) and [d["status"] for d in devstore.deliveries()] == [200] * N_JOBS
        job_ids = Queue(jobs.GENERATE, connection=redis_conn).job_ids
        assert len(job_ids) == N_JOBS
        private_pg.sql(HOLD_AUDIT)  # the first job's audit insert waits, its draft row inserted, uncommitted

        proc = start_worker(settings, log=tmp_path / "worker.log")  # `copydesk worker`, with RQ's scheduler
        wait_for(lambda: private_pg.sql("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                        "AND query LIKE 'INSERT INTO audit_log%'")[0] == 1,
                 "a worker transaction held in its audit insert", proc=proc, timeout=300)
        # The draft INSERT ran in that transaction (the sequence moved), yet nothing is committed.
        assert private_pg.sql("SELECT is_called FROM drafts_id_seq")[0] is True
        assert private_pg.sql("SELECT count(*) FROM drafts")[0] == 0

        private_pg.stop("immediate")  # a crash: no checkpoint, the open transaction dies with the server
        scheduled = ScheduledJobRegistry(jobs.GENERATE, connection=redis_conn)
        wait_for(lambda: sorted(scheduled.get_job_ids()) == sorted(job_ids),
                 "every job to be rescheduled while the database is down", proc=proc, timeout=120)
        page = client.get("/panel/")  # the panel while the database is down: 503, not 500
        assert page.status_code == 503 and page.headers["Retry-After"] == "5"
        private_pg.start()  # crash recovery
        assert "automatic recovery in progress" in private_pg.log.read_text()
        assert private_pg.sql("SELECT count(*) FROM copydesk_hold")[0] == 0  # unlogged: emptied by recovery
        assert private_pg.sql(ORPHANS)[0] == 0  # the half-written draft did not survive the crash

        wait_for(lambda: len(drafts(app)) == N_JOBS and no_jobs_left(redis_conn, ScheduledJobRegistry,
                                                                       StartedJobRegistry),
                 "every retried job to finish", proc=proc, timeout=600)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        web.stop()
        app.extensions["copydesk_engine"].dispose()

    made = drafts(app)
    assert sorted(d.product_id for d in made) == sorted(products)  # one draft per product, none twice
    assert list(trail(app).values()) == [["draft.created"]] * N_JOBS  # each with its audit entry
    assert all(FailedJobRegistry(q, connection=redis_conn).get_job_ids() == [] for q in jobs.QUEUES)
    retries = [Job.fetch(job_id, connection=redis_conn).number_of_retries or 0 for job_id in job_ids]
    # Each job failed while the server was down and was retried (once, unless a 5 s retry came before the
    # restart finished); every failed attempt is one logged retry, none swallowed.
    log = (tmp_path / "worker.log").read_text()
    assert min(retries) >= 1 and sum(retries) == log.count("generate_copy: OperationalError"), (retries, log[-3000:])


# -- 4b: SQLite locked by another connection -----------------------------------------------------------------


EDIT = "Linen Apron for the Kitchen"


def approve_form(app, draft_id: int, token: str, **edits) -> dict:
    with app.extensions["copydesk_sessionmaker"]() as db:
        keys = [claim_key(c) for c in open_claims(db.get(Draft, draft_id))]
    return {"action": "approve", "accept": keys, "csrf_token": token, **edits}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_locked_retries_the_job_and_the_panel_answers_503(app, connected, devstore, worker, redis_conn,
                                                                 database_url):
    make_staff(app, connected["shopify"])
    set_shop(app, connected["shopify"], **SHORT)
    first = devstore.create_product("shopify", **NEW_PRODUCT)
    assert devstore.flush(timeout=15)
    worker.drain()
    [draft] = drafts(app)
    client = logged_in(app)
    url = f"/panel/drafts/{draft.id}"
    token = csrf(client, url)
    lock = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0,
                           check_same_thread=False)
    lock.execute("BEGIN EXCLUSIVE")  # another process's long write transaction
    try:
        second = str(devstore.create_product("shopify", **{**NEW_PRODUCT, "title": "Linen Apron, Blue"}))
        assert devstore.flush(timeout=15)
        assert [d["status"] for d in devstore.deliveries()] == [200, 200]  # intake only reads: still accepted
        [job_id] = Queue(jobs.GENERATE, connection=redis_conn).job_ids
        answer = {}

        def panel():  # an edit with the approval: both are written in one transaction, or neither
            began = time.monotonic()
            answer["r"] = client.post(url, data=approve_form(app, draft.id, token, seo_title=EDIT))
            answer["s"] = time.monotonic() - began

        thread = threading.Thread(target=panel)
        thread.start()
        began = time.monotonic()
        worker.drain()  # the job's draft insert waits out busy_timeout (10 s), then RQ reschedules it
        drained = time.monotonic() - began
        thread.join(timeout=60)
        response = answer["r"]
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert "nothing was changed" in response.get_data(as_text=True)
        assert answer["s"] >= 9 and drained >= 9  # both waited on the busy timeout first
        assert job_id in ScheduledJobRegistry(jobs.GENERATE, connection=redis_conn).get_job_ids()
        assert Job.fetch(job_id, connection=redis_conn).number_of_retries == 1
        assert FailedJobRegistry(jobs.GENERATE, connection=redis_conn).get_job_ids() == []
        [still] = drafts(app)
        assert still.status == "pending" and still.fields == draft.fields  # neither the edit nor the approval
        assert trail(app) == {draft.id: ["draft.created"]}
        assert Queue(jobs.PUBLISH, connection=redis_conn).count == 0
    finally:
        lock.execute("ROLLBACK")

    # A short lock is waited out: the approval succeeds once it goes (busy_timeout), with no error.
    lock.execute("BEGIN EXCLUSIVE")
    threading.Timer(1.5, lambda: lock.execute("ROLLBACK")).start()
    began = time.monotonic()
    response = client.post(url, data=approve_form(app, draft.id, token, seo_title=EDIT))
    assert response.status_code == 302 and time.monotonic() - began >= 1.4
    lock.close()

    wait_for(lambda: ScheduledJobRegistry(jobs.GENERATE, connection=redis_conn).get_jobs_to_schedule(),
             "the retry to be due", timeout=30)
    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")  # the retry, and the publish
    made = drafts(app)
    assert [d.product_id for d in made] == [str(first), second]
    assert made[0].status == "published" and made[0].fields["seo_title"] == EDIT
    assert trail(app) == {made[0].id: ["draft.created", "draft.edited", "draft.approved", "draft.published"],
                          made[1].id: ["draft.created"]}
    assert len(devstore.writes("shopify")) == 1
    assert no_jobs_left(redis_conn, ScheduledJobRegistry, StartedJobRegistry, FailedJobRegistry)


# -- 4c: a draft and its audit entries commit together -------------------------------------------------------

REFUSE = {
    "sqlite": ["CREATE TRIGGER copydesk_refuse BEFORE INSERT ON audit_log WHEN NEW.action = 'draft.created' "
               "BEGIN SELECT RAISE(ABORT, 'injected fault: audit insert refused'); END"],
    "postgresql": ["CREATE FUNCTION copydesk_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   "IF NEW.action = 'draft.created' THEN RAISE EXCEPTION 'injected fault: audit insert refused'; "
                   "END IF; RETURN NEW; END $$",
                   "CREATE TRIGGER copydesk_refuse BEFORE INSERT ON audit_log FOR EACH ROW "
                   "EXECUTE FUNCTION copydesk_refuse()"],
}
UNREFUSE = {"sqlite": ["DROP TRIGGER copydesk_refuse"],
            "postgresql": ["DROP TRIGGER copydesk_refuse ON audit_log", "DROP FUNCTION copydesk_refuse()"]}


def run_sql(app, statements: list[str]) -> None:
    with app.extensions["copydesk_engine"].begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_a_refused_audit_insert_leaves_no_draft_and_the_retry_writes_both(app, connected, devstore, worker,
                                                                          redis_conn):
    dialect = app.extensions["copydesk_engine"].dialect.name
    shop_id = connected["shopify"]
    set_shop(app, shop_id, auto_publish=True, **SHORT)  # the approval is written in the same transaction too
    make_staff(app, shop_id)
    run_sql(app, REFUSE[dialect])
    product_id = devstore.create_product("shopify", **NEW_PRODUCT)
    assert devstore.flush(timeout=15)
    [job_id] = Queue(jobs.GENERATE, connection=redis_conn).job_ids
    worker.drain()

    failed = FailedJobRegistry(jobs.GENERATE, connection=redis_conn)
    assert failed.get_job_ids() == [job_id]  # not transient: failed at once, with the reason, not swallowed
    reason = Job.fetch(job_id, connection=redis_conn).latest_result().exc_string
    assert "injected fault: audit insert refused" in reason and "INSERT INTO audit_log" in reason
    assert drafts(app) == [] and trail(app) == {}  # the draft insert before it was rolled back with it
    with app.extensions["copydesk_sessionmaker"]() as db:
        assert db.scalar(text("SELECT count(*) FROM product_states")) == 0
    assert devstore.writes("shopify") == [] and Queue(jobs.PUBLISH, connection=redis_conn).count == 0

    run_sql(app, UNREFUSE[dialect])
    client = logged_in(app)
    answer = client.post(f"/panel/jobs/{job_id}/retry", data={"csrf_token": csrf(client, "/panel/jobs")})
    assert answer.status_code == 302
    worker.drain()

    [draft] = drafts(app)
    assert draft.product_id == str(product_id) and draft.status == "published", draft.reason
    assert trail(app) == {draft.id: ["draft.created", "draft.approved", "draft.published"]}
    assert len(devstore.writes("shopify")) == 1
    assert no_jobs_left(redis_conn, ScheduledJobRegistry, StartedJobRegistry, FailedJobRegistry)


def test_a_job_retry_on_a_locked_database_moves_nothing(app, shop, redis_conn, database_url):
    """The panel's retry writes its audit entry before it moves the job: on a locked database the answer is
    503 and the job is still in the failed registry, never requeued without its entry."""
    if not database_url.startswith("sqlite"):
        pytest.skip("holds a SQLite file lock; PostgreSQL has no lock that gives up by itself")
    job_id = failed_job(redis_conn, shop, "boom")
    client = logged_in(app)
    token = csrf(client)
    lock = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None, timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        answer = client.post(f"/panel/jobs/{job_id}/retry", data={"csrf_token": token})
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    failed = FailedJobRegistry(queue=jobs.queue(redis_conn, jobs.DEFAULT))
    assert failed.get_job_ids() == [job_id] and jobs.queue(redis_conn, jobs.DEFAULT).count == 0
    assert audit_entries(app, action="job.retried") == []

    assert client.post(f"/panel/jobs/{job_id}/retry", data={"csrf_token": token}).status_code == 302
    assert jobs.queue(redis_conn, jobs.DEFAULT).job_ids == [job_id] and failed.get_job_ids() == []
    assert [e.detail for e in audit_entries(app, action="job.retried")] == [{"job": job_id}]
