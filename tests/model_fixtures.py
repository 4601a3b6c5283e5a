"""Shared fixtures for the model-side tests: offline hub, the tiny test model, the real model.

tests/conftest.py imports these fixtures, so every test module can name them as parameters.
The tiny model is built once into ``~/.cache/copydesk/test-models`` and reused across sessions.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

CACHE_ROOT = Path.home() / ".cache" / "copydesk"
"""Per-user cache, the same folder as Settings.cache_dir's default, so that the app, the CLI and the
tests share one converted model; tiny test models live under test-models/."""
MODEL_CACHE = CACHE_ROOT
TEST_MODELS = CACHE_ROOT / "test-models"

SAMPLE_RECORD = {
    "id": "42",
    "title": "Linen Tea Towel",
    "category": "Kitchen",
    "vendor": "Acme Home",
    "tags": ["linen", "kitchen"],
    "attributes": {"Material": "100% linen", "Size": "50 x 70 cm"},
    "variants": [
        {"title": "Blue", "sku": "LTT-B", "price": "9.00", "options": {"Colour": "Blue"}},
        {"title": "Red", "sku": "LTT-R", "price": "9.00", "options": {"Colour": "Red"}},
    ],
    "description": "Stonewashed for softness. Machine washable at 40 °C.",
}


@pytest.fixture(scope="session", autouse=True)
def hf_offline():
    """Nothing in these tests may reach a model hub."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def tiny_model_dir(hf_offline) -> Path:
    """Folder of the seeded tiny Llama (SmolLM2 tokenizer), built on first use."""
    from model.backend import build_tiny_model
    from model.convert import find_gguf, short_hash
    from model.tiny import TINY_SEED, TINY_SHAPE

    gguf = find_gguf()
    shape = hashlib.sha256(repr((sorted(TINY_SHAPE.items()), TINY_SEED)).encode()).hexdigest()
    return build_tiny_model(TEST_MODELS / f"tiny-{short_hash(gguf)}-{shape[:8]}", gguf)


@pytest.fixture(scope="session")
def tiny_generator(tiny_model_dir, tmp_path_factory):
    from model.backend import load_generator

    return load_generator(str(tiny_model_dir), device="cpu",
                          cache_dir=tmp_path_factory.mktemp("model-cache"))


@pytest.fixture(scope="session")
def real_generator(hf_offline):
    """The default SmolLM2 model (converted once into ``MODEL_CACHE``); for @pytest.mark.model."""
    from model.backend import load_generator

    return load_generator("smollm2", device="cpu", cache_dir=MODEL_CACHE)
