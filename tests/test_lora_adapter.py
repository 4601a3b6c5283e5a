"""Fine-tuned adapters applied at load time: merged into the model, recorded on drafts, per shop."""

from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from model import lora
from model.backend import load_generator, weights_revision
from model.copy import write_copy
from worker import context
from worker.batcher import Batcher

CHAT = [[{"role": "user", "content": "Describe a linen tea towel."}]]


def make_adapter(base_dir, out, *, base_revision: str | None = None, seed: int = 0):
    """A LoRA adapter with random (non-zero) weights on the tiny model, as `copydesk train` lays it out."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(out)
    revision = weights_revision(base_dir) if base_revision is None else base_revision
    (out / lora.META).write_text(json.dumps({"kind": "lora", "base_revision": revision}))
    return out


def logits(generator):
    import torch

    ids = generator.tokenizer("a linen tea towel", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return generator.model(ids).logits


def test_adapter_is_merged_and_labelled(tiny_model_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    folder = make_adapter(tiny_model_dir, tmp_path / "towels")
    base = load_generator(str(tiny_model_dir), device="cpu", cache_dir=tmp_path)
    tuned = load_generator(str(tiny_model_dir), device="cpu", cache_dir=tmp_path, adapter=str(folder))
    assert base.adapter == ""
    assert tuned.adapter == f"towels@{lora.weights_hash(folder)}"
    assert not torch.allclose(logits(base), logits(tuned))  # the adapter changes the model
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), folder).eval()
    ids = tuned.tokenizer("a linen tea towel", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.allclose(unmerged(ids).logits, logits(tuned), atol=1e-4)  # merging keeps its output
    result = write_copy(tuned, {"title": "Linen Tea Towel", "category": "Kitchen"}, seed=1)
    assert result.adapter == tuned.adapter  # drafts record which adapter wrote them


def test_adapter_for_another_base_is_refused_by_path_and_skipped_by_default(tiny_model_dir, tmp_path,
                                                                             monkeypatch):
    other = make_adapter(tiny_model_dir, tmp_path / "other", base_revision="0123456789ab")
    with pytest.raises(lora.AdapterError, match="trained on base weights 0123456789ab"):
        load_generator(str(tiny_model_dir), device="cpu", cache_dir=tmp_path, adapter=str(other))
    monkeypatch.setattr(lora, "SHIPPED", other)
    assert load_generator(str(tiny_model_dir), device="cpu", cache_dir=tmp_path, adapter="default").adapter == ""
    fitting = make_adapter(tiny_model_dir, tmp_path / "product-copy")
    monkeypatch.setattr(lora, "SHIPPED", fitting)
    assert load_generator(str(tiny_model_dir), device="cpu", cache_dir=tmp_path,
                          adapter="default").adapter.startswith("product-copy@")


def test_adapter_specs(tmp_path, monkeypatch):
    monkeypatch.setattr(lora, "SHIPPED", tmp_path / "missing")
    assert lora.resolve("none") is None and lora.resolve("default") is None
    with pytest.raises(lora.AdapterError, match="not an adapter folder"):
        lora.resolve(str(tmp_path))
    assert lora.shop_adapter(tmp_path, 7) is None


def test_worker_uses_a_shops_own_adapter(tiny_model_dir, settings, redis_conn, monkeypatch):
    settings = dataclasses.replace(settings, model=str(tiny_model_dir), adapter="none")
    own = make_adapter(tiny_model_dir, settings.instance_path / "adapters" / "shop-1")
    ctx = context.Context.build(settings, redis_conn)
    try:
        assert ctx.generator(1).adapter == f"shop-1@{lora.weights_hash(own)}"
        assert ctx.generator(2).adapter == ""  # no adapter of its own: COPYDESK_ADAPTER's (none)
        assert ctx.generator(2) is ctx.generator(None)  # one copy of the configured model
        assert ctx.generator(1) is ctx.generator(1)  # loaded once, kept
        monkeypatch.setattr(context, "MAX_LOADED_MODELS", 1)
        make_adapter(tiny_model_dir, settings.instance_path / "adapters" / "shop-3", seed=3)
        assert ctx.generator(3).adapter.startswith("shop-3@")
        assert len(ctx._generators) == 1  # the others were let go
    finally:
        ctx.sessions.kw["bind"].dispose()


def test_closed_batcher_still_serves_late_calls(tiny_generator):
    batcher = Batcher(tiny_generator, max_wait=0.0)
    expected = tiny_generator.generate(CHAT, max_new_tokens=4, seed=2)
    assert batcher.generate(CHAT, max_new_tokens=4, seed=2) == expected
    batcher.close()
    batcher._thread.join(timeout=10)
    assert not batcher._thread.is_alive()  # the batching thread ends
    out = []
    thread = threading.Thread(target=lambda: out.append(batcher.generate(CHAT, max_new_tokens=4, seed=2)))
    thread.start()
    thread.join(timeout=30)
    assert out == [expected]  # a job that still holds it gets its rows, unbatched


def test_bundled_base_fits_its_adapter_across_converter_versions(tmp_path):
    """The converted folder's hash covers config.json (which names the transformers version that wrote it);
    an adapter made for the bundled model still fits the bundled model converted by another version."""
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    meta = {"base_model": "smollm2", "base_revision": "aaaaaaaaaaaa"}
    adapter = lora.Adapter(folder, meta, strict=False)
    assert lora.fits(adapter, "bbbbbbbbbbbb", "smollm2")
    assert not lora.fits(adapter, "bbbbbbbbbbbb", "/models/other")  # another base model: no
    assert not lora.fits(lora.Adapter(folder, {**meta, "base_model": "/x"}, strict=False), "bbbbbbbbbbbb", "smollm2")


@pytest.mark.model
def test_the_shipped_adapter_applies_to_the_bundled_model(hf_offline, tmp_path):
    from tests.model_fixtures import MODEL_CACHE

    meta = json.loads((lora.SHIPPED / lora.META).read_text())
    assert meta["base_model"] == "smollm2" and meta["kind"] == "lora"
    generator = load_generator("smollm2", device="cpu", cache_dir=MODEL_CACHE, adapter="default")
    assert generator.adapter == f"product-copy@{lora.weights_hash(lora.SHIPPED)}"
    result = write_copy(generator, {"title": "Linen Tea Towel", "category": "Kitchen",
                                    "attributes": {"Material": "100% linen", "Size": "50 x 70 cm"}}, seed=0)
    assert result.adapter == generator.adapter and result.fields["description"]
