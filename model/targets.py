"""Training targets from human copy: HTML in, our four fields out, each grounded in what the prompt shows.

A description is read into blocks, ``("p", [sentence, ...])`` or ``("ul", [item, ...])``, so that
``ground_blocks`` can drop single sentences and bullets and keep the rest of the structure. Magento's
``&bull;`` lines joined by ``<br />`` become list items; headings, attributes and every tag but
p/ul/li/strong/em are dropped. The short description and the SEO description are the first sentences of
the (grounded) prose, the SEO description led by the product name; the SEO title is the product name. The
description target is written as the model should answer (``blocks_to_markdown``: paragraphs and ``-``
bullets), because the worker turns model output into HTML with ``parse.parse_description``, which strips
tags it is given.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping

from model import parse

Block = tuple[str, list[str]]
"""``("p", sentences)`` or ``("ul", items)``; text is plain (no markup) apart from strong/em tags."""
Checker = Callable[[Mapping, str], bool]
"""``checker(record_shown, text)`` → True when every claim of ``text`` is traceable to the record."""
SEO_TITLE_TARGET = 60
"""Characters for an SEO title target: the prompt asks for "under 60 characters"."""
SHORT_MAX = 320
"""Characters for a short description target (as ``parse.parse_short_description``)."""

_INLINE = {"strong": ("\x01", "\x02"), "em": ("\x03", "\x04"), "b": ("\x01", "\x02"), "i": ("\x03", "\x04")}
_HEADING = re.compile(r"<h[1-6][^>]*>.*?</h[1-6]\s*>", re.I | re.S)
_BREAK = re.compile(r"<\s*(?:br|/li|/ul|/ol|ul|ol)\b[^>]*>", re.I)
_PARA = re.compile(r"<\s*/?\s*(?:p|div)\b[^>]*>", re.I)
_LI = re.compile(r"<\s*li\b[^>]*>", re.I)
_INLINE_TAG = re.compile(r"<\s*(/?)\s*(strong|em|b|i)\b[^>]*>", re.I)
_ANY_TAG = re.compile(r"<[^>]*>")
_BULLET = re.compile(r"^\s*(?:[•\-*·]|\d{1,2}[.)])\s+|^\s*•")
_BOUNDARY = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’)\]]))(?<!approx\.)(?<!Approx\.)(?<!incl\.)(?<!e\.g\.)"
                       r"(?<!i\.e\.)(?<!vs\.)\s+(?=[\"“‘(\x01\x03]*[A-Z0-9])")
_LEAD_IN = re.compile(r"(?:^|(?<=\n))[ \t]*\x01([^\x02\n]{1,80})\x02")
"""A bold lead-in at the start of a paragraph ("<strong>Episode 1</strong>Creative ..."): a heading."""
_END = re.compile(r"[.!?][\"”’)\]\x02\x04]*$")


def _mark_inline(match: re.Match) -> str:
    opening, closing = _INLINE[match.group(2).lower()]
    return closing if match.group(1) else opening


def split_sentences(text: str) -> list[str]:
    """Sentences of one paragraph: split after ``.!?`` followed by a capital or digit, so "1.5 kg" and
    "approx. weight" stay whole."""
    return [s.strip() for s in _BOUNDARY.split(" ".join(text.split())) if s.strip()]


def blocks_from_html(markup: str) -> list[Block]:
    """Read a description (HTML or plain text) into paragraph and list blocks."""
    text = _HEADING.sub("\n\n", markup or "")
    text = _INLINE_TAG.sub(_mark_inline, text)
    text = _LI.sub("\n• ", _PARA.sub("\n\n", _BREAK.sub("\n", text)))
    text = _LEAD_IN.sub(lambda m: m[0] if _END.search(m[1]) else "\n\n", text)
    text = html.unescape(_ANY_TAG.sub(" ", text)).replace("\r", "")
    blocks: list[Block] = []
    for chunk in re.split(r"\n\s*\n", text):
        prose: list[str] = []
        for line in chunk.split("\n"):
            line = " ".join(line.split())
            if not line:
                continue
            if _BULLET.match(line):
                item = _BULLET.sub("", line).strip()
                if prose:
                    blocks.append(("p", split_sentences(" ".join(prose))))
                    prose = []
                if item:
                    if blocks and blocks[-1][0] == "ul":
                        blocks[-1][1].append(item)
                    else:
                        blocks.append(("ul", [item]))
            else:
                prose.append(line)
        if prose:
            blocks.append(("p", split_sentences(" ".join(prose))))
    return [(kind, items) for kind, items in _finished(blocks) if items]


def _kept(sentence: str) -> bool:
    """A finished sentence the worker's parser keeps (``parse.keep_sentences`` drops questions and short
    exclamations; a bold lead-in or heading-like fragment has no end punctuation)."""
    text = plain(sentence).rstrip("\"”’)] ")
    return bool(_END.search(sentence)) and not text.endswith("?") and not (
        text.endswith("!") and len(text.split()) <= 5)


def _finished(blocks: list[Block]) -> list[Block]:
    return [(k, [s for s in items if _kept(s)] if k == "p" else items) for k, items in blocks]


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    for tag, (opening, closing) in (("strong", _INLINE["strong"]), ("em", _INLINE["em"])):
        out = out.replace(opening, f"<{tag}>").replace(closing, f"</{tag}>")
    return out


def plain(text: str) -> str:
    """Text without the inline markers."""
    return re.sub(r"[\x01-\x04]", "", text)


def blocks_to_html(blocks: list[Block]) -> str:
    """Blocks as sanitised HTML: ``<p>`` per paragraph, ``<ul><li>`` per list."""
    parts = []
    for kind, items in blocks:
        if kind == "p" and items:
            parts.append(f"<p>{_inline_html(' '.join(items))}</p>")
        elif kind == "ul" and items:
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in items) + "</ul>")
    return parse.sanitize_html("".join(parts))


def _inline_markdown(text: str) -> str:
    return text.replace("\x01", "**").replace("\x02", "**").replace("\x03", "*").replace("\x04", "*")


def blocks_to_markdown(blocks: list[Block]) -> str:
    """Blocks as the text the model is trained to write: paragraphs separated by a blank line, list items
    as ``- item`` lines, ``**strong**``/``*em*``. ``parse.parse_description`` turns it into the same HTML
    as ``blocks_to_html`` (the worker parses model output that way, and would flatten HTML)."""
    parts = []
    for kind, items in blocks:
        if kind == "p" and items:
            parts.append(_inline_markdown(" ".join(items)))
        elif kind == "ul" and items:
            parts.append("\n".join(f"- {_inline_markdown(i)}" for i in items))
    return "\n\n".join(parts)


def prose_sentences(blocks: list[Block]) -> list[str]:
    return [plain(s) for kind, items in blocks if kind == "p" for s in items]


def bullet_details(blocks: list[Block]) -> str:
    """The list items as one line of facts (what a supplier feed looks like), or ``""``."""
    items = [plain(i).strip() for kind, items in blocks if kind == "ul" for i in items]
    return " ".join(i if _END.search(i) else f"{i}." for i in items if i)


def short_target(sentences: list[str]) -> str:
    """One or two sentences that sum up the product."""
    if not sentences:
        return ""
    text = sentences[0]
    if len(sentences) > 1 and len(text.split()) < 22 and len(f"{text} {sentences[1]}") <= 240:
        text = f"{text} {sentences[1]}"
    return parse.cut_words(text, SHORT_MAX)


def seo_description_target(sentences: list[str], name: str = "") -> str:
    """Whole leading sentences within 160 characters; a first sentence longer than that is cut at a
    word boundary. With ``name``, the snippet leads with the product's name ("Name: sentence.") unless the
    first sentence already says it: a search snippet should name what it describes, and a copy that names
    the product is also the one the worker keeps (``model.copy`` replaces output that does not)."""
    name = " ".join(name.split())
    lead = f"{name}:" if name and sentences and name.lower() not in sentences[0].lower() else ""
    fitted = lead
    for sentence in sentences:
        candidate = f"{fitted} {sentence}".strip()
        if len(candidate) > parse.SEO_DESCRIPTION_MAX:
            break
        fitted = candidate
    if fitted and fitted != lead:
        return fitted
    return parse.cut_words(f"{lead} {sentences[0]}".strip(), parse.SEO_DESCRIPTION_MAX) if sentences else ""


def seo_title_target(title: str, category: str, with_category: bool) -> str:
    """The product name, or "Name – Category" when asked for and it fits."""
    name = " ".join(title.split())
    if with_category and category and category.lower() not in name.lower():
        combined = f"{name} – {' '.join(category.split())}"
        if len(combined) <= SEO_TITLE_TARGET:
            return combined
    return parse.cut_words(name, parse.SEO_TITLE_MAX).rstrip(". ")


def grounding_checker() -> Checker | None:
    """``model.grounding`` as a Checker, or None while that module is not there."""
    try:
        from model import grounding
    except ImportError:
        return None

    def supported(record: Mapping, text: str) -> bool:
        return not grounding.unsupported(grounding.check(dict(record), text))

    return supported


def ground_blocks(record: Mapping, blocks: list[Block], checker: Checker | None) -> tuple[list[Block], int]:
    """Drop the sentences and bullets whose claims ``checker`` cannot trace to ``record``; returns the
    kept blocks (empty ones removed) and how many units were dropped."""
    if checker is None:
        return blocks, 0
    kept: list[Block] = []
    dropped = 0
    for kind, items in blocks:
        survivors = [i for i in items if checker(record, plain(i))]
        dropped += len(items) - len(survivors)
        if survivors:
            kept.append((kind, survivors))
    return kept, dropped


def ground_target(record_shown: Mapping, target: str, *, checker: Checker | None = None) -> str:
    """``target`` (HTML or plain text) without the sentences/bullets the grounding measure cannot trace to
    ``record_shown``; HTML stays HTML with its structure, plain text stays plain."""
    checker = checker or grounding_checker()
    if re.search(r"<\s*(p|ul|li)\b", target or "", re.I):
        blocks, _ = ground_blocks(record_shown, blocks_from_html(target), checker)
        return blocks_to_html(blocks)
    blocks, _ = ground_blocks(record_shown, [("p", split_sentences(target or ""))], checker)
    return " ".join(i for _, items in blocks for i in items)
