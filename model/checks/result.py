"""What every check returns, and the text helpers the checks share (blocks, sentences, visible text)."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

BLOCKS = frozenset({"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "caption", "blockquote", "div",
                    "dt", "dd"})
"""Elements whose text is read as a unit (a list item without a full stop is still its own sentence)."""


@dataclass
class CheckResult:
    """One check's verdict: `passed`, a problem per line for people, and `detail` for the worker's fixes.
    `fixed` lists what was repaired on the way (a check can pass after a repair: sanitised HTML)."""

    name: str
    passed: bool
    problems: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-serialisable, as stored in `Draft.checks["results"][name]`."""
        return {"passed": self.passed, "problems": list(self.problems),
                **({"fixed": list(self.fixed)} if self.fixed else {}), **self.detail}


class _Blocks(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks: list[list[str]] = [[]]

    def handle_starttag(self, tag, attrs):
        if tag in BLOCKS or tag == "br":
            self.blocks.append([])

    def handle_endtag(self, tag):
        if tag in BLOCKS:
            self.blocks.append([])

    def handle_data(self, data):
        self.blocks[-1].append(data)


_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]»”]))\s+")


def sentences(text: str) -> list[str]:
    """Sentences of plain text, split only where end punctuation meets a space ("1.299,00" and "4.5 cm"
    stay whole); a final fragment without punctuation is a sentence too."""
    return [part.strip() for part in _SPLIT.split(" ".join((text or "").split())) if part.strip()]


def blocks(markup: str) -> list[str]:
    """The text of each block of an HTML fragment (paragraph, list item, heading, cell), in order."""
    parser = _Blocks()
    parser.feed(markup or "")
    parser.close()
    texts = (" ".join("".join(parts).split()) for parts in parser.blocks)
    return [text for text in texts if text]


def field_sentences(name: str, value: str) -> list[str]:
    """A field's sentences; a description's blocks are split first, so a bullet is a sentence of its own."""
    if name == "description_html":
        return [s for block in blocks(value) for s in sentences(block)]
    text = " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", value or "")).split())
    return sentences(text) if name != "seo_title" else ([text] if text else [])


def visible_text(name: str, value: str) -> str:
    """What a shopper reads of a field, as one line (blocks joined by spaces)."""
    if name == "description_html":
        return " ".join(blocks(value))
    return " ".join(htmllib.unescape(re.sub(r"<[^>]+>", " ", value or "")).split())
