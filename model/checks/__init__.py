"""The checks every product-copy draft passes before anyone sees it, and whether it may auto-publish.

    report = run_checks(product, fields, settings=shop_settings, others=other_descriptions,
                        original_html=product_description_html)
    report.fields        # the copy to store: sanitised HTML with the original's media carried over
    report.passed        # every check passed: the draft may be published without a person
    report.to_dict()     # JSON for Draft.checks: results per check, claims, flags

Checks (each a `CheckResult` in `report.results`):

* ``grounding`` — every claim (numbers, sizes, materials, colours, certifications, promises) traced to
  the product's data by `model.grounding`; an unsupported claim fails it.
* ``html`` — the description through an allowlist and a flat structure, with the original's images,
  videos and tables carried over (`model.checks.html`); repairs are listed, it fails only if they could not
  make the result sound.
* ``language`` — each long field identified (`model.checks.language`); another language fails it.
* ``sameness`` — the description against the shop's other descriptions (`model.checks.sameness`).
* ``rules`` — banned words (the shop's and default empty superlatives), SEO lengths, template leakage,
  prices and discounts not in the data (`model.checks.rules`).

Pure Python: no Flask, no torch; heavy libraries (nh3, py3langid) are imported when first used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from model.checks import html, language, rules, sameness
from model.checks.result import CheckResult
from model.checks.sameness import Other

CHECKS = ("grounding", "html", "language", "sameness", "rules")
"""Every check, in the order they run and are shown."""


@dataclass
class CheckReport:
    """The checks' results over one draft's fields."""

    fields: dict[str, str]
    results: dict[str, CheckResult]
    claims: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results.values())

    @property
    def failed(self) -> list[str]:
        return [name for name in CHECKS if name in self.results and not self.results[name].passed]

    @property
    def unsupported(self) -> list[dict]:
        return [c for c in self.claims if not c.get("supported")]

    @property
    def flags(self) -> list[str]:
        """One line per problem a person must know of, check by check."""
        return [f"{name}: {problem}" for name in self.failed for problem in self.results[name].problems]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "flags": self.flags, "claims": list(self.claims),
                "results": {name: self.results[name].to_dict() for name in CHECKS if name in self.results}}


def check_grounding(product: Mapping, fields: Mapping[str, str]) -> tuple[CheckResult, list[dict]]:
    """Every field's claims (with the field named), and the `grounding` result."""
    from model import grounding

    claims = [{**claim.to_dict(), "field": name} for name, value in fields.items() if value
              for claim in grounding.check(product, value)]
    bad = [c for c in claims if not c["supported"]]
    problems = [f"{c['field']}: “{c['text']}” ({c['kind']}) is not in the product data" for c in bad]
    kinds = sorted({c["kind"] for c in bad})
    return CheckResult("grounding", not bad, problems, {"claims": len(claims), "unsupported": len(bad),
                                                        **({"kinds": kinds} if kinds else {})}), claims


def run_checks(product: Mapping, fields: Mapping[str, str], *, settings: Mapping, others: Sequence[Other] = (),
               original_html: str = "") -> CheckReport:
    """Run every check over `fields` (the four copy fields; the description as generated) for `product` (a
    record as `Product.record()` gives it), with the shop's effective `settings`, the shop's `others`
    descriptions, and the product's `original_html` description (media to carry over)."""
    final = dict(fields)
    description, html_result = html.check(fields.get("description_html", ""), original_html,
                                          media_position=str(settings.get("media_position", "last")),
                                          allow_links=bool(settings.get("allow_links", False)))
    final["description_html"] = description
    text_fields = {**final, "description_html": html.text_part(description, original_html)}
    grounding_result, claims = check_grounding(product, text_fields)
    results = {
        "grounding": grounding_result,
        "html": html_result,
        "language": language.check(product, text_fields, str(settings.get("language", "en"))),
        "sameness": sameness.check(product, sameness_text(text_fields), others),
        "rules": rules.check(product, text_fields, banned=settings.get("banned_words") or (),
                             use_defaults=bool(settings.get("banned_defaults", True))),
    }
    return CheckReport(final, results, claims)


def record_of(snapshot: Mapping) -> dict:
    """A product record (`Product.record()`'s shape) from a draft's input snapshot (`Product.snapshot()`)."""
    from model.checks.result import visible_text

    return {"id": str(snapshot.get("id", "")), "title": str(snapshot.get("title", "")),
            "category": str(snapshot.get("category", "")), "vendor": str(snapshot.get("vendor", "")),
            "tags": list(snapshot.get("tags") or []), "attributes": dict(snapshot.get("attributes") or {}),
            "variants": [dict(v) for v in snapshot.get("variants") or []],
            "description": visible_text("description_html", str(snapshot.get("description_html", "")))}


def recheck_grounding(checks: Mapping, snapshot: Mapping, fields: Mapping[str, str]) -> dict:
    """`checks` (a draft's) with its claims, grounding result and flags made again for edited `fields`: a
    claim a person edited out needs no acceptance, one they wrote in does. Acceptances are kept."""
    original = str(snapshot.get("description_html", ""))
    text_fields = {**fields, "description_html": html.text_part(fields.get("description_html", ""), original)}
    return with_grounding(checks, *check_grounding(record_of(snapshot), text_fields))


def with_grounding(checks: Mapping, result: CheckResult, claims: list[dict]) -> dict:
    """`checks` with a new grounding result and claims: flags and the verdict redone, acceptances kept."""
    updated = dict(checks)
    results = {**(updated.get("results") or {}), "grounding": result.to_dict()}
    updated["claims"] = claims
    updated["results"] = results
    updated["flags"] = [f for f in updated.get("flags") or [] if not f.startswith("grounding: ")] + \
        [f"grounding: {problem}" for problem in result.problems]
    updated["passed"] = all(r.get("passed") for r in results.values())
    return updated


def sameness_text(fields: Mapping[str, str]) -> str:
    """What sameness compares: the description's visible text."""
    from model.checks.result import visible_text

    return visible_text("description_html", fields.get("description_html", ""))


__all__ = ["CHECKS", "CheckReport", "CheckResult", "Other", "recheck_grounding", "record_of", "run_checks",
           "with_grounding"]
