"""Catalogue backfill: `copydesk backfill` → real Redis → backfill_page jobs on the real worker path →
the emulator's product listings over HTTP → generate jobs (and, drained, drafts)."""

from __future__ import annotations

import json
import math

import pytest
from rq import Queue, SimpleWorker
from rq.job import Job
from sqlalchemy import select

from plugin import backfill, jobs
from plugin.db import Draft
from plugin.platforms.base import html_to_text
from tests.conftest import SHOP_DOMAIN

PLATFORMS = ("shopify", "woocommerce")


@pytest.fixture
def pages(settings, redis_conn):
    """A worker over the default queue only: runs backfill pages and leaves generate jobs queued."""
    from worker import context
    from worker.main import build_worker

    rq_worker = build_worker(settings, redis_conn, queues=(jobs.DEFAULT,))

    def drain(max_jobs=None):
        return rq_worker.work(burst=True, with_scheduler=False, logging_level="WARNING", max_jobs=max_jobs)

    rq_worker.drain = drain
    yield rq_worker
    context.get().sessions.kw["bind"].dispose()
    context.init(None)


def domain(devstore, platform: str) -> str:
    return SHOP_DOMAIN if platform == "shopify" else devstore.base_url


def catalogue(devstore, platform: str) -> list[dict]:
    return sorted((p for p in devstore.products() if p["platform"] == platform), key=lambda p: p["id"])


def without_copy(devstore, platform: str) -> list[str]:
    return [str(p["id"]) for p in catalogue(devstore, platform) if not html_to_text(p["description_html"])]


def queued_generates(redis_conn) -> list[Job]:
    return Queue(jobs.GENERATE, connection=redis_conn).get_jobs()


def queued_products(redis_conn, shop_id: int) -> list[str]:
    return sorted((j.args[1] for j in queued_generates(redis_conn) if j.args[0] == shop_id), key=int)


def state_of(redis_conn, shop_id: int) -> dict:
    state = backfill.status(redis_conn, shop_id)
    assert state is not None
    return state


@pytest.mark.parametrize("platform", PLATFORMS)
def test_backfill_pages_through_the_catalogue_and_queues_products_without_copy(
        connected, devstore, pages, redis_conn, cli, platform):
    shop_id, products = connected[platform], catalogue(devstore, platform)
    expected = without_copy(devstore, platform)
    assert 0 < len(expected) < len(products)  # the samples mix products with and without copy
    assert cli(["backfill", "--shop", domain(devstore, platform), "--page-size", "3"]) == 0
    pages.drain()
    assert queued_products(redis_conn, shop_id) == expected
    assert {j.kwargs["trigger"] for j in queued_generates(redis_conn)} == {"backfill"}
    state = state_of(redis_conn, shop_id)
    assert state["state"] == "done" and state["finished_reason"] == "catalogue complete"
    assert state["pages"] == math.ceil(len(products) / 3)
    assert (state["seen"], state["queued"]) == (len(products), len(expected))
    assert state["skipped_has_copy"] == len(products) - len(expected) and state["skipped_drafted"] == 0


def test_all_queues_every_product(connected, devstore, pages, redis_conn, cli):
    assert cli(["backfill", "--shop", devstore.base_url, "--all", "--page-size", "5"]) == 0
    pages.drain()
    everything = [str(p["id"]) for p in catalogue(devstore, "woocommerce")]
    assert queued_products(redis_conn, connected["woocommerce"]) == everything
    assert state_of(redis_conn, connected["woocommerce"])["skipped_has_copy"] == 0


def test_drafts_appear_and_a_second_run_queues_nothing(app, connected, devstore, worker, redis_conn, cli):
    """WooCommerce only: the tiny model takes ~40 s a Shopify sample here (long variant lists), ~8 s a Woo one."""
    platform = "woocommerce"
    shop_id, shop = connected[platform], domain(devstore, platform)
    # Two products left without copy keep the tiny model's share of this test short.
    for product_id in without_copy(devstore, platform)[2:]:
        devstore.edit_product(platform, int(product_id), fire=False, description="<p>Written by hand.</p>")
    expected = without_copy(devstore, platform)
    assert len(expected) == 2
    assert cli(["backfill", "--shop", shop, "--page-size", "3"]) == 0
    worker.drain()  # pages and generate jobs alike
    with app.extensions["copydesk_sessionmaker"]() as db:
        made = list(db.scalars(select(Draft).where(Draft.shop_id == shop_id)))
    assert sorted((d.product_id for d in made), key=int) == expected
    assert {d.status for d in made} == {"pending"}
    assert cli(["backfill", "--shop", shop, "--page-size", "3"]) == 0
    SimpleWorker([jobs.queue(redis_conn, jobs.DEFAULT)], connection=redis_conn).work(
        burst=True, with_scheduler=False, logging_level="WARNING")
    state = state_of(redis_conn, shop_id)
    assert (state["state"], state["queued"], state["skipped_drafted"]) == ("done", 0, 2)
    assert queued_generates(redis_conn) == []
    worker.drain()
    with app.extensions["copydesk_sessionmaker"]() as db:
        assert len(list(db.scalars(select(Draft.id).where(Draft.shop_id == shop_id)))) == 2


def test_limit_caps_the_run(connected, devstore, pages, redis_conn, cli):
    shop_id = connected["shopify"]
    expected = without_copy(devstore, "shopify")
    assert len(expected) > 2
    assert cli(["backfill", "--shop", SHOP_DOMAIN, "--limit", "2", "--page-size", "3"]) == 0
    pages.drain()
    assert queued_products(redis_conn, shop_id) == expected[:2]  # the first two, in catalogue order
    state = state_of(redis_conn, shop_id)
    assert (state["state"], state["finished_reason"], state["queued"], state["cap"]) == ("done", "limit reached", 2, 2)
    assert state["seen"] < len(catalogue(devstore, "shopify"))  # it stopped paging at the cap


def test_pause_then_resume_completes(connected, devstore, pages, redis_conn, cli):
    shop_id = connected["shopify"]
    first_page = [str(p["id"]) for p in catalogue(devstore, "shopify")[:3]]
    assert cli(["backfill", "--shop", SHOP_DOMAIN, "--page-size", "3"]) == 0
    pages.drain(max_jobs=1)  # page 0
    assert cli(["backfill", "--shop", SHOP_DOMAIN, "--pause"]) == 0
    pages.drain()  # page 1 finds the run paused and fetches nothing
    state = state_of(redis_conn, shop_id)
    assert (state["state"], state["pages"], state["seen"]) == ("paused", 1, 3)
    assert state["cursor"]
    assert set(queued_products(redis_conn, shop_id)) <= set(first_page)
    assert cli(["backfill", "--shop", SHOP_DOMAIN, "--resume"]) == 0
    pages.drain()
    state = state_of(redis_conn, shop_id)
    assert state["state"] == "done" and state["seen"] == len(catalogue(devstore, "shopify"))
    assert queued_products(redis_conn, shop_id) == without_copy(devstore, "shopify")


def test_pause_keeps_the_page_in_progress(connected, devstore, redis_conn):
    """A pause that lands while a page is being fetched: the page still counts, no next page is queued."""
    shop_id = connected["woocommerce"]
    run = backfill.start(redis_conn, shop_id, page_size=3)
    default = Queue(jobs.DEFAULT, connection=redis_conn)
    assert default.count == 1
    backfill.pause(redis_conn, shop_id)
    state = backfill.commit_page(redis_conn, shop_id, run["run_id"], 0, cursor="2", seen=3, fresh=["7", "8"],
                                 skipped_has_copy=1, skipped_drafted=0)
    assert (state["state"], state["pages"], state["queued"], state["cursor"]) == ("paused", 1, 2, "2")
    assert default.count == 1 and len(queued_generates(redis_conn)) == 2
    # The same page committed again (a duplicated job) changes nothing.
    again = backfill.commit_page(redis_conn, shop_id, run["run_id"], 0, cursor="2", seen=3, fresh=["7", "8"],
                                 skipped_has_copy=1, skipped_drafted=0)
    assert again == state


def test_cancel_stops(connected, devstore, pages, redis_conn, cli, capsys):
    shop_id = connected["woocommerce"]
    assert cli(["backfill", "--shop", devstore.base_url, "--page-size", "3"]) == 0
    pages.drain(max_jobs=1)
    assert cli(["backfill", "--shop", devstore.base_url, "--cancel"]) == 0
    pages.drain()
    state = state_of(redis_conn, shop_id)
    assert (state["state"], state["pages"], state["seen"]) == ("cancelled", 1, 3)
    assert Queue(jobs.DEFAULT, connection=redis_conn).count == 0
    capsys.readouterr()
    assert cli(["backfill", "--shop", devstore.base_url, "--resume"]) == 2
    assert "cancelled" in capsys.readouterr().err


def test_a_second_start_is_refused_while_running(connected, devstore, pages, redis_conn, cli, capsys):
    shop_id = connected["shopify"]
    assert cli(["backfill", "--shop", SHOP_DOMAIN]) == 0
    run_id = state_of(redis_conn, shop_id)["run_id"]
    capsys.readouterr()
    assert cli(["backfill", "--shop", SHOP_DOMAIN, "--all"]) == 2
    err = capsys.readouterr().err
    assert run_id in err and "already running" in err
    assert Queue(jobs.DEFAULT, connection=redis_conn).count == 1  # still only the first run's page
    pages.drain()
    assert cli(["backfill", "--shop", SHOP_DOMAIN]) == 0  # finished runs do not block a new one
    assert state_of(redis_conn, shop_id)["run_id"] != run_id


def test_status_as_json(connected, devstore, pages, redis_conn, cli, capsys):
    assert cli(["backfill", "--shop", devstore.base_url, "--status"]) == 1
    assert "no backfill" in capsys.readouterr().out
    assert cli(["backfill", "--shop", devstore.base_url, "--page-size", "4", "--limit", "50"]) == 0
    pages.drain()
    capsys.readouterr()
    assert cli(["backfill", "--shop", devstore.base_url, "--status", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["state"] == "done" and shown["page_size"] == 4 and shown["cap"] == 50
    assert shown["queued"] == len(without_copy(devstore, "woocommerce"))
    assert shown["started_at"] and shown["updated_at"]


def test_a_page_that_fails_for_good_fails_the_run(connected, devstore, pages, redis_conn, cli):
    shop_id = connected["woocommerce"]
    devstore.fault("woocommerce", status=400)
    assert cli(["backfill", "--shop", devstore.base_url]) == 0
    pages.drain()
    state = state_of(redis_conn, shop_id)
    assert state["state"] == "failed" and "400" in state["error"]
    assert Queue(jobs.DEFAULT, connection=redis_conn).failed_job_registry.count == 1
    assert cli(["backfill", "--shop", devstore.base_url]) == 0  # a failed run does not block a new one
