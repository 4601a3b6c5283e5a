"""Grounding: find the factual claims in product copy and check each one against the product's own fields.

    claims = check(product, copy)      # every claim in the copy, in order, supported or not
    flagged = unsupported(claims)      # what a reviewer must look at before approving

Pure Python and the standard library, nothing happens at import: the web app and the worker both use it.
The vocabulary is in model.grounding_terms, the patterns and extractors in model.grounding_extract.

Claims (``KINDS``): numbers with units (sizes, weights, volumes, W, V, mAh, %, hours, °C, counts such as
"set of 4" or "2-pack", ages), dimensions ("50 x 70 cm"), materials, colours, certifications and absolute
claims ("waterproof", "BPA-free", "OEKO-TEX", "made in Portugal", "handmade"...) and promises (warranty,
free shipping, returns, dispatch times). The product's title, category, vendor, tags, attributes (names and
values), variants (titles and options) and existing description are read the same way, and a claim is
supported when the data holds the same fact:

* words are compared by canonical form (case, plurals, hyphen/space, synonyms such as grey/gray, stainless
  ~ stainless steel, elastane ~ spandex, faux ~ vegan ~ PU leather), and a narrower fact supports a broader
  claim but not the reverse (merino wool → wool, IPX7 → waterproof, stoneware → ceramic; "leather" is not
  supported by faux leather, "waterproof" is not supported by water-resistant);
* a negated fact supports nothing ("Not dishwasher safe", "Waterproof: No", "(not waterproof)"); negated
  phrases in the copy are not claims;
* numbers are converted to one unit per dimension. Tolerance: the same unit must match to 0.5%; a converted
  value must match within 3%, or within 6% when the data value converted and rounded to the copy's stated
  precision gives the copy's figure (22 cm → "9 inches"). A value inside a range in the data is supported
  (110-240V by 100-240V). Roles count: "15 cm tall" is not supported by a 15 cm diameter, "weighs 8 kg" not
  by a max load of 8 kg. A dimension must match one of the data's dimension sets (in any order), or distinct
  single lengths;
* "100% cotton" needs the percentage with the material; "organic"/"recycled" in front of a material are
  claims of their own; colour modifiers (light, dusty, matte...) are ignored;
* ambiguous colour words (sage, cream, gold, natural...) are colours in copy only in a colour context
  ("in sage", "choose sage", a list with another colour).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from itertools import permutations

from model import grounding_extract as E
from model import grounding_terms as T

KINDS = ("number", "dimension", "material", "colour", "certification", "promise")


@dataclass(frozen=True)
class Claim:
    """One factual claim of the copy and what the product data says about it."""

    text: str  # the claim as written in the copy, e.g. "100% cotton"
    kind: str  # one of KINDS
    sentence: str  # the sentence of the copy it was found in
    supported: bool
    evidence: str = ""  # "<field>: <matched text>" when supported, "" otherwise

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------- text
_BLOCK = re.compile(r"<\s*/?\s*(?:p|div|li|ul|ol|br|h[1-6]|tr|td|th|table|section|blockquote|dd|dt)\b[^>]*>", re.I)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_CHARS = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u00d7": "x", "\u2033": '"', "\u201d": '"', "\u201c": '"',
                        "\u2019": "'", "\u2018": "'", "\u2032": "'", "\u2013": "-", "\u2011": "-", "\u2010": "-",
                        "\u2014": " - ", "\u00ae": "", "\u2122": "", "\u00ba": "\u00b0"})
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def plain_text(copy: str) -> str:
    """Visible text of HTML or plain copy: tags out, entities decoded, one block per line."""
    text = _TAG.sub(" ", _BLOCK.sub("\n", copy or ""))
    text = html.unescape(text).translate(_CHARS)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def sentences(text: str) -> list[str]:
    """Sentences of plain text: block lines, then sentence ends."""
    return [s.strip() for line in text.splitlines() for s in _SPLIT.split(line) if s.strip()]


# ------------------------------------------------------------------------------------------------- hits
@dataclass
class _Hit:
    start: int
    end: int
    kind: str
    key: object  # per kind: see the extractors in grounding_terms
    text: str
    negated: bool = False


_NEG_BEFORE = re.compile(r"\b(?:not|no|never|isn't|aren't|wasn't|nor|neither|without|cannot|can't|don't|doesn't)"
                         r"\b(?:\s+[\w%-]+){0,3}\s*$", re.I)
_NEG_AFTER = re.compile(r"^\s*(?:[:=]|\()\s*(?:no|false|none|n/?a)\b", re.I)
_CLAUSE = re.compile(r"[.;!?()\[\],\n]|\bbut\b|\s-\s")
_PRIORITY = {"promise": 0, "certification": 1, "dimension": 2, "number": 3, "colour": 4, "material": 5}


def _negated(text: str, start: int, end: int) -> bool:
    before = text[:start]
    cuts = [m.end() for m in _CLAUSE.finditer(before)]
    clause = before[cuts[-1]:] if cuts else before
    return bool(_NEG_BEFORE.search(clause) or _NEG_AFTER.match(text[end:]))


def _hits(text: str, lenient: bool) -> list[_Hit]:
    """Claims found in one sentence (or one data field), longest first where they overlap, in order."""
    found = [_Hit(*h) for h in E.candidates(text, lenient)]
    for hit in found:  # "25 oz." at a sentence end: the full stop is not the unit's
        if hit.kind in ("number", "dimension") and hit.text.endswith("."):
            hit.text, hit.end = hit.text[:-1], hit.end - 1
    found.sort(key=lambda h: (h.start, -(h.end - h.start), _PRIORITY[h.kind]))
    kept: list[_Hit] = []
    for hit in found:
        if all(hit.end <= k.start or hit.start >= k.end for k in kept):
            kept.append(hit)
    derived = [_Hit(*d) for k in kept for d in E.derived(k.kind, k.key, k.start, k.end, text)]
    hits = sorted(kept + derived, key=lambda h: h.start)
    for hit in hits:
        hit.negated = _negated(text, hit.start, hit.end)
    return hits


def extract_claims(copy: str) -> list[tuple[str, str, str]]:
    """(text, kind, sentence) of each claim in the copy, in order; negated phrases are not claims."""
    return [(h.text, h.kind, s) for s in sentences(plain_text(copy)) for h in _hits(s, False) if not h.negated]


# ------------------------------------------------------------------------------------------------- facts
@dataclass
class _Facts:
    terms: dict  # canonical term (materials, colours, "x:" certifications, "o:" origins) -> evidence
    pcts: list  # (canonical material, percentage, evidence)
    qtys: list  # (Qty, evidence)
    dims: list  # (tuple of Qty, evidence)
    promises: list  # (type, value or None, evidence)


def _sources(product: Mapping) -> Iterable[tuple[str, str, str, str]]:
    """(field, text to read, evidence value, attribute name) for every field of the product record."""
    for field in ("title", "category", "vendor"):
        value = str(product.get(field) or "")
        if value:
            yield field, value, value, ""
    tags = product.get("tags") or []
    for tag in tags.split(",") if isinstance(tags, str) else tags:
        if str(tag).strip():
            yield "tags", str(tag).replace("-", " ").replace("_", " "), str(tag).strip(), ""
    for name, value in (product.get("attributes") or {}).items():
        yield f"attributes.{name}", f"{name}: {value}", str(value), str(name)
    for i, variant in enumerate(product.get("variants") or []):
        if variant.get("title"):
            yield f"variants[{i}].title", str(variant["title"]), str(variant["title"]), ""
        for name, value in (variant.get("options") or {}).items():
            yield f"variants[{i}].options.{name}", f"{name}: {value}", str(value), str(name)
    for sentence in sentences(plain_text(str(product.get("description") or ""))):
        yield "description", sentence, sentence, ""


def _facts(product: Mapping) -> _Facts:
    facts = _Facts({}, [], [], [], [])
    roled: list = []
    for field, text, value, attr in _sources(product):
        evidence = f"{field}: {value[:120]}"
        hits = [h for h in _hits(text, True) if not h.negated]
        hits += [_Hit(0, 0, kind, key, "") for kind, key in E.attribute_facts(attr, value)]
        for hit in hits:
            if hit.kind in ("number", "dimension"):
                qtys = [T.with_role(q, T.role_of(attr) if attr else None) for q in hit.key] if attr else hit.key
                if hit.kind == "dimension":
                    facts.dims.append((tuple(qtys), evidence))
                (roled if any(q.role for q in qtys) else facts.qtys).extend((q, evidence) for q in qtys)
            elif hit.kind == "promise":
                facts.promises.append((*hit.key, evidence))
            else:
                for term in E.closure(hit.kind, hit.key):
                    facts.terms.setdefault(term, evidence)
                if hit.kind == "material" and hit.key[1] is not None:
                    for term in E.closure("material", hit.key):
                        facts.pcts.append((term, hit.key[1], evidence))
                    facts.qtys.append((T.percent(hit.key[1]), evidence))
    # a number without a role that restates one with a role (title "Pot 15 cm", "Diameter: 15 cm") takes its role
    facts.qtys = roled + [(q, ev) for q, ev in facts.qtys if q.role or not any(
        r.dim == q.dim and T.close(q, r.lo, r) for r, _ in roled)]
    return facts


# ------------------------------------------------------------------------------------------------- support
def _support(hit: _Hit, facts: _Facts) -> str:
    """Evidence for the claim, or "" when the data does not hold it."""
    if hit.kind == "number":
        return next((ev for c in hit.key for d, ev in facts.qtys if T.qty_ok(c, d)), "")
    if hit.kind == "dimension":
        return _dims_support(hit.key, facts)
    if hit.kind == "promise":
        kind, value = hit.key
        return next((ev for k, v, ev in facts.promises if k == kind and (
            value is None or v == value or (v is not None and abs(v - value) <= 0.03 * max(v, value)))), "")
    if hit.kind == "material" and hit.key[1] is not None:
        return next((ev for term, pct, ev in facts.pcts if term == hit.key[0] and abs(pct - hit.key[1]) < 0.5), "")
    return next((facts.terms[t] for t in E.wanted(hit.kind, hit.key) if t in facts.terms), "")


def _dims_support(claim: list, facts: _Facts) -> str:
    def fits(pool: tuple) -> bool:
        return len(claim) <= len(pool) and any(
            all(T.qty_ok(c, d) for c, d in zip(claim, perm)) for perm in permutations(pool, len(claim)))

    for tup, evidence in facts.dims:
        if fits(tup):
            return evidence
    singles = [(q, ev) for q, ev in facts.qtys if q.dim == "length"][:10]
    if fits(tuple(q for q, _ in singles)):
        return "; ".join(dict.fromkeys(ev for q, ev in singles if any(T.qty_ok(c, q) for c in claim)))
    return ""


def check(product: Mapping, copy: str) -> list[Claim]:
    """Every claim in the copy (HTML or text), in order, each marked supported or not by the product record."""
    facts = _facts(product)
    claims = []
    for sentence in sentences(plain_text(copy)):
        for hit in _hits(sentence, False):
            if not hit.negated:
                evidence = _support(hit, facts)
                claims.append(Claim(hit.text, hit.kind, sentence, bool(evidence), evidence))
    return claims


def unsupported(claims: Iterable[Claim]) -> list[Claim]:
    """The claims the product data does not support."""
    return [c for c in claims if not c.supported]
