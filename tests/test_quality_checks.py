"""model.checks: the hostile set (tests/data/quality/hostile.json) is caught, clean drafts pass untouched,
and the HTML, language, sameness and rules checks each do what the README says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.checks import CHECKS, Other, language, recheck_grounding, rules, run_checks, sameness
from model.checks import html as html_check
from plugin.shops import DEFAULT_SETTINGS

DATA = json.loads((Path(__file__).parent / "data" / "quality" / "hostile.json").read_text(encoding="utf-8"))
PRODUCTS, CLEAN, CASES = DATA["products"], DATA["clean"], DATA["cases"]
ORIGINAL = ('<p>Our old text.</p><p><img src="https://cdn.example/a.jpg" alt="Folded" onerror="alert(1)">'
            '<img src="javascript:alert(2)"></p><table><tr><th>Size</th><td>50 x 70 cm</td></tr></table>'
            '<p><img src="https://cdn.example/b.jpg" alt="Hanging"></p>'
            '<iframe src="https://www.youtube.com/embed/abc123" width="560" height="315"></iframe>'
            '<iframe src="https://evil.example/x"></iframe><video controls><source src="https://cdn.example/v.mp4" '
            'type="video/mp4"></video><script>alert(3)</script>')


def run(case: dict):
    fields = {**CLEAN[case["product"]], **case["fields"]}
    others = [Other(**o) for o in case.get("others", [])]
    settings = {**DEFAULT_SETTINGS, **case.get("settings", {})}
    return run_checks(PRODUCTS[case["product"]], fields, settings=settings, others=others,
                      original_html=case.get("original_html", ""))


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_clean_drafts_pass_untouched(name):
    report = run({"product": name, "fields": {}})
    assert report.passed, report.flags
    assert report.fields == CLEAN[name]  # not a character changed
    assert report.flags == [] and report.unsupported == []
    assert all(not result.fixed for result in report.results.values())
    assert [c["supported"] for c in report.claims] and all(c["supported"] for c in report.claims)
    assert list(report.to_dict()["results"]) == list(CHECKS)
    json.dumps(report.to_dict())  # stored as JSON on the draft


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_hostile_draft_is_caught(case):
    report = run(case)
    failed = set(report.failed)
    assert set(case.get("failed", [])) <= failed, (report.failed, report.flags)
    if not case.get("failed"):  # HTML is repaired, not flagged
        assert report.passed, report.flags
    flags = " ".join(report.flags)
    for words in case.get("flags", []):
        assert words in flags, (words, report.flags)
    unsupported = {c["text"] for c in report.unsupported}
    assert set(case.get("claims", [])) <= unsupported, report.unsupported
    assert set(case.get("kinds", [])) <= {c["kind"] for c in report.unsupported}
    fixed = " ".join(report.results["html"].fixed)
    for words in case.get("fixed", []):
        assert words in fixed, (words, report.results["html"].fixed)
    description = report.fields["description_html"]
    for gone in case.get("gone", []):
        assert gone not in description, (gone, description)
    assert html_check.structure_problems(description) == []
    if case.get("failed"):
        assert not report.passed and report.to_dict()["passed"] is False


def test_unsupported_claims_carry_their_field_sentence_and_kind():
    report = run(CASES[0])
    [claim] = report.unsupported
    assert claim["field"] == "description_html" and claim["kind"] == "dimension"
    assert "60 x 90 cm" in claim["sentence"] and claim["evidence"] == ""
    supported = [c for c in report.claims if c["supported"]]
    assert any(c["text"] == "100% linen" and "Material" in c["evidence"] for c in supported)


# ------------------------------------------------------------------------------------------------ html


@pytest.mark.parametrize("position", ["first", "last"])
def test_media_of_the_original_are_carried_over_in_order(position):
    fields = dict(CLEAN["towel"])
    report = run_checks(PRODUCTS["towel"], fields, settings={**DEFAULT_SETTINGS, "media_position": position},
                        original_html=ORIGINAL)
    out = report.fields["description_html"]
    order = [out.index(s) for s in ("cdn.example/a.jpg", "<table>", "cdn.example/b.jpg", "youtube.com/embed/abc123",
                                    "cdn.example/v.mp4")]
    assert order == sorted(order)
    text_at = out.index("The Linen Tea Towel")
    assert (text_at > order[-1]) if position == "first" else (text_at < order[0])
    for gone in ("Our old text", "javascript:", "onerror", "evil.example", "<script", "alert("):
        assert gone not in out
    assert report.results["html"].detail == {"media": 5, "media_position": position}
    assert html_check.structure_problems(out) == []
    assert report.passed, report.flags  # the table's "50 x 70 cm" is the merchant's own, not a claim
    assert html_check.text_part(out, ORIGINAL) == fields["description_html"]


def test_a_media_position_must_be_first_or_last():
    with pytest.raises(ValueError, match="media_position"):
        html_check.check("<p>x</p>", media_position="middle")


def test_links_only_when_the_shop_allows_them():
    markup = ('<p>See <a href="https://shop.example/care" onclick="x()">care tips</a> and '
              '<a href="javascript:x()">more</a>.</p>')
    assert html_check.sanitise(markup) == "<p>See care tips and more.</p>"
    allowed = html_check.sanitise(markup, allow_links=True)
    assert allowed == ('<p>See <a href="https://shop.example/care" rel="noopener nofollow">care tips</a> and '
                       '<a rel="noopener nofollow">more</a>.</p>')


def test_flat_output_for_any_theme():
    messy = "loose <b>text</b><div>in a div</div><ul>stray<li>one<ol><li>two</li></ol></li></ul><h2>Title</h2>"
    assert html_check.sanitise(messy) == ("<p>loose text</p><p>in a div</p><ul><li>stray</li><li>one</li><li>two</li>"
                                          "</ul><h3>Title</h3>")


# -------------------------------------------------------------------------------------------- language


def test_language_codes_and_inconclusive_short_text():
    assert language.base_code("pt-BR") == "pt" and language.base_code("nb") == "no"
    assert language.check_text("Linen Tea Towel by Acme Home", "de")["verdict"] == "inconclusive"
    words = ["Linen", "Tea", "Towel", "Acme", "Home"]
    assert language.check_text("Linen Tea Towel Acme Home linen towel", "de", drop=words)["verdict"] == "inconclusive"
    answer = "Ihre Bestellung wurde heute verschickt und kommt in zwei bis drei Tagen bei Ihnen an."
    assert language.check_text(answer, "de")["verdict"] == "ok"  # an order follow-up in the order's language
    assert language.check_text(answer, "fr")["verdict"] == "wrong"


# -------------------------------------------------------------------------------------------- sameness


def test_sameness_ignores_the_products_own_copy_and_short_texts():
    text = CASES[-1]["others"][0]["text"]
    own = [Other("202", "Merino Beanie", text)]
    assert sameness.check(PRODUCTS["beanie"], text, own).passed
    assert sameness.check(PRODUCTS["beanie"], "A warm hat.", [Other("9", "Hat", "A warm hat.")]).passed
    distinct = [Other("9", "Linen Tea Towel", " ".join(CLEAN["towel"].values()))]
    result = sameness.check(PRODUCTS["beanie"], CLEAN["beanie"]["description_html"], distinct)
    assert result.passed and result.detail["similarity"] < sameness.THRESHOLD


def test_a_template_reused_with_another_name_is_a_near_duplicate():
    a = "The Juno Jacket keeps the wind out on cold mornings and packs into its own pocket for the trip home."
    b = a.replace("Juno Jacket", "Orion Parka").replace("cold", "chilly")
    result = sameness.check({"id": "2", "title": "Orion Parka"}, b, [Other("1", "Juno Jacket", a)])
    assert not result.passed and result.detail["resembles"] == {"product_id": "1", "title": "Juno Jacket"}


# ----------------------------------------------------------------------------------------------- rules


def test_prices_from_the_data_are_fine():
    fields = {"short_description": "A stonewashed linen tea towel for $9.00, in blue or red."}
    assert rules.check(PRODUCTS["towel"], fields).passed
    assert rules.data_prices(PRODUCTS["towel"]) == {9.0}
    assert not rules.check(PRODUCTS["towel"], {"short_description": "Only 9.50 EUR for a linen towel."}).passed


def test_defaults_can_be_turned_off_and_percentages_are_not_discounts():
    fields = {"short_description": "An amazing towel of 100% linen."}
    assert not rules.check(PRODUCTS["towel"], fields).passed
    assert rules.check(PRODUCTS["towel"], fields, use_defaults=False).passed


# ---------------------------------------------------------------------------------------- edited copy


def test_an_edit_is_checked_again_and_acceptances_are_kept():
    case = CASES[0]
    report = run(case)
    snapshot = {**PRODUCTS["towel"], "description_html": "<p>Stonewashed for softness. Machine washable at 40 °C.</p>"}
    checks = {**report.to_dict(), "accepted": ["description_html|dimension|60 x 90 cm"], "notes": ["kept"]}
    fixed = {**report.fields, "description_html": CLEAN["towel"]["description_html"]}
    edited = recheck_grounding(checks, snapshot, fixed)
    assert [c for c in edited["claims"] if not c["supported"]] == []
    assert edited["passed"] is True and not any(f.startswith("grounding: ") for f in edited["flags"])
    assert edited["accepted"] == checks["accepted"] and edited["notes"] == ["kept"]
    worse = recheck_grounding(checks, snapshot, {**CLEAN["towel"], "seo_title": "Linen Tea Towel, GOTS certified"})
    assert [c["text"] for c in worse["claims"] if not c["supported"]] == ["GOTS certified"]
    assert worse["passed"] is False
