"""model/backend.py + model/convert.py: loading, batched seeded generation, conversion cache."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from model import convert
from model.backend import resolve_model, weights_revision
from model.errors import ConversionError, ModelNotFoundError
from tests.model_fixtures import MODEL_CACHE  # fixtures themselves come from conftest

CHATS = [
    [{"role": "system", "content": "You write product copy."},
     {"role": "user", "content": "Describe a linen tea towel in two short paragraphs, please."}],
    [{"role": "user", "content": "Title?"}],
    [{"role": "user", "content": "Write a meta description for a cast iron skillet."}],
]


# --- tiny model: generation -------------------------------------------------------------------

def test_tiny_generator_attributes(tiny_generator, tiny_model_dir):
    assert tiny_generator.device == "cpu"
    assert tiny_generator.model_id == str(tiny_model_dir)
    assert tiny_generator.revision == weights_revision(tiny_model_dir)
    assert len(tiny_generator.revision) == 12
    assert tiny_generator.tokenizer.padding_side == "left"
    assert tiny_generator.tokenizer.pad_token is not None


def test_sampling_is_deterministic_for_a_seed(tiny_generator):
    first = tiny_generator.generate(CHATS, max_new_tokens=12, seed=11)
    again = tiny_generator.generate(CHATS, max_new_tokens=12, seed=11)
    other = tiny_generator.generate(CHATS, max_new_tokens=12, seed=12)
    assert first == again
    assert len(first) == 3 and all(isinstance(t, str) and t for t in first)
    assert other != first


def test_left_padding_batch_matches_single_greedy(tiny_generator):
    batched = tiny_generator.generate(CHATS, max_new_tokens=16, seed=0, temperature=0)
    alone = [tiny_generator.generate([c], max_new_tokens=16, seed=0, temperature=0)[0]
             for c in CHATS]
    assert batched == alone
    # greedy ignores the seed
    assert tiny_generator.generate(CHATS[:1], max_new_tokens=16, seed=5, temperature=0) == alone[:1]


def test_per_row_token_limits(tiny_generator):
    tok = tiny_generator.tokenizer
    out = tiny_generator.generate(CHATS, max_new_tokens=[20, 3, 8], seed=0, temperature=0)
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in out]
    assert lengths[1] <= 4 and lengths[2] <= 9 and lengths[0] > lengths[1]
    full = tiny_generator.generate(CHATS, max_new_tokens=20, seed=0, temperature=0)
    assert full[0] == out[0] and full[2].startswith(out[2])


def test_generate_argument_checks(tiny_generator):
    assert tiny_generator.generate([], max_new_tokens=5, seed=0) == []
    with pytest.raises(ValueError, match="max_new_tokens"):
        tiny_generator.generate(CHATS, max_new_tokens=[5, 5], seed=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        tiny_generator.generate(CHATS, max_new_tokens=0, seed=0)
    with pytest.raises(ValueError):
        tiny_generator.generate(CHATS, max_new_tokens=5, seed=0, top_p=0)


def test_tiny_model_is_small_and_reused(tiny_model_dir):
    from model.backend import build_tiny_model

    size = sum(p.stat().st_size for p in tiny_model_dir.iterdir())
    assert size < 25_000_000
    mtime = (tiny_model_dir / "model.safetensors").stat().st_mtime
    assert build_tiny_model(tiny_model_dir, Path("/nonexistent")) == tiny_model_dir
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime == mtime


# --- resolving and the conversion cache (conversion faked: the real one takes ~45 s) -----------

@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    gguf = tmp_path / "pkg" / "Fake-135M.Q4_1.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    calls = []

    def fake_convert(src: Path, out_dir: Path) -> None:
        calls.append(src)
        time.sleep(0.2)  # long enough for a concurrent caller to arrive
        for name in ("config.json", "tokenizer_config.json", "model.safetensors"):
            (out_dir / name).write_text("{}")

    monkeypatch.setattr(convert, "_convert", fake_convert)
    monkeypatch.setattr(convert, "find_gguf", lambda: gguf)
    return gguf, calls


def test_conversion_runs_once_and_is_reused(fake_gguf, tmp_path):
    gguf, calls = fake_gguf
    cache = tmp_path / "cache"
    first = resolve_model("smollm2", cache)
    assert first == cache / f"smollm2-135m-instruct-{convert.short_hash(gguf)}"
    assert resolve_model("", cache) == first and resolve_model("SmolLM2", cache) == first
    assert resolve_model(str(gguf), cache) == first
    assert len(calls) == 1
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [first.name]


def test_concurrent_first_use_converts_once(fake_gguf, tmp_path):
    _, calls = fake_gguf
    results = []
    threads = [threading.Thread(target=lambda: results.append(resolve_model("smollm2", tmp_path)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and len(results) == 3


def test_failed_conversion_leaves_no_folder(fake_gguf, tmp_path, monkeypatch):
    def broken(src, out_dir):
        (out_dir / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(convert, "_convert", broken)
    cache = tmp_path / "cache"
    with pytest.raises(ConversionError, match="disk full"):
        resolve_model("smollm2", cache)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_resolve_local_path_and_hub_id(tmp_path):
    assert resolve_model(str(tmp_path), tmp_path / "cache") == tmp_path
    assert resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct", tmp_path) == (
        "HuggingFaceTB/SmolLM2-360M-Instruct")
    with pytest.raises(ModelNotFoundError):
        resolve_model("./no/such/folder", tmp_path)


def test_hub_id_not_in_local_cache_fails_offline(tmp_path, hf_offline):
    from model.backend import load_generator

    with pytest.raises(ModelNotFoundError):
        load_generator("copydesk-test/does-not-exist", device="cpu", cache_dir=tmp_path)


# --- the real default model (slow: select with -m model) --------------------------------------

@pytest.mark.model
def test_real_conversion_cache_is_reused(real_generator):
    start = time.perf_counter()
    path = resolve_model("smollm2", MODEL_CACHE)
    assert time.perf_counter() - start < 2
    assert convert.is_complete(path) and real_generator.revision == weights_revision(path)
    assert real_generator.model_id == "smollm2"


# --- per-row sampling: a row's output does not depend on the rest of the batch ------------------

def test_sampled_row_is_the_same_alone_and_in_a_batch(tiny_generator):
    batched = tiny_generator.generate(CHATS, max_new_tokens=12, seed=[3, 4, 5], temperature=0.9)
    alone = [tiny_generator.generate([c], max_new_tokens=12, seed=s, temperature=0.9)[0]
             for c, s in zip(CHATS, [3, 4, 5], strict=True)]
    assert batched == alone
    twice = tiny_generator.generate([CHATS[0], CHATS[0]], max_new_tokens=12, seed=[3, 9])
    assert twice[0] != twice[1]  # per-row seeds really differ


def test_top_p_filter_keeps_the_nucleus():
    import torch

    from model.sampling import top_p_filter

    scores = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(top_p_filter(scores, 0.7))[0].tolist()
    assert kept == [True, True, False, False]
    assert torch.isfinite(top_p_filter(scores, 0.01))[0].tolist() == [True, False, False, False]
    assert torch.equal(top_p_filter(scores, 1.0), scores)


@pytest.mark.parametrize("temperature", [0.3, 1.0, 8.0])
def test_top_p_filter_matches_a_full_sort(temperature):
    """The partial (top-k) nucleus is exactly the full-sort nucleus, flat distributions included."""
    import torch

    from model.sampling import _top_p_full, top_p_filter

    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 49152, generator=gen) * 4 / temperature
    for top_p in (0.5, 0.9, 0.99):
        assert torch.equal(top_p_filter(scores, top_p), _top_p_full(scores, top_p))
