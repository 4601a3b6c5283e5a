"""What a finished training run leaves in its output folder, so the folder describes itself.

``adapter_config.json`` + ``adapter_model.safetensors`` (peft; or the whole model for ``--full``),
``copydesk.json`` (base model and weights hash, prompt version, fields, data summary, metrics, training
settings, the command), ``metrics.json`` (per-step loss, validation loss/perplexity, tokens/s), ``loss.png``
and a ``README.md`` model card stub. matplotlib is imported only to draw the plot.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import prompts
from model.copy import TASK

META = "copydesk.json"
"""Same name ``model.lora`` reads."""


def metrics(state: Any) -> dict:
    """metrics.json: the step and validation history plus the summary numbers."""
    val = state.history["val"]
    return {
        "steps": state.history["steps"],
        "val": val,
        "val_loss_before": val[0]["loss"] if val and val[0]["step"] == 0 else None,
        "val_loss": val[-1]["loss"] if val else None,
        "val_perplexity": val[-1]["perplexity"] if val else None,
        "train_loss_last": state.history["steps"][-1]["loss"] if state.history["steps"] else None,
        "tokens": state.tokens,
        "seconds": round(state.seconds, 2),
        "tokens_per_second": round(state.tokens / state.seconds, 1) if state.seconds else None,
    }


def save_model(model: Any, tokenizer: Any, out_dir: Path, kind: str, base_spec: str) -> None:
    """peft adapter files (LoRA), or the full model and its tokenizer."""
    if kind == "lora":
        for conf in model.peft_config.values():  # a portable name, not this machine's cache path
            conf.base_model_name_or_path = base_spec
        model.save_pretrained(str(out_dir), safe_serialization=True)
    else:
        model.save_pretrained(str(out_dir), safe_serialization=True)
        tokenizer.save_pretrained(str(out_dir))


def plot_loss(numbers: dict, path: Path) -> None:
    """loss.png: training loss per step and validation loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = numbers["steps"]
    ax.plot([s["step"] for s in steps], [s["loss"] for s in steps], label="train loss", lw=1)
    if numbers["val"]:
        ax.plot([v["step"] for v in numbers["val"]], [v["loss"] for v in numbers["val"]], "o-",
                label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (answer tokens)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def describe(*, kind: str, base_spec: str, base_revision: str, fields: list[str], summary: dict, numbers: dict,
             config: Any, device: str, threads: int, command: list[str], extra: dict | None = None) -> dict:
    """copydesk.json."""
    return {
        "kind": kind,
        "base_model": base_spec,
        "base_revision": base_revision,
        "prompt_version": prompts.version(TASK),
        "fields": list(fields),
        "data": summary,
        "metrics": {k: numbers[k] for k in ("val_loss_before", "val_loss", "val_perplexity", "train_loss_last")},
        "training": {
            "steps": numbers["steps"][-1]["step"] if numbers["steps"] else 0,
            "epochs": config.epochs,
            "seconds": numbers["seconds"],
            "tokens_per_second": numbers["tokens_per_second"],
            "device": device,
            "threads": threads,
            "seed": config.seed,
            "hyperparameters": dataclasses.asdict(config),
        },
        "command": command,
        **(extra or {}),
    }


def model_card(meta: dict) -> str:
    """README.md: what the adapter is, what it was trained on, how, and how well."""
    data, train, m = meta["data"], meta["training"], meta["metrics"]
    sources = ", ".join(f"{k} ({v})" for k, v in data["by_source"].items())
    dropped = ", ".join(f"{k} {v}" for k, v in data["dropped"].items()) or "none"

    def num(value):
        return "n/a" if value is None else f"{value:.3f}"

    return "\n".join([
        f"# Copydesk product-copy {'LoRA adapter' if meta['kind'] == 'lora' else 'fine-tuned model'}",
        "",
        f"Base model `{meta['base_model']}` (weights {meta['base_revision']}), prompt `{meta['prompt_version']}`, "
        f"fields: {', '.join(meta['fields'])}.",
        "",
        "## Data",
        f"- {data['examples']} examples from {data['products']} products: {sources}; "
        f"train {data['by_split']['train']}, validation {data['by_split']['val']} (split by product id).",
        f"- Targets grounded ({data['grounding']}): {data['sentences']['dropped_ungrounded']} of "
        f"{data['sentences']['total']} sentences/bullets dropped as not traceable to the prompt's record.",
        f"- Dropped examples: {dropped}. Content hash `{data['hash']}`.",
        "- Magento Luma sample data: OSL-3.0 / AFL-3.0, Copyright Magento, Inc. (Adobe). Hand-written examples: "
        "model/training_data/written.jsonl.",
        "",
        "## Training",
        f"- `{' '.join(meta['command'])}`",
        f"- {train['steps']} steps, {train['epochs']} epoch(s), {train['seconds']:.0f} s on {train['device']} "
        f"({train['tokens_per_second']} tokens/s), seed {train['seed']}.",
        "",
        "## Metrics",
        f"- Validation loss {num(m['val_loss_before'])} before training, {num(m['val_loss'])} after "
        f"(perplexity {num(m['val_perplexity'])}); last training loss {num(m['train_loss_last'])}.",
        "- The curve is in loss.png, every step in metrics.json.",
        "",
    ])


def write(out_dir: Path, model: Any, tokenizer: Any, state: Any, meta_args: dict) -> dict:
    """Write every file of the finished run; returns copydesk.json's content."""
    out_dir = Path(out_dir)
    save_model(model, tokenizer, out_dir, meta_args["kind"], meta_args["base_spec"])
    numbers = metrics(state)
    (out_dir / "metrics.json").write_text(json.dumps(numbers, indent=1) + "\n", encoding="utf-8")
    plot_loss(numbers, out_dir / "loss.png")
    meta = describe(numbers=numbers, **meta_args)
    (out_dir / META).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "README.md").write_text(model_card(meta), encoding="utf-8")
    return meta
