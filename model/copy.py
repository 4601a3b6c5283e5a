"""Write the four product-copy fields for one product with one batched generate call."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import prompts
from model import parse

TASK = "product_copy"
"""Prompt template used for product copy."""
ALL_FIELDS = ("description", "short_description", "seo_title", "seo_description")
"""Copy fields, in the order they are generated."""
MAX_NEW_TOKENS = {"short_description": 70, "seo_title": 24, "seo_description": 60}
"""Per-field generation budget (tokens); the description's is 1.8 × target_words + 20 (60–400)."""
DEFAULT_STYLE = {"tone": "friendly", "language": "English", "target_words": 80}
"""Style used when a shop sets none; a shop's settings override keys one by one."""
MIN_WORDS = {"description": 12, "short_description": 5, "seo_title": 2, "seo_description": 5}
"""Fewer words than this after parsing → the output is unusable and a fallback is used."""
_RECORD_DEFAULTS: dict[str, Any] = {"id": "", "title": "", "category": "", "vendor": "", "tags": [],
                                    "attributes": {}, "variants": [], "description": ""}


class TextGenerator(Protocol):
    """What write_copy needs from a generator (``model.backend.Generator`` or a test double)."""

    model_id: str
    revision: str

    def generate(self, conversations: list[list[dict]], *, max_new_tokens: Any, seed: Any,
                 temperature: float = ..., top_p: float = ...) -> list[str]: ...


@dataclass(frozen=True)
class CopyResult:
    """Generated copy plus what is needed to reproduce and audit it."""

    fields: dict[str, str]
    prompt_version: str
    model_id: str
    revision: str
    seed: int
    raw: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    adapter: str = ""
    """The fine-tuned adapter merged into the model (``name@hash``), "" for the base model alone."""


def _budget(name: str, style: Mapping[str, Any]) -> int:
    if name == "description":
        return max(60, min(400, int(int(style["target_words"]) * 1.8) + 20))
    return MAX_NEW_TOKENS[name]


def write_copy(
    generator: TextGenerator,
    record: dict,
    *,
    style: dict | None = None,
    seed: int = 0,
    fields: Iterable[str] = ALL_FIELDS,
    temperature: float = 0.5,
    top_p: float = 0.9,
) -> CopyResult:
    """Render one prompt per field, generate them in one batch, parse, fall back to facts."""
    return write_copy_batch(generator, [record], style=style, seeds=[seed], fields=fields,
                            temperature=temperature, top_p=top_p)[0]


def write_copy_batch(
    generator: TextGenerator,
    records: Sequence[dict],
    *,
    style: dict | None = None,
    seeds: Sequence[int] | None = None,
    fields: Iterable[str] = ALL_FIELDS,
    temperature: float = 0.5,
    top_p: float = 0.9,
) -> list[CopyResult]:
    """``write_copy`` for several products in ONE generate call (the way to use a CPU/GPU well:
    batch pending jobs). Each product's copy depends only on its record, style and seed."""
    names = list(dict.fromkeys(fields))
    unknown = [n for n in names if n not in ALL_FIELDS]
    if not names or unknown:
        raise ValueError(f"fields: expected some of {ALL_FIELDS}, got {names}")
    seeds = list(seeds) if seeds is not None else [0] * len(records)
    if len(seeds) != len(records):
        raise ValueError(f"seeds: need {len(records)}, got {len(seeds)}")
    products = [{**_RECORD_DEFAULTS, **record} for record in records]
    if any(not str(p["title"]).strip() for p in products):
        raise ValueError("record: 'title' is required")
    style = {**DEFAULT_STYLE, **(style or {})}
    rows = [(i, n) for i in range(len(products)) for n in names]
    conversations = [prompts.render(TASK, field=n, product=products[i], style=style)
                     for i, n in rows]
    extra = {"repetition_penalty": 1.15} if _supports_penalty(generator) else {}
    outputs = generator.generate(conversations, max_new_tokens=[_budget(n, style) for _, n in rows],
                                 seed=[seeds[i] for i, _ in rows], temperature=temperature,
                                 top_p=top_p, **extra) if rows else []
    version = prompts.version(TASK)
    results = []
    for i, product in enumerate(products):
        texts = {n: out for (j, n), out in zip(rows, outputs, strict=True) if j == i}
        results.append(_result(generator, product, texts, style, seeds[i], version))
    return results


def _result(generator: TextGenerator, product: dict, texts: dict[str, str],
            style: Mapping[str, Any], seed: int, version: str) -> CopyResult:
    fields = {name: "" for name in ALL_FIELDS}
    notes: list[str] = []
    for name, text in texts.items():
        value = _parse(name, text, style)
        if not _usable(name, value):
            value = fallback(name, product)
            notes.append(f"{name}: model output unusable; minimal copy built from product facts")
        elif not _on_topic(value, product):
            value = fallback(name, product)
            notes.append(f"{name}: model output does not name the product; minimal copy used")
        fields[name] = value
    return CopyResult(fields=fields, prompt_version=version, model_id=generator.model_id,
                      revision=generator.revision, seed=seed, raw=dict(texts), notes=notes,
                      adapter=getattr(generator, "adapter", "") or "")


def _supports_penalty(generator: object) -> bool:
    import inspect

    try:
        return "repetition_penalty" in inspect.signature(generator.generate).parameters
    except (TypeError, ValueError):
        return False


def _parse(name: str, text: str, style: Mapping[str, Any]) -> str:
    if name == "description":
        return parse.parse_description(text, max_words=int(int(style["target_words"]) * 2))
    return {"short_description": parse.parse_short_description,
            "seo_title": parse.parse_seo_title,
            "seo_description": parse.parse_seo_description}[name](text)


def _usable(name: str, value: str) -> bool:
    text = parse.html_text(value) if name == "description" else value
    if len(text.split()) < MIN_WORDS[name]:
        return False
    return name == "seo_title" or parse.has_sentence(text)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{4,}", text.lower())}


def _on_topic(value: str, product: Mapping[str, Any]) -> bool:
    """Cheap relevance check: the copy shares a word (≥ 4 letters) with the title or category."""
    anchors = _words(f"{product['title']} {product.get('category', '')}")
    return not anchors or bool(anchors & _words(parse.html_text(value)))


def _facts(product: Mapping[str, Any]) -> list[str]:
    """Short factual sentences taken verbatim from the record."""
    title = " ".join(str(product["title"]).split())
    lead = title + (f" by {product['vendor']}" if product.get("vendor") else "")
    facts = [lead + "."]
    if product.get("category"):
        facts.append(f"Category: {product['category']}.")
    facts += [f"{k}: {v}." for k, v in list(product.get("attributes", {}).items())[:4]]
    options = [v.get("title", "") for v in product.get("variants", []) if v.get("title")]
    if len(options) > 1:
        facts.append(f"Options: {', '.join(options[:6])}.")
    return [" ".join(f.split()) for f in facts]


def fallback(name: str, product: Mapping[str, Any]) -> str:
    """Minimal copy for ``name`` built only from the product's own facts."""
    title = " ".join(str(product["title"]).split())
    existing = parse.sentences(" ".join(str(product.get("description", "")).split()))
    if name == "seo_title":
        return parse.cut_words(title, parse.SEO_TITLE_MAX)
    if name in ("short_description", "seo_description"):
        text = " ".join(existing[:2]) if existing else " ".join(_facts(product)[:2])
        limit = parse.SEO_DESCRIPTION_MAX if name == "seo_description" else 320
        return parse.cut_words(text, limit)
    paragraph = " ".join(existing) if existing else _facts(product)[0]
    items = _facts(product)[1:]
    body = f"<p>{html.escape(paragraph, quote=False)}</p>"
    if items:
        body += "<ul>" + "".join(f"<li>{html.escape(i.rstrip('.'), quote=False)}</li>"
                                 for i in items) + "</ul>"
    return parse.sanitize_html(body)
