"""A burst of webhooks against gunicorn, drained by real workers (issue #9, item 5): exact drafts, every
forgery refused, bounded memory.

The machinery of bench/burst.py, smaller (the bench runs 5,000): deliveries to `plugin.app` under gunicorn
(2 sync workers) over 8 connections, with its own redis-server and SQLite and the products in the store
emulator; a third are re-deliveries, a sixth forged, a sixth malformed, about a quarter WooCommerce. Two
`copydesk worker --burst` processes drain the queue: with the tiny random model (the local torch path;
~3 s of CPU a draft, so 120 deliveries), and with bench/stub_llm.py behind the worker's `openai:` backend
(generation next to free, so 600). Peak RSS comes from /proc (VmHWM, VmRSS, PSS) polled every 0.1 s and
from wait4() at exit. BURST_DELIVERIES and BURST_STUB_DELIVERIES set the sizes.
"""

from __future__ import annotations

import os

from bench.burst import report, run_burst

TINY_DELIVERIES = int(os.environ.get("BURST_DELIVERIES", "120"))
STUB_DELIVERIES = int(os.environ.get("BURST_STUB_DELIVERIES", "600"))

WEB_PROCESS_MIB = 400
"""One gunicorn process (master or worker): Flask, SQLAlchemy, redis-py and RQ imported, ~107 MiB measured;
the ceiling asked for in issue #9, nearly 4x that. A slower leak is the growth check's to catch."""
WEB_TOTAL_PSS_MIB = 600
"""Master and two workers together, pages shared after the fork counted once (~150 MiB measured)."""
WORKER_PROCESS_MIB = 1024
"""One `copydesk worker` process: with the tiny model torch, transformers and the SmolLM2 tokenizer make
~450 MiB measured (the weights are ~25 MiB); with the `openai:` backend ~190 MiB. Over twice the larger,
allowing for other torch builds and allocators."""
GROWTH_MIB = 64
"""RSS growth allowed to the web processes (summed) over the burst, and to a worker process over its second
half of the jobs: a per-request or per-job leak shows as growth, whatever the ceiling. Measured: under
2 MiB for the web over 5,000 deliveries; an `openai:` worker warms up to ~190 MiB and stays there (27 MiB
over its second 50 jobs of 600 deliveries, 13 MiB over its last ~420 of 5,000), a tiny-model one 0 MiB."""


def check_burst(r: dict, deliveries: int) -> None:
    kinds, intake = r["kinds"], r["intake"]
    assert kinds["unique"] + kinds["duplicate"] + kinds["forged"] + kinds["malformed"] == deliveries
    assert abs(kinds["duplicate"] - deliveries / 3) <= 1 and kinds["forged"] > 0 and kinds["malformed"] > 0
    assert r["platforms"]["woocommerce"] > 0 and r["platforms"]["shopify"] > 0

    # Intake: every answer is the expected one, per delivery (unexpected lists any that is not).
    assert intake["unexpected"] == {}
    assert intake["by_status"] == {"200": kinds["unique"] + kinds["duplicate"], "400": kinds["malformed"],
                                   "401": kinds["forged"]}
    assert intake["by_reply"]["200 queued"] == kinds["unique"]
    assert intake["by_reply"]["200 duplicate"] == kinds["duplicate"]
    assert r["queued_per_product_not_1"] == 0  # of each product's deliveries exactly one was queued

    # Queue: one job and one delivery marker per unique valid product; nothing for anything else.
    assert r["jobs_queued"] == r["jobs_for_unique_products"] == kinds["unique"]
    assert r["delivery_markers"] == kinds["unique"]
    assert r["jobs_for_other_products"] == 0 and r["jobs_for_forged_or_malformed"] == 0

    # Drained: one draft per unique valid product, none for any other, no failed or stranded job.
    assert r["worker_exit_codes"] == [0, 0], r["worker_log_tail"]
    assert r["drafts"] == r["products_with_a_draft"] == kinds["unique"]
    assert r["unique_products_without_draft"] == 0 and r["products_with_more_than_one_draft"] == 0
    assert r["drafts_for_forged_or_malformed"] == 0 and r["drafts_for_other_products"] == 0
    assert r["leftover_jobs"] == {"failed": 0, "queued": 0, "started": 0, "scheduled": 0, "deferred": 0}, \
        r["worker_log_tail"]

    # Memory. The worker role may count a third process: RQ forks its scheduler from a worker (in burst
    # mode too, once the worker has run about a minute).
    web, worker = r["rss"]["web"], r["rss"]["worker"]
    assert web["processes"] == 3 and worker["processes"] >= 2
    assert web["peak_process_mib"] < WEB_PROCESS_MIB, web
    assert web["peak_pss_sum_mib"] < WEB_TOTAL_PSS_MIB, web
    assert worker["peak_process_mib"] < WORKER_PROCESS_MIB, worker
    assert intake["web_rss_after_mib"] - intake["web_rss_before_mib"] < GROWTH_MIB, intake
    assert r["worker_growth_second_half_mib"] < GROWTH_MIB, r["rss_series"]


def test_burst_with_the_tiny_model_makes_exactly_the_right_drafts(tiny_model, tmp_path):
    r = run_burst(TINY_DELIVERIES, connections=8, workers=2, model=str(tiny_model), workdir=tmp_path,
                  drain_timeout=900)
    report(r)  # the figures, shown with `pytest -s` or on failure
    check_burst(r, TINY_DELIVERIES)


def test_bigger_burst_through_the_openai_backend_makes_exactly_the_right_drafts(tmp_path):
    r = run_burst(STUB_DELIVERIES, connections=8, workers=2, model="stub", workdir=tmp_path, drain_timeout=900)
    report(r)
    check_burst(r, STUB_DELIVERIES)
