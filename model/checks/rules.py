"""Rules every draft obeys: banned words, field lengths, no template leakage, no invented prices.

``check(product, fields, banned=..., use_defaults=True)`` returns a ``CheckResult`` named ``rules``
whose ``detail`` lists what broke each rule, per field, with the sentence it sits in (so the worker can
drop that sentence or steer a retry away from the term). Pure Python; no model, no network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from model.checks.result import CheckResult, field_sentences

DEFAULT_BANNED = (
    "best-in-class", "world-class", "state-of-the-art", "cutting-edge", "game-changer", "game-changing",
    "revolutionary", "unparalleled", "unrivalled", "unrivaled", "unmatched", "second to none",
    "like no other", "must-have", "the ultimate", "the perfect", "perfect for any occasion",
    "look no further", "elevate your", "take it to the next level", "next level", "top-notch",
    "one-of-a-kind", "exceptional quality", "superior quality", "high-quality", "premium quality",
    "luxurious", "unbeatable", "incredible", "amazing", "stunning", "breathtaking", "flawless",
)
"""Empty superlatives, banned for every shop unless it turns `banned_defaults` off: they say nothing a
customer can check, and are what makes AI copy read alike across a catalogue."""

LIMITS = {"seo_title": 70, "seo_description": 160}
"""Characters allowed per field (what search engines show)."""

_LEAKS = (
    (re.compile(r"\{\{|\}\}|\{%|%\}|\$\{"), "template syntax"),
    (re.compile(r"\[\s*(?:product|brand|item|company|shop|store|your|insert|name|price|size|colou?r|"
                r"material)[a-z ]{0,30}\]", re.I), "a placeholder in brackets"),
    (re.compile(r"<\|[^|>]{1,30}\|>|\b(?:im_start|im_end|endoftext)\b", re.I), "a model control token"),
    (re.compile(r"\bas an ai\b|\bas a(?:n ai)? language model\b|\bI(?:'m| am) (?:an ai|a language model)\b",
                re.I), "the model talking about itself"),
    (re.compile(r"\blorem ipsum\b|\bTODO\b|\bTBD\b|\bXXX\b|\bplaceholder\b", re.I), "placeholder text"),
    (re.compile(r"^\s*(?:product data|keywords|details)\s*:", re.I | re.M), "echoed prompt data"),
)
_CURRENCY = r"(?:[$€£¥₹]|(?:US|CA|AU)\$|\b(?:USD|EUR|GBP|INR|Rs\.?|CHF|SEK|DKK|PLN|JPY)\b)"
_NUMBER = r"\d{1,3}(?:[,.\s]\d{3})*(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_PRICE = re.compile(rf"{_CURRENCY}\s?(?P<a>{_NUMBER})|(?P<b>{_NUMBER})\s?{_CURRENCY}"
                    rf"|(?P<c>{_NUMBER})\s?(?:dollars|euros?|pounds|rupees)\b", re.I)
_DISCOUNT = re.compile(r"\b\d{1,2}\s?%\s?(?:off|discount)\b|\b(?:discount(?:ed)?|on sale|sale price|"
                       r"clearance|half price|price drop|special offer|limited[- ]time offer|coupon|promo code|"
                       r"save \d+|buy one,? get one|bogo)\b", re.I)
_DISCOUNT_DATA = re.compile(r"\b(?:sale|discount|offer|clearance|coupon|promo)\b", re.I)


def check(product: Mapping, fields: Mapping[str, str], *, banned: Iterable[str] = (),
          use_defaults: bool = True) -> CheckResult:
    """Every rule over every field; a field's problems name the field and the sentence."""
    terms = _terms(banned, use_defaults)
    found: dict[str, list[dict]] = {"banned": [], "length": [], "leakage": [], "prices": []}
    prices = data_prices(product)
    discounts_ok = bool(_DISCOUNT_DATA.search(_data_text(product)))
    for name, value in fields.items():
        if not value:
            continue
        if name in LIMITS and len(value) > LIMITS[name]:
            found["length"].append({"field": name, "length": len(value), "limit": LIMITS[name]})
        for leak, why in _LEAKS:  # raw value: a leak can hide in markup too
            match = leak.search(value)
            if match:
                found["leakage"].append({"field": name, "text": match.group(0), "why": why,
                                         "sentence": _sentence_of(name, value, match.group(0))})
        for sentence in field_sentences(name, value):
            for term in terms:
                if _mentions(sentence, term):
                    found["banned"].append({"field": name, "text": term, "sentence": sentence})
            for match in _PRICE.finditer(sentence):
                amount = next(g for g in match.group("a", "b", "c") if g)
                if _amount(amount) not in prices:
                    found["prices"].append({"field": name, "text": match.group(0), "sentence": sentence})
            for match in _DISCOUNT.finditer(sentence):
                if not discounts_ok:
                    found["prices"].append({"field": name, "text": match.group(0), "sentence": sentence})
    problems = [f"{p['field']}: banned phrase “{p['text']}”" for p in found["banned"]]
    problems += [f"{p['field']}: {p['length']} characters, more than {p['limit']}" for p in found["length"]]
    problems += [f"{p['field']}: {p['why']} (“{p['text']}”)" for p in found["leakage"]]
    problems += [f"{p['field']}: price or discount not in the product data (“{p['text']}”)" for p in found["prices"]]
    return CheckResult("rules", not problems, problems, {k: v for k, v in found.items() if v})


def _terms(banned: Iterable[str], use_defaults: bool) -> list[str]:
    terms = [" ".join(str(t).split()) for t in banned if str(t).strip()]
    if use_defaults:
        terms += DEFAULT_BANNED
    return list(dict.fromkeys(t.casefold() for t in terms))


def _mentions(sentence: str, term: str) -> bool:
    """Whole-word, case-insensitive; hyphens and spaces in a phrase match either way."""
    parts = [re.escape(p) for p in re.split(r"[\s\-]+", term) if p]
    pattern = r"[\s\-]+".join(parts)
    return bool(re.search(rf"(?<!\w){pattern}(?!\w)", sentence, re.I))


def _sentence_of(name: str, value: str, text: str) -> str:
    for sentence in field_sentences(name, value):
        if text in sentence:
            return sentence
    return ""


def _amount(text: str) -> float:
    """"1,299.00", "1.299,00", "1 299" and "12,5" as numbers: a separator before 1-2 final digits is
    the decimal point, every other one groups thousands."""
    match = re.fullmatch(r"(.*?)(?:[.,](\d{1,2}))?", re.sub(r"\s", "", text))
    whole = re.sub(r"[.,]", "", match.group(1)) or "0"
    return float(f"{whole}.{match.group(2) or '0'}")


def data_prices(product: Mapping) -> set[float]:
    """Every amount the product data states as a price: variant prices and attributes named like one."""
    amounts: set[float] = set()
    values = [v.get("price") for v in product.get("variants") or [] if isinstance(v, Mapping)]
    values += [v for k, v in (product.get("attributes") or {}).items() if "price" in str(k).lower()
               or "cost" in str(k).lower()]
    for value in values:
        for number in re.findall(_NUMBER, str(value or "")):
            try:
                amounts.add(_amount(number))
            except ValueError:
                continue
    return amounts


def _data_text(product: Mapping) -> str:
    parts = [product.get("title", ""), product.get("description", ""), " ".join(product.get("tags") or [])]
    parts += [f"{k} {v}" for k, v in (product.get("attributes") or {}).items()]
    return " ".join(str(p) for p in parts)


__all__ = ["DEFAULT_BANNED", "LIMITS", "check", "data_prices"]
