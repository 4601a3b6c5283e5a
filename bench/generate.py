"""Products per minute with the default model: the naive way against Copydesk's worker path.

(a) naive: what peers do, one `transformers.pipeline("text-generation")` call per field of each job,
    one job after another;
(b) Copydesk: the worker's path, N jobs at once sharing the model through `worker.batcher.Batcher`,
    each job one `write_copy` (its four fields in one call), all jobs' calls merged into one batch.
Same prompts (prompts/product_copy.j2), same token budgets, same sampling, side by side in one run.

    python bench/generate.py [--products 64] [--concurrency 8] [--threads 2] [--engines pruning] [--out PATH]

Prints products/minute and generated tokens/s for both and their ratio; writes bench/results/generate.json.
``--engines pruning,transformers`` also runs the worker path with transformers' own generate loop
(every row of a batch runs until its last row is done), side by side; the first engine is the one compared
with the naive way.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sample_records(n: int) -> list[dict]:
    from devstore.samples import SHOPIFY, WOOCOMMERCE
    from plugin.platforms.base import html_to_text

    samples = SHOPIFY + WOOCOMMERCE
    return [{"id": str(i), "title": p["title"], "category": p.get("category", ""), "vendor": p.get("vendor", ""),
             "tags": p.get("tags", []), "attributes": p.get("attributes", {}), "variants": [],
             "description": html_to_text(p.get("description_html", ""))}
            for i, p in ((i, samples[i % len(samples)]) for i in range(n))]


def naive(generator, records: list[dict]) -> tuple[float, int]:
    """One pipeline call per field per product, sequentially."""
    from transformers import pipeline

    import prompts
    from model.copy import ALL_FIELDS, DEFAULT_STYLE, _budget

    pipe = pipeline("text-generation", model=generator.model, tokenizer=generator.tokenizer, device="cpu")
    tokens, start = 0, time.perf_counter()
    for record in records:
        for field in ALL_FIELDS:
            chat = prompts.render("product_copy", field=field, product={**record}, style=DEFAULT_STYLE)
            out = pipe(chat, max_new_tokens=_budget(field, DEFAULT_STYLE), do_sample=True, temperature=0.5,
                       top_p=0.9, repetition_penalty=1.15, return_full_text=False)
            tokens += len(generator.tokenizer(out[0]["generated_text"], add_special_tokens=False)["input_ids"])
    return time.perf_counter() - start, tokens


def worker_path(generator, records: list[dict], concurrency: int, engine: str = "pruning"
                ) -> tuple[float, int, list[int]]:
    """`concurrency` job threads, each taking the next product and calling write_copy via the batcher."""
    from model.copy import write_copy
    from worker.batcher import Batcher

    generator.engine = engine
    batcher = Batcher(generator, max_rows=4 * concurrency)
    todo = list(enumerate(records))
    lock, tokens = threading.Lock(), [0]

    def job_thread():
        while True:
            with lock:
                if not todo:
                    return
                i, record = todo.pop(0)
            result = write_copy(batcher, record, seed=i)
            n = sum(len(generator.tokenizer(t, add_special_tokens=False)["input_ids"]) for t in result.raw.values())
            with lock:
                tokens[0] += n

    start = time.perf_counter()
    threads = [threading.Thread(target=job_thread) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, tokens[0], list(batcher.batches)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--engines", default="pruning",
                        help="comma-separated Generator engines for the worker path (pruning, transformers)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generate.json",
                        help="where to write the figures (JSON)")
    args = parser.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    sys.path.insert(0, str(ROOT))
    sys.stdout.reconfigure(line_buffering=True)
    from model.backend import load_generator

    generator = load_generator("smollm2", device="cpu", threads=args.threads,
                               cache_dir=Path.home() / ".cache" / "copydesk")
    records = sample_records(args.products)
    results = {"machine": f"{os.cpu_count()} cores, CPU", "torch_threads": args.threads,
               "products": args.products, "concurrency": args.concurrency}
    for engine in engines:
        secs, tokens, batches = worker_path(generator, records, args.concurrency, engine)
        figures = {"engine": engine, "seconds": round(secs, 1),
                   "products_per_minute": round(60 * len(records) / secs, 2),
                   "tokens_per_second": round(tokens / secs, 1), "rows_per_model_call": batches}
        if engine == engines[0]:
            results["copydesk"] = figures
        else:
            results.setdefault("copydesk_other_engines", []).append(figures)
        print(f"copydesk worker path ({engine}): {figures['products_per_minute']:6.2f} products/min, "
              f"{figures['tokens_per_second']:6.1f} tokens/s ({secs:.0f} s; rows per call {batches})")
    generator.engine = engines[0]
    if not args.skip_naive:
        secs, tokens = naive(generator, records)
        results["naive"] = {"seconds": round(secs, 1), "products_per_minute": round(60 * len(records) / secs, 2),
                            "tokens_per_second": round(tokens / secs, 1)}
        ratio = results["copydesk"]["products_per_minute"] / results["naive"]["products_per_minute"]
        results["speedup"] = round(ratio, 2)
        print(f"naive pipeline per field: {results['naive']['products_per_minute']:6.2f} products/min, "
              f"{results['naive']['tokens_per_second']:6.1f} tokens/s ({secs:.0f} s)")
        print(f"speed-up: {ratio:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
