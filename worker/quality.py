"""Generate, check, fix: the worker's own repairs before a draft is stored (`model.checks`).

A draft is checked as soon as it is written. When a check fails the worker first tries to fix it itself:

1. regenerate only the failing fields, at most `MAX_TRIES` generations in all, each with its own seed and a
   prompt steered away from what failed: unsupported claims, banned words and invented prices join the
   banned words, a wrong language is insisted on, a near-duplicate gets a different angle;
2. then drop the sentences that still carry an unsupported claim, a banned word, template leakage or an
   invented price, when enough text stands without them (short fields fall back to copy built from the
   product's facts).

The attempt with the fewest failing checks wins. Everything is recorded for `Draft.checks`: the results,
every claim, the flags, each try (fields, seed and steering: enough to regenerate the text), the fixes,
and the seconds the checks and the retries took.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from model.checks import CheckReport, Other, record_of, run_checks
from model.checks.result import sentences, visible_text
from model.checks.sameness import data_words
from plugin.db import Draft
from plugin.platforms.base import COPY_FIELDS, Product

MAX_TRIES = 3
"""Generations per draft, the first included."""
ANGLES = ("who it is for and when they would reach for it", "how it feels in use and how it is made",
          "the one detail that sets it apart from similar products")
"""A near-duplicate is written again from one of these angles, in turn."""
MODEL_FIELD = {"description_html": "description", "short_description": "short_description",
               "seo_title": "seo_title", "seo_description": "seo_description"}
MIN_WORDS = {"description_html": 12, "short_description": 5, "seo_title": 2, "seo_description": 5}
"""Words a field must keep after sentences are dropped; a short field below this gets factual copy."""
OTHERS_LIMIT = 2000
"""The shop's most recent drafts a new description is compared with (sameness)."""
_TABLE = re.compile(r"<table\b.*?</table>", re.I | re.S)


@dataclass
class Checked:
    """What `write_checked` made: the copy to store, its report, and the record for `Draft.checks`."""

    result: object
    """The first generation's `CopyResult` (model, revision, adapter, prompt version)."""
    fields: dict[str, str]
    report: CheckReport
    checks: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def copy_fields(generated: Mapping[str, str]) -> dict[str, str]:
    """The model's field names to the store-facing copy fields (only those generated)."""
    return {name: generated[model] for name, model in MODEL_FIELD.items() if model in generated}


def shop_descriptions(db, shop_id: int, product_id: str, limit: int = OTHERS_LIMIT) -> list[Other]:
    """The shop's other descriptions: the latest drafts of its other products (pending, approved or
    published) and the store copy they replaced; carried-over tables are left out (a shared size chart is
    not samey copy)."""
    rows = db.execute(select(Draft.product_id, Draft.input_snapshot, Draft.fields, Draft.previous).where(
        Draft.shop_id == shop_id, Draft.kind == "product_copy", Draft.product_id != product_id,
        Draft.status.in_(("pending", "approved", "published"))).order_by(Draft.id.desc()).limit(limit))
    others, seen = [], set()
    for pid, snapshot, fields, previous in rows:
        record = record_of(snapshot or {})
        facts = data_words(record)
        for copy in (fields or {}, previous or {}):
            text = visible_text("description_html", _TABLE.sub(" ", str(copy.get("description_html") or "")))
            if text and (pid, text) not in seen:
                seen.add((pid, text))
                others.append(Other(str(pid), record["title"], text, facts))
    return others


def write_checked(generator, product: Product, *, style: dict, seed: int, settings: Mapping,
                  others: Sequence[Other] = ()) -> Checked:
    """Write the product's copy, check it, and fix what the worker can (see the module docstring)."""
    from model.copy import write_copy

    record = product.record()
    clock = {"checks": 0.0, "retries": 0.0}

    def check(fields: dict) -> CheckReport:
        started = time.perf_counter()
        report = run_checks(record, fields, settings=settings, others=others,
                            original_html=product.description_html)
        clock["checks"] += time.perf_counter() - started
        return report

    first = write_copy(generator, record, style=style, seed=seed)
    fields = copy_fields(first.fields)
    report = check(fields)
    notes = list(first.notes)
    tries = [{"seed": seed, "fields": list(COPY_FIELDS), "failed": report.failed}]
    first_passed, steer = report.passed, {"banned": [], "angle": "", "insist_language": False}
    first_unsupported = [c["kind"] for c in report.unsupported]
    while not report.passed and len(tries) < MAX_TRIES:
        redo = failing_fields(report)
        if not redo:
            break
        steer = steering(report, steer, len(tries))
        retry_seed = seed + len(tries)
        started = time.perf_counter()
        retry = write_copy(generator, record, style=steered(style, steer), seed=retry_seed,
                           fields=[MODEL_FIELD[name] for name in redo])
        clock["retries"] += time.perf_counter() - started
        candidate = {**fields, **{name: retry.fields[MODEL_FIELD[name]] for name in redo}}
        candidate_report = check(candidate)
        tries.append({"seed": retry_seed, "fields": redo, "failed": candidate_report.failed,
                      "steer": {k: v for k, v in steer.items() if v}})
        if score(candidate_report) < score(report):
            fields, report = candidate, candidate_report
            notes += [f"retry {len(tries)}: {note}" for note in retry.notes]
    fixes: list[str] = []
    if not report.passed:
        trimmed, fixes = drop_sentences(fields, report, record)
        if fixes:
            trimmed_report = check(trimmed)
            if score(trimmed_report) < score(report):
                fields, report = trimmed, trimmed_report
            else:
                fixes = []
    checks = {**report.to_dict(), "first_try_passed": first_passed, "first_unsupported": first_unsupported,
              "tries": tries,
              **({"fixes": fixes} if fixes else {}), "seconds": round(clock["checks"], 3),
              "retry_seconds": round(clock["retries"], 3)}
    return Checked(first, dict(report.fields), report, checks, notes)


def score(report: CheckReport) -> tuple[int, int]:
    """Lower is better: failing checks, then problems."""
    return len(report.failed), len(report.flags)


def failing_fields(report: CheckReport) -> list[str]:
    """The copy fields a retry should write again, in COPY_FIELDS order."""
    names: set[str] = {c["field"] for c in report.unsupported}
    language = report.results.get("language")
    if language is not None and not language.passed:
        names |= {n for n, r in language.detail.get("fields", {}).items() if r.get("verdict") == "wrong"}
    sameness = report.results.get("sameness")
    if sameness is not None and not sameness.passed:
        names.add("description_html")
    rules = report.results.get("rules")
    if rules is not None and not rules.passed:
        names |= {p["field"] for found in rules.detail.values() for p in found}
    return [name for name in COPY_FIELDS if name in names]


def steering(report: CheckReport, steer: dict, attempt: int) -> dict:
    """What the next try's prompt steers away from, added to the last try's steering."""
    banned = list(steer["banned"]) + [c["text"] for c in report.unsupported]
    rules = report.results.get("rules")
    if rules is not None:
        banned += [p["text"] for key in ("banned", "prices") for p in rules.detail.get(key, [])]
    failed = set(report.failed)
    return {"banned": list(dict.fromkeys(" ".join(t.split()) for t in banned if t.strip()))[:20],
            "angle": ANGLES[(attempt - 1) % len(ANGLES)] if "sameness" in failed else steer["angle"],
            "insist_language": steer["insist_language"] or "language" in failed}


def steered(style: dict, steer: Mapping) -> dict:
    """The prompt style for a retry: steering terms first among the banned words (the prompt keeps 30)."""
    out = dict(style)
    out["banned_words"] = list(dict.fromkeys([*steer.get("banned", []), *style.get("banned_words", [])]))
    if steer.get("angle"):
        out["angle"] = steer["angle"]
    if steer.get("insist_language"):
        out["insist_language"] = True
    return out


def _offending(report: CheckReport) -> dict[str, set[str]]:
    """Per field, the words whose sentences should go: unsupported claims, banned words, leaks, prices."""
    out: dict[str, set[str]] = {}
    for claim in report.unsupported:
        out.setdefault(claim["field"], set()).add(claim["text"])
    rules = report.results.get("rules")
    for key in ("banned", "leakage", "prices"):
        for found in (rules.detail.get(key, []) if rules is not None else []):
            out.setdefault(found["field"], set()).add(found["text"])
    return out


def _norm(text: str) -> str:
    from model.grounding import plain_text

    return " ".join(plain_text(text).lower().split())


def _keep(text: str, terms: set[str]) -> tuple[str, list[str]]:
    """`text`'s sentences without those naming any of `terms`, and the sentences dropped."""
    kept, dropped = [], []
    for sentence in sentences(text):
        (dropped if any(_norm(t) in _norm(sentence) for t in terms) else kept).append(sentence)
    return " ".join(kept), dropped


def _trim_description(markup: str, terms: set[str]) -> tuple[str, list[str]]:
    import html as htmllib

    from model.checks.html import normalise

    dropped: list[str] = []

    def block(match: re.Match) -> str:
        text = visible_text("description_html", match.group(0))
        kept, gone = _keep(text, terms)
        if not gone:
            return match.group(0)
        dropped.extend(gone)
        return f"<{match.group(1)}>{htmllib.escape(kept, quote=False)}</{match.group(1)}>" if kept else ""

    trimmed = re.sub(r"<(p|li|h3|h4)>(.*?)</\1>", block, markup, flags=re.S)
    return normalise(trimmed), dropped


def drop_sentences(fields: Mapping[str, str], report: CheckReport, record: Mapping) -> tuple[dict, list[str]]:
    """`fields` without the sentences that carry a failing claim or rule, where enough text stands; the
    fixes made, one line each."""
    from model.copy import fallback

    out, fixes = dict(fields), []
    for name, terms in _offending(report).items():
        value = fields.get(name, "")
        if name == "description_html":
            trimmed, dropped = _trim_description(value, terms)
            if dropped and len(visible_text(name, trimmed).split()) >= MIN_WORDS[name]:
                out[name] = trimmed
                fixes += [f"dropped from {name}: “{s}”" for s in dropped]
            continue
        trimmed, dropped = _keep(value, terms) if name != "seo_title" else ("", [value])
        if not dropped:
            continue
        if len(trimmed.split()) < MIN_WORDS[name]:
            trimmed = fallback(MODEL_FIELD[name], record)
            fixes.append(f"{name}: replaced by copy built from the product's facts")
        else:
            fixes += [f"dropped from {name}: “{s}”" for s in dropped]
        out[name] = trimmed
    return out, fixes
