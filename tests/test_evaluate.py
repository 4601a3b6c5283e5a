"""`copydesk eval`: each metric on hand-made inputs with known answers, then a whole evaluation of the tiny
model (with and without a LoRA adapter) that writes report.json, report.md and chart.png reproducibly."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from model import eval_report, evaluate, metrics
from model.copy import DEFAULT_STYLE
from model.eval_cli import add_parser, run
from plugin.settings import Settings

DATA = Path(__file__).parent / "data" / "eval" / "products.jsonl"


# --- metrics -------------------------------------------------------------------------------------------


def test_rouge_l_known_values():
    assert metrics.rouge_l("the cat sat on the mat", "the cat is on the mat") == pytest.approx(5 / 6)
    assert metrics.rouge_l("a b c d", "a c") == pytest.approx(2 * 0.5 * 1 / 1.5)  # P 1/2, R 1 → 2/3
    assert metrics.rouge_l("The CAT, sat.", "the cat sat") == 1.0
    assert metrics.rouge_l("one two", "three four") == 0.0
    assert metrics.rouge_l("", "anything") == 0.0 and metrics.rouge_l("anything", "") == 0.0
    assert metrics.lcs_length("abcbdab", "bdcaba") == 4


def test_distinct_n_counts_within_texts():
    assert metrics.distinct_n(["a b c", "a b d"], 2) == pytest.approx(3 / 4)
    assert metrics.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert metrics.distinct_n(["word", ""], 2) == 0.0
    assert metrics.distinct_n(["a b c"], 1) == 1.0


def test_near_duplicate_rate_and_threshold_edge():
    fox = "the quick brown fox jumps over the lazy dog"
    texts = [fox, fox.replace("dog", "cat"), "an entirely different sentence about linen towels"]
    assert metrics.jaccard(metrics.shingles(texts[0]), metrics.shingles(texts[1])) == pytest.approx(6 / 8)
    assert metrics.near_duplicate_rate(texts) == pytest.approx(2 / 3)
    edge = ["a b c d e", "a b c d f"]  # shingles {abc, bcd, cde} vs {abc, bcd, cdf}: 2 / 4
    assert metrics.near_duplicate_rate(edge) == 1.0  # ≥ 0.5 counts
    assert metrics.near_duplicate_rate(edge, threshold=0.51) == 0.0
    assert metrics.near_duplicate_rate(["Short text", "short TEXT"]) == 1.0  # < 3 words: one shingle
    assert metrics.near_duplicate_rate([fox]) == 0.0


def test_attribute_coverage_case_plural_and_skipped_keys():
    attrs = {"Material": "Linen", "Colour": "BLUE", "Pockets": "Two side pockets", "price_usd": "9",
             "SKU": "LTT-1", "product_id": "77", "eco_collection": "Yes"}
    assert metrics.key_attributes(attrs) == ["Linen", "BLUE", "Two side pockets"]
    assert metrics.attribute_coverage(attrs, "A linens bag in blue with one side pocket.") == pytest.approx(2 / 3)
    assert metrics.attribute_coverage(attrs, "Two Side Pockets, blue LINEN.") == 1.0
    assert metrics.attribute_coverage({"fruit": "Berries", "pack": "Boxes"}, "a berry box") == 1.0
    assert metrics.attribute_coverage({"size": "50 x 70 cm"}, "It is 50 by 70 cm.") == 1.0  # 'x' not significant
    assert metrics.attribute_coverage({"price": "9", "flag": "no"}, "anything") is None
    assert metrics.normalize_word("glass") == "glass" and metrics.normalize_word("dresses") == "dress"


def test_length_compliance_edges():
    def fields(words, short="One. Two.", title="t" * 70, seo="s" * 160):
        return {"description": "<p>" + " ".join(["word"] * words) + "</p>", "short_description": short,
                "seo_title": title, "seo_description": seo}

    assert all(metrics.length_compliance(fields(40), 80).values())  # 0.5 × 80 and every limit exactly
    assert all(metrics.length_compliance(fields(160), 80).values())  # 2 × 80
    assert not metrics.length_compliance(fields(39), 80)["description"]
    assert not metrics.length_compliance(fields(161), 80)["description"]
    bad = metrics.length_compliance(fields(80, short="One. Two. Three.", title="t" * 71, seo="s" * 161), 80)
    assert bad == {"description": True, "short_description": False, "seo_title": False, "seo_description": False}
    assert not metrics.length_compliance(fields(80, short="x" * 321), 80)["short_description"]
    assert not metrics.length_compliance(fields(80, title=""), 80)["seo_title"]  # empty fails


# --- evaluation pieces ---------------------------------------------------------------------------------


def test_load_records_limit_and_hash(tmp_path):
    records, data = evaluate.load_records(DATA, limit=2)
    assert [r["id"] for r in records] == ["eval-1", "eval-2"] and data["n"] == 2
    copy = tmp_path / "p.jsonl"
    copy.write_text("\n".join(DATA.read_text().splitlines()[:2]) + "\n\n")
    assert evaluate.load_records(copy)[1]["sha256"] == data["sha256"]
    with pytest.raises(ValueError, match="limit"):
        evaluate.load_records(DATA, limit=0)


def test_variants_base_first_none_is_base():
    names = [(v.name, v.adapter) for v in evaluate.variants_for("m", ["none", "out/lora", "x/lora", "default"])]
    assert names == [("base", None), ("lora", "out/lora"), ("lora-2", "x/lora"), ("default", "default")]


class RecordingGenerator:
    """Stands in for a Generator: remembers every chat and answers with fixed text."""

    model_id, revision = "fake", "0"

    def __init__(self):
        self.chats: list[list[dict]] = []

    def generate(self, conversations, *, max_new_tokens, seed, temperature=0.5, top_p=0.9):
        self.chats += conversations
        return ["Linen Tea Towel in blue linen. It dries well."] * len(conversations)


@pytest.mark.parametrize("with_description", [False, True])
def test_human_description_reaches_the_prompt_only_when_asked(with_description):
    records, _ = evaluate.load_records(DATA, limit=2)
    style = dict(DEFAULT_STYLE)
    fake = RecordingGenerator()
    results, tokens = evaluate._generate(fake, [evaluate.shown(r, with_description) for r in records], style,
                                         seed=0, batch_size=4)
    assert len(results) == 2 and tokens > 0
    leaked = any("stonewashed" in m["content"].lower() for chat in fake.chats for m in chat)
    assert leaked is with_description
    examples = evaluate.loss_examples(records, style, with_description)
    assert [ex.id for ex in examples] == ["eval-1", "eval-2"]
    assert all(ex.messages in fake.chats for ex in examples)  # the loss uses the generation prompt
    assert "stonewashed linen tea towel" in examples[0].target.lower()
    assert "- Dishwasher safe" in examples[1].target  # the answer format the model is trained on


def test_loss_targets_keep_a_last_sentence_without_full_stop():
    records, _ = evaluate.load_records(DATA)
    examples = {ex.id: ex for ex in evaluate.loss_examples(records, dict(DEFAULT_STYLE), False)}
    assert sorted(examples) == ["eval-1", "eval-2", "eval-3", "eval-5"]  # eval-4 has no description
    assert examples["eval-3"].target.endswith("keeps you warm without bulk.")
    assert evaluate._full_stop("<p>Soft</p>") == "<p>Soft.</p>"
    assert evaluate._full_stop("<ul><li>Soft</li></ul>") == "<ul><li>Soft</li></ul>"


# --- the whole evaluation on the tiny model ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model_dir, tmp_path_factory) -> Path:
    """A LoRA adapter with random (non-zero) weights on the tiny model, as peft saves it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    folder = tmp_path_factory.mktemp("adapter") / "lora"
    get_peft_model(base, config).save_pretrained(folder)
    return folder


@pytest.fixture
def short_budgets(monkeypatch):
    """A few new tokens per field: the tiny model writes gibberish anyway, and the CPU may be shared."""
    from model import copy

    monkeypatch.setattr(copy, "_budget", lambda name, style: 6)


def _eval(tiny_model_dir, tmp_path, out: str, *extra: str) -> dict:
    parser = argparse.ArgumentParser(prog="copydesk")
    add_parser(parser.add_subparsers(dest="command"))
    argv = ["eval", "--data", str(DATA), "--model", str(tiny_model_dir), "--out", str(tmp_path / out),
            "--device", "cpu", "--seed", "3", "--batch-size", "2", *extra]
    settings = Settings.from_env({"COPYDESK_INSTANCE": str(tmp_path), "COPYDESK_CACHE_DIR": str(tmp_path / "c")},
                                 need_secrets=False)
    assert run(settings, parser.parse_args(argv), argv=["copydesk", *argv]) == 0
    return json.loads((tmp_path / out / "report.json").read_text())


def test_tiny_model_evaluation_reports_every_metric_reproducibly(tiny_model_dir, tiny_adapter, tmp_path, capsys,
                                                                 short_budgets):
    first = _eval(tiny_model_dir, tmp_path, "a", "--adapter", "none", "--adapter", str(tiny_adapter))
    printed = capsys.readouterr().out
    assert first["data"]["n"] == 5 and first["data"]["with_description"] is False and first["seed"] == 3
    assert list(first["variants"]) == ["base", "lora"]
    assert first["variants"]["base"]["adapter"] is None and first["variants"]["lora"]["adapter"].startswith("lora@")
    for name, entry in first["variants"].items():
        m = entry["metrics"]
        assert math.isfinite(m["validation_loss"]) and math.isfinite(m["perplexity"]) and m["loss_tokens"] > 0
        assert m["perplexity"] == pytest.approx(math.exp(m["validation_loss"]))
        for key in ("attribute_coverage", "attribute_coverage_description", "drafts_with_unsupported_claim",
                    "rouge_l", "distinct_2", "near_duplicate_rate", "fallback_fields"):
            assert 0.0 <= m[key] <= 1.0, (name, key)
        assert m["unsupported_claims_per_draft"] >= 0 and isinstance(m["unsupported_claims_by_kind"], dict)
        assert m["rouge_l_products"] == 4 and m["products_with_key_attributes"] == 5
        assert set(m["length_compliance"]) == {"description", "short_description", "seo_title", "seo_description"}
        assert entry["timing"]["generated_tokens"] > 0 and entry["timing"]["products_per_min"] > 0
    assert first["variants"]["base"]["metrics"] != first["variants"]["lora"]["metrics"]  # the adapter matters
    assert len(first["samples"]) == 3 and set(first["samples"][0]["variants"]) == {"base", "lora"}
    md = (tmp_path / "a" / "report.md").read_text()
    assert "| Metric | base | lora |" in md and "Validation loss" in md and "not shown the human" in md
    assert "| Metric | base | lora |" in printed
    assert (tmp_path / "a" / "chart.png").read_bytes()[:4] == b"\x89PNG"
    shown = eval_report.markdown({**first, "data": {**first["data"], "with_description": True}})
    assert "text it saw" in shown

    again = _eval(tiny_model_dir, tmp_path, "b", "--adapter", "none", "--adapter", str(tiny_adapter))
    assert evaluate.comparable(again) == evaluate.comparable(first)
    with pytest.raises(ValueError, match="already holds a report"):
        _eval(tiny_model_dir, tmp_path, "a")
    with pytest.raises(ValueError, match="not an adapter folder"):
        _eval(tiny_model_dir, tmp_path, "c", "--adapter", str(tmp_path))


def test_coverage_of_model_written_fields_leaves_the_fact_fallback_out():
    """A fallback field lists the product's own facts, so it covers every attribute; coverage over the
    fields the model wrote shows what the model itself mentions."""
    record = {"id": "1", "title": "Wool Hat", "attributes": {"Colour": "Navy", "Material": "Merino wool"}}
    copy = {"description": "<p>A warm hat.</p>", "short_description": "Wool Hat. Colour: Navy. Material: Merino wool.",
            "seo_title": "Wool Hat", "seo_description": "A warm navy hat for cold days."}
    both = evaluate.score([record, record], [copy, copy], with_description=False, target_words=80,
                          fallbacks=[{"short_description"}, set(ALL)])
    assert both["attribute_coverage"] == 1.0  # the fallback short description names both attributes
    assert both["attribute_coverage_model_written"] == 0.5  # the model's own fields name only the colour
    plain = evaluate.score([record], [copy], with_description=False, target_words=80)
    assert plain["attribute_coverage_model_written"] == plain["attribute_coverage"]


ALL = ("description", "short_description", "seo_title", "seo_description")
