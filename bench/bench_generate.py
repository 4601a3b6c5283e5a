"""Benchmark product-copy generation with the real default model on this machine.

Prints, from one run: the one-time GGUF → safetensors conversion, the cached load (in-process and
in a fresh process), and per-product ``write_copy`` time for 1 field per call (4 calls) vs all 4
fields batched vs all products' fields in one call, at 1 and 2 torch threads.

    python bench/bench_generate.py [--products 3] [--skip-convert] [--data FILE.jsonl]

Products come from the store emulator's samples unless --data names a JSONL file of product records.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE = Path.home() / ".cache" / "copydesk"
"""The same folder as Settings.cache_dir's default: the benchmark measures the app's own cache."""
FRESH_LOAD = """
import time, sys; t0 = time.perf_counter()
from pathlib import Path
from model.backend import load_generator
g = load_generator("smollm2", device="cpu", cache_dir=Path(sys.argv[1]))
t1 = time.perf_counter()
g.generate([[{"role": "user", "content": "Hi"}]], max_new_tokens=1, seed=0)
print(f"{t1 - t0:.2f} {time.perf_counter() - t0:.2f}")
"""


def load_products(path: Path | None, n: int) -> list[dict]:
    if path is not None:
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    from generate import sample_records  # bench/generate.py, beside this script

    return sample_records(n)


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def count_tokens(generator, result) -> int:
    tok = generator.tokenizer
    return sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in result.raw.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=3)
    parser.add_argument("--data", type=Path, default=None, help="JSONL product records (default: samples)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--skip-convert", action="store_true", help="skip the fresh conversion")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)
    sys.path.insert(0, str(ROOT))

    import torch

    from model.backend import load_generator
    from model.convert import ensure_converted
    from model.copy import ALL_FIELDS, write_copy, write_copy_batch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} default threads")
    if not args.skip_convert:
        with tempfile.TemporaryDirectory() as tmp:
            secs, _ = timed(lambda: ensure_converted(Path(tmp)))
            print(f"one-time conversion (GGUF -> safetensors, fresh cache): {secs:6.1f} s")
    secs, _ = timed(lambda: ensure_converted(args.cache_dir))
    print(f"resolve converted folder (cache hit or first conversion):  {secs:6.1f} s")
    secs, generator = timed(
        lambda: load_generator("smollm2", device="cpu", cache_dir=args.cache_dir))
    print(f"cached load, in-process (torch/transformers imported):     {secs:6.1f} s")
    out = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(args.cache_dir)], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    print(f"cached load, fresh process (imports + load / + 1st token): {float(out[0]):6.1f} s"
          f" / {float(out[1]):.1f} s")

    products = load_products(args.data, args.products)
    source = args.data.name if args.data else "the emulator's samples"
    print(f"\nper-product write_copy, {len(products)} products from {source} (median, s;"
          " tokens generated/s in brackets)")
    print(f"{'threads':>8} {'1 field/call x4':>18} {'4 fields batched':>18}"
          f" {f'{len(products)} products x 4 batched':>24}")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        write_copy(generator, products[0], fields=["seo_title"])  # warm-up
        row = {}
        for mode in ("single", "batched"):
            times, rates = [], []
            for i, record in enumerate(products):
                if mode == "batched":
                    secs, results = timed(lambda r=record, s=i: [write_copy(generator, r, seed=s)])
                else:
                    secs, results = timed(lambda r=record, s=i: [
                        write_copy(generator, r, seed=s, fields=[f]) for f in ALL_FIELDS])
                times.append(secs)
                rates.append(sum(count_tokens(generator, res) for res in results) / secs)
            row[mode] = f"{statistics.median(times):6.1f} ({statistics.median(rates):4.0f} t/s)"
        seeds = list(range(len(products)))
        secs, results = timed(lambda: write_copy_batch(generator, products, seeds=seeds))
        rate = sum(count_tokens(generator, res) for res in results) / secs
        row["all"] = f"{secs / len(products):6.1f} ({rate:4.0f} t/s)"
        print(f"{threads:>8} {row['single']:>18} {row['batched']:>18} {row['all']:>24}")


if __name__ == "__main__":
    main()
