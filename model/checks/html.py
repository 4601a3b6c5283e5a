"""Description HTML that is safe, flat enough for any theme, and keeps the original's media.

The model's HTML goes through an nh3 allowlist (paragraphs, lists, emphasis, h3/h4, line breaks; links
only when the shop allows them, http(s) with ``rel="noopener nofollow"``), then a normaliser that leaves
the flat structure every theme styles: top-level paragraphs, headings and one level of lists, inline
markup only inside them, no empty elements.

Media are carried over from the product's original description, in their order, first or last:
images (http(s) ``src``), videos (``<video>`` with its ``<source>``s) and tables (cells keep their text
markup), plus ``<iframe>`` embeds from known video hosts (YouTube, Vimeo), because that is how store
editors embed a video; any other frame is dropped. Media never come from the model: an ``<img>`` in its
output is removed. Scripts, styles, event attributes and ``javascript:`` URLs never survive either path.
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

from model.checks.result import CheckResult

TEXT_TAGS = frozenset({"p", "ul", "ol", "li", "strong", "em", "br", "h3", "h4"})
"""What generated copy may contain (plus ``a`` when the shop allows links)."""
VIDEO_HOSTS = frozenset({"www.youtube.com", "youtube.com", "www.youtube-nocookie.com", "player.vimeo.com"})
"""Hosts whose https embeds are carried over as videos; any other iframe is dropped."""
MEDIA_POSITIONS = ("first", "last")
_TABLE_TAGS = {"table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "colgroup", "col"}
_MEDIA_TAGS = _TABLE_TAGS | {"img", "video", "source", "iframe", "p", "br", "strong", "em", "b", "i", "ul", "ol", "li"}
_MEDIA_ATTRIBUTES = {
    "img": {"src", "alt", "width", "height", "title"},
    "video": {"src", "poster", "controls", "width", "height", "muted", "loop", "playsinline", "preload"},
    "source": {"src", "type"},
    "iframe": {"src", "width", "height", "title", "allow", "allowfullscreen", "frameborder"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"}, "col": {"span"}, "colgroup": {"span"},
}
_MEDIA = re.compile(r"<(/?)(table|video|iframe)\b[^>]*>|<img\b[^>]*>", re.I)
_BLOCK, _INLINE, _LIST = {"p", "h3", "h4"}, {"strong", "em", "a"}, {"ul", "ol"}
_RENAME = ((re.compile(r"<(/?)h[12]\b[^>]*>", re.I), "h3"), (re.compile(r"<(/?)h[56]\b[^>]*>", re.I), "h4"),
           (re.compile(r"<(/?)(?:div|section|article|blockquote|header|footer|figure|figcaption|pre)\b[^>]*>",
                       re.I), "p"))
"""Headings too high for copy become h3, too low h4; other block containers become paragraphs."""
_VOID = {"br", "img", "col", "source", "area", "hr", "input", "meta", "link", "wbr", "embed"}
_HOSTILE = (
    (re.compile(r"<script\b", re.I), "a script"), (re.compile(r"<style\b", re.I), "a style block"),
    (re.compile(r"<[^>]*\son[a-z]+\s*=", re.I), "an event attribute"),
    (re.compile(r"\sstyle\s*=", re.I), "inline styles"), (re.compile(r"javascript:", re.I), "a javascript: URL"),
    (re.compile(r"<iframe\b", re.I), "a frame"), (re.compile(r"<(?:object|embed|form|input)\b", re.I), "an embed"),
    (re.compile(r"<img\b", re.I), "an image the original description did not have"),
    (re.compile(r"<h[12]\b", re.I), "a top-level heading"),
)


def _media_attribute(tag: str, attr: str, value: str) -> str | None:
    if tag == "iframe" and attr == "src":
        parts = urlsplit(value)
        return value if parts.scheme == "https" and parts.hostname in VIDEO_HOSTS else None
    return value


def media_items(original_html: str) -> list[str]:
    """The original description's images, videos, tables and video embeds, sanitised, in order."""
    import nh3

    clean = nh3.clean(original_html or "", tags=_MEDIA_TAGS, attributes=_MEDIA_ATTRIBUTES,
                      url_schemes={"http", "https"}, attribute_filter=_media_attribute, link_rel=None,
                      strip_comments=True)
    items, start, kind, depth = [], 0, "", 0
    for match in _MEDIA.finditer(clean):
        closing, tag = match.group(1), (match.group(2) or "img").lower()
        if not kind:
            if tag == "img" and " src=" in match.group(0):
                items.append(f"<p>{match.group(0)}</p>")
            elif tag != "img" and not closing:
                start, kind, depth = match.start(), tag, 1
        elif tag == kind:
            depth += -1 if closing else 1
            if depth == 0:
                element = clean[start:match.end()]
                if kind == "table" or " src=" in element:  # a video or frame without a source shows nothing
                    items.append(element)
                kind = ""
    return items


def sanitise(markup: str, *, allow_links: bool = False) -> str:
    """The allowlisted text markup of generated copy, normalised (see `normalise`)."""
    import nh3

    tags = set(TEXT_TAGS) | ({"a"} if allow_links else set())
    for pattern, tag in _RENAME:  # block elements outside the allowlist keep their boundary
        markup = pattern.sub(lambda m, tag=tag: f"<{m.group(1)}{tag}>", markup or "")
    clean = nh3.clean(markup or "", tags=tags, attributes={"a": {"href"}} if allow_links else {},
                      url_schemes={"http", "https"}, link_rel="noopener nofollow" if allow_links else None,
                      strip_comments=True)
    return normalise(clean)


class _Flat(HTMLParser):
    """Rebuilds allowlisted markup with the content model themes expect (see the module docstring)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.nested = 0
        """Lists opened inside a list: skipped, their items join the outer list."""

    def _close_to(self, keep: int) -> None:
        while len(self.stack) > keep:
            self.out.append(f"</{self.stack.pop()}>")

    def _open(self, tag: str, attrs: str = "") -> None:
        self.out.append(f"<{tag}{attrs}>")
        self.stack.append(tag)

    def _in(self, *tags: str) -> bool:
        return any(t in self.stack for t in tags)

    def handle_starttag(self, tag, attrs):
        if tag in _BLOCK:
            if self._in("li"):
                return  # a paragraph or heading inside a list item: its text stays in the item
            self._close_to(0)
            self._open(tag)
        elif tag in _LIST:
            if self._in(*_LIST):
                self.nested += 1
            else:
                self._close_to(0)
                self._open(tag)
        elif tag == "li":
            if not self._in(*_LIST):
                self._close_to(0)
                self._open("ul")
            self._close_to(next(i for i, t in enumerate(self.stack) if t in _LIST) + 1)
            self._open("li")
        elif tag in _INLINE:
            self._text_context()
            attr = "".join(f' {k}="{htmllib.escape(v or "")}"' for k, v in attrs if tag == "a")
            self._open(tag, attr)
        elif tag == "br" and self._in("p", "li", "h3", "h4"):
            self.out.append("<br>")

    def _text_context(self) -> None:
        if not self.stack:
            self._open("p")
        elif self.stack[-1] in _LIST:
            self._open("li")

    def handle_endtag(self, tag):
        if tag in _LIST and self.nested:
            self.nested -= 1
        elif tag in self.stack:
            self._close_to(len(self.stack) - 1 - self.stack[::-1].index(tag))

    def handle_data(self, data):
        if not data.strip() and (not self.stack or self.stack[-1] in _LIST):
            return
        self._text_context()
        if self.out and self.out[-1] in ("<p>", "<li>", "<h3>", "<h4>"):
            data = data.lstrip()
        self.out.append(htmllib.escape(data, quote=False))


def normalise(markup: str) -> str:
    """Flat, balanced markup: inline text wrapped in paragraphs, block elements never inside inline ones or
    list items, one level of lists, and no empty elements."""
    parser = _Flat()
    parser.feed(markup or "")
    parser.close()
    parser._close_to(0)
    out = "".join(parser.out)
    empty = re.compile(r"<(p|li|ul|ol|h3|h4|strong|em|a)\b[^>]*>(?:\s|<br>)*</\1>")
    while empty.search(out):
        out = empty.sub("", out)
    return out.strip()


class _Balance(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        if tag not in self.stack:
            self.problems.append(f"a stray </{tag}>")
            return
        while self.stack[-1] != tag:
            self.problems.append(f"<{self.stack.pop()}> closed out of order")
        self.stack.pop()


def structure_problems(markup: str) -> list[str]:
    """Unclosed, stray and misnested tags, and nesting a theme cannot style, in a fragment as written."""
    parser = _Balance()
    parser.feed(markup or "")
    parser.close()
    problems = parser.problems + [f"an unclosed <{tag}>" for tag in parser.stack]
    if re.search(r"<(?:strong|em|b|i|a|span)\b[^>]*>(?:(?!</(?:strong|em|b|i|a|span)>).)*<(?:p|ul|ol|h\d|div)\b",
                 markup or "", re.I | re.S):
        problems.append("a block inside inline markup")
    if re.search(r"<li\b[^>]*>(?:(?!</li>).)*<(?:ul|ol|p|h\d)\b", markup or "", re.I | re.S):
        problems.append("lists or paragraphs nested in a list item")
    return list(dict.fromkeys(problems))


def check(generated_html: str, original_html: str = "", *, media_position: str = "last",
          allow_links: bool = False) -> tuple[str, CheckResult]:
    """The description to publish, and the `html` result: what was removed or repaired, and the media
    carried over. It fails only if the result is still unbalanced or lost a medium (neither should
    happen); repairs are listed in `fixed`."""
    if media_position not in MEDIA_POSITIONS:
        raise ValueError(f"media_position must be one of {MEDIA_POSITIONS}, not {media_position!r}")
    text = sanitise(generated_html, allow_links=allow_links)
    fixed = [f"removed {why}" for pattern, why in _HOSTILE if pattern.search(generated_html or "")]
    if not allow_links and re.search(r"<a\b", generated_html or "", re.I):
        fixed.append("removed links (the shop does not allow them)")
    fixed += [f"repaired {p}" for p in structure_problems(generated_html)]
    media = media_items(original_html)
    final = "".join(media + [text] if media_position == "first" else [text] + media)
    problems = structure_problems(final) + [f"lost {item[:60]}" for item in media if item not in final]
    detail = {"media": len(media), "media_position": media_position} if media else {}
    return final, CheckResult("html", not problems, problems, detail, fixed)


def text_part(description_html: str, original_html: str = "") -> str:
    """A published description without the media carried over from the original (for the text checks)."""
    out = description_html or ""
    for item in media_items(original_html):
        out = out.replace(item, "", 1)
    return out
