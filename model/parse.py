"""Turn raw model output into publishable copy fields, defensively.

Small models wrap answers in chat artefacts, preambles ("Here's a description:"), labels, quotes and
markdown, run past length limits and stop mid-sentence. Each ``parse_*`` function returns clean text
(or sanitised HTML for the description), or ``""`` when nothing usable is left.
"""

from __future__ import annotations

import html
import re

SEO_TITLE_MAX = 70
"""Characters allowed in an SEO title."""
SEO_DESCRIPTION_MAX = 160
"""Characters allowed in an SEO meta description."""
ALLOWED_TAGS = frozenset({"p", "ul", "ol", "li", "strong", "em", "br", "h3", "h4"})
"""HTML tags kept in description_html; every attribute and link is removed."""

_SPECIAL = re.compile(r"<\|[^|>]{1,30}\|>")
_ROLE_LINE = re.compile(r"^\s*(assistant|user|system)\s*:?\s*$", re.I | re.M)
_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|okay|of course)\b[^\n]*?[.!:]\s*)?"
    r"(?:here(?:'s| is| are)\b[^\n]*?(?::\s*|[!.]\s*(?:\n|$)))?",
    re.I,
)
_LABEL = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(?:(?:product|seo|meta|page|short|long)\s+)*"
    r"(?:description|title|summary|sentence|name|meta description|copy|text)\s*"
    r"(?:\(\s*[^)]{0,30}\))?\s*(?:\*\*)?\s*[:\-–]\s*(?:\*\*)?\s*",
    re.I,
)
_DATA_ECHO = re.compile(
    r"^\s*(?:product data|name|category|brand|options|keywords|details|sku|price)\s*:", re.I
)
_CHATTY = re.compile(
    r"\b(?:I hope|let me know|feel free|as an ai|I'm here to help|happy to help|"
    r"I'd (?:love|be happy)|do you (?:want|need)|would you like|thank you for|please (?:ensure|"
    r"note)|this product detail|(?:you|we) can also add|on amazon|good luck)\b",
    re.I,
)
_SCRIPT = re.compile(r"<(script|style)\b.*?(?:</\1\s*>|$)", re.I | re.S)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")
_HAS_SENTENCE = re.compile(r"\w[.!?][\"')\]]*(?:\s|$)")
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"')\]]*|$)")
_BULLET = re.compile(r"^\s*(?:[-*•+]|\d{1,2}[.)])\s+")
_TAIL_JUNK = re.compile(r"[\s,;:\-–—/|&(\[{'\"]+$")
_DANGLING = re.compile(
    r"\s+(?:and|or|with|for|to|of|the|a|an|in|on|by|your|our|from|at|as|that|is|are)$", re.I
)


def clean(raw: str) -> str:
    """Strip chat artefacts, a leading preamble, labels, echoed product data, separators and
    wrapping quotes; keep line structure (for lists)."""
    text = _SPECIAL.sub("", raw or "").replace("\r", "")
    text = _TAG.sub("", _SCRIPT.sub("", text))
    text = _ROLE_LINE.sub("", text)
    text = _PREAMBLE.sub("", text, count=1)
    lines = []
    for line in text.split("\n"):
        if _DATA_ECHO.match(line) or re.fullmatch(r"\s*(?:-{3,}|={3,}|\*{3,}|_{3,})\s*", line):
            continue
        lines.append(_unquote(_LABEL.sub("", line, count=1).strip()))
    return _unquote("\n".join(lines).strip())


def prose(text: str) -> str:
    """Keep the lines that end like sentences (drops title lines and fragments) as one string."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    finished = [ln for ln in lines if _HAS_SENTENCE.search(strip_markdown(ln))]
    return " ".join(finished or lines)


def _unquote(text: str) -> str:
    pairs = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»"}
    while len(text) >= 2 and text[0] in pairs and text[-1] == pairs[text[0]]:
        text = text[1:-1].strip()
    if text[:1] in pairs:  # a quoted lead followed by more text, or an unclosed quote
        end = text.find(pairs[text[0]], 1)
        text = (text[1:] if end < 0 else text[1:end] + text[end + 1 :]).strip()
    return text


def strip_markdown(text: str) -> str:
    """Remove inline/heading markdown and bullets, leaving plain text on one line."""
    text = re.sub(r"^\s*#+\s*", "", text, flags=re.M)
    text = _BULLET.sub("", text) if "\n" not in text else "\n".join(
        _BULLET.sub("", line) for line in text.split("\n")
    )
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"(?<!\w)[*_]([^*_\n]+)[*_](?!\w)", r"\1", text)
    return " ".join(text.split())


def sentences(text: str) -> list[str]:
    """Split plain text into sentences; a final fragment without end punctuation is kept last."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _complete(sentence: str) -> bool:
    return bool(re.search(r"[.!?][\"')\]]*$", sentence))


def has_sentence(text: str) -> bool:
    """True when ``text`` holds at least one finished sentence."""
    return bool(_HAS_SENTENCE.search(text))


def keep_sentences(text: str, max_sentences: int | None = None) -> str:
    """Drop chatty sentences and a trailing unfinished one (if a finished one exists)."""
    parts = [s for s in sentences(text) if not _CHATTY.search(s) and not s.endswith("?")
             and not (s.endswith("!") and len(s.split()) <= 5)]  # "What a find!" lead-ins
    if len(parts) > 1 or (parts and max_sentences == 1):
        finished = [s for s in parts if _complete(s)]
        parts = finished or parts
    if max_sentences:
        parts = parts[:max_sentences]
    return " ".join(parts)


def cut_words(text: str, limit: int) -> str:
    """Cut ``text`` to ≤ ``limit`` chars at a word boundary, without trailing fragments."""
    text = " ".join(text.split())
    if len(text) > limit:
        head = text[: limit + 1]
        text = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
        text = text[:limit]
        while True:
            shorter = _DANGLING.sub("", _TAIL_JUNK.sub("", text))
            if shorter == text:
                break
            text = shorter
    return _TAIL_JUNK.sub("", text) if text[-1:] in ",;:-–—/|&([{'\"" else text


def parse_seo_title(raw: str) -> str:
    """One line, no label/quotes/markdown/lead-in question, ≤ 70 chars, no trailing period."""
    first = next((ln for ln in clean(raw).split("\n") if ln.strip()), "")
    text = _unquote(strip_markdown(_LABEL.sub("", first)))
    parts = [p for p in sentences(text) if not p.endswith(("?", "!")) and not _CHATTY.search(p)]
    if len(parts) > 1 and len(text) > SEO_TITLE_MAX:  # several sentences: keep the first
        parts = parts[:1]
    text = _unquote(" ".join(parts))
    return cut_words(text, SEO_TITLE_MAX).rstrip(". ")


def parse_seo_description(raw: str) -> str:
    """Plain text, whole sentences where possible, ≤ 160 chars at a word boundary."""
    text = keep_sentences(strip_markdown(prose(clean(raw))))
    if len(text) > SEO_DESCRIPTION_MAX:
        fitted = ""
        for sentence in sentences(text):
            if len(f"{fitted} {sentence}".strip()) > SEO_DESCRIPTION_MAX:
                break
            fitted = f"{fitted} {sentence}".strip()
        text = fitted or cut_words(text, SEO_DESCRIPTION_MAX)
    return text


def parse_short_description(raw: str, max_chars: int = 320) -> str:
    """One or two finished sentences of plain text."""
    text = keep_sentences(strip_markdown(prose(clean(raw))), max_sentences=2)
    if len(text) > max_chars:
        text = keep_sentences(text, max_sentences=1)
    return cut_words(text, max_chars)


def _inline(text: str) -> str:
    text = html.escape(" ".join(text.split()), quote=False)
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: f"<strong>{m[1] or m[2]}</strong>", text)
    return re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<em>\1</em>", text)


def parse_description(raw: str, max_words: int = 250) -> str:
    """Markdown-ish text → sanitised HTML: paragraphs, lists (``-``/``1.``) and ``#`` headings."""
    blocks: list[str] = []
    items: list[str] = []
    list_tag = "ul"
    paragraph: list[str] = []

    def flush(lead_in: bool = False) -> None:
        nonlocal items, paragraph
        if paragraph:
            body = keep_sentences(" ".join(paragraph))
            if body and _HAS_SENTENCE.search(body):
                blocks.append(f"<p>{_inline(body)}</p>")
            elif body and lead_in and len(body.split()) <= 8:  # a short lead-in to a list
                blocks.append(f"<h4>{_inline(body.rstrip(':'))}</h4>")
            paragraph = []
        if items:
            blocks.append(f"<{list_tag}>" + "".join(f"<li>{_inline(i)}</li>" for i in items)
                          + f"</{list_tag}>")
            items = []

    words = 0
    for line in clean(raw).split("\n"):
        if words >= max_words:
            break
        stripped = line.strip()
        words += len(stripped.split())
        if not stripped:
            flush()
        elif _BULLET.match(stripped):
            if paragraph or (items and list_tag != ("ol" if stripped[0].isdigit() else "ul")):
                flush(lead_in=True)
            list_tag = "ol" if stripped[0].isdigit() else "ul"
            item = _BULLET.sub("", stripped)
            if not _CHATTY.search(item):
                items.append(item)
        elif stripped.startswith("#"):
            flush()
            blocks.append(f"<h3>{_inline(stripped.lstrip('#').strip())}</h3>")
        else:
            if items:
                flush()
            paragraph.append(stripped)
    flush()
    while blocks and blocks[-1].startswith("<h3>"):  # a heading with nothing under it
        blocks.pop()
    return sanitize_html("".join(blocks))


def sanitize_html(markup: str) -> str:
    """Keep only ``ALLOWED_TAGS`` with no attributes; drop script/style content and comments."""
    import nh3

    return nh3.clean(markup, tags=set(ALLOWED_TAGS), attributes={}, link_rel=None,
                     strip_comments=True).strip()


def html_text(markup: str) -> str:
    """Visible text of sanitised HTML (for word counts and checks)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
