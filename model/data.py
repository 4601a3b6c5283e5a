"""Training data: product records → the chat prompts the worker renders, paired with grounded targets.

A record has the worker's product shape (``id, title, category, vendor, tags, attributes, variants,
description``) plus ``source`` and, for hand-written or reviewed copy, ``copy`` (the four target fields)
and ``prompt_style`` (a shop's style for its own drafts). A record without ``copy`` (the Magento
catalogue) gets targets made from its human description (``model.targets``); its prompt then shows
either no details or only the description's bullet facts (chosen per product id, ``with_details``), never
the description itself, so the model cannot learn to copy it. Targets keep only what the grounding
measure can trace to the record the prompt shows.

Everything here is deterministic: the same records give the same examples, split and hash.
"""

from __future__ import annotations

import copy as copylib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import prompts
from model import parse, targets
from model.copy import _RECORD_DEFAULTS, ALL_FIELDS, DEFAULT_STYLE, TASK

WRITTEN = Path(__file__).resolve().parent / "training_data" / "written.jsonl"
"""Hand-written products with copy in the shop voice we want (every fact is in the record)."""
DETAILS_MODES = ("half", "all", "none")
"""``with_details``: which Magento products show their bullet facts as "Details" in the prompt."""
MIN_TARGET_WORDS = {"description": 20, "short_description": 6, "seo_title": 2, "seo_description": 6}
"""Targets shorter than this (after grounding) are dropped: too little left to learn from."""
MAX_TARGET_WORDS = {"description": 160, "short_description": 60, "seo_title": 14, "seo_description": 32}
"""Targets longer than this are dropped: the worker cuts a description at 2 x target_words (160 by
default), and a 135M model with a short budget cannot follow longer ones."""
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Example:
    """One training pair: the worker's chat prompt for ``field`` of product ``id``, and its target."""

    id: str
    field: str
    messages: list[dict]
    target: str
    source: str
    split: str = "train"

    def __post_init__(self) -> None:
        if self.field not in ALL_FIELDS:
            raise ValueError(f"field: expected one of {ALL_FIELDS}, got {self.field!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {self.split!r}")


def load_records(path: Path | str, source: str | None = None) -> list[dict]:
    """Product records from a JSONL file (one object a line; ``id`` and ``title`` required)."""
    path = Path(path)
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as err:
                raise ValueError(f"{path}:{number}: not JSON: {err}") from None
            if not isinstance(record, dict) or not str(record.get("id", "")).strip() \
                    or not str(record.get("title", "")).strip():
                raise ValueError(f"{path}:{number}: a record needs an 'id' and a 'title'")
            record["id"] = str(record["id"])
            record.setdefault("source", source or path.stem)
            records.append(record)
    return records


def prompt_record(record: dict) -> dict:
    """The product exactly as the worker passes it to the template (``Product.record()`` keys only)."""
    return {key: copylib.deepcopy(record.get(key, default)) for key, default in _RECORD_DEFAULTS.items()}


def _bit(pid: str, salt: str) -> bool:
    return int(hashlib.sha256(f"{salt}:{pid}".encode()).hexdigest()[:8], 16) % 2 == 0


def shows_details(pid: str, mode: str) -> bool:
    """Whether a catalogue product's prompt shows its bullet facts (``half``: fixed by its id)."""
    if mode not in DETAILS_MODES:
        raise ValueError(f"with_details: expected one of {DETAILS_MODES}, got {mode!r}")
    return mode == "all" or (mode == "half" and _bit(pid, "details"))


def _ground_text(shown: dict, text: str, checker, stats: Counter) -> str:
    units = targets.split_sentences(text)
    kept, dropped = targets.ground_blocks(shown, [("p", units)], checker)
    stats["sentences"] += len(units)
    stats["sentences_dropped"] += dropped
    return " ".join(s for _, items in kept for s in items)


def product_targets(record: dict, *, with_details: str = "half", checker: targets.Checker | None = None,
                    stats: Counter | None = None) -> tuple[dict, dict[str, str]]:
    """(the record the prompt shows, grounded targets per field) for one product."""
    stats = Counter() if stats is None else stats
    given = record.get("copy")
    if given is not None:
        shown = prompt_record(record)
        blocks = targets.blocks_from_html(str(given.get("description", "")))
    else:
        blocks = targets.blocks_from_html(str(record.get("description", "")))
        details = targets.bullet_details(blocks) if shows_details(record["id"], with_details) else ""
        shown = prompt_record({**record, "description": details})
    kept, dropped = targets.ground_blocks(shown, blocks, checker)
    stats["sentences"] += sum(len(items) for _, items in blocks)
    stats["sentences_dropped"] += dropped
    out = {"description": targets.blocks_to_markdown(kept)}
    if given is not None:
        for name in ("short_description", "seo_title", "seo_description"):
            out[name] = _ground_text(shown, " ".join(str(given.get(name, "")).split()), checker, stats)
    else:
        sentences = targets.prose_sentences(kept)
        out["short_description"] = targets.short_target(sentences)
        out["seo_description"] = targets.seo_description_target(sentences, shown["title"])
        out["seo_title"] = targets.seo_title_target(shown["title"], shown["category"], _bit(record["id"], "seo"))
    return shown, out


def build_examples(records: Iterable[dict], *, fields: Sequence[str] = ALL_FIELDS, style: dict | None = None,
                   with_details: str = "half", checker: targets.Checker | None = None,
                   stats: Counter | None = None, split_name: str = "train") -> list[Example]:
    """One example per product and field, the prompt rendered with ``prompts.render`` exactly as
    ``model.copy.write_copy`` renders it (same template, ``DEFAULT_STYLE`` under ``style``; a record's
    ``prompt_style`` on top). Empty targets are left out (counted in ``stats['empty']``)."""
    unknown = [f for f in fields if f not in ALL_FIELDS]
    if not fields or unknown:
        raise ValueError(f"fields: expected some of {ALL_FIELDS}, got {list(fields)}")
    stats = Counter() if stats is None else stats
    examples = []
    for record in records:
        shown, wanted = product_targets(record, with_details=with_details, checker=checker, stats=stats)
        merged = {**DEFAULT_STYLE, **(style or {}), **(record.get("prompt_style") or {})}
        for name in fields:
            if not wanted[name].strip():
                stats["empty"] += 1
                continue
            messages = prompts.render(TASK, field=name, product=shown, style=merged)
            examples.append(Example(record["id"], name, messages, wanted[name], str(record.get("source", "")),
                                    split_name))
    return examples


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", parse.html_text(text).lower()))


def dedupe(records: Sequence[dict]) -> tuple[list[dict], int]:
    """Records with a new normalised title + description (the copy's, when given), first one winning;
    and how many were dropped."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for record in records:
        text = (record.get("copy") or {}).get("description") or record.get("description", "")
        key = (_normal(str(record.get("title", ""))), _normal(str(text)))
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept, len(records) - len(kept)


def _fraction(pid: str, seed: int) -> float:
    return int(hashlib.sha256(f"{seed}:{pid}".encode()).hexdigest()[:12], 16) / float(16 ** 12)


def split(records: Sequence[dict], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(train, val) by a hash of each product id: a product's examples never straddle the split. With
    ``val_fraction`` > 0 and two or more products, val gets at least one."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction: must be in [0, 1), got {val_fraction}")
    scores = {id(r): _fraction(str(r["id"]), seed) for r in records}
    val = [r for r in records if scores[id(r)] < val_fraction]
    if val_fraction > 0 and not val and len(records) > 1:
        val = [min(records, key=lambda r: scores[id(r)])]
    held = {id(r) for r in val}
    return [r for r in records if id(r) not in held], val


def filter_examples(examples: Iterable[Example], *, max_prompt_tokens: int | None = None,
                    count_tokens: Callable[[Example], int] | None = None,
                    stats: Counter | None = None) -> list[Example]:
    """Drop targets outside ``MIN_TARGET_WORDS``..``MAX_TARGET_WORDS`` and, given a token counter, prompts
    over ``max_prompt_tokens``; the reasons are counted in ``stats``."""
    stats = Counter() if stats is None else stats
    kept = []
    for example in examples:
        words = len(parse.html_text(example.target).split())
        if words < MIN_TARGET_WORDS[example.field]:
            stats["too_short"] += 1
        elif words > MAX_TARGET_WORDS[example.field]:
            stats["too_long"] += 1
        elif max_prompt_tokens and count_tokens and count_tokens(example) > max_prompt_tokens:
            stats["prompt_too_long"] += 1
        else:
            kept.append(example)
    return kept


def content_hash(examples: Iterable[Example]) -> str:
    """sha256 over the examples (prompts, targets, split), in order."""
    h = hashlib.sha256()
    for example in examples:
        h.update(json.dumps(asdict(example), sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def summary(examples: Sequence[Example], stats: Counter | dict | None = None) -> dict:
    """Counts per source, field and split, what was dropped and why, and a content hash."""
    stats = Counter(stats or {})
    dropped = {k: stats[k] for k in ("duplicate", "empty", "too_short", "too_long", "prompt_too_long")
               if stats.get(k)}
    return {
        "examples": len(examples),
        "products": len({(e.source, e.id) for e in examples}),
        "by_source": dict(sorted(Counter(e.source for e in examples).items())),
        "by_field": {f: n for f in ALL_FIELDS if (n := sum(e.field == f for e in examples))},
        "by_split": {s: sum(e.split == s for e in examples) for s in SPLITS},
        "dropped": dropped,
        "sentences": {"total": stats.get("sentences", 0), "dropped_ungrounded": stats.get("sentences_dropped", 0)},
        "grounding": stats.get("grounding", "on"),
        "hash": content_hash(examples),
    }


@dataclass
class Dataset:
    """The prepared examples of one run, and the counts ``summary`` reports."""

    train: list[Example]
    val: list[Example]
    stats: Counter

    @property
    def examples(self) -> list[Example]:
        return self.train + self.val

    def summary(self) -> dict:
        return summary(self.examples, self.stats)


def prepare(records: Sequence[dict], *, fields: Sequence[str] = ALL_FIELDS, style: dict | None = None,
            with_details: str = "half", val_fraction: float = 0.1, seed: int = 0, grounded: bool = True,
            checker: targets.Checker | None = None, max_prompt_tokens: int | None = None,
            count_tokens: Callable[[Example], int] | None = None) -> Dataset:
    """Dedupe, split by product id, build grounded examples, filter by length: the whole data step."""
    stats: Counter = Counter()
    if grounded and checker is None:
        checker = targets.grounding_checker()
        stats["grounding"] = "model.grounding" if checker else "unavailable"
    elif not grounded:
        checker, stats["grounding"] = None, "off"
    records, stats["duplicate"] = dedupe(records)
    train_records, val_records = split(records, val_fraction, seed)
    parts = {}
    for name, chosen in (("train", train_records), ("val", val_records)):
        built = build_examples(chosen, fields=fields, style=style, with_details=with_details, checker=checker,
                               stats=stats, split_name=name)
        parts[name] = filter_examples(built, max_prompt_tokens=max_prompt_tokens, count_tokens=count_tokens,
                                      stats=stats)
    return Dataset(parts["train"], parts["val"], stats)
