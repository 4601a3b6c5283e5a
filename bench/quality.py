"""How much copy passes the checks, before and after the worker's own fixes, and what the checks cost.

N products from a JSONL file (the eval records: id, title, category, attributes, description) go through
the worker's path (`worker.quality.write_checked`: generate, check, retry steered, drop sentences) with
the configured model and adapter, in `--concurrency` threads sharing one model through the batcher, as
the worker runs them. Each product is checked against the descriptions written before it (the shop's
other descriptions). A product's supplier description is its data, not copy to replace, so no media are
carried over and every draft is judged as if its product had no description.

    python bench/quality.py [--products 200] [--data ../shared/data/products.val.jsonl]
                            [--model smollm2] [--adapter default] [--concurrency 8] [--threads 2]

Prints the share of drafts that pass every check on the first try and after the fixes, which checks
fail, the unsupported claims by kind (in all drafts, first try and final, and in the drafts that could
auto-publish: the target is none), and the seconds the checks and the retries add per draft; writes
bench/results/quality.json (or --out).
"""

from __future__ import annotations

import argparse
import html
import json
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def product_of(record: dict):
    from plugin.platforms.base import Product

    description = str(record.get("description") or "")
    return Product(id=str(record["id"]), title=str(record["title"]), category=str(record.get("category") or ""),
                   vendor=str(record.get("vendor") or ""), tags=tuple(record.get("tags") or ()),
                   attributes={str(k): str(v) for k, v in (record.get("attributes") or {}).items()},
                   variants=tuple(record.get("variants") or ()),
                   description_html=f"<p>{html.escape(description, quote=False)}</p>" if description else "")


def load(path: Path, n: int) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:n]


def summarise(rows: list[dict], wall: float) -> dict:
    n = len(rows)
    eligible = [r for r in rows if r["passed"]]
    first_unsupported = Counter(k for r in rows for k in r["first_unsupported"])
    final_unsupported = Counter(c["kind"] for r in rows for c in r["claims"] if not c["supported"])
    eligible_unsupported = Counter(c["kind"] for r in eligible for c in r["claims"] if not c["supported"])
    claims = sum(len(r["claims"]) for r in rows)
    return {
        "drafts": n,
        "first_try_pass_share": round(sum(r["first_try_passed"] for r in rows) / n, 3),
        "after_fix_pass_share": round(len(eligible) / n, 3),
        "failed_first_try": dict(Counter(c for r in rows for c in r["first_failed"])),
        "failed_after_fixes": dict(Counter(c for r in rows for c in r["failed"])),
        "unsupported_claims_first_try_by_kind": dict(first_unsupported),
        "unsupported_claims_final_by_kind": dict(final_unsupported),
        "unsupported_claim_rate_final": round(sum(final_unsupported.values()) / claims, 4) if claims else 0.0,
        "auto_publishable_drafts": len(eligible),
        "unsupported_claims_in_auto_publishable_by_kind": dict(eligible_unsupported),
        "tries_mean": round(statistics.mean(len(r["tries"]) for r in rows), 2),
        "fixed_by_dropping_sentences": sum(bool(r["fixes"]) for r in rows),
        "seconds_per_draft": {
            "first_generation": round(statistics.mean(r["generation_s"] for r in rows), 3),
            "checks": round(statistics.mean(r["checks_s"] for r in rows), 3),
            "retries": round(statistics.mean(r["retry_s"] for r in rows), 3),
            "checks_and_retries": round(statistics.mean(r["checks_s"] + r["retry_s"] for r in rows), 3),
        },
        "wall_seconds": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "products.val.jsonl"))
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--adapter", default="default", help="default, none, or an adapter folder")
    parser.add_argument("--concurrency", type=int, default=8, help="products written at once (one model)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "copydesk"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "quality.json"))
    parser.add_argument("--per-product", action="store_true",
                        help="also write each product's claims and tries (they quote the product data: leave "
                             "them out of results made from data that must not be republished)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from model.backend import load_generator
    from model.checks import Other, language
    from model.checks.result import visible_text
    from model.checks.sameness import data_words
    from plugin.shops import DEFAULT_SETTINGS
    from worker.batcher import Batcher
    from worker.pipeline import style_for
    from worker.quality import write_checked

    records = load(Path(args.data), args.products)
    language.identify("warm up")  # loaded once per worker process, not per draft
    started = time.perf_counter()
    model = load_generator(args.model, device="cpu", threads=args.threads, cache_dir=Path(args.cache_dir),
                           adapter=args.adapter)
    generator = Batcher(model, max_rows=32, max_wait=0.05) if args.concurrency > 1 else model
    print(f"model {model.model_id} adapter {getattr(model, 'adapter', '') or 'none'} loaded in "
          f"{time.perf_counter() - started:.1f} s; {len(records)} products, {args.concurrency} at a time")
    settings = dict(DEFAULT_SETTINGS)
    style = style_for(settings)
    written: list[Other] = []
    lock = threading.Lock()

    def one(record: dict) -> dict:
        product = product_of(record)
        with lock:
            others = list(written)
        began = time.perf_counter()
        checked = write_checked(generator, product, style=style, seed=args.seed, settings=settings,
                                others=others)
        total = time.perf_counter() - began
        checks = checked.checks
        with lock:
            text = visible_text("description_html", checked.fields["description_html"])
            written.append(Other(product.id, product.title, text, data_words(product.record())))
        first = checks["tries"][0]
        row = {"id": product.id, "passed": checks["passed"], "first_try_passed": checks["first_try_passed"],
               "first_failed": first["failed"], "failed": [n for n, r in checks["results"].items() if not r["passed"]],
               "claims": checks["claims"], "tries": checks["tries"], "fixes": checks.get("fixes", []),
               "first_unsupported": checks.get("first_unsupported", []), "checks_s": checks["seconds"],
               "retry_s": checks["retry_seconds"],
               "generation_s": max(total - checks["seconds"] - checks["retry_seconds"], 0.0)}
        print(f"  {product.id}: {'pass' if row['passed'] else 'FLAG ' + ','.join(row['failed'])} "
              f"(first try {'pass' if row['first_try_passed'] else ','.join(row['first_failed'])}; "
              f"{len(row['tries'])} tries; checks {row['checks_s']:.2f} s)", flush=True)
        return row

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(args.concurrency, 1)) as pool:
        rows = list(pool.map(one, records))
    if hasattr(generator, "close"):
        generator.close()
    result = {"model": model.model_id, "adapter": getattr(model, "adapter", "") or "none", "data": args.data,
              **summarise(rows, time.perf_counter() - began), **({"per_product": rows} if args.per_product else {})}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "per_product"}, indent=2, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
