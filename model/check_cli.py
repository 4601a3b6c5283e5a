"""`copydesk check PRODUCT.json COPY`: the factual claims of a piece of copy, each checked against the product.

    copydesk check product.json draft.html
    copydesk check product.json - < draft.txt
    copydesk check product.json --text "Made from 100% linen."

Prints ``{"claims": [...], "unsupported": N, "supported": M}`` (JSON) on standard output. Exit status: 0 when
every claim is supported, 1 when any is not, 2 on bad input (message on standard error).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class _BadInput(Exception):
    """Input the command cannot use; the message says why."""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `check` subcommand on ``sub`` (the result of ``parser.add_subparsers()``)."""
    parser = sub.add_parser("check", help="list the factual claims in copy and whether the product data supports each",
                            description=__doc__.splitlines()[0])
    parser.add_argument("product", help="JSON file holding one product record (a one-line JSONL file works too)")
    parser.add_argument("copy", nargs="?", help="file with the copy (HTML or text), or - for standard input")
    parser.add_argument("--text", help="the copy itself, instead of COPY")
    return parser


def _load_product(path: str) -> dict:
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise _BadInput(f"cannot read product file {path}: {exc.strerror or exc}") from exc
    try:
        product = json.loads(raw)
    except json.JSONDecodeError:
        lines = [line for line in raw.splitlines() if line.strip()]
        try:
            product = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError as exc:
            raise _BadInput(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(product, dict):
        raise _BadInput(f"{path} must hold one product record (a JSON object)")
    if not str(product.get("title") or "").strip():
        raise _BadInput(f"the product in {path} has no title")
    return product


def _load_copy(args: argparse.Namespace) -> str:
    if args.text is not None and args.copy is not None:
        raise _BadInput("give the copy either as COPY or with --text, not both")
    if args.text is not None:
        return args.text
    if args.copy is None:
        raise _BadInput("no copy: give a file, - for standard input, or --text")
    if args.copy == "-":
        return sys.stdin.read()
    try:
        return Path(args.copy).read_text(encoding="utf-8")
    except OSError as exc:
        raise _BadInput(f"cannot read copy file {args.copy}: {exc.strerror or exc}") from exc


def run(args: argparse.Namespace) -> int:
    """Check the copy against the product; print the JSON report. 0: all supported, 1: some not, 2: bad input."""
    from model.grounding import check, unsupported

    try:
        product, copy = _load_product(args.product), _load_copy(args)
    except _BadInput as exc:
        print(f"copydesk check: {exc}", file=sys.stderr)
        return 2
    claims = check(product, copy)
    flagged = len(unsupported(claims))
    report = {"claims": [c.to_dict() for c in claims], "unsupported": flagged, "supported": len(claims) - flagged}
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 1 if flagged else 0
