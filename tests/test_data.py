"""Training data: the Magento loader, targets, grounding, determinism, dedupe, filters, same prompt as the worker."""

from __future__ import annotations

import copy
import json
import random
from collections import Counter
from pathlib import Path

import pytest

import prompts
from model import data, metrics, parse, targets
from model.copy import ALL_FIELDS, write_copy
from model.magento import magento_records

MAGENTO = Path(__file__).parent / "data" / "magento"


def product(pid: str, title: str, description: str = "", **extra) -> dict:
    return {"id": pid, "title": title, "category": "Kitchen", "attributes": {"Material": "Linen"},
            "description": description, "source": "test", **extra}


HOODIE = ("<p>Ideal for cold-weather training, the Chaz Hoodie promises superior warmth. Thick material blocks "
          "out the wind.</p>\n<p>&bull; Two-tone gray heather hoodie.<br />&bull; Drawstring-adjustable hood. <br />"
          "&bull; Machine wash/dry.</p>")


# --- Magento ----------------------------------------------------------------------------------

def test_magento_parents_take_children_as_variants():
    records = {r["id"]: r for r in magento_records(MAGENTO)}
    assert set(records) == {"MH01", "WS03", "24-MB01", "24-WG081-gray"}  # children are not products
    hoodie = records["MH01"]
    assert hoodie["title"] == "Chaz Kangeroo Hoodie" and hoodie["category"] == "Hoodies & Sweatshirts"
    assert hoodie["attributes"]["Gender"] == "Men" and hoodie["attributes"]["Material"] == "Wool"
    assert hoodie["attributes"]["Climate"] == "All-weather, Cool, Indoor, Spring, Windy"
    assert len(hoodie["variants"]) == 15 and hoodie["variants"][0]["options"] == {"Size": "XS", "Color": "Black"}
    for record in records.values():
        flat = json.dumps(record["attributes"]).lower()
        assert "price" not in json.dumps(record) and "has_options" not in flat and "erin" not in flat
        assert record["source"] == "magento"


def test_magento_gear_multiline_cells_and_colours():
    records = {r["id"]: r for r in magento_records(MAGENTO)}
    bag = records["24-MB01"]
    assert bag["category"] == "Bags"
    assert bag["attributes"]["Material"] == "Nylon, Polyester"
    assert bag["attributes"]["Features"] == "Waterproof, TSA Approved, Lockable"
    ball = records["24-WG081-gray"]
    assert ball["title"] == "Sprite Stasis Ball 55 cm" and [v["title"] for v in ball["variants"]] == [
        "Gray", "Red", "Blue"]


def test_magento_bullets_become_a_list():
    blocks = targets.blocks_from_html(HOODIE)
    assert blocks[1] == ("ul", ["Two-tone gray heather hoodie.", "Drawstring-adjustable hood.", "Machine wash/dry."])
    html = targets.blocks_to_html(blocks)
    assert html.startswith("<p>Ideal") and "<ul><li>Two-tone gray heather hoodie.</li>" in html and "&bull;" not in html


def test_description_target_parses_to_the_same_html_as_the_worker_makes():
    """The model is taught to answer as parse.parse_description expects (paragraphs, '- ' bullets)."""
    for record in magento_records(MAGENTO) + data.load_records(data.WRITTEN)[:5]:
        html = (record.get("copy") or {}).get("description") or record["description"]
        blocks = targets.blocks_from_html(html)
        assert parse.parse_description(targets.blocks_to_markdown(blocks), max_words=500) == \
            targets.blocks_to_html(blocks)


# --- examples ---------------------------------------------------------------------------------

class Recorder:
    """A generator that records the conversations write_copy sends it."""

    model_id, revision = "recorder", "r0"

    def __init__(self):
        self.conversations = []

    def generate(self, conversations, **_):
        self.conversations += conversations
        return ["x"] * len(conversations)


@pytest.mark.parametrize("style", [None, {"tone": "playful", "target_words": 50, "banned_words": ["cheap"]}])
def test_prompt_is_what_the_worker_renders(style):
    records = data.load_records(data.WRITTEN)[:2] + magento_records(MAGENTO)[:2]
    for record in records:
        examples = data.build_examples([record], style=style, checker=None)
        shown, _ = data.product_targets(record, checker=None)
        recorder = Recorder()
        write_copy(recorder, shown, style=style)  # what the worker does with Product.record()
        assert [e.messages for e in examples] == recorder.conversations
        assert examples[0].messages == prompts.render("product_copy", field="description",
                                                      product=data.prompt_record(shown),
                                                      style={**data.DEFAULT_STYLE, **(style or {})})


def test_prompt_never_shows_the_target_description():
    records = magento_records(MAGENTO) + [
        product(f"p{i}", f"Towel {i}", f"<p>A soft towel number {i} for the kitchen.</p><ul><li>Linen.</li></ul>")
        for i in range(100)]
    examples = data.build_examples(records, fields=["description"], checker=None)
    with_details = 0
    for example in examples:
        user = example.messages[1]["content"]
        first = targets.split_sentences(example.target.split("\n\n")[0])[0]
        assert first not in user
        with_details += "Details:" in user
    assert 0.3 < with_details / len(examples) < 0.7  # "half", fixed by product id


def test_details_mode_all_and_none():
    record = product("p1", "Hoodie", HOODIE)
    (all_shown, _), (none_shown, _) = (data.product_targets(record, with_details=m, checker=None)
                                       for m in ("all", "none"))
    assert all_shown["description"] == ("Two-tone gray heather hoodie. Drawstring-adjustable hood. "
                                        "Machine wash/dry.")
    assert none_shown["description"] == ""


def test_targets_of_each_field():
    record = product("p2", "Chaz Kangeroo Hoodie", HOODIE, category="Hoodies")
    _, out = data.product_targets(record, checker=None)
    assert out["description"].startswith("Ideal for") and "\n- Machine wash/dry." in out["description"]
    assert out["short_description"] == ("Ideal for cold-weather training, the Chaz Hoodie promises superior "
                                        "warmth. Thick material blocks out the wind.")
    assert out["seo_description"].startswith("Chaz Kangeroo Hoodie: Ideal for")
    assert len(out["seo_description"]) <= 160
    assert out["seo_title"] in ("Chaz Kangeroo Hoodie", "Chaz Kangeroo Hoodie – Hoodies")


def test_seo_description_target_names_the_product_once():
    sentences = ["A soft tee for easy runs.", "Made of cotton."]
    assert targets.seo_description_target(sentences, "Radiant Tee") == (
        "Radiant Tee: A soft tee for easy runs. Made of cotton.")
    assert targets.seo_description_target(["The Radiant Tee is soft."], "Radiant Tee") == "The Radiant Tee is soft."
    assert targets.seo_description_target(sentences) == "A soft tee for easy runs. Made of cotton."
    long = targets.seo_description_target(["word " * 60], "Radiant Tee")
    assert long.startswith("Radiant Tee: word") and len(long) <= 160
    assert targets.seo_description_target([], "Radiant Tee") == ""


def test_written_examples_are_complete_and_grounded():
    records = data.load_records(data.WRITTEN)
    assert len(records) >= 30 and len({r["id"] for r in records}) == len(records)
    assert len({r["category"] for r in records}) >= 6
    stats = Counter()
    examples = data.build_examples(records, checker=targets.grounding_checker(), stats=stats)
    assert len(examples) == 4 * len(records)  # nothing emptied by grounding
    assert stats["sentences_dropped"] == 0, "a hand-written sentence claims something its record lacks"
    for record in records:
        assert len(record["copy"]["seo_title"]) <= 60 and len(record["copy"]["seo_description"]) <= 160


def test_written_copy_mentions_every_key_attribute():
    """The hand-written targets teach the model to say the brand, the audience and the colour a fashion
    record gives: each key attribute appears in the copy (the description for those three)."""
    records = data.load_records(data.WRITTEN)
    apparel = 0
    for record in records:
        copy = record["copy"]
        description = parse.html_text(copy["description"])
        every = " ".join([description, copy["short_description"], copy["seo_title"], copy["seo_description"]])
        for value in metrics.key_attributes(record["attributes"]):
            assert metrics.mentions(every, value), (record["id"], value)
        keys = {k.lower() for k in record["attributes"]}
        if {"brand", "gender"} <= keys:
            apparel += 1
            for key, value in record["attributes"].items():
                if key.lower() in ("brand", "gender", "color", "colour"):
                    assert metrics.mentions(description, value), (record["id"], key)
    assert apparel >= 60


# --- grounding --------------------------------------------------------------------------------

def test_ground_target_drops_invented_claims_and_keeps_structure():
    shown = {"title": "Linen Tea Towel", "category": "Kitchen", "attributes": {"Material": "100% linen",
                                                                               "Size": "50 x 70 cm"}}
    target = ("<p>A tea towel in 100% linen, 50 x 70 cm. It is made in Portugal and fully waterproof. "
              "It dries dishes.</p><ul><li>100% linen</li><li>Comes as a set of 4</li></ul>")
    grounded = targets.ground_target(shown, target)
    assert grounded == ("<p>A tea towel in 100% linen, 50 x 70 cm. It dries dishes.</p>"
                        "<ul><li>100% linen</li></ul>")
    assert targets.ground_target(shown, "A linen towel. Now in organic cotton.") == "A linen towel."


def test_ungrounded_sentences_are_counted_and_short_targets_dropped():
    record = product("p3", "Tea Towel", "<p>A towel. It is waterproof and made of silk.</p>")
    dataset = data.prepare([record], val_fraction=0.0)
    summary = dataset.summary()
    assert summary["sentences"]["dropped_ungrounded"] == 1 and summary["grounding"] == "model.grounding"
    assert summary["dropped"]["too_short"] >= 1 and "description" not in {e.field for e in dataset.train}


def test_a_custom_checker_decides():
    record = product("p4", "Towel", "<p>Soft and light. Dries fast.</p><ul><li>Red stripe.</li></ul>")
    _, out = data.product_targets(record, checker=lambda rec, text: "fast" not in text)
    assert out["description"] == "Soft and light.\n\n- Red stripe."


# --- split, dedupe, filters, determinism ------------------------------------------------------

def test_split_is_by_product_and_stable_under_order():
    records = [product(f"p{i}", f"Towel {i}") for i in range(200)]
    train, val = data.split(records, 0.1, seed=0)
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    train2, val2 = data.split(shuffled, 0.1, seed=0)
    assert {r["id"] for r in val} == {r["id"] for r in val2} and 8 < len(val) < 35
    assert {r["id"] for r in data.split(records, 0.1, seed=1)[1]} != {r["id"] for r in val}
    assert len(data.split(records[:3], 0.1)[1]) == 1  # a tiny set still validates on something


def test_dedupe_by_normalised_title_and_description():
    a = product("a", "Linen Towel", "<p>Soft linen.</p>")
    b = product("b", "linen  towel", "Soft linen")
    c = product("c", "Linen Towel", "Different text.")
    kept, dropped = data.dedupe([a, b, c])
    assert [r["id"] for r in kept] == ["a", "c"] and dropped == 1


def test_length_filters():
    def example(field, target):
        return data.Example("x", field, [{"role": "user", "content": "p"}], target, "t")

    stats = Counter()
    kept = data.filter_examples([example("description", "word " * 5), example("description", "word " * 30),
                                 example("description", "word " * 400), example("seo_title", "Linen Towel"),
                                 example("short_description", "A linen towel that dries well.")],
                                max_prompt_tokens=100, count_tokens=lambda e: 150 if e.field == "seo_title" else 10,
                                stats=stats)
    assert [(e.field, len(e.target.split())) for e in kept] == [("description", 30), ("short_description", 6)]
    assert stats == {"too_short": 1, "too_long": 1, "prompt_too_long": 1}


def test_preparation_is_deterministic():
    records = magento_records(MAGENTO) + data.load_records(data.WRITTEN)
    first = data.prepare(copy.deepcopy(records), seed=0)
    second = data.prepare(copy.deepcopy(records), seed=0)
    assert first.train == second.train and first.val == second.val
    assert first.summary() == second.summary()
    assert first.summary()["hash"] != data.prepare(copy.deepcopy(records), seed=3).summary()["hash"]
    summary = first.summary()
    assert set(summary["by_source"]) == {"magento", "written"} and set(summary["by_field"]) == set(ALL_FIELDS)
    assert summary["by_split"]["val"] > 0 and summary["examples"] == len(first.train) + len(first.val)
    train_ids = {(e.source, e.id) for e in first.train}
    assert not train_ids & {(e.source, e.id) for e in first.val}


def test_load_records_names_the_bad_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"id": "1", "title": "A"}\n{"id": "2"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="x.jsonl:2"):
        data.load_records(path)
