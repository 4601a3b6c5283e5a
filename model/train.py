"""Fine-tune the copy model on prepared examples: a small hand-written loop in the nanoGPT manner.

LoRA (peft) on the attention and MLP projections by default, or every weight (``kind="full"``). The loss
is the mean cross-entropy over the assistant's answer tokens only: the prompt is masked with -100, and
the prompt is tokenised exactly as ``model.backend.Generator`` tokenises it for generation
(``apply_chat_template(..., add_generation_prompt=True)``, no special tokens added). AdamW, linear warmup
then cosine decay, gradient accumulation and clipping. A checkpoint (trainable weights, optimizer,
scheduler, position in the data, RNG states) is written every ``save_every`` steps, so ``resume``
continues exactly where the run stopped. torch and peft are imported inside the functions.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model import checkpoint as ckpt

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""Linear layers that get LoRA adapters (Llama/SmolLM/Qwen/Mistral names)."""
KINDS = ("lora", "full")
IGNORE = -100
"""Label of a position that does not count in the loss (prompt and padding)."""


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one run; stored in checkpoints and copydesk.json."""

    kind: str = "lora"
    epochs: int = 2
    max_steps: int = 0
    """0: as many steps as ``epochs`` take."""
    lr: float = 2e-4
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.05
    batch_size: int = 8
    grad_accum: int = 2
    max_tokens: int = 768
    warmup: float = 0.05
    """Fraction of the steps spent warming the learning rate up from 0."""
    min_lr_ratio: float = 0.1
    """The cosine decay ends at ``lr * min_lr_ratio``."""
    weight_decay: float = 0.0
    clip: float = 1.0
    seed: int = 0
    save_every: int = 50

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        for name in ("epochs", "batch_size", "grad_accum", "rank", "alpha", "max_tokens", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if self.max_steps < 0 or self.lr <= 0 or self.clip <= 0:
            raise ValueError("max_steps must be >= 0, lr and clip > 0")
        if not 0 <= self.dropout < 1 or not 0 <= self.warmup < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("dropout and warmup must be in [0, 1), min_lr_ratio in [0, 1]")

    def resumable_differences(self, saved: dict) -> list[str]:
        """Settings that differ from a checkpoint's (``save_every`` may change between runs)."""
        mine = dataclasses.asdict(self)
        return [f"{k}={saved.get(k)!r} (now {v!r})" for k, v in mine.items()
                if k != "save_every" and saved.get(k) != v]


def encode(tokenizer: Any, messages: list[dict], target: str) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one example: the prompt as generation sees it, then the answer and the
    end-of-turn token; labels are -100 over the prompt."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": target}], tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("chat template: the generation prompt is not a prefix of the answered conversation, "
                         "so the prompt cannot be masked")
    completion = full[len(prompt):].rstrip("\n")
    head = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    tail = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return head + tail, [IGNORE] * len(head) + tail


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of example indices; similar lengths share a batch (less padding). Depends only
    on the lengths, seed and epoch, so a resumed run sees the same order."""
    import torch

    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(lengths), generator=gen).tolist()
    chunk = batch_size * 16
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: lengths[i])
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    shuffled = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in shuffled]


def collate(seqs: Sequence[tuple[list[int], list[int]]], pad_id: int, device: str) -> dict:
    import torch

    width = max(len(ids) for ids, _ in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    labels = torch.full((len(seqs), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, (x, y) in enumerate(seqs):
        ids[row, :len(x)] = torch.tensor(x)
        labels[row, :len(y)] = torch.tensor(y)
        mask[row, :len(x)] = 1
    return {"input_ids": ids.to(device), "labels": labels.to(device), "attention_mask": mask.to(device)}


def answer_loss_sum(model: Any, batch: dict) -> Any:
    """Summed cross-entropy over answer tokens; the vocabulary projection runs only where a label is set."""
    import torch.nn.functional as F

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    targets = batch["labels"][:, 1:]
    keep = targets != IGNORE
    if getattr(base.config, "final_logit_softcapping", None):  # logits are not lm_head(hidden) alone
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        return F.cross_entropy(logits[keep].float(), targets[keep], reduction="sum")
    backbone = getattr(base, base.base_model_prefix)
    hidden = backbone(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    return F.cross_entropy(logits.float(), targets[keep], reduction="sum")


def load_model(source: Path | str, config: TrainConfig, device: str) -> tuple[Any, Any]:
    """(model ready to train, tokenizer); LoRA wraps the base model with peft."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    local = {"local_files_only": True} if isinstance(source, str) else {}
    tokenizer = AutoTokenizer.from_pretrained(source, **local)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(config.seed)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, **local)
    if config.kind == "lora":
        from peft import LoraConfig, get_peft_model

        present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        modules = [m for m in LORA_TARGETS if m in present]
        if not modules:
            raise ValueError(f"lora: the model has none of the projections {LORA_TARGETS}")
        model = get_peft_model(model, LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                                                 target_modules=modules, task_type="CAUSAL_LM"))
    model.to(device)
    return model, tokenizer


def lr_lambda(total: int, config: TrainConfig) -> Callable[[int], float]:
    """Linear warmup over ``warmup`` of the steps, then cosine down to ``min_lr_ratio``."""
    warm = max(1, int(total * config.warmup)) if config.warmup else 0

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def evaluate(model: Any, seqs: list, batch_size: int, pad_id: int, device: str) -> dict | None:
    """Token-weighted mean answer loss and perplexity over ``seqs`` (None when there are none)."""
    import torch

    if not seqs:
        return None
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad(), _autocast(device):
        for start in range(0, len(seqs), batch_size):
            batch = collate(seqs[start:start + batch_size], pad_id, device)
            total += float(answer_loss_sum(model, batch))
            count += int((batch["labels"][:, 1:] != IGNORE).sum())
    model.train()
    loss = total / max(1, count)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}


def _autocast(device: str):
    import contextlib

    import torch

    if device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def optimizer_for(model: Any, config: TrainConfig, total: int):
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    fused = {"fused": True} if next(model.parameters()).is_cuda else {}
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.95),
                                  **fused)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(total, config))
    return optimizer, scheduler


def total_steps(n_batches: int, config: TrainConfig) -> int:
    per_epoch = math.ceil(n_batches / config.grad_accum)
    total = per_epoch * config.epochs
    return min(total, config.max_steps) if config.max_steps else total


def run(model: Any, tokenizer: Any, train_seqs: list, val_seqs: list, config: TrainConfig, *, device: str,
        out_dir: Path, resume: bool = False, signature: dict | None = None, progress: bool = True,
        log: Callable[[str], None] = print) -> ckpt.State:
    """Train ``model`` in place; returns the final state (steps, tokens, seconds, and the history: per-step
    loss, validation loss/perplexity before training and after each epoch)."""
    import torch
    from tqdm import tqdm

    lengths = [len(ids) for ids, _ in train_seqs]
    n_batches = math.ceil(len(train_seqs) / config.batch_size)
    total = total_steps(n_batches, config)
    optimizer, scheduler = optimizer_for(model, config, total)
    state = ckpt.State()
    if resume:
        state = ckpt.load_latest(out_dir, model, optimizer, scheduler, config, signature or {})
        log(f"resuming at step {state.step} of {total} (epoch {state.epoch + 1})")
    else:
        baseline = evaluate(model, val_seqs, config.batch_size, tokenizer.pad_token_id, device)
        if baseline:
            state.history["val"].append({"epoch": 0, "step": 0, **baseline})
    model.train()
    bar = tqdm(total=total, initial=state.step, disable=not progress, unit="step", dynamic_ncols=True)
    while state.step < total:
        order = epoch_batches(lengths, config.batch_size, config.seed, state.epoch)
        while state.pos < len(order) and state.step < total:
            tick = time.perf_counter()
            group = order[state.pos:state.pos + config.grad_accum]
            step_loss = _step(model, [[train_seqs[i] for i in idx] for idx in group], tokenizer.pad_token_id,
                              device, state)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.pos += len(group)
            state.step += 1
            state.seconds += time.perf_counter() - tick
            state.history["steps"].append({"step": state.step, "loss": round(step_loss, 5),
                                           "lr": lr, "seconds": round(state.seconds, 2)})
            bar.set_postfix(loss=f"{step_loss:.3f}", tok_s=f"{state.tokens / max(state.seconds, 1e-9):.0f}")
            bar.update(1)
            if not progress and (state.step % 10 == 0 or state.step == total):
                log(f"step {state.step}/{total} loss {step_loss:.3f} "
                    f"{state.tokens / max(state.seconds, 1e-9):.0f} tokens/s")
            if state.step % config.save_every == 0 and state.step < total:
                ckpt.save(out_dir, model, optimizer, scheduler, state, config, signature or {})
        if state.pos >= len(order):
            state.history["val"] += _val(model, val_seqs, config, tokenizer, device, state.epoch + 1, state.step)
            state.epoch, state.pos = state.epoch + 1, 0
    bar.close()
    if not state.history["val"] or state.history["val"][-1]["step"] != state.step:
        fraction = state.epoch + state.pos / max(1, n_batches)
        state.history["val"] += _val(model, val_seqs, config, tokenizer, device, fraction, state.step)
    ckpt.save(out_dir, model, optimizer, scheduler, state, config, signature or {})
    return state


def _step(model: Any, groups: list[list], pad_id: int, device: str, state: ckpt.State) -> float:
    """Forward and backward over one optimizer step's micro-batches; the loss is the mean over all their
    answer tokens. Returns that loss."""
    batches = [collate(seqs, pad_id, device) for seqs in groups]
    answer_tokens = sum(int((b["labels"][:, 1:] != IGNORE).sum()) for b in batches)
    total = 0.0
    for batch in batches:
        with _autocast(device):
            loss = answer_loss_sum(model, batch) / max(1, answer_tokens)
        loss.backward()
        total += float(loss.detach())
        state.tokens += int(batch["attention_mask"].sum())
    return total


def _val(model, val_seqs, config, tokenizer, device, epoch, step) -> list[dict]:
    result = evaluate(model, val_seqs, config.batch_size, tokenizer.pad_token_id, device)
    return [{"epoch": round(epoch, 3), "step": step, **result}] if result else []
