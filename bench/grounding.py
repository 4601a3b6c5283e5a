"""Precision and recall of the grounding check (model.grounding) on the labelled set, per split.

    python bench/grounding.py [--data tests/data/grounding/labelled.jsonl] [--out PATH] [--misses]

Prints claim-level precision/recall of the "unsupported" flag, recall of supported claims and sentence-level
precision/recall for the dev split, the holdout split (written before the extractor was tuned, never tuned
on) and overall; writes bench/results/grounding.json. Pure Python: no model, seconds on a laptop CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ("precision", "recall", "supported_recall", "sentence_precision", "sentence_recall")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "grounding" / "labelled.jsonl",
                        help="labelled set (JSONL)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "grounding.json",
                        help="where to write the figures (JSON)")
    parser.add_argument("--misses", action="store_true", help="also print every miss")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from model.grounding_eval import score

    start = time.perf_counter()
    result = score(args.data)
    seconds = time.perf_counter() - start
    splits = [s for s in ("dev", "holdout", "overall") if s in result]
    print(f"{'split':8} {'sent.':>5} {'flags':>5} " + " ".join(f"{f:>18}" for f in FIGURES))
    for split in splits:
        r = result[split]
        print(f"{split:8} {r['sentences']:5d} {r['flagged']:5d} " + " ".join(f"{r[f]:18.3f}" for f in FIGURES))
    sentences = result["overall"]["sentences"]
    print(f"{len(result['misses'])} sentences with a miss; {sentences / seconds:.0f} sentences/s")
    if args.misses:
        for miss in result["misses"]:
            print(f"- [{miss['split']}] {miss['sentence']}\n    false flags {miss['false_flags']}, missed flags "
                  f"{miss['missed_flags']}, missed supported {miss['missed_supported']}")
    out = {"machine": f"{os.cpu_count()} cores, CPU", "data": str(args.data.relative_to(ROOT))
           if args.data.is_relative_to(ROOT) else str(args.data), "seconds": round(seconds, 2),
           **{s: result[s] for s in splits},
           "misses": [{k: m[k] for k in ("split", "sentence", "false_flags", "missed_flags", "missed_supported")}
                      for m in result["misses"]]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
