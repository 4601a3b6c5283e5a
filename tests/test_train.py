"""`copydesk train` on the tiny model: a loadable adapter, falling loss, refusals, exact resume, a shop's drafts."""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import pytest

import prompts
from model import data, train, train_cli
from model.backend import weights_revision
from plugin.settings import Settings

SECRET = "train-test-secret-0123456789"
FAST = ["--threads", "1", "--batch-size", "2", "--grad-accum", "1", "--max-tokens", "512"]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="copydesk")
    train_cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["train", *argv])
    args.train_argv = ["train", *argv]
    return args


@pytest.fixture
def small_written(tmp_path) -> Path:
    """Six hand-written products: enough for a split, small enough for a fast CPU run."""
    path = tmp_path / "written.jsonl"
    lines = data.WRITTEN.read_text(encoding="utf-8").splitlines()[:6]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(secret_key=SECRET, instance_path=tmp_path / "instance", cache_dir=tmp_path / "cache",
                    database_url=f"sqlite:///{tmp_path / 'copydesk.db'}")


def run_train(settings, tiny_model_dir, *argv) -> int:
    return train_cli.run(settings, parse("--base", str(tiny_model_dir), *FAST, *argv))


def test_two_steps_write_a_loadable_adapter(settings, tiny_model_dir, small_written, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "adapter"
    assert run_train(settings, tiny_model_dir, "--written", str(small_written), "--out", str(out),
                     "--max-steps", "2") == 0
    names = {p.name for p in out.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "copydesk.json", "metrics.json", "loss.png",
            "README.md"} <= names and "checkpoints" not in names
    meta = json.loads((out / "copydesk.json").read_text())
    assert meta["kind"] == "lora" and meta["base_revision"] == weights_revision(tiny_model_dir)
    assert meta["prompt_version"] == prompts.version("product_copy") and meta["training"]["steps"] == 2
    assert meta["data"]["by_source"] == {"written": meta["data"]["examples"]}
    assert meta["command"][:2] == ["copydesk", "train"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["steps"]) == 2 and all(math.isfinite(s["loss"]) for s in metrics["steps"])
    assert math.isfinite(metrics["val_loss"]) and metrics["tokens_per_second"] > 0
    assert "Validation loss" in (out / "README.md").read_text()
    assert json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_model_dir)

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(out)).eval()
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().sum() > 0 for p in lora_b)  # trained: B starts at zero
    messages = data.build_examples(data.load_records(small_written)[:1], fields=["seo_title"])[0].messages
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                        return_dict=True)["input_ids"]
    with torch.no_grad():
        generated = model.generate(input_ids=ids, max_new_tokens=1, do_sample=False)
    assert generated.shape[1] == ids.shape[1] + 1


def test_loss_falls_on_a_repeated_example(tiny_model_dir, tmp_path):
    import torch

    torch.set_num_threads(1)
    config = train.TrainConfig(lr=1e-2, batch_size=2, grad_accum=1, epochs=12, max_steps=12, warmup=0.0)
    model, tokenizer = train.load_model(tiny_model_dir, config, "cpu")
    messages = [{"role": "system", "content": "You write copy."}, {"role": "user", "content": "Name: Linen towel"}]
    seqs = [train.encode(tokenizer, messages, "A soft linen tea towel.")] * 2
    state = train.run(model, tokenizer, seqs, seqs[:1], config, device="cpu", out_dir=tmp_path, progress=False)
    losses = [s["loss"] for s in state.history["steps"]]
    assert len(losses) == 12 and losses[-1] < 0.7 * losses[0]
    assert state.history["val"][-1]["loss"] < state.history["val"][0]["loss"]


def test_prompt_tokens_match_generation_and_are_masked(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = data.build_examples(data.load_records(data.WRITTEN)[:1], fields=["seo_title"])[0].messages
    ids, labels = train.encode(tokenizer, messages, "Cast Iron Skillet")
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]  # as model.backend.Generator tokenises
    assert ids[:len(head)] == head and labels[:len(head)] == [train.IGNORE] * len(head)
    answer = [t for t in labels if t != train.IGNORE]
    assert tokenizer.decode(answer) == "Cast Iron Skillet<|im_end|>"


def test_refuses_a_non_empty_out(settings, tiny_model_dir, small_written, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert run_train(settings, tiny_model_dir, "--written", str(small_written), "--out", str(out)) == 2
    assert "not empty" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_resume_continues_exactly(settings, tiny_model_dir, small_written, tmp_path):
    from safetensors.torch import load_file

    common = ["--written", str(small_written), "--fields", "short_description,seo_title", "--max-steps", "7",
              "--save-every", "4", "--val-fraction", "0.2"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_train(settings, tiny_model_dir, *common, "--out", str(straight), "--keep-checkpoints") == 0
    assert sorted(p.name for p in (straight / "checkpoints").iterdir()) == ["step-000004", "step-000007"]
    shutil.copytree(straight / "checkpoints" / "step-000004", resumed / "checkpoints" / "step-000004")
    assert run_train(settings, tiny_model_dir, *common, "--out", str(resumed), "--resume") == 0

    a, b = (load_file(p / "adapter_model.safetensors") for p in (straight, resumed))
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    ma, mb = (json.loads((p / "metrics.json").read_text()) for p in (straight, resumed))
    assert [s["loss"] for s in ma["steps"]] == [s["loss"] for s in mb["steps"]]
    assert [v["loss"] for v in ma["val"]] == [v["loss"] for v in mb["val"]]
    assert any(0 < v["step"] < 7 for v in ma["val"])  # the run crossed an epoch end after the checkpoint


def test_resume_refuses_other_settings(settings, tiny_model_dir, small_written, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--written", str(small_written), "--fields", "seo_title", "--out", str(out)]
    assert run_train(settings, tiny_model_dir, *common, "--max-steps", "1", "--keep-checkpoints") == 0
    assert run_train(settings, tiny_model_dir, *common, "--max-steps", "1", "--lr", "0.1", "--resume") == 2
    assert "lr=0.0002 (now 0.1)" in capsys.readouterr().err


# --- a shop's drafts ----------------------------------------------------------------------------------

def _shop_db(settings, n_products: int):
    from plugin.db import AuditEntry, Draft, Shop, init_db, make_engine, make_sessionmaker
    from plugin.platforms.base import Product

    engine = make_engine(settings.sqlalchemy_url)
    init_db(engine)
    db = make_sessionmaker(engine)()
    shop = Shop(platform="woocommerce", domain="towels.example", api_url="https://towels.example",
                credentials=b"sealed", settings={"tone": "playful", "target_words": 60})
    db.add(shop)
    db.flush()
    colours = ["Blue", "Red", "Green", "Grey"]
    for i in range(n_products):
        colour = colours[i % 4]
        product = Product(id=str(100 + i), title=f"Linen Tea Towel {i}", category="Kitchen",
                          attributes={"Material": "100% linen", "Colour": colour, "Size": "50 x 70 cm"},
                          description_html="<p>Stonewashed for softness.</p>")
        fields = {"description_html": f"<p>A {colour.lower()} tea towel in 100% linen, 50 x 70 cm. "
                                      "It is stonewashed for softness.</p>",
                  "short_description": f"A stonewashed tea towel in 100% linen, in {colour.lower()}.",
                  "seo_title": f"Linen Tea Towel {i}",
                  "seo_description": f"Stonewashed linen tea towel {i}, 50 x 70 cm, in {colour.lower()}."}
        status = "published" if i % 2 else "approved"
        db.add(Draft(shop_id=shop.id, product_id=product.id, status=status, fields=fields,
                     input_snapshot=product.snapshot(), input_hash=f"h{i}", seed=0,
                     checks={"note": "mention the size"} if i == 1 else {}))
    for status in ("pending", "rejected"):  # not reviewed copy
        db.add(Draft(shop_id=shop.id, product_id="999", status=status, fields={"seo_title": "No"},
                     input_snapshot={"id": "999", "title": "Unreviewed"}, input_hash=status, seed=0))
    db.flush()
    edited = db.query(Draft).filter_by(shop_id=shop.id, product_id="100").one()
    edited.fields = {**edited.fields, "short_description": "Our blue linen tea towel, stonewashed for softness."}
    db.add(AuditEntry(shop_id=shop.id, draft_id=edited.id, actor="staff@towels.example", action="draft.edited",
                      detail={"fields": ["short_description"]}))
    db.commit()
    return engine, db, shop


def test_shop_drafts_become_examples_with_the_edited_text(settings):
    from model.shop_data import shop_records
    from plugin.shops import effective_settings
    from worker.pipeline import style_for

    engine, db, shop = _shop_db(settings, 20)
    records, counts = shop_records(db, shop)
    assert counts == {"drafts": 20, "products": 20, "edited_fields": 1, "edited_drafts": 1}
    examples = {(e.id, e.field): e for e in data.build_examples(records)}
    assert examples[("100", "short_description")].target == "Our blue linen tea towel, stonewashed for softness."
    assert examples[("100", "description")].target == ("A blue tea towel in 100% linen, 50 x 70 cm. "
                                                       "It is stonewashed for softness.")
    style = style_for(effective_settings(shop), "mention the size")
    record = next(r for r in records if r["id"] == "101")
    assert examples[("101", "seo_title")].messages == prompts.render(
        "product_copy", field="seo_title", product=data.prompt_record(record), style={**data.DEFAULT_STYLE, **style})
    assert "playful" in examples[("101", "seo_title")].messages[0]["content"]
    assert "Details: Stonewashed for softness." in examples[("101", "seo_title")].messages[1]["content"]
    db.close()
    engine.dispose()


def test_train_shop_writes_where_the_worker_looks(settings, tiny_model_dir):
    engine, db, shop = _shop_db(settings, 20)
    shop_id = shop.id
    db.close()
    engine.dispose()
    assert run_train(settings, tiny_model_dir, "--shop", "towels.example", "--fields", "seo_title",
                     "--max-steps", "1") == 0
    meta = json.loads((settings.instance_path / "adapters" / f"shop-{shop_id}" / "copydesk.json").read_text())
    assert meta["data"]["by_source"] == {"shop": meta["data"]["examples"]}
    assert meta["data"]["shop"]["edited_fields"] == 1


def test_train_shop_with_too_few_drafts(settings, tiny_model_dir, capsys):
    engine, db, _ = _shop_db(settings, 3)
    db.close()
    engine.dispose()
    assert run_train(settings, tiny_model_dir, "--shop", "towels.example") == 2
    err = capsys.readouterr().err
    assert "has 3 reviewed" in err and "at least 20" in err
