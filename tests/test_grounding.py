"""The grounding check (model.grounding): the tricky cases one by one, the labelled set's figures, the CLI."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.check_cli import add_parser, run
from model.grounding import KINDS, Claim, check, extract_claims, unsupported
from model.grounding_eval import DEFAULT_PATH, load, score

ROOT = Path(__file__).resolve().parent.parent

BOTTLE = {"id": "b1", "title": "Summit Insulated Bottle 750 ml", "category": "Drinkware", "vendor": "Ridgeline",
          "tags": ["bpa-free"],
          "attributes": {"Material": "18/8 stainless", "Capacity": "750 ml", "Dishwasher safe": "No",
                         "Warranty": "Lifetime", "Water rating": "IPX7"},
          "variants": [{"title": "Sage", "sku": "S1", "price": "30.00", "options": {"Colour": "Sage"}}],
          "description": "<p>Designed in Denmark, made in Portugal. Hand wash only.</p>"}
POT = {"title": "Plant Pot 15 cm", "attributes": {"Diameter": "15 cm", "Height": "14 cm", "Max load": "8 kg",
                                                  "Material": "Faux leather wrap, cement body"},
       "description": "Water-resistant (not waterproof). Linen-look finish in 60% cotton, 40% polyester."}


def claim(product: dict, copy: str, text: str) -> Claim:
    """The one claim of ``copy`` whose text contains ``text``."""
    found = [c for c in check(product, copy) if text.lower() in c.text.lower()]
    assert len(found) == 1, (text, check(product, copy))
    return found[0]


# ------------------------------------------------------------------------------------------------- interface
def test_claim_fields_and_kinds():
    claims = check(BOTTLE, "Holds 25 oz. Made in Portugal from stainless steel.")
    assert [c.kind for c in claims] == ["number", "certification", "material"]
    assert all(c.kind in KINDS for c in claims)
    assert claims[0].to_dict() == {"text": "25 oz", "kind": "number", "sentence": "Holds 25 oz.", "supported": True,
                                   "evidence": "attributes.Capacity: 750 ml"}
    assert extract_claims("Holds 25 oz. Comes in navy.") == [("25 oz", "number", "Holds 25 oz."),
                                                              ("navy", "colour", "Comes in navy.")]
    assert unsupported(check(BOTTLE, "Comes in navy. Holds 25 oz.")) == [check(BOTTLE, "Comes in navy.")[0]]


def test_pure_marketing_and_empty_product():
    copy = ("Elevate your morning ritual with a touch of everyday luxury. Loved by thousands, built to last, "
            "and ready for adventure; a 2-in-1 design that goes green with you.")
    assert check(BOTTLE, copy) == []
    assert [c.supported for c in check({}, "Made from 100% linen.")] == [False]


# ------------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("product_size, copy_size", [
    ("50 x 70 cm", "19.7 x 27.6 inches"), ('20" x 28"', "50 x 70 cm"), ("500 ml", "17 fl oz"), ("16 oz", "473 ml"),
    ("10,000 mAh", "10 Ah"), ("2.2 kW", "2200W"), ("260°C", "500°F"), ("2.5 hours", "150 minutes"),
    ("1.2 kg", "2.6 lbs"), ("22 cm", "9 inches"),  # 8.66 in: 3.9% off, rounds to the copy's 9
])
def test_unit_conversions_both_ways(product_size, copy_size):
    product = {"title": "Thing", "attributes": {"Size": product_size}}
    c = claim(product, f"It is {copy_size}.", copy_size.split()[0])
    assert c.supported and c.evidence == f"attributes.Size: {product_size}"


def test_converted_value_outside_tolerance_is_unsupported():
    product = {"title": "Thing", "attributes": {"Size": "22 cm"}}
    assert not claim(product, "It is 9.5 inches.", "9.5").supported  # 241 mm: 9.8% off
    assert not claim(product, "It is 23 cm.", "23 cm").supported  # same unit: exact


def test_number_with_another_unit_meaning_is_unsupported():
    assert not claim(BOTTLE, "Weighs 750 g.", "750 g").supported  # 750 is a capacity in ml
    assert claim(BOTTLE, "Holds 750 ml.", "750 ml").supported


def test_roles_of_numbers():
    assert claim(POT, "The pot is 15 cm across.", "15 cm").supported
    tall = claim(POT, "It stands 15 cm tall.", "15 cm")  # 15 cm is the diameter (and the title's 15 cm with it)
    assert not tall.supported
    assert claim(POT, "Holds plants up to 8 kg.", "8 kg").supported
    assert not claim(POT, "Weighs just 8 kg.", "8 kg").supported  # 8 kg is the max load


def test_dimensions_match_as_a_set():
    product = {"title": "Towel", "attributes": {"Size": "70 x 140 cm"}}
    assert claim(product, "Measures 140 x 70 cm.", "140").supported
    assert not claim(product, "Measures 70 x 70 cm.", "70 x 70").supported
    assert claim(product, "<p>Each is 70&times;140&nbsp;cm &ndash; big.</p>", "70").supported


def test_ranges_percentages_and_counts():
    lamp = {"title": "Lamp", "attributes": {"Input": "100-240V", "Pack": "Set of 4"}}
    assert claim(lamp, "Works on 110-240V.", "110-240V").supported
    assert claim(lamp, "Runs on 230V.", "230V").supported
    assert not claim(lamp, "Runs on 12V.", "12V").supported
    assert claim(lamp, "A set of four.", "set of four").supported
    assert not claim(lamp, "A 6-pack.", "6-pack").supported
    serum = {"title": "Serum", "attributes": {"Key ingredient": "15% vitamin C"}}
    assert not claim(serum, "With 20% vitamin C.", "20%").supported


# ------------------------------------------------------------------------------------------------- words
def test_negations_in_the_data_support_nothing():
    dishwasher = claim(BOTTLE, "Dishwasher safe.", "dishwasher safe")
    assert not dishwasher.supported and dishwasher.evidence == ""
    assert not claim(POT, "Fully waterproof.", "waterproof").supported  # "(not waterproof)"
    assert claim(POT, "Water resistant.", "water resistant").supported
    assert check(BOTTLE, "It is not dishwasher safe.") == []  # a negated phrase in the copy is no claim


def test_water_resistant_does_not_support_waterproof_but_ipx7_does():
    c = claim(BOTTLE, "Waterproof, so it can go in the pool.", "waterproof")
    assert c.supported and c.evidence == "attributes.Water rating: IPX7"
    assert claim(BOTTLE, "Water-resistant.", "water-resistant").supported


def test_near_miss_materials_and_synonyms():
    assert not claim(POT, "Genuine leather wrap.", "leather").supported
    assert claim(POT, "Vegan leather wrap.", "vegan leather").supported
    assert claim(POT, "A concrete body.", "concrete").supported  # cement ~ concrete
    s = claim(BOTTLE, "Stainless steel inside and out.", "stainless steel")
    assert s.supported and s.evidence == "attributes.Material: 18/8 stainless"
    assert not claim(BOTTLE, "Made of aluminium.", "aluminium").supported


def test_percentage_must_match_the_material():
    assert claim(POT, "60% cotton for softness.", "60% cotton").supported  # only in the description
    assert not claim(POT, "100% cotton for softness.", "100% cotton").supported
    organic = check(POT, "Organic cotton finish.")
    assert [(c.text, c.supported) for c in organic] == [("Organic cotton", True), ("Organic", False)]


def test_colours_in_variants_and_context():
    assert claim(BOTTLE, "Available in sage.", "sage").evidence == "variants[0].title: Sage"
    assert claim(BOTTLE, "Available in grey or sage.", "grey").supported is False
    assert extract_claims("A sage choice for busy mornings.") == []  # "sage" without colour context
    assert claim({"title": "Tee", "variants": [{"title": "Gray"}]}, "In heather grey.", "grey").supported


def test_origin_claims():
    made = claim(BOTTLE, "Made in Portugal.", "Portugal")
    assert made.evidence == "description: Designed in Denmark, made in Portugal."
    assert not claim(BOTTLE, "Made in Denmark.", "Denmark").supported  # designed there, not made
    origin = {"title": "Socks", "attributes": {"Country of origin": "United Kingdom"}}
    assert claim(origin, "Proudly made in the UK.", "UK").supported
    handmade = check(origin, "Handmade in England.")
    assert [(c.text, c.supported) for c in handmade] == [("Handmade in England", False), ("Handmade", False)]


def test_promises():
    assert claim(BOTTLE, "Backed by a lifetime warranty.", "lifetime").supported
    two = {"title": "Kettle", "attributes": {"Warranty": "24 months"}}
    assert claim(two, "Covered by a 2-year warranty.", "2-year warranty").supported
    assert not claim(two, "Covered by a 5-year warranty.", "5-year warranty").supported
    assert not claim(two, "Free shipping and 30-day returns.", "free shipping").supported


def test_coordinated_safety_claims_and_free_from_lists():
    mugs = {"title": "Mug", "attributes": {"Dishwasher safe": "Yes", "Free from": "Parabens, sulfates"}}
    claims = check(mugs, "Dishwasher and microwave safe.")
    assert [(c.text, c.supported) for c in claims] == [("Dishwasher safe", True), ("microwave safe", False)]
    assert [c.supported for c in check(mugs, "Paraben-free and sulfate-free, BPA-free.")] == [True, True, False]


# ------------------------------------------------------------------------------------------------- labelled set
def test_labelled_set_shape():
    rows = load(DEFAULT_PATH)
    splits = [r["split"] for r in rows]
    assert len(rows) >= 170 and splits.count("holdout") >= 50
    assert splits == sorted(splits)  # dev first, the holdout rows last
    assert all(r["product"].get("title") and r["sentence"] for r in rows)


def test_labelled_set_figures():
    # Measured: dev 1.000 on every figure (the extractor was tuned on dev, so these are optimistic); holdout,
    # written before tuning and scored once: precision 0.905 -> 0.950 after one bug fix (lifetime = inf),
    # recall 0.905 (19/21), supported recall 0.967, sentence precision/recall 0.950/0.905. The thresholds sit
    # just under that: one more miss on the holdout still passes, two fail; dev must stay near perfect.
    result = score(DEFAULT_PATH)
    dev, holdout = result["dev"], result["holdout"]
    assert dev["precision"] >= 0.95 and dev["recall"] >= 0.95 and dev["supported_recall"] >= 0.95
    assert dev["sentence_precision"] >= 0.95 and dev["sentence_recall"] >= 0.95
    assert holdout["precision"] >= 0.85 and holdout["recall"] >= 0.85 and holdout["supported_recall"] >= 0.9
    assert holdout["sentence_precision"] >= 0.85 and holdout["sentence_recall"] >= 0.85


# ------------------------------------------------------------------------------------------------- CLI
def _cli(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="copydesk")
    add_parser(parser.add_subparsers(dest="command", required=True))
    code = run(parser.parse_args(["check", *argv]))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def product_file(tmp_path):
    path = tmp_path / "product.json"
    path.write_text(json.dumps(BOTTLE))
    return path


def test_cli_all_supported_exits_0(product_file, capsys):
    code, out, _ = _cli([str(product_file), "--text", "Holds 25 oz of water."], capsys)
    report = json.loads(out)
    assert code == 0 and report["unsupported"] == 0 and report["supported"] == 1
    assert set(report["claims"][0]) == {"text", "kind", "sentence", "supported", "evidence"}


def test_cli_unsupported_exits_1_and_reads_html_files(product_file, tmp_path, capsys):
    copy = tmp_path / "draft.html"
    copy.write_text("<p>Made in Portugal &amp; dishwasher safe.</p>")
    code, out, _ = _cli([str(product_file), str(copy)], capsys)
    report = json.loads(out)
    assert code == 1 and (report["supported"], report["unsupported"]) == (1, 1)
    assert report["claims"][1]["text"] == "dishwasher safe" and not report["claims"][1]["supported"]


def test_cli_reads_jsonl_and_stdin(tmp_path):
    path = tmp_path / "product.jsonl"
    path.write_text(json.dumps(BOTTLE) + "\n")
    script = ("import argparse, sys; from model.check_cli import add_parser, run; p = argparse.ArgumentParser(); "
              "add_parser(p.add_subparsers(dest='command')); sys.exit(run(p.parse_args(sys.argv[1:])))")
    done = subprocess.run([sys.executable, "-c", script, "check", str(path), "-"], input="Comes in navy.",
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["claims"][0]["text"] == "navy"


@pytest.mark.parametrize("content, message", [
    (None, "cannot read product file"), ("{not json", "not valid JSON"), ('{"title": ""}', "has no title"),
    ("[1, 2]", "one product record"),
])
def test_cli_bad_input_exits_2(tmp_path, capsys, content, message):
    path = tmp_path / "product.json"
    if content is not None:
        path.write_text(content)
    code, out, err = _cli([str(path), "--text", "Made in Portugal."], capsys)
    assert code == 2 and out == "" and message in err


def test_cli_needs_exactly_one_copy(product_file, tmp_path, capsys):
    assert _cli([str(product_file)], capsys)[0] == 2
    _, _, err = _cli([str(product_file), str(tmp_path / "missing.html")], capsys)
    assert err.startswith("copydesk check: cannot read")
    code, _, err = _cli([str(product_file), "-", "--text", "x"], capsys)
    assert code == 2 and "not both" in err
