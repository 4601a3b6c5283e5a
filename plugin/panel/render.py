"""Showing copy safely: sanitised HTML previews and word diffs.

Store copy and model output are untrusted. Previews go through nh3 with a small allowlist (no scripts,
styles, event attributes or frames; links and images only over http(s)), and diffs are built from
escaped words, so nothing a product title or the model writes can run in a reviewer's browser.
"""

from __future__ import annotations

import difflib
import re
from urllib.parse import urlsplit

import nh3
from markupsafe import Markup, escape

from model.checks.html import VIDEO_HOSTS
from plugin.platforms.base import html_to_text

TAGS = {"p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "u", "h2", "h3", "h4", "h5", "blockquote",
        "a", "img", "table", "thead", "tbody", "tr", "th", "td", "span", "div"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"},
              "th": {"colspan", "rowspan"}}
STORED_TAGS = TAGS | {"video", "source", "iframe", "caption", "tfoot", "colgroup", "col"}
"""What a staff edit may keep beyond the preview's tags: the media the checks carried over from the
original description (videos, and embeds from the video hosts of model/checks/html.py), so that editing
a description never drops them."""
STORED_ATTRIBUTES = {**ATTRIBUTES,
                     "video": {"src", "poster", "controls", "width", "height", "muted", "loop", "playsinline"},
                     "source": {"src", "type"},
                     "iframe": {"src", "width", "height", "title", "allow", "allowfullscreen", "frameborder"}}
_WORD = re.compile(r"\S+|\s+")


def _embed_filter(tag: str, attr: str, value: str) -> str | None:
    if tag == "iframe" and attr == "src":
        parts = urlsplit(value)
        return value if parts.scheme == "https" and parts.hostname in VIDEO_HOSTS else None
    return value


def clean_html(html: str) -> str:
    """The allowlisted subset of an HTML fragment; what staff edits are stored as. Frames survive only as
    https embeds from the known video hosts (an iframe without such a src is emptied of it)."""
    return nh3.clean(html or "", tags=STORED_TAGS, attributes=STORED_ATTRIBUTES, url_schemes={"http", "https"},
                     link_rel="noopener noreferrer nofollow", attribute_filter=_embed_filter)


def preview(html: str) -> Markup:
    """What the panel shows: the preview allowlist, no frames or videos."""
    clean = nh3.clean(html or "", tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https"},
                      link_rel="noopener noreferrer nofollow")
    return Markup(clean)  # noqa: S704 - sanitised by nh3 just above


def field_text(name: str, value: str) -> str:
    return html_to_text(value) if name == "description_html" else (value or "")


def word_diff(before: str, after: str) -> Markup:
    """Word-level diff of two texts as escaped HTML with <del> and <ins>."""
    old, new = _WORD.findall(before or ""), _WORD.findall(after or "")
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(str(escape("".join(old[i1:i2]))))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(''.join(old[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{escape(''.join(new[j1:j2]))}</ins>")
    return Markup("".join(out))  # noqa: S704 - every piece escaped above
