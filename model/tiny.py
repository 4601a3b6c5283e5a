"""A tiny randomly initialised Llama with the real SmolLM2 tokenizer, for fast plumbing tests.

It generates gibberish in well under a second on CPU; weights are seeded, so every build is
identical. Built atomically (temp folder + rename) and reused when already present.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

TINY_SEED = 1234
"""torch seed used to initialise the tiny model's weights."""
TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "initializer_range": 0.2,
}
"""LlamaConfig overrides; a wide initializer makes greedy argmax robust to float noise."""


def _load_tokenizer(tokenizer_from: Path):
    from transformers import AutoTokenizer

    tokenizer_from = Path(tokenizer_from)
    if tokenizer_from.is_file() and tokenizer_from.suffix == ".gguf":
        return AutoTokenizer.from_pretrained(tokenizer_from.parent, gguf_file=tokenizer_from.name)
    return AutoTokenizer.from_pretrained(tokenizer_from)


def build_tiny_model(out_dir: Path, tokenizer_from: Path) -> Path:
    """Save a seeded tiny ``LlamaForCausalLM`` + the tokenizer from ``tokenizer_from`` (a model
    folder or a ``.gguf`` file) to ``out_dir``; reuse ``out_dir`` if it is already complete."""
    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file() and (out_dir / "model.safetensors").is_file():
        return out_dir
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _load_tokenizer(tokenizer_from)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    eos = im_end if isinstance(im_end, int) else tokenizer.eos_token_id
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        **TINY_SHAPE,
    )
    with torch.random.fork_rng():
        torch.manual_seed(TINY_SEED)
        model = LlamaForCausalLM(config).eval()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)
        try:
            tmp.rename(out_dir)
        except OSError:  # another process won the race; its folder is identical
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
