"""Load a causal LM once and generate batched chat completions.

``resolve_model`` turns a spec ("smollm2"/"" → the bundled GGUF converted once to safetensors; a
local path; or a hub id already in the local HF cache) into something ``from_pretrained`` loads.
``load_generator`` returns a ``Generator`` whose ``generate`` runs one batched, seeded call (the loop in
model/decode.py: shared prompt prefixes, finished rows leave the batch; transformers' ``generate`` for
models that loop does not support).
torch/transformers are imported only inside the functions that need them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model import decode, lora
from model.convert import ensure_converted, file_fingerprint
from model.errors import ModelNotFoundError
from model.sampling import row_limits, row_sampler
from model.tiny import build_tiny_model

__all__ = ["DEFAULT_MODEL", "ENGINES", "Generator", "build_tiny_model", "load_generator", "resolve_model"]

DEFAULT_MODEL = "smollm2"
"""Spec of the bundled default model (SmolLM2-135M-Instruct, Apache-2.0)."""


def resolve_model(spec: str, cache_dir: Path) -> Path | str:
    """Return a local folder (or a hub id present in the local HF cache) for ``spec``."""
    spec = (spec or "").strip()
    if spec.lower() in ("", DEFAULT_MODEL):
        return ensure_converted(Path(cache_dir))
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_file() and path.suffix == ".gguf":
            return ensure_converted(Path(cache_dir), path)
        return path
    if spec.startswith((".", "/", "~")):
        raise ModelNotFoundError(spec, "no such path")
    return spec  # a hub id; loading passes local_files_only=True


def weights_revision(folder: Path) -> str:
    """Cheap content hash of a model folder: config + each weights file's name, size, ends."""
    h = hashlib.sha256()
    for name in ("config.json", "generation_config.json"):
        if (folder / name).is_file():
            h.update((folder / name).read_bytes())
    for weights in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        file_fingerprint(weights, h)
    return h.hexdigest()[:12]


def pick_device(device: str) -> str:
    """``auto`` → cuda when available, else cpu; a cuda device asked for without CUDA is an error."""
    import torch

    if device in ("", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return device


def load_generator(
    spec: str = DEFAULT_MODEL,
    *,
    device: str = "auto",
    threads: int | None = None,
    cache_dir: Path,
    api_key: str = "",
    timeout: float = 120.0,
    concurrency: int = 8,
    adapter: str | Path | lora.Adapter | None = None,
) -> Generator:
    """Resolve ``spec``, load tokenizer + model once and return a ready ``Generator``. ``adapter``: a
    fine-tuned adapter to merge in (a folder, ``default`` or ``none``; see model/lora.py); None: none."""
    if spec.startswith("openai:"):
        from model import openai_backend

        return openai_backend.load(spec, api_key=api_key, timeout=timeout, concurrency=concurrency)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads: must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    source = resolve_model(spec, cache_dir)
    dev = pick_device(device)
    dtype = torch.bfloat16 if dev.startswith("cuda") else torch.float32
    local_only = {"local_files_only": True} if isinstance(source, str) else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **local_only)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **local_only)
    except OSError as err:
        raise ModelNotFoundError(str(spec), str(err)) from err
    model.to(dev).eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if isinstance(source, Path):
        revision = weights_revision(source)
    else:
        revision = str(getattr(model.config, "_commit_hash", None) or "unknown")[:12]
    label = ""
    chosen = adapter if isinstance(adapter, lora.Adapter) or adapter is None else lora.resolve(adapter)
    if chosen is not None:
        model, label = lora.apply(model, chosen, revision, spec)
    return Generator(
        model=model,
        tokenizer=tokenizer,
        model_id=spec or DEFAULT_MODEL,
        revision=revision,
        device=dev,
        adapter=label,
    )


def _stop_ids(tokenizer: Any, model: Any) -> list[int]:
    """End-of-turn token ids: the generation config's eos plus ``<|im_end|>`` when it exists."""
    ids: list[int] = []
    eos = model.generation_config.eos_token_id
    ids.extend(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    for tok in ("<|im_end|>", tokenizer.eos_token):
        tid = tokenizer.convert_tokens_to_ids(tok) if tok else None
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            ids.append(tid)
    return sorted(set(ids))


ENGINES = ("pruning", "transformers")
"""``Generator.engine`` values: model/decode.py's loop, or transformers' ``generate`` (every row of a
call runs until its last row is done; used anyway for models ``decode.supported`` rejects)."""


@dataclass
class Generator:
    """A loaded model + tokenizer. ``generate`` is one batched call; not thread-safe."""

    model: Any = field(repr=False)
    tokenizer: Any = field(repr=False)
    model_id: str
    revision: str
    device: str
    engine: str = "pruning"
    adapter: str = ""
    """The merged adapter's label (``name@hash``), "" for the base model alone."""

    def generate(
        self,
        conversations: list[list[dict]],
        *,
        max_new_tokens: int | Sequence[int],
        seed: int | Sequence[int],
        temperature: float = 0.7,
        top_p: float = 0.9,
        repetition_penalty: float = 1.0,
    ) -> list[str]:
        """Complete each chat (list of ``{"role", "content"}``) in one batch; ``temperature`` 0 is
        greedy. ``max_new_tokens`` and ``seed`` may be given per conversation. A row's output
        depends only on its chat, seed and settings (not on the rest of the batch), so the same
        inputs + seed give the same outputs on the same machine. ``repetition_penalty`` (CTRL's rule)
        counts only the tokens a row has generated, never its prompt, whose names are there to copy."""
        if not conversations:
            return []
        limits = _limits(max_new_tokens, len(conversations))
        if temperature < 0 or not 0 < top_p <= 1 or repetition_penalty <= 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1], repetition_penalty > 0")
        if self.engine not in ENGINES:
            raise ValueError(f"engine: expected one of {ENGINES}, got {self.engine!r}")
        seeds = _seeds(seed, len(conversations))
        texts = [
            self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
        if self.engine == "transformers" or not decode.supported(self.model):
            return self._generate_transformers(texts, limits, seeds, temperature, top_p,
                                               repetition_penalty)
        prompts = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        rows = decode.generate_ids(
            self.model, prompts, limits=limits, seeds=seeds,
            stop_ids=_stop_ids(self.tokenizer, self.model), pad_id=self.tokenizer.pad_token_id,
            temperature=temperature, top_p=top_p, repetition_penalty=repetition_penalty,
            device=self.device,
        )
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)

    def _generate_transformers(self, texts: list[str], limits: list[int], seeds: list[int],
                               temperature: float, top_p: float, repetition_penalty: float
                               ) -> list[str]:
        import torch
        from transformers import (
            LogitsProcessorList,
            RepetitionPenaltyLogitsProcessor,
            StoppingCriteriaList,
        )

        batch = self.tokenizer(
            texts, return_tensors="pt", padding=True, add_special_tokens=False
        ).to(self.device)
        processors = []
        if repetition_penalty != 1.0:  # on generated tokens only, as decode.generate_ids
            processors.append(RepetitionPenaltyLogitsProcessor(
                repetition_penalty, prompt_ignore_length=batch["input_ids"].shape[1]))
        if temperature > 0:
            processors.append(row_sampler(seeds, temperature, top_p))
        stopping = [row_limits(limits, batch["input_ids"].shape[1])] if len(set(limits)) > 1 else []
        torch.manual_seed(seeds[0])
        with torch.inference_mode():
            out = self.model.generate(
                **batch,
                max_new_tokens=max(limits),
                use_cache=True,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=_stop_ids(self.tokenizer, self.model),
                do_sample=False,  # sampling, when asked for, is done per row by row_sampler
                logits_processor=LogitsProcessorList(processors),
                stopping_criteria=StoppingCriteriaList(stopping),
            )
        start = batch["input_ids"].shape[1]
        rows = [out[i, start : start + limit] for i, limit in enumerate(limits)]
        return self.tokenizer.batch_decode(rows, skip_special_tokens=True)


def _limits(max_new_tokens: int | Sequence[int], n: int) -> list[int]:
    limits = [max_new_tokens] * n if isinstance(max_new_tokens, int) else list(max_new_tokens)
    if len(limits) != n or any(not isinstance(x, int) or x < 1 for x in limits):
        raise ValueError(
            f"max_new_tokens: need one int >= 1 or {n} of them, got {max_new_tokens!r}"
        )
    return limits


def _seeds(seed: int | Sequence[int], n: int) -> list[int]:
    seeds = [seed] * n if isinstance(seed, int) else list(seed)
    if len(seeds) != n or any(not isinstance(x, int) or x < 0 for x in seeds):
        raise ValueError(f"seed: need one int >= 0 or {n} of them, got {seed!r}")
    return seeds
