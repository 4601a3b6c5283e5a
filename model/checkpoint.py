"""Training checkpoints: enough to continue a run exactly (``copydesk train --resume``).

``<out>/checkpoints/step-NNNNNN/state.pt`` holds the trainable weights (the LoRA matrices, or every weight
for full fine-tuning), the optimizer and scheduler states, the position in the data (epoch and
micro-batch), the torch/CUDA/Python RNG states, the history so far, the run's hyperparameters and a
signature of its data and base model. A checkpoint is written to a temporary folder and renamed into
place, and only the newest ``KEEP`` are kept.
"""

from __future__ import annotations

import dataclasses
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIR = "checkpoints"
"""Sub-folder of the output folder that holds checkpoints."""
KEEP = 2
"""Checkpoints kept; older ones are removed after a new one is written."""


def _history() -> dict:
    return {"steps": [], "val": []}


@dataclass
class State:
    """Where a run is: optimizer steps done, epoch, micro-batch position in it, training time and tokens."""

    step: int = 0
    epoch: int = 0
    pos: int = 0
    tokens: int = 0
    seconds: float = 0.0
    history: dict = field(default_factory=_history)


def checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints in ``out_dir``, oldest first."""
    folder = Path(out_dir) / DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step-*") if p.name[5:].isdigit() and (p / "state.pt").is_file())


def _rng() -> dict:
    import torch

    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_rng(saved: dict) -> None:
    import torch

    torch.set_rng_state(saved["torch"])
    random.setstate(saved["python"])
    if saved.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


def save(out_dir: Path, model: Any, optimizer: Any, scheduler: Any, state: State, config: Any,
         signature: dict) -> Path:
    """Write a checkpoint for ``state.step`` and prune old ones; returns its folder."""
    import torch

    folder = Path(out_dir) / DIR
    final = folder / f"step-{state.step:06d}"
    tmp = folder / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if p.requires_grad}
    torch.save({"weights": weights, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "state": dataclasses.asdict(state), "config": dataclasses.asdict(config), "signature": signature,
                "rng": _rng()}, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in checkpoints(out_dir)[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_latest(out_dir: Path, model: Any, optimizer: Any, scheduler: Any, config: Any, signature: dict) -> State:
    """Restore the newest checkpoint into ``model``/``optimizer``/``scheduler`` and the RNGs; refuses one made
    with other hyperparameters, data or base model."""
    import torch

    found = checkpoints(out_dir)
    if not found:
        raise FileNotFoundError(f"--resume: no checkpoint in {Path(out_dir) / DIR}")
    saved = torch.load(found[-1] / "state.pt", map_location="cpu", weights_only=False)
    differences = config.resumable_differences(saved["config"])
    differences += [f"{k}={saved['signature'].get(k)!r} (now {v!r})" for k, v in signature.items()
                    if saved["signature"].get(k) != v]
    if differences:
        raise ValueError(f"--resume: {found[-1]} was made with other settings: {'; '.join(differences)}. "
                         "Run the same command again with --resume, or train into a new --out.")
    params = dict(model.named_parameters())
    missing = [n for n in saved["weights"] if n not in params]
    if missing:
        raise ValueError(f"--resume: checkpoint weights do not fit the model (e.g. {missing[0]})")
    with torch.no_grad():
        for name, tensor in saved["weights"].items():
            params[name].copy_(tensor.to(params[name].device))
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    _set_rng(saved["rng"])
    return State(**saved["state"])


def remove(out_dir: Path) -> None:
    """Drop the checkpoints (a finished run does not ship its optimizer states)."""
    shutil.rmtree(Path(out_dir) / DIR, ignore_errors=True)
