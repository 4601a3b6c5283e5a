"""Reconciliation: products whose webhooks never arrived are found through the store's API (the emulator's
`updated_at` / `modified_after` filters, over HTTP) and queued once, on the real worker path."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select

from plugin import jobs, reconcile
from plugin.db import Draft
from tests.conftest import SHOP_DOMAIN

PLATFORMS = ("shopify", "woocommerce")


@pytest.fixture
def fresh(connected):
    """Connected, and past the second the shop was connected in (store times have second precision)."""
    time.sleep(1.05)
    return connected


def domain(devstore, platform: str) -> str:
    return SHOP_DOMAIN if platform == "shopify" else devstore.base_url


def drafts(app, shop_id: int, product_id: str | None = None) -> list[Draft]:
    with app.extensions["copydesk_sessionmaker"]() as db:
        query = select(Draft).where(Draft.shop_id == shop_id)
        if product_id is not None:
            query = query.where(Draft.product_id == product_id)
        return list(db.scalars(query))


def reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id) -> dict:
    """`copydesk reconcile --shop D`, then run only the reconcile job (the default queue is served before
    the generate queue, and the reconcile job is its only job); returns the job's counts."""
    assert cli(["reconcile", "--shop", domain(devstore, platform)]) == 0
    assert Queue(jobs.DEFAULT, connection=redis_conn).get_job_ids() == [f"reconcile-{shop_id}"]
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING", max_jobs=1)
    job = Job.fetch(f"reconcile-{shop_id}", connection=redis_conn)
    assert job.is_finished, job.exc_info
    return job.return_value()


def waiting(redis_conn, name: str, shop_id: int, product_id: str) -> list[str]:
    return [j for j in Queue(name, connection=redis_conn).get_job_ids() if j.split("-")[-3:-1] == [str(shop_id),
                                                                                                    product_id]
            or j.startswith(f"{'generate' if name == jobs.GENERATE else 'product-updated'}-{shop_id}-{product_id}-")]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_missed_products_are_found_and_drafted_once(app, fresh, devstore, worker, redis_conn, cli, platform):
    shop_id = fresh[platform]
    missed = str(devstore.create_product(platform, fire=False, title="Walnut Desk Organiser",
                                         description_html=""))
    counts = reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)
    assert counts["generate"] == 1 and counts["updated"] == 0
    assert counts["seen"] == 1  # only what changed since the shop was connected: not the sample catalogue
    worker.drain()
    assert len(drafts(app, shop_id, missed)) == 1
    assert {d.product_id for d in drafts(app, shop_id)} == {missed}

    again = reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)
    assert again["generate"] == again["updated"] == 0
    worker.drain()
    assert len(drafts(app, shop_id)) == 1
    assert redis_conn.get(reconcile.watermark_key(shop_id)) is not None


@pytest.mark.parametrize("platform", PLATFORMS)
def test_twice_before_the_worker_drains_queues_nothing_new(app, fresh, devstore, worker, redis_conn, cli, platform):
    shop_id = fresh[platform]
    missed = str(devstore.create_product(platform, fire=False, title="Linen Apron"))
    assert reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)["generate"] == 1
    assert reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)["generate"] == 0
    assert len(waiting(redis_conn, jobs.GENERATE, shop_id, missed)) == 1
    worker.drain()
    assert len(drafts(app, shop_id, missed)) == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_product_handled_by_its_webhook_is_not_queued_again(app, fresh, devstore, worker, redis_conn, cli,
                                                              platform):
    shop_id = fresh[platform]
    handled = str(devstore.create_product(platform, title="Stoneware Mug"))
    devstore.flush()
    assert len(waiting(redis_conn, jobs.GENERATE, shop_id, handled)) == 1  # the webhook's job, not run yet
    assert redis_conn.get(reconcile.last_event_key(shop_id)) is not None
    counts = reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)
    assert counts["seen"] == 1 and counts["generate"] == counts["updated"] == 0
    assert len(waiting(redis_conn, jobs.GENERATE, shop_id, handled)) == 1
    worker.drain()
    assert len(drafts(app, shop_id, handled)) == 1
    counts = reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)  # seen and drafted
    assert counts["generate"] == counts["updated"] == 0


@pytest.mark.parametrize("platform", PLATFORMS)
def test_an_edited_product_gets_a_product_updated_job(app, fresh, devstore, worker, redis_conn, cli, platform):
    shop_id = fresh[platform]
    product = str(devstore.create_product(platform, title="Oak Chopping Board"))
    devstore.flush()
    worker.drain()
    [draft] = drafts(app, shop_id, product)
    assert draft.status == "pending"
    time.sleep(1.05)  # a new updated_at second
    devstore.edit_product(platform, int(product), fire=False, title="Oak Chopping Board, Large")
    counts = reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)
    assert counts["updated"] == 1 and counts["generate"] == 0
    assert len(waiting(redis_conn, jobs.DEFAULT, shop_id, product)) == 1
    worker.drain()
    [draft] = drafts(app, shop_id, product)
    assert draft.status == "stale"  # the product_updated job saw the edit
    assert reconcile_once(cli, worker, redis_conn, devstore, platform, shop_id)["updated"] == 0


def test_generate_on_create_off_is_respected(app, fresh, devstore, worker, redis_conn, cli):
    shop_id = fresh["woocommerce"]
    assert cli(["shop", "set", devstore.base_url, "generate_on_create=false"]) == 0
    devstore.create_product("woocommerce", fire=False, title="Cork Coasters")
    assert reconcile_once(cli, worker, redis_conn, devstore, "woocommerce", shop_id)["generate"] == 0
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        assert db.scalar(select(func.count(Draft.id)).where(Draft.shop_id == shop_id)) == 0


def test_where_a_run_starts(redis_conn):
    connected_at = datetime(2026, 1, 1, 12, 0)
    assert reconcile.since_for(redis_conn, 7, connected_at) == connected_at.replace(tzinfo=UTC)
    redis_conn.set(reconcile.last_event_key(7), "2026-02-01T00:00:00+00:00")
    assert reconcile.since_for(redis_conn, 7, connected_at) == datetime(2026, 2, 1, tzinfo=UTC) - reconcile.OVERLAP
    redis_conn.set(reconcile.watermark_key(7), "2026-03-01T00:00:00+00:00")
    assert reconcile.since_for(redis_conn, 7, connected_at) == datetime(2026, 3, 1, tzinfo=UTC) - timedelta(minutes=10)
    assert reconcile.since_for(redis_conn, 7, None, "2026-04-01T00:00:00Z") == datetime(2026, 4, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO"):
        reconcile.parse_time("yesterday")


def test_bad_since_is_refused(fresh, devstore, cli, capsys):
    assert cli(["reconcile", "--shop", devstore.base_url, "--since", "yesterday"]) == 2
    assert "not an ISO time" in capsys.readouterr().err
