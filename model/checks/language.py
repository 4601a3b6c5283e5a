"""Is the draft in the shop's language? py3langid (langid.py's maintained fork) identifies each field.

py3langid ships its model inside the wheel (97 languages, ~4.6 MB, numpy only), runs offline, and takes
well under a millisecond per field once loaded (~1.5 s, once per process). Names are not language: the
words of the product's own data (title, brand, attributes) are taken out before identifying, and a field
with too few words left, or identified with low confidence, is inconclusive rather than wrong.

`check_text` serves any text (an order follow-up in the order's language, an answer in the question's).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

from model.checks.result import CheckResult, visible_text

MIN_WORDS = 6
"""Fewer words than this (after the product's own words are taken out) → inconclusive."""
MIN_CONFIDENCE = 0.5
"""py3langid's normalised probability needed to call a field another language."""
FIELDS = ("description_html", "short_description", "seo_description")
"""Fields long enough to identify; an SEO title is mostly the product's name."""
SAME = {"nb": "no", "nn": "no", "iw": "he", "in": "id", "ji": "yi"}
"""Codes that name one language (Norwegian's written forms, ISO 639 renames)."""
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def base_code(code: str) -> str:
    """`pt-BR` → `pt`, `NB` → `no`: what a shop setting or a store's locale names, as py3langid names it."""
    base = str(code or "").replace("_", "-").split("-")[0].strip().lower()
    return SAME.get(base, base)


_loaded: list = []
_lock = threading.Lock()


def _identifier():
    """py3langid's identifier, loaded once per process (~1.5 s), by one thread when several ask at once."""
    with _lock:
        if not _loaded:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _loaded.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _loaded[0]


def identify(text: str) -> tuple[str, float]:
    """(language code, confidence 0..1) of `text`."""
    code, confidence = _identifier().classify(text)
    return base_code(code), float(confidence)


def _strip(text: str, drop: set[str]) -> str:
    return " ".join(w for w in _WORD.findall(text) if w.lower() not in drop)


def check_text(text: str, expected: str, *, drop: Iterable[str] = ()) -> dict:
    """{"language", "confidence", "verdict"} for one text: verdict is ok, wrong or inconclusive."""
    words = _strip(text, {w.lower() for w in drop})
    if len(words.split()) < MIN_WORDS:
        return {"language": "", "confidence": 0.0, "verdict": "inconclusive"}
    code, confidence = identify(words)
    if code == base_code(expected):
        verdict = "ok"
    else:
        verdict = "wrong" if confidence >= MIN_CONFIDENCE else "inconclusive"
    return {"language": code, "confidence": round(confidence, 3), "verdict": verdict}


def data_words(product: Mapping) -> set[str]:
    """Words of the product's name, brand, category, tags and attribute values: names, not language."""
    parts = [product.get("title", ""), product.get("vendor", ""), product.get("category", "")]
    parts += list(product.get("tags") or []) + [str(v) for v in (product.get("attributes") or {}).values()]
    parts += [str(v.get("title", "")) for v in product.get("variants") or [] if isinstance(v, Mapping)]
    return {w.lower() for part in parts for w in _WORD.findall(str(part))}


def check(product: Mapping, fields: Mapping[str, str], expected: str) -> CheckResult:
    """The `language` result: each long-enough field identified; a field confidently in another language
    fails the check."""
    drop = data_words(product)
    per_field = {name: check_text(visible_text(name, fields.get(name, "")), expected, drop=drop)
                 for name in FIELDS if fields.get(name)}
    wrong = {name: r for name, r in per_field.items() if r["verdict"] == "wrong"}
    problems = [f"{name}: written in {r['language']} ({r['confidence']:.0%} sure), not {base_code(expected)}"
                for name, r in wrong.items()]
    return CheckResult("language", not wrong, problems, {"expected": base_code(expected), "fields": per_field})
