"""A catalog backfill from start to last draft, and where the time goes.

N products without copy are created in the store emulator (a WooCommerce store, over real HTTP); a
backfill run pages through them and queues their generate jobs; a worker process's threads (the
worker path: `--concurrency` jobs sharing one model through the batcher) write the drafts. Real Redis,
SQLite, the default model unless --model says otherwise.

    python bench/backfill.py [--products 1000] [--concurrency 8] [--model smollm2] [--catalog FILE]

--catalog takes product records (JSONL: title, category, attributes), cycled to N products and created
without their descriptions; without it every product is a numbered tea towel, which the sameness check
rightly calls near-duplicates of each other (so expect retries). Prints the wall time, products per
minute, the time spent per kind of job (from RQ's own start and end stamps) and, from the drafts' own
check records, how much of each draft was the first generation, the checks and the retries; writes
bench/results/backfill.json (figures only, no product text).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--catalog", help="JSONL of product records to create (cycled); default: tea towels")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    from devstore.client import DevStoreClient
    from devstore.server import serve_in_thread
    from plugin import backfill, jobs
    from plugin.commands import open_session
    from plugin.crypto import Vault
    from plugin.redis_server import EmbeddedRedis
    from plugin.settings import Settings
    from plugin.shops import add_shop
    from worker.main import build_worker, run_threads

    with tempfile.TemporaryDirectory() as tmp, serve_in_thread() as store:
        redis = EmbeddedRedis(Path(tmp) / "redis")
        redis_proc = redis.start_child()
        conn = redis.client()
        settings = Settings(secret_key="bench-secret-key-0123456789", instance_path=Path(tmp) / "instance",
                            redis_url=redis.url, model=args.model, torch_threads=args.threads,
                            log_level="WARNING")
        client = DevStoreClient(store.base_url)
        client.reset(seed=False)
        client.config(woocommerce={"consumer_key": "ck_b", "consumer_secret": "cs_b", "webhook_secret": "whb"})
        for fields in catalog(args.catalog, args.products):
            client.create_product("woocommerce", fire=False, **fields)
        with open_session(settings) as db:
            shop = add_shop(db, Vault(settings.secret_key), platform="woocommerce", domain=store.base_url,
                            api_url=store.base_url, credentials={"consumer_key": "ck_b", "consumer_secret": "cs_b",
                                                                 "webhook_secret": "whb"},
                            settings={"requests_per_second": 50.0, "burst": 50.0})
        started = time.monotonic()
        backfill.start(conn, shop.id, limit=args.products, page_size=50)
        # Listing first (one worker drains the page chain), then the generate backlog with N threads:
        # burst-mode threads would quit on an empty queue before the first page had queued anything.
        build_worker(settings, conn, (jobs.DEFAULT,)).work(burst=True, logging_level="WARNING")
        listed = time.monotonic() - started
        run_threads(settings, conn, (jobs.GENERATE,), burst=True, concurrency=args.concurrency)
        wall = time.monotonic() - started
        spent: dict[str, float] = defaultdict(float)
        counts: dict[str, int] = defaultdict(int)
        for name in (jobs.DEFAULT, jobs.GENERATE):
            queue = Queue(name, connection=conn)
            for job in queue.job_class.fetch_many(FinishedJobRegistry(queue=queue).get_job_ids(), connection=conn):
                if job is not None and job.started_at and job.ended_at:
                    kind = job.func_name.rsplit(".", 1)[-1]
                    spent[kind] += (job.ended_at - job.started_at).total_seconds()
                    counts[kind] += 1
        state = backfill.status(conn, shop.id)
        drafts = draft_breakdown(settings)
        redis.shutdown()
        redis_proc.wait(timeout=10)
    results = {"machine": f"{os.cpu_count()} cores, CPU", "model": args.model, "products": args.products,
               "concurrency": args.concurrency, "wall_seconds": round(wall, 1),
               "listing_seconds": round(listed, 1),
               "products_per_minute": round(60 * args.products / wall, 2),
               "backfill": {k: state.get(k) for k in ("state", "pages", "seen", "queued")},
               "job_seconds": {k: round(v, 1) for k, v in spent.items()}, "jobs": dict(counts),
               "catalog": Path(args.catalog).name if args.catalog else "tea towels (generated)",
               "drafts": drafts,
               "note": "job seconds overlap: jobs run concurrently in threads"}
    print(f"{args.products} products backfilled in {wall:.1f} s ({results['products_per_minute']} products/min); "
          f"run {state.get('state')}, {state.get('pages')} pages, {state.get('queued')} queued; "
          f"listing took {listed:.1f} s, generating the rest")
    for kind, secs in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<16} {counts[kind]:>5} jobs  {secs:8.1f} s of job time (concurrent)")
    if drafts:
        print(f"  {drafts['count']} drafts: {drafts['tries_mean']} generations each on average, "
              f"{drafts['passed_share']:.1%} passed the checks; per draft "
              f"{spent['generate_copy'] / max(counts['generate_copy'], 1):.1f} s of job time (concurrent): "
              f"checks {drafts['seconds_per_draft']['checks']} s, "
              f"retries {drafts['seconds_per_draft']['retries']} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "backfill.json").write_text(json.dumps(results, indent=2) + "\n")


def catalog(path: str | None, count: int) -> list[dict]:
    """`count` products to create: records from `path` cycled (titles numbered on the second pass), or towels."""
    if not path:
        return [{"title": f"Linen Tea Towel No. {i}", "category": "Kitchen",
                 "attributes": {"Material": "100% linen", "Size": f"{45 + i % 10} x 70 cm"}} for i in range(count)]
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    out = []
    for i in range(count):
        record = records[i % len(records)]
        title = record["title"] if i < len(records) else f"{record['title']} ({i // len(records) + 1})"
        out.append({"title": title, "category": record.get("category") or "",
                    "attributes": {str(k): str(v) for k, v in (record.get("attributes") or {}).items()}})
    return out


def draft_breakdown(settings) -> dict:
    """Where each draft's time went, from the check record the worker stores on it."""
    import statistics

    from sqlalchemy import select

    from plugin.commands import open_session
    from plugin.db import Draft

    with open_session(settings) as db:
        checks = [d.checks for d in db.scalars(select(Draft)) if d.checks]
    if not checks:
        return {}
    return {
        "count": len(checks),
        "passed_share": round(sum(1 for c in checks if c.get("passed")) / len(checks), 4),
        "tries_mean": round(statistics.mean(len(c.get("tries", [])) or 1 for c in checks), 2),
        "seconds_per_draft": {
            "checks": round(statistics.mean(c.get("seconds", 0.0) for c in checks), 3),
            "retries": round(statistics.mean(c.get("retry_seconds", 0.0) for c in checks), 2),
        },
    }


if __name__ == "__main__":
    main()
