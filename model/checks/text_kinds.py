"""Grounding for the plain-text kinds of draft (order follow-ups, answers, campaign copy).

Their input snapshot names the facts they may use: ``{"title": ..., "products": [product snapshots],
"policies": {"shipping": text, "returns": text, "warranty": text}}``. Every product's own data and every
policy the shop wrote become one record for the grounding measure, so a claim in the text is supported
when any product bought, asked about or promoted, or any policy, says it. Pure Python: no torch, no Flask.
"""

from __future__ import annotations

from collections.abc import Mapping

from model.checks import check_grounding, record_of, with_grounding
from model.checks.result import CheckResult

POLICY_NAMES = ("shipping", "returns", "warranty")


def facts_record(snapshot: Mapping) -> dict:
    """One product record holding the facts of every product in the snapshot and the shop's policies."""
    records = [record_of(p) for p in snapshot.get("products") or []]
    attributes: dict[str, str] = {}
    for i, record in enumerate(records):
        for name, value in record["attributes"].items():
            attributes[name if name not in attributes else f"{name} ({i + 1})"] = value
    policies = snapshot.get("policies") or {}
    texts = [r["description"] for r in records if r["description"]]
    texts += [str(policies[name]) for name in POLICY_NAMES if policies.get(name)]
    return {"id": str(snapshot.get("id", "")), "title": " / ".join(r["title"] for r in records if r["title"]),
            "category": " / ".join(sorted({r["category"] for r in records if r["category"]})),
            "vendor": " / ".join(sorted({r["vendor"] for r in records if r["vendor"]})),
            "tags": [t for r in records for t in r["tags"]], "attributes": attributes,
            "variants": [v for r in records for v in r["variants"]], "description": "\n\n".join(texts)}


def check(snapshot: Mapping, fields: Mapping[str, str]) -> tuple[CheckResult, list[dict]]:
    """The `grounding` result and every claim (field named) of `fields` against the snapshot's facts."""
    return check_grounding(facts_record(snapshot), {k: str(v) for k, v in fields.items()})


def recheck(checks: Mapping, snapshot: Mapping, fields: Mapping[str, str]) -> dict:
    """`checks` made again for edited `fields`: acceptances kept, claims and the grounding flags redone."""
    return with_grounding(checks, *check(snapshot, fields))
