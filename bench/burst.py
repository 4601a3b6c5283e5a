"""A fixed burst of webhooks against gunicorn, drained by real workers: exact drafts, bounded memory.

N deliveries (default 5,000) to Copydesk under gunicorn (2 sync workers, as bench/intake.py) on its own
real redis-server and SQLite, over 8 connections, on a fixed cycle of six: unique, re-delivery,
forged, unique, re-delivery, malformed. So a third are re-deliveries of an earlier unique one (same
Shopify webhook id; a WooCommerce re-send with a new delivery id), a sixth are forged (wrong secret,
tampered body, no signature, garbage signature or unknown WooCommerce store) and a sixth are malformed
(correctly signed, but truncated JSON, a JSON array, no id, a bad id or invalid UTF-8). About a quarter are
WooCommerce, the rest Shopify. Every product, including the decoys that the forged and malformed ones
name, is in the store emulator (over real HTTP), so a forgery that got through would make a draft.
Then `copydesk worker --burst` processes drain the queue (the tests' tiny random model by default; with
`--model stub` an instant stand-in inference server, bench/stub_llm.py, behind the worker's own `openai:`
backend, for bursts too big for the tiny model's seconds of CPU a draft), and everything is counted:
responses by status, jobs and delivery markers in Redis, drafts in the database, failed jobs. The peak
RSS of the gunicorn processes and of the worker processes (with any children) is sampled from /proc
throughout (bench/rss.py).

    python bench/burst.py [--deliveries 5000] [--connections 8] [--workers 2] [--model DIR|stub]

Prints the figures and writes bench/results/burst.json. Drafts per second count the drain from the
workers' start, model loading included. tests/test_burst.py runs the same burst, smaller, and asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import stub_llm  # noqa: E402
from bench.burst_plan import SHOPIFY_SECRET, SHOPIFY_SHOP, WOO, build_plan, send  # noqa: E402
from bench.intake import _port, _serve  # noqa: E402
from bench.rss import TreeSampler, reap, wait_peak  # noqa: E402

SECRET_KEY = "burst-secret-key-0123456789abcdef"


def tiny_model() -> Path:
    """The seeded tiny Llama the tests use (tests/model_fixtures.py), built on first use."""
    import hashlib

    from model.backend import build_tiny_model
    from model.convert import find_gguf, short_hash
    from model.tiny import TINY_SEED, TINY_SHAPE

    gguf = find_gguf()
    shape = hashlib.sha256(repr((sorted(TINY_SHAPE.items()), TINY_SEED)).encode()).hexdigest()
    return build_tiny_model(Path.home() / ".cache" / "copydesk" / "test-models"
                            / f"tiny-{short_hash(gguf)}-{shape[:8]}", gguf)


def _env(instance: Path, redis_url: str, model: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COPYDESK_", "REDIS_URL", "DATABASE_URL"))}
    env.update(COPYDESK_SECRET_KEY=SECRET_KEY, COPYDESK_INSTANCE=str(instance), REDIS_URL=redis_url,
               DATABASE_URL=f"sqlite:///{instance / 'copydesk.db'}", SHOPIFY_API_SECRET=SHOPIFY_SECRET,
               COPYDESK_MODEL=model, COPYDESK_DEVICE="cpu", COPYDESK_TORCH_THREADS="1",
               COPYDESK_LOG_LEVEL="WARNING", COPYDESK_HTTP_TIMEOUT="30", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    return env


def _connect_shops(env: dict, store_url: str) -> dict[str, int]:
    from plugin.commands import open_session
    from plugin.crypto import Vault
    from plugin.settings import Settings
    from plugin.shops import add_shop

    settings = Settings.from_env({k: v for k, v in env.items()
                                  if k.startswith(("COPYDESK_", "REDIS_URL", "DATABASE_URL", "SHOPIFY_"))})
    with open_session(settings) as db:
        vault = Vault(settings.secret_key)
        shopify = add_shop(db, vault, platform="shopify", domain=SHOPIFY_SHOP, api_url=store_url,
                           credentials={"access_token": "shpat_burst"})
        woo = add_shop(db, vault, platform="woocommerce", domain=store_url, api_url=store_url,
                       credentials={"consumer_key": WOO["key"], "consumer_secret": WOO["secret"],
                                    "webhook_secret": WOO["hook_secret"]},
                       settings={"requests_per_second": 100.0, "burst": 100.0})
        return {"shopify": shopify.id, "woocommerce": woo.id}


def _redis_counts(conn, shops: dict[str, int]) -> dict:
    import re

    from rq import Queue

    from plugin import jobs

    queued = Queue(jobs.GENERATE, connection=conn).job_ids
    products = set()
    for job_id in queued:
        match = re.fullmatch(r"generate-(\d+)-(\d+)-.*", job_id)
        products.add((int(match[1]), int(match[2])) if match else ("?", job_id))
    return {"jobs_queued": len(queued), "job_products": products,
            "delivery_markers": sum(1 for _ in conn.scan_iter(f"{jobs.PREFIX}:delivery:*", count=1000))}


def _leftovers(conn) -> dict:
    from rq import Queue
    from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    from plugin import jobs

    out = {"failed": 0, "queued": 0, "started": 0, "scheduled": 0, "deferred": 0}
    for name in jobs.QUEUES:
        out["failed"] += FailedJobRegistry(name, connection=conn).count
        out["queued"] += Queue(name, connection=conn).count
        out["started"] += StartedJobRegistry(name, connection=conn).count
        out["scheduled"] += ScheduledJobRegistry(name, connection=conn).count
        out["deferred"] += DeferredJobRegistry(name, connection=conn).count
    return out


def _drafts(database_url: str) -> dict[tuple[int, int], int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as db:
        rows = db.execute(text("SELECT shop_id, product_id, COUNT(*) FROM drafts WHERE kind = 'product_copy' "
                               "GROUP BY shop_id, product_id")).all()
    engine.dispose()
    return {(int(shop), int(pid)): count for shop, pid, count in rows}


def _stop(proc: subprocess.Popen, shutdown=None) -> None:
    """Stop a process this run started, if it is still running (politely first when it has a way)."""
    if proc.poll() is None:
        try:
            (shutdown or proc.terminate)()
            proc.wait(timeout=15)
        except Exception:  # cleaning up: make sure it is gone
            proc.kill()
            proc.wait(timeout=10)


def _drain(procs: list[subprocess.Popen], conn, sampler: TreeSampler, queued: int, timeout: float) -> dict:
    """Wait for the burst workers to exit (killed after `timeout` s). Each worker's RSS is noted when half the
    jobs are done; its growth from there to its peak (VmHWM) shows a per-job leak."""
    from rq import Queue

    from plugin import jobs

    started, done, half = time.monotonic(), {}, None
    queue = Queue(jobs.GENERATE, connection=conn)
    while len(done) < len(procs):
        for i, proc in enumerate(procs):
            if i not in done and (result := reap(proc)) is not None:
                done[i] = result
        if half is None and queue.count <= queued // 2:
            sampler.sample()
            half = [sampler.rss.get(proc.pid, 0) for proc in procs]
        if time.monotonic() - started > timeout:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
        time.sleep(0.2)
    # Each worker's own VmHWM, as last polled (at most one poll interval before it exited). Not wait4's
    # ru_maxrss: Linux keeps a process's high-water mark across exec, so a child forked from a large parent
    # (the pytest process, holding models) reports the parent's size.
    peaks = [sampler.hwm["worker"].get(proc.pid, 0) for proc in procs]
    return {"seconds": time.monotonic() - started, "codes": [done[i][0] for i in range(len(procs))],
            "peaks": peaks, "worker_rss_at_half_mib": [round(h / 1024, 1) for h in half or []],
            "worker_growth_second_half_mib": max(0.0, *((p - h) / 1024 for p, h in zip(peaks, half or peaks,
                                                                                      strict=True)))}


def _stop_web(server: subprocess.Popen) -> None:
    """Stop gunicorn (a graceful stop: its workers finish their requests)."""
    server.terminate()
    wait_peak(server, 30)


def run_burst(deliveries: int = 5000, *, connections: int = 8, workers: int = 2, concurrency: int = 1,
              model: str | None = None, woo_share: float = 0.25, seed: int = 9, drain_timeout: float = 3 * 3600,
              series_every: float = 10.0, workdir: Path | None = None) -> dict:
    """Run the whole burst in `workdir` (a temporary folder by default); return every figure."""
    from devstore.config import ShopifyConfig, StoreConfig, WooConfig
    from devstore.server import serve_in_thread
    from plugin.redis_server import EmbeddedRedis

    config = StoreConfig(seed=False, shopify=ShopifyConfig(shop_domain=SHOPIFY_SHOP, access_token="shpat_burst",
                                                           app_secret=SHOPIFY_SECRET),
                         woocommerce=WooConfig(consumer_key=WOO["key"], consumer_secret=WOO["secret"],
                                               webhook_secret=WOO["hook_secret"]))
    with contextlib.ExitStack() as stack:
        if model == "stub":  # bench/stub_llm.py through the worker's openai: backend
            spec, stop_stub = stub_llm.serve()
            stack.callback(stop_stub)
        else:
            spec = model = model or str(tiny_model())
        store = stack.enter_context(serve_in_thread(config))
        base = Path(workdir or stack.enter_context(tempfile.TemporaryDirectory()))
        redis = EmbeddedRedis(base / "redis")
        stack.callback(_stop, redis.start_child(), redis.shutdown)
        env = _env(base / "instance", redis.url, spec)
        shops = _connect_shops(env, store.base_url)
        plan = build_plan(deliveries, store.store, store.base_url, random.Random(seed), woo_share)
        sampler = TreeSampler(series_every=series_every)
        sampler.start()
        stack.callback(sampler.stop)
        port = _port()
        server = _serve([sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                         "plugin.app:create_app()"], env, port)
        stack.callback(_stop_web, server)
        for _ in range(20):  # both gunicorn workers up and past their first request before "before"
            requests.post(f"http://127.0.0.1:{port}/webhooks/shopify", data=b"{}", timeout=30)
        sampler.watch("web", server.pid)
        web_before = sampler.last["web"]
        load = send(f"http://127.0.0.1:{port}", plan, connections)
        sampler.sample()
        load["web_rss_before_mib"], load["web_rss_after_mib"] = web_before, sampler.last["web"]
        conn = redis.client()
        intake = _redis_counts(conn, shops)
        procs = []
        for i in range(workers):
            with open(base / f"worker-{i}.log", "ab") as log:
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "plugin.cli", "worker", "--burst", "--concurrency", str(concurrency)],
                    env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
            stack.callback(_stop, procs[-1])
            sampler.watch("worker", procs[-1].pid)
        drain = _drain(procs, conn, sampler, intake["jobs_queued"], drain_timeout)
        drain.pop("peaks")
        leftovers = _leftovers(conn)
        drafts = _drafts(env["DATABASE_URL"])
        worker_log = "".join((base / f"worker-{i}.log").read_text(errors="replace")[-2000:] for i in range(workers))
    return _figures(plan, load, intake, shops, drafts, leftovers, sampler.figures(), drain,
                    worker_log, deliveries=deliveries, connections=connections, workers=workers,
                    concurrency=concurrency, model=model, woo_share=woo_share, series=sampler.series)


def _figures(plan, load, intake, shops, drafts, leftovers, rss, drain, worker_log, **run) -> dict:
    drain_s, codes = drain["seconds"], drain["codes"]
    unique = {(shops[d.platform], d.product) for d in plan if d.kind == "unique"}
    decoys = {(shops[d.platform], d.product) for d in plan if d.kind in ("forged", "malformed")}
    kinds = {k: sum(1 for d in plan if d.kind == k) for k in ("unique", "duplicate", "forged", "malformed")}
    return {
        "machine": f"{os.cpu_count()} cores", **{k: v for k, v in run.items() if k != "series"},
        "kinds": kinds, "platforms": {p: sum(1 for d in plan if d.platform == p) for p in ("shopify", "woocommerce")},
        "intake": {k: v for k, v in load.items() if k != "groups"},
        "queued_per_product_not_1": sum(1 for n in load["groups"].values() if n != 1),
        "jobs_queued": intake["jobs_queued"], "delivery_markers": intake["delivery_markers"],
        "jobs_for_unique_products": len(intake["job_products"] & unique),
        "jobs_for_other_products": len(intake["job_products"] - unique),
        "jobs_for_forged_or_malformed": len(intake["job_products"] & decoys),
        "drain_seconds": round(drain_s, 1), "worker_exit_codes": list(codes),
        "drafts": sum(drafts.values()), "products_with_a_draft": len(drafts),
        "unique_products_without_draft": len(unique - drafts.keys()),
        "products_with_more_than_one_draft": sum(1 for n in drafts.values() if n > 1),
        "drafts_for_forged_or_malformed": sum(n for p, n in drafts.items() if p in decoys),
        "drafts_for_other_products": sum(n for p, n in drafts.items() if p not in unique),
        "drafts_per_second": round(sum(drafts.values()) / drain_s, 2) if drain_s else None,
        "leftover_jobs": leftovers, "rss": rss, "worker_rss_at_half_mib": drain["worker_rss_at_half_mib"],
        "worker_growth_second_half_mib": round(drain["worker_growth_second_half_mib"], 1),
        "rss_series": run["series"],
        "worker_log_tail": worker_log if any(codes) or leftovers["failed"] else "",
    }


def report(r: dict) -> None:
    i, k = r["intake"], r["kinds"]
    print(f"{r['deliveries']} deliveries over {r['connections']} connections in {i['seconds']} s: "
          f"{i['rps']} req/s, p50 {i['p50_ms']} ms, p99 {i['p99_ms']} ms")
    print(f"  sent: {k['unique']} unique, {k['duplicate']} re-deliveries, {k['forged']} forged, "
          f"{k['malformed']} malformed ({r['platforms']['shopify']} Shopify, {r['platforms']['woocommerce']} Woo)")
    print(f"  answers: {i['by_status']}; {i['by_reply']}; unexpected {i['unexpected']}")
    print(f"  queued: {r['jobs_queued']} jobs, {r['delivery_markers']} delivery markers; "
          f"{r['jobs_for_forged_or_malformed']} for forged/malformed products; "
          f"products not queued exactly once: {r['queued_per_product_not_1']}")
    print(f"  drained by {r['workers']} worker(s) in {r['drain_seconds']} s ({r['drafts_per_second']} drafts/s), "
          f"exit codes {r['worker_exit_codes']}: {r['drafts']} drafts for {r['products_with_a_draft']} products "
          f"(unique valid {k['unique']}; missing {r['unique_products_without_draft']}, "
          f"extra {r['products_with_more_than_one_draft']}, for forged/malformed "
          f"{r['drafts_for_forged_or_malformed']}); leftover jobs {r['leftover_jobs']}")
    for role, f in r["rss"].items():
        print(f"  peak {role}: RSS {f['peak_rss_sum_mib']} MiB summed over {f['processes']} processes "
              f"(PSS {f['peak_pss_sum_mib']} MiB), largest process {f['peak_process_mib']} MiB")
    print(f"  web RSS before the burst {i['web_rss_before_mib']} MiB, after {i['web_rss_after_mib']} MiB; "
          f"workers' RSS with half the jobs done {r['worker_rss_at_half_mib']} MiB, largest growth to the "
          f"worker's peak {r['worker_growth_second_half_mib']} MiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="`copydesk worker --burst` processes")
    parser.add_argument("--concurrency", type=int, default=1, help="job threads per worker process")
    parser.add_argument("--model", help="a model folder or spec, or `stub` (bench/stub_llm.py); default: the tests' "
                        "tiny random model")
    parser.add_argument("--woo-share", type=float, default=0.25)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop what the run started on the way out
    results = run_burst(args.deliveries, connections=args.connections, workers=args.workers,
                        concurrency=args.concurrency, model=args.model, woo_share=args.woo_share,
                        series_every=max(10.0, args.deliveries / 100))
    report(results)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "burst.json").write_text(json.dumps({**results, "model": Path(results["model"]).name}, indent=2) + "\n")


if __name__ == "__main__":
    main()
