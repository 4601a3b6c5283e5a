"""Customer questions are untrusted text, and so is what a model writes back: both are neutralised here.

- `inert(question)`: the question as prompt data. Chat-template tokens (`<|im_start|>`), our own and
  common data delimiters (`</data>`, `<question>`, `====`) are removed, so the text cannot leave its block.
  (Jinja never evaluates context values: `{{ config }}` stays literal text.)
- `plain(answer)`: an answer as plain text: scripts and styles dropped with their content, every tag
  removed (entities decoded first and again, so `&lt;script&gt;` cannot survive), whitespace collapsed.
- `problems(raw, ...)`: why an answer must not reach a customer without a person: markup or script, an
  echo of the system prompt, an email address or order number that is not the asker's, a URL or link,
  a discount or coupon the shop's facts do not mention.

Pure Python: imported by the web app (what the widget shows) and the worker (the output guard).
"""

from __future__ import annotations

import html
import re

_CHAT_TOKEN = re.compile(r"<\|[^|<>]{0,40}\|>|\[/?INST\]|<</?SYS>>", re.I)
_DELIMS = re.compile(r"</?\s*(?:data|question|system|user|assistant|instructions?)\b[^>]{0,40}>|={2,}|-{3,}", re.I)
_BLOCKS = re.compile(r"<\s*(script|style|iframe|object|template)\b.*?(?:<\s*/\s*\1\s*>|$)", re.I | re.S)
_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!?][^<>]*>?")
_MARKUP = re.compile(r"<\s*/?\s*[a-zA-Z!]|&lt;|&#", re.I)
_SCRIPT = re.compile(r"<\s*script|javascript:|on[a-z]+\s*=", re.I)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_ORDER = re.compile(r"(?:#\s?|\border\s*(?:number|no\.?|#)?\s*:?\s*#?\s?)(\d{3,})", re.I)
_URL = re.compile(r"\b(?:https?://|www\.)\S+|\b[\w-]+\.(?:com|net|org|io|shop|store|co|xyz|info|biz|ly|me)\b",
                  re.I)
_DISCOUNT = re.compile(r"\b(?:discount|coupon|promo(?:tion)?\s*code|voucher|free\s+gift)\b|\d+\s?%\s*off\b", re.I)
_LEAK = re.compile(r"system prompt|my instructions|untrusted|<\|im_start\|>|\bim_start\b", re.I)
SHINGLE = 6
"""Words in a row shared with the system prompt that count as echoing it."""


def inert(text: str) -> str:
    """A question as prompt data: chat tokens and delimiters removed (then `|data` collapses it)."""
    previous = None
    text = str(text)
    while previous != text:  # `<|im_<|x|>start|>` must not reassemble into a token
        previous = text
        text = _DELIMS.sub(" ", _CHAT_TOKEN.sub(" ", text))
    return text


def plain(text: str) -> str:
    """Plain text for a customer: no markup can survive (see the module docstring)."""
    text = str(text or "")
    for _ in range(3):
        text = html.unescape(_TAG.sub(" ", _BLOCKS.sub(" ", text)))
    text = text.replace("<", " ").replace(">", " ")
    return " ".join(text.split())


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def echoes(text: str, system_prompt: str) -> bool:
    """Whether `text` repeats SHINGLE words in a row of the system prompt, or talks about its prompt."""
    if _LEAK.search(text):
        return True
    system = _words(system_prompt)
    shingles = {tuple(system[i:i + SHINGLE]) for i in range(len(system) - SHINGLE + 1)}
    words = _words(text)
    return any(tuple(words[i:i + SHINGLE]) in shingles for i in range(len(words) - SHINGLE + 1))


def problems(raw: str, *, system_prompt: str, asker_email: str = "", asker_order: str = "",
             facts: str = "") -> list[str]:
    """What blocks sending `raw` (a model's answer) without review, one line each; [] when none."""
    found: list[str] = []
    text = plain(raw)
    if _SCRIPT.search(raw) or _SCRIPT.search(html.unescape(raw)):
        found.append("guard: the answer contained script")
    elif _MARKUP.search(raw):
        found.append("guard: the answer contained markup (shown as plain text)")
    if echoes(text, system_prompt):
        found.append("guard: the answer repeats the instructions it was given")
    mine = asker_email.strip().lower()
    if any(e.lower() != mine for e in EMAIL.findall(text)):
        found.append("guard: the answer names an email address that is not the asker's")
    own_order = asker_order.lstrip("#").strip()
    if any(number != own_order for number in _ORDER.findall(text)):
        found.append("guard: the answer names an order number that is not the asker's")
    if _URL.search(EMAIL.sub(" ", text)) or _URL.search(EMAIL.sub(" ", raw)):
        found.append("guard: the answer contains a link or web address")
    offers = {m.group(0).lower() for m in _DISCOUNT.finditer(text)}
    if any(offer not in facts.lower() for offer in offers):
        found.append("guard: the answer offers a discount or coupon the shop's facts do not mention")
    return found
