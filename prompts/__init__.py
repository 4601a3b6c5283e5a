"""Prompt templates: one Jinja2 ``<task>.j2`` per task, versioned in its own first line.

``render(task, **ctx)`` returns chat messages (``[{"role": ..., "content": ...}]``) built from the
template's ``system`` and ``user`` blocks; ``version(task)`` returns the
``{#- version: ... -#}`` tag.
Templates use ``StrictUndefined`` (a missing key raises) and no autoescaping; context values are
inserted verbatim and never evaluated as template code.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_DIR = Path(__file__).resolve().parent
_VERSION_RE = re.compile(r"^\{#-?\s*version:\s*(\S+?)\s*-?#\}")
_DELIMITER_RE = re.compile(r"={2,}|</?\s*product\s*>", re.IGNORECASE)
ROLES = ("system", "user")
"""Template blocks that become chat messages, in this order (a missing block is skipped)."""


class PromptError(Exception):
    """A template is missing, unversioned or malformed."""


@lru_cache(maxsize=1)
def _env():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data"] = as_data
    env.globals["fail"] = _fail
    return env


def _fail(message: str) -> str:
    raise PromptError(message)


def as_data(value: object, limit: int = 600) -> str:
    """Format a product value as one line of inert data: whitespace collapsed, our delimiters
    removed (so supplier text cannot close the data block), long text cut at ``limit`` chars."""
    text = " ".join(_DELIMITER_RE.sub(" ", str(value)).split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return text


def _path(task: str) -> Path:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", task):
        raise PromptError(f"task: invalid name {task!r}")
    path = _DIR / f"{task}.j2"
    if not path.is_file():
        raise PromptError(f"task: no template {path.name}")
    return path


def version(task: str) -> str:
    """The version tag on the template's first line, e.g. ``product_copy/1``."""
    first = _path(task).read_text(encoding="utf-8").splitlines()[0]
    match = _VERSION_RE.match(first)
    if not match:
        raise PromptError(f"{task}.j2: first line must be '{{#- version: NAME/N -#}}'")
    return match.group(1)


def render(task: str, **ctx: object) -> list[dict]:
    """Render ``task``'s template into chat messages. Raises ``jinja2.UndefinedError`` on a
    missing context key."""
    _path(task)
    template = _env().get_template(f"{task}.j2")
    context = template.new_context(dict(ctx))
    messages = []
    for role in ROLES:
        block = template.blocks.get(role)
        if block is None:
            continue
        content = "".join(block(context)).strip()
        if content:
            messages.append({"role": role, "content": content})
    if not messages:
        raise PromptError(f"{task}.j2: renders no messages")
    return messages
