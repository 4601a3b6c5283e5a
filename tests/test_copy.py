"""model/parse.py and model/copy.py: defensive parsing, limits, sanitising, fallbacks."""

from __future__ import annotations

import dataclasses

import pytest

from model import parse
from model.copy import ALL_FIELDS, CopyResult, fallback, write_copy
from tests.model_fixtures import SAMPLE_RECORD  # fixtures themselves come from conftest


class ScriptedGenerator:
    """Returns canned outputs; records what it was asked."""

    model_id = "scripted"
    revision = "r1"

    def __init__(self, outputs: dict[str, str]):
        self.outputs = outputs
        self.calls: list[dict] = []

    def generate(self, conversations, *, max_new_tokens, seed, temperature=0.7, top_p=0.9):
        self.calls.append({"n": len(conversations), "max_new_tokens": max_new_tokens, "seed": seed})
        order = [c[1]["content"].rsplit("\n", 2)[-2] for c in conversations]
        keys = {"description": "product description", "short_description": "sum up",
                "seo_title": "page title", "seo_description": "meta description"}
        return [next(self.outputs[k] for k, cue in keys.items() if cue in line) for line in order]


# --- parser ---------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Title: Linen Tea Towel | Acme Home", "Linen Tea Towel | Acme Home"),
    ('SEO Title: "Soft Linen Tea Towel"', "Soft Linen Tea Towel"),
    ("**Linen Tea Towel** for your kitchen.", "Linen Tea Towel for your kitchen"),
    ("<|im_start|>assistant\n# Linen Tea Towel<|im_end|>", "Linen Tea Towel"),
    ("Here's a title for your product:\nLinen Tea Towel\nI hope this helps!", "Linen Tea Towel"),
])
def test_seo_title_strips_labels_quotes_markdown(raw, expected):
    assert parse.parse_seo_title(raw) == expected


def test_seo_title_cut_at_word_boundary():
    raw = ("Stonewashed Linen Tea Towel in Blue and Red for Everyday Kitchen Use, Drying Glasses "
           "and Dishes")
    title = parse.parse_seo_title(raw)
    assert len(title) <= parse.SEO_TITLE_MAX
    assert raw.startswith(title) and raw[len(title)] in " ,"
    assert not title.endswith((",", " and", " for", " in", "-"))


def test_seo_description_limit_whole_sentences_or_words():
    raw = ("Meta description: Our linen tea towel is stonewashed for softness and dries glasses "
           "without lint. It is machine washable at forty degrees, hangs from a cotton loop and "
           "comes in blue or red. "
           "Order yours today")
    text = parse.parse_seo_description(raw)
    assert len(text) <= parse.SEO_DESCRIPTION_MAX
    assert text == "Our linen tea towel is stonewashed for softness and dries glasses without lint."
    long_one = "A " + "very " * 60 + "soft towel, made of linen, washed, dried."
    cut = parse.parse_seo_description(long_one)
    assert len(cut) <= parse.SEO_DESCRIPTION_MAX and not cut.endswith((",", " ")) and cut


def test_short_description_one_or_two_sentences():
    raw = ('"Soft linen towel. Dries glasses without lint. Washable at 40 °C. Comes in two '
           'colours." Let me know if you need more!')
    text = parse.parse_short_description(raw)
    assert text == "Soft linen towel. Dries glasses without lint."


def test_unfinished_tail_is_dropped():
    text = parse.parse_short_description("A soft linen towel. It is made of")
    assert text == "A soft linen towel."


def test_description_markdown_to_html():
    raw = ("Description:\n**Soft** linen for *every* kitchen. It dries fast.\n\nFeatures:\n"
           "- 100% linen\n* 50 x 70 cm\n\n1. Wash\n2. Dry\n\n## Care\nMachine washable. And then")
    out = parse.parse_description(raw)
    assert out == ("<p><strong>Soft</strong> linen for <em>every</em> kitchen. It dries fast.</p>"
                   "<h4>Features</h4><ul><li>100% linen</li><li>50 x 70 cm</li></ul>"
                   "<ol><li>Wash</li><li>Dry</li></ol><h3>Care</h3><p>Machine washable.</p>")


def test_description_html_is_sanitised():
    raw = ('Great towel. <script>alert(1)</script><a href="http://evil.example">click</a> '
           '<img src=x onerror="alert(2)"> <b onclick="x()">bold</b>.')
    out = parse.parse_description(raw)
    for bad in ("<script", "alert", "<a", "href", "onerror", "onclick", "<img", "<b"):
        assert bad not in out
    assert out.startswith("<p>Great towel.")


def test_sanitize_html_allowlist():
    dirty = ('<h3 class="x">Hi</h3><p style="color:red" onmouseover="x()">a <a href="/x">link</a>'
             '<script>bad()</script><iframe src="x"></iframe><strong>b</strong><br></p>')
    assert parse.sanitize_html(dirty) == "<h3>Hi</h3><p>a link<strong>b</strong><br></p>"


def test_chatty_sentences_are_removed():
    raw = "I'm here to help! A soft linen towel. Would you like more options? I hope this helps."
    assert parse.parse_short_description(raw) == "A soft linen towel."


# --- write_copy -----------------------------------------------------------------------------

GOOD = {
    "description": "Here is the description:\n**Linen Tea Towel** by Acme Home is stonewashed for "
                   "softness. It dries glasses and dishes.\n\n- 100% linen\n- 50 x 70 cm",
    "short_description": "Short description: A stonewashed linen tea towel. Made of 100% linen.",
    "seo_title": 'SEO title: "Linen Tea Towel | Acme Home"',
    "seo_description": "Meta description: A stonewashed linen tea towel from Acme Home, made of "
                       "100% linen and machine washable.",
}


def test_write_copy_one_batched_call_and_parsed_fields():
    gen = ScriptedGenerator(GOOD)
    result = write_copy(gen, SAMPLE_RECORD, seed=7)
    assert len(gen.calls) == 1 and gen.calls[0]["n"] == 4 and gen.calls[0]["seed"] == [7] * 4
    limits = dict(zip(ALL_FIELDS, gen.calls[0]["max_new_tokens"], strict=True))
    assert limits["seo_title"] < limits["seo_description"] < limits["description"]
    assert result.fields == {
        "description": "<p><strong>Linen Tea Towel</strong> by Acme Home is stonewashed for "
                       "softness. It dries glasses and dishes.</p><ul><li>100% linen</li>"
                       "<li>50 x 70 cm</li></ul>",
        "short_description": "A stonewashed linen tea towel. Made of 100% linen.",
        "seo_title": "Linen Tea Towel | Acme Home",
        "seo_description": "A stonewashed linen tea towel from Acme Home, made of 100% linen and "
                           "machine washable.",
    }
    assert result.notes == [] and result.raw == GOOD
    assert (result.model_id, result.revision, result.seed) == ("scripted", "r1", 7)
    assert result.prompt_version == "product_copy/3"
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.seed = 1  # type: ignore[misc]
    assert isinstance(result, CopyResult)


def test_write_copy_falls_back_to_facts_and_notes_it():
    gen = ScriptedGenerator({k: "<|im_end|>" for k in ALL_FIELDS} | {"seo_title": "Towel"})
    result = write_copy(gen, SAMPLE_RECORD)
    assert result.fields["seo_title"] == "Linen Tea Towel"
    assert result.fields["short_description"] == (
        "Stonewashed for softness. Machine washable at 40 °C.")
    assert result.fields["description"].startswith("<p>Stonewashed for softness.")
    assert "<li>Material: 100% linen</li>" in result.fields["description"]
    assert len(result.notes) == 4 and all("unusable" in n for n in result.notes)


def test_fallback_without_existing_description_uses_only_record_facts():
    record = {"id": "1", "title": "Cast Iron Skillet 26 cm " * 5, "vendor": "Hearthstone"}
    assert len(fallback("seo_title", record)) <= 70
    assert fallback("seo_description", record).startswith("Cast Iron Skillet 26 cm")
    assert len(fallback("seo_description", record)) <= 160
    assert fallback("description", record).startswith("<p>Cast Iron Skillet")


def test_write_copy_subset_and_bad_fields():
    gen = ScriptedGenerator(GOOD)
    result = write_copy(gen, SAMPLE_RECORD, fields=["seo_title"])
    assert gen.calls[0]["n"] == 1 and result.fields["seo_title"]
    assert result.fields["description"] == ""
    with pytest.raises(ValueError, match="fields"):
        write_copy(gen, SAMPLE_RECORD, fields=["alt_text"])
    with pytest.raises(ValueError, match="title"):
        write_copy(gen, {"id": "1", "title": " "})


def test_write_copy_with_tiny_model_within_limits(tiny_generator):
    result = write_copy(tiny_generator, SAMPLE_RECORD, seed=1, style={"target_words": 20})
    f = result.fields
    assert set(f) == set(ALL_FIELDS) and all(f.values())
    assert len(f["seo_title"]) <= 70 and len(f["seo_description"]) <= 160
    assert f["description"] == parse.sanitize_html(f["description"])
    assert len(parse.sentences(f["short_description"])) <= 2
    assert result.model_id == tiny_generator.model_id and result.revision == tiny_generator.revision
    assert set(result.raw) == set(ALL_FIELDS)


@pytest.mark.model
def test_real_model_writes_copy_within_limits(real_generator):
    record = {"id": "myntra-10016755",
              "title": "Vishudh Women Off-White & Green Floral Print A-Line Dress",
              "category": "Dresses", "attributes": {"brand": "Vishudh", "color": "Green"},
              "description": "Off-White and green printed woven A-line dress, has a mandarin "
                             "collar, three-quarter sleeves, button closure, flared hem"}
    result = write_copy(real_generator, record, seed=0)
    f = result.fields
    assert all(f[k].strip() for k in ALL_FIELDS), result
    assert len(f["seo_title"]) <= 70 and len(f["seo_description"]) <= 160
    assert 1 <= len(parse.sentences(f["short_description"])) <= 2
    assert f["description"] == parse.sanitize_html(f["description"])
    assert result.model_id == "smollm2" and len(result.revision) == 12


def test_write_copy_batch_one_call_for_many_products():
    from model.copy import write_copy_batch

    gen = ScriptedGenerator(GOOD)
    other = {**SAMPLE_RECORD, "id": "43", "title": "Wool Throw"}
    results = write_copy_batch(gen, [SAMPLE_RECORD, other], seeds=[1, 2])
    assert len(gen.calls) == 1 and gen.calls[0]["n"] == 8
    assert gen.calls[0]["seed"] == [1] * 4 + [2] * 4
    assert [r.seed for r in results] == [1, 2]
    assert results[0].fields == write_copy(gen, SAMPLE_RECORD, seed=1).fields
    with pytest.raises(ValueError, match="seeds"):
        write_copy_batch(gen, [SAMPLE_RECORD], seeds=[1, 2])


def test_batched_products_match_single_runs_with_tiny_model(tiny_generator):
    from model.copy import write_copy_batch

    other = {**SAMPLE_RECORD, "id": "43", "title": "Wool Throw", "attributes": {"Size": "1 m"}}
    style = {"target_words": 15}
    batch = write_copy_batch(tiny_generator, [SAMPLE_RECORD, other], seeds=[5, 6], style=style)
    alone = write_copy(tiny_generator, other, seed=6, style=style)
    assert batch[1].raw == alone.raw and batch[1].fields == alone.fields
