"""Pure-Python text metrics for `copydesk eval`: ROUGE-L, distinct-n, near-duplicates, attribute coverage and
length compliance.

Every function works on plain strings (HTML descriptions are turned into text with ``parse.html_text`` by the
caller or by ``length_compliance``) and returns plain numbers, so each can be checked by hand.
Words are lowercased runs of letters and digits (``words``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from model import parse

NEAR_DUPLICATE_THRESHOLD = 0.5
"""Word-3-shingle Jaccard similarity at or above which two descriptions count as near-duplicates."""
SHINGLE_SIZE = 3
"""Words per shingle in ``near_duplicate_rate``."""
LENGTH_RULES = {
    "description": "0.5–2 × target words",
    "short_description": "≤ 320 chars, ≤ 2 sentences",
    "seo_title": f"≤ {parse.SEO_TITLE_MAX} chars",
    "seo_description": f"≤ {parse.SEO_DESCRIPTION_MAX} chars",
}
"""The length rule checked for each copy field, in words for reports."""
SHORT_DESCRIPTION_MAX = 320
"""Characters allowed in a short description (as ``parse.parse_short_description``)."""
SKIPPED_KEY_WORDS = frozenset({"price", "sku", "id", "gtin", "ean", "upc", "isbn", "mpn", "barcode", "cost",
                               "msrp", "currency", "url", "handle", "slug"})
"""An attribute whose key contains one of these words is not a product fact a copywriter should mention."""
SKIPPED_VALUES = frozenset({"yes", "no", "true", "false", "n/a", "na", "none", "-"})
"""Flag-like attribute values: there is no word for the copy to mention."""
_STOPWORDS = frozenset({"a", "an", "the", "and", "or", "of", "with", "for", "in", "on", "to", "by", "x", "at"})
_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Lowercased word tokens: runs of letters and digits (``"Off-White, 100%"`` → off, white, 100)."""
    return _WORD.findall((text or "").lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token sequences (O(len(a)·len(b)), one row of memory)."""
    if len(a) < len(b):
        a, b = b, a
    row = [0] * (len(b) + 1)
    for x in a:
        prev_diag = 0
        for j, y in enumerate(b, start=1):
            above = row[j]
            row[j] = prev_diag + 1 if x == y else max(row[j], row[j - 1])
            prev_diag = above
    return row[-1]


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F1 of ``candidate`` against ``reference`` on lowercased word tokens (0.0 when either is empty)."""
    cand, ref = words(candidate), words(reference)
    lcs = lcs_length(cand, ref) if cand and ref else 0
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(cand), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """Consecutive ``n``-token tuples of ``tokens``."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: Iterable[str], n: int = 2) -> float:
    """Distinct ``n``-grams over all ``texts`` divided by all ``n``-grams (n-grams do not cross texts);
    0.0 when there are none."""
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    grams = [g for text in texts for g in ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def shingles(text: str, k: int = SHINGLE_SIZE) -> frozenset[tuple[str, ...]]:
    """The set of ``k``-word shingles of ``text``; a text shorter than ``k`` words is one shingle of all its
    words (and an empty text has none)."""
    tokens = words(text)
    if 0 < len(tokens) < k:
        return frozenset({tuple(tokens)})
    return frozenset(ngrams(tokens, k))


def jaccard(a: frozenset, b: frozenset) -> float:
    """|a ∩ b| / |a ∪ b|; 0.0 when both are empty."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def near_duplicate_rate(texts: Sequence[str], threshold: float = NEAR_DUPLICATE_THRESHOLD,
                        k: int = SHINGLE_SIZE) -> float:
    """Share of ``texts`` whose ``k``-word-shingle Jaccard similarity with at least one OTHER text of the set is
    ``>= threshold``; 0.0 for fewer than two texts."""
    sets = [shingles(t, k) for t in texts]
    if len(sets) < 2:
        return 0.0
    flagged = [False] * len(sets)
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            if (not flagged[i] or not flagged[j]) and jaccard(sets[i], sets[j]) >= threshold:
                flagged[i] = flagged[j] = True
    return sum(flagged) / len(sets)


def normalize_word(word: str) -> str:
    """Crude singular form so that plurals match: ``berries``→``berry``, ``boxes``→``box``, ``cups``→``cup``
    (``glass``, ``dress`` and short words stay as they are)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _significant(value: str) -> set[str]:
    tokens = [normalize_word(w) for w in words(value)]
    kept = {w for w in tokens if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())}
    return kept or set(tokens)


def key_attributes(attributes: Mapping[str, object]) -> list[str]:
    """The attribute values a copy should mention: price/SKU/id-like keys, empty and yes/no values left out
    (a list value gives one entry per item)."""
    values: list[str] = []
    for key, value in attributes.items():
        if set(words(str(key))) & SKIPPED_KEY_WORDS:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            text = " ".join(str(item if item is not None else "").split())
            if text and text.lower() not in SKIPPED_VALUES and words(text):
                values.append(text)
    return values


def mentions(text: str, value: str) -> bool:
    """True when every significant word of ``value`` appears in ``text`` (case- and plural-insensitive)."""
    present = {normalize_word(w) for w in words(text)}
    return _significant(value) <= present


def attribute_coverage(attributes: Mapping[str, object], text: str) -> float | None:
    """Share of ``key_attributes(attributes)`` that ``text`` mentions; None when the product has none."""
    values = key_attributes(attributes)
    if not values:
        return None
    return sum(mentions(text, v) for v in values) / len(values)


def length_compliance(fields: Mapping[str, str], target_words: int) -> dict[str, bool]:
    """Whether each present copy field keeps its length rule (``LENGTH_RULES``); an empty field fails.
    ``description`` is HTML and is measured in words of its text."""
    checks = {
        "description": lambda v: 0.5 * target_words <= len(parse.html_text(v).split()) <= 2 * target_words,
        "short_description": lambda v: (len(v) <= SHORT_DESCRIPTION_MAX
                                        and len(parse.sentences(" ".join(v.split()))) <= 2),
        "seo_title": lambda v: len(v) <= parse.SEO_TITLE_MAX,
        "seo_description": lambda v: len(v) <= parse.SEO_DESCRIPTION_MAX,
    }
    return {name: bool(value.strip()) and checks[name](value)
            for name, value in fields.items() if name in checks}


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None
