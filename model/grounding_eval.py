"""Precision and recall of model.grounding on a labelled set (tests/data/grounding/labelled.jsonl).

Each line: ``{"product", "sentence", "unsupported": [...], "supported": [...], "note", "split"}``. A claim text
matches a label when either contains the other (case-insensitive).

* claim level, for the "unsupported" flag: precision = flagged claims that match a label in "unsupported" /
  flagged claims; recall = labels in "unsupported" matched by a flagged claim / those labels;
* supported recall: labels in "supported" matched by a claim marked supported / those labels;
* sentence level: a sentence is predicted positive when any claim is flagged, labelled positive when
  "unsupported" is not empty.

``score(path)`` gives these per split ("dev", "holdout") and "overall", plus "misses": one entry per sentence
with a false flag, a missed flag or a missed supported claim.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.grounding import check

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "tests" / "data" / "grounding" / "labelled.jsonl"
_COUNTS = ("sentences", "flagged", "flagged_tp", "labels", "labels_found", "supported_labels", "supported_found",
           "sentence_tp", "sentence_fp", "sentence_fn")


def _match(a: str, b: str) -> bool:
    a, b = a.lower().strip(), b.lower().strip()
    return bool(a and b) and (a in b or b in a)


def _ratio(num: int, den: int) -> float:
    return round(num / den, 3) if den else 1.0


def _figures(c: dict) -> dict:
    return {**c,
            "precision": _ratio(c["flagged_tp"], c["flagged"]),
            "recall": _ratio(c["labels_found"], c["labels"]),
            "supported_recall": _ratio(c["supported_found"], c["supported_labels"]),
            "sentence_precision": _ratio(c["sentence_tp"], c["sentence_tp"] + c["sentence_fp"]),
            "sentence_recall": _ratio(c["sentence_tp"], c["sentence_tp"] + c["sentence_fn"])}


def load(path: Path | str = DEFAULT_PATH) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def score(path: Path | str = DEFAULT_PATH, splits: tuple[str, ...] | None = None) -> dict:
    """Figures per split and overall, and the misses; ``splits`` limits the rows read (e.g. ("dev",))."""
    counts: dict[str, dict] = {}
    misses = []
    for row in load(path):
        split = row.get("split", "dev")
        if splits and split not in splits:
            continue
        claims = check(row["product"], row["sentence"])
        flagged = [c.text for c in claims if not c.supported]
        supported = [c.text for c in claims if c.supported]
        labels, sup_labels = row.get("unsupported", []), row.get("supported", [])
        false_flags = [f for f in flagged if not any(_match(f, u) for u in labels)]
        missed = [u for u in labels if not any(_match(f, u) for f in flagged)]
        sup_missed = [s for s in sup_labels if not any(_match(c, s) for c in supported)]
        row_counts = {"sentences": 1, "flagged": len(flagged), "flagged_tp": len(flagged) - len(false_flags),
                      "labels": len(labels), "labels_found": len(labels) - len(missed),
                      "supported_labels": len(sup_labels), "supported_found": len(sup_labels) - len(sup_missed),
                      "sentence_tp": int(bool(flagged) and bool(labels)),
                      "sentence_fp": int(bool(flagged) and not labels),
                      "sentence_fn": int(not flagged and bool(labels))}
        for key in (split, "overall"):
            bucket = counts.setdefault(key, dict.fromkeys(_COUNTS, 0))
            for name, value in row_counts.items():
                bucket[name] += value
        if false_flags or missed or sup_missed:
            misses.append({"split": split, "product": row["product"].get("id", ""), "sentence": row["sentence"],
                           "false_flags": false_flags, "missed_flags": missed, "missed_supported": sup_missed,
                           "claims": [(c.text, c.kind, c.supported) for c in claims], "note": row.get("note", "")})
    return {**{key: _figures(c) for key, c in counts.items()}, "misses": misses}
