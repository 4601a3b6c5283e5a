"""Evaluate the copy model on held-out products: generate copy per model variant and measure it.

A variant is the base model or the base model with one fine-tuned adapter merged in. Every variant gets the
same prompts and seed; variants are loaded one at a time and freed before the next. By default the model sees
a product WITHOUT its human description (the reference for ROUGE-L and the validation loss); with
``with_description`` it sees the record as the worker would. ``evaluate`` returns a JSON-ready dict whose
``timing`` sections are the only parts that change between runs of the same inputs.
torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import math
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import prompts
from model import metrics, parse
from model.copy import ALL_FIELDS, DEFAULT_STYLE, TASK, write_copy_batch

BASE = "base"
"""Name of the variant without an adapter."""
SAMPLES = 3
"""Products whose copy is shown in the report."""
_OFF = ("none", "off", "0", "false")


@dataclass(frozen=True)
class Variant:
    """One model to evaluate: ``adapter`` None is the base model alone (see model/lora.py for other values)."""

    name: str
    model: str
    adapter: str | None = None


def variants_for(model: str, adapters: Sequence[str] = ()) -> list[Variant]:
    """The base model first, then one variant per adapter (``none`` is the base model and is not repeated);
    names are the adapter folders' names, made unique."""
    found = [Variant(BASE, model)]
    for spec in adapters:
        text = str(spec).strip()
        if text.lower() in _OFF:
            continue
        stem = Path(text).name if text and text.lower() != "default" else "default"
        name, i = stem, 2
        while name in {v.name for v in found}:
            name, i = f"{stem}-{i}", i + 1
        found.append(Variant(name, model, text or "default"))
    return found


def load_records(path: Path, limit: int | None = None) -> tuple[list[dict], dict]:
    """Product records from a JSONL file (the first ``limit`` non-blank lines) and a description of the data:
    path, n and the sha256 of the lines used (each with its trailing newline)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: must be >= 1, got {limit}")
    records, digest = [], hashlib.sha256()
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if limit is not None and len(records) >= limit:
                break
            try:
                record = json.loads(line)
            except ValueError as err:
                raise ValueError(f"{path}:{number}: not JSON: {err}") from err
            if not isinstance(record, dict) or not str(record.get("title", "")).strip():
                raise ValueError(f"{path}:{number}: a product record needs a 'title'")
            record["id"] = str(record.get("id") or f"line-{number}")
            records.append(record)
            digest.update(line.rstrip("\r\n").encode("utf-8") + b"\n")
    if not records:
        raise ValueError(f"{path}: no product records")
    return records, {"path": str(path), "n": len(records), "sha256": digest.hexdigest()}


def shown(record: dict, with_description: bool) -> dict:
    """The record as the model sees it: without its human description unless ``with_description``."""
    return dict(record) if with_description else {**record, "description": ""}


def reference(record: dict) -> str:
    """The human description as plain text ("" when there is none)."""
    return parse.html_text(str(record.get("description") or ""))


def _claims(product: dict, fields: dict[str, str]) -> tuple[list, list]:
    """All claims in one draft (every field) and the unsupported ones (the single call site of
    model.grounding)."""
    from model import grounding

    claims = [c for name in ALL_FIELDS for c in grounding.check(product, fields.get(name, ""))]
    return claims, grounding.unsupported(claims)


def _full_stop(description: str) -> str:
    """``description`` with a full stop after a last sentence that has none (catalogue text often ends
    without one, and model.data keeps only finished sentences as targets)."""
    match = re.search(r"\w(\s*(?:</[a-zA-Z0-9]+>\s*)*)$", description)
    if not match or re.search(r"</\s*(?:li|ul|ol)\b", match[1], re.I):  # a list item needs no full stop
        return description
    return description[: match.start(1)] + "." + description[match.start(1):]


def loss_examples(records: Sequence[dict], style: dict, with_description: bool) -> list:
    """(messages, target) pairs for the validation loss: each human description, cleaned into the answer
    format the model is trained to write (model.data, no grounding filter), as the reply to the description
    prompt that generation used; products without a description are left out."""
    from model import data

    examples = []
    for record in records:
        finished = {**record, "description": _full_stop(str(record.get("description") or ""))}
        for ex in data.build_examples([finished], fields=("description",), style=style, with_details="none"):
            if with_description:
                ex = dataclasses.replace(ex, messages=prompts.render(
                    TASK, field="description", product=data.prompt_record(record), style=style))
            examples.append(ex)
    return examples


def teacher_forced_loss(generator, examples: Sequence, batch_size: int = 8) -> tuple[float | None, int]:
    """Mean cross-entropy per reply token of each example's ``target`` given its ``messages``, encoded and
    masked as ``copydesk train`` does (model/train.py), and the number of reply tokens; (None, 0) without
    examples or for a model without local weights."""
    model, tokenizer = getattr(generator, "model", None), getattr(generator, "tokenizer", None)
    if model is None or tokenizer is None or not examples:
        return None, 0
    import torch

    from model import train

    seqs = sorted((train.encode(tokenizer, ex.messages, ex.target) for ex in examples), key=lambda s: len(s[0]))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = str(next(model.parameters()).device)
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(seqs), batch_size):
            batch = train.collate(seqs[start : start + batch_size], pad, device)
            total += float(train.answer_loss_sum(model, batch))
            count += int((batch["labels"][:, 1:] != train.IGNORE).sum())
    return (total / count if count else None), count


def score(records: Sequence[dict], copies: Sequence[dict[str, str]], *, with_description: bool,
          target_words: int, fallbacks: Sequence[set[str]] | None = None) -> dict:
    """The copy metrics of one variant: coverage, grounding, ROUGE-L, diversity, length compliance.
    ``fallbacks``: per product, the fields the fact-list fallback wrote (a fallback lists the product's own
    facts, so it covers every attribute and claims nothing); coverage is also given over the rest alone."""
    descriptions = [parse.html_text(c["description"]) for c in copies]
    every = [" ".join([descriptions[i], *(c[f] for f in ALL_FIELDS if f != "description")])
             for i, c in enumerate(copies)]
    fallbacks = list(fallbacks) if fallbacks is not None else [set() for _ in copies]
    written = [" ".join(descriptions[i] if f == "description" else c[f] for f in ALL_FIELDS
                        if f not in fallbacks[i]) for i, c in enumerate(copies)]
    attrs = [r.get("attributes") or {} for r in records]
    per_draft, kinds, n_claims = [], Counter(), 0
    for record, fields in zip(records, copies, strict=True):
        claims, bad = _claims(shown(record, with_description), fields)
        n_claims += len(claims)
        per_draft.append(len(bad))
        kinds.update(str(c.kind) for c in bad)
    refs = [reference(r) for r in records]
    compliance = [metrics.length_compliance(c, target_words) for c in copies]
    n = len(copies)
    return {
        "attribute_coverage": metrics.mean(metrics.attribute_coverage(a, t) for a, t in zip(attrs, every)),
        "attribute_coverage_description": metrics.mean(
            metrics.attribute_coverage(a, t) for a, t in zip(attrs, descriptions)),
        "attribute_coverage_model_written": metrics.mean(
            metrics.attribute_coverage(a, t) if t.strip() else None for a, t in zip(attrs, written)),
        "products_with_key_attributes": sum(bool(metrics.key_attributes(a)) for a in attrs),
        "claims_per_draft": n_claims / n,
        "unsupported_claims_per_draft": sum(per_draft) / n,
        "drafts_with_unsupported_claim": sum(1 for x in per_draft if x) / n,
        "unsupported_claims_by_kind": dict(sorted(kinds.items())),
        "rouge_l": metrics.mean(metrics.rouge_l(d, ref) if ref else None for d, ref in zip(descriptions, refs)),
        "rouge_l_products": sum(1 for ref in refs if ref),
        "distinct_2": metrics.distinct_n(descriptions, 2),
        "near_duplicate_rate": metrics.near_duplicate_rate(descriptions),
        "near_duplicate_threshold": metrics.NEAR_DUPLICATE_THRESHOLD,
        "length_compliance": {f: sum(c.get(f, False) for c in compliance) / n for f in ALL_FIELDS},
    }


def _generate(generator, products: list[dict], style: dict, seed: int, batch_size: int) -> tuple[list, int]:
    """CopyResults for ``products`` in batches, and the number of generated tokens (outputs re-tokenized)."""
    results = []
    for start in range(0, len(products), batch_size):
        batch = products[start : start + batch_size]
        results += write_copy_batch(generator, batch, style=style, seeds=[seed] * len(batch))
    tokenizer = getattr(generator, "tokenizer", None)
    raw = [text for r in results for text in r.raw.values()]
    if tokenizer is None:
        return results, sum(len(t.split()) for t in raw)
    return results, sum(len(ids) for ids in tokenizer(raw, add_special_tokens=False)["input_ids"]) if raw else 0


def _release_memory() -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_variant(variant: Variant, records: Sequence[dict], *, seed: int, cache_dir: Path, device: str,
                threads: int | None, batch_size: int, with_description: bool, style: dict) -> tuple[dict, list]:
    """Load one variant, generate and measure; returns its report entry and each product's fields."""
    from model.backend import load_generator

    began = time.perf_counter()
    generator = load_generator(variant.model, device=device, threads=threads, cache_dir=cache_dir,
                               adapter=variant.adapter)
    loaded = time.perf_counter()
    products = [shown(r, with_description) for r in records]
    results, tokens = _generate(generator, products, style, seed, batch_size)
    generated = time.perf_counter()
    loss, loss_tokens = teacher_forced_loss(generator, loss_examples(records, style, with_description),
                                            batch_size)
    scored = time.perf_counter()
    entry = {
        "model": variant.model,
        "revision": generator.revision,
        "adapter": getattr(generator, "adapter", "") or None,
        "metrics": {
            "validation_loss": loss,
            "perplexity": math.exp(loss) if loss is not None and loss < 700 else None,
            "loss_tokens": loss_tokens,
            **score(records, [r.fields for r in results], with_description=with_description,
                    target_words=int(style["target_words"]),
                    fallbacks=[{note.split(":", 1)[0] for note in r.notes} for r in results]),
            "fallback_fields": sum(len(r.notes) for r in results) / (len(results) * len(ALL_FIELDS)),
        },
    }
    wall = generated - loaded
    entry["timing"] = {
        "load_seconds": round(loaded - began, 3),
        "generate_seconds": round(wall, 3),
        "loss_seconds": round(scored - generated, 3),
        "products_per_min": round(len(records) * 60 / wall, 3) if wall > 0 else None,
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 3) if wall > 0 else None,
        "device": generator.device,
    }
    del generator  # one variant in memory at a time
    _release_memory()
    return entry, [r.fields for r in results]


def evaluate(records: Sequence[dict], variants: Sequence[Variant], *, seed: int = 0, cache_dir: Path,
             device: str = "auto", threads: int | None = None, batch_size: int = 8,
             with_description: bool = False, samples: int = SAMPLES) -> dict:
    """Run every variant on ``records`` with the same prompts and seed and return the report dict (``seed``,
    ``with_description``, ``style``, ``variants`` {name: {model, revision, adapter, metrics, timing}},
    ``samples``: the first ``samples`` products with each variant's copy)."""
    if not records:
        raise ValueError("records: nothing to evaluate")
    if not variants or len({v.name for v in variants}) != len(variants):
        raise ValueError("variants: need at least one, with unique names")
    if batch_size < 1:
        raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
    style = dict(DEFAULT_STYLE)
    report: dict = {"seed": seed, "with_description": with_description, "style": style, "variants": {}}
    shown = [{"id": str(r.get("id", "")), "title": r["title"], "reference": reference(r), "variants": {}}
             for r in records[:max(0, samples)]]
    for variant in variants:
        entry, fields = run_variant(variant, records, seed=seed, cache_dir=cache_dir, device=device,
                                    threads=threads, batch_size=batch_size, with_description=with_description,
                                    style=style)
        report["variants"][variant.name] = entry
        for sample, copy in zip(shown, fields):
            sample["variants"][variant.name] = copy
    report["samples"] = shown
    return report


def comparable(report: dict) -> dict:
    """``report`` without what legitimately changes between runs of the same data, model, adapters and seed:
    the timing sections, the timestamp and the command line (whose ``--out`` differs)."""
    kept = {k: v for k, v in report.items() if k not in ("created", "command", "timing")}
    kept["variants"] = {name: {k: v for k, v in entry.items() if k != "timing"}
                        for name, entry in report.get("variants", {}).items()}
    return kept
