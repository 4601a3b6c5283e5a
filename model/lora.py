"""Fine-tuned adapters: which one applies, and putting it on a loaded base model.

An adapter folder is what `copydesk train` writes: peft's ``adapter_config.json`` and
``adapter_model.safetensors`` plus our ``copydesk.json`` (base model and its weights hash, prompt
version, data summary, metrics). ``COPYDESK_ADAPTER`` chooses one for the worker:

    default   the shipped adapter (model/adapters/product-copy), when it was trained on the base model
              in use; otherwise the base model alone
    none      the base model alone
    PATH      that adapter folder; refused when it was trained on another base model

A shop's own adapter (``copydesk train --shop``) lives in ``<instance>/adapters/shop-<id>`` and, when
present, is used for that shop's drafts instead.

The adapter is merged into the weights when loaded (``merge_and_unload``), so generation runs at the
base model's speed. torch and peft are imported only inside ``apply``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from model.errors import ModelError

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).resolve().parent / "adapters" / "product-copy"
"""The adapter Copydesk ships, trained on clearly licensed data (its README is the model card)."""
META = "copydesk.json"
"""Our description of an adapter folder, next to peft's files."""
OFF = ("none", "off", "0", "false")
BUNDLED = "smollm2"
"""Spec of the bundled base model (model.backend.DEFAULT_MODEL)."""


class AdapterError(ModelError):
    """An adapter folder is missing, incomplete, or made for another base model."""


@dataclass(frozen=True)
class Adapter:
    path: Path
    meta: dict
    strict: bool
    """True when asked for by path: a base-model mismatch is an error rather than a reason to skip."""

    @property
    def label(self) -> str:
        """What a draft records: the folder's name and a hash of its weights."""
        return f"{self.path.name}@{weights_hash(self.path)}"


def is_adapter(folder: Path) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def weights_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        path = Path(folder) / name
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def read_meta(folder: Path) -> dict:
    path = Path(folder) / META
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise AdapterError(f"adapter {folder}: unreadable {META}: {err}") from err


def resolve(spec: str | Path | None) -> Adapter | None:
    """The adapter ``spec`` names (see the module docstring), or None for the base model alone."""
    text = str(spec or "").strip()
    if text.lower() in OFF:
        return None
    if text.lower() in ("", "default"):
        return Adapter(SHIPPED, read_meta(SHIPPED), strict=False) if is_adapter(SHIPPED) else None
    path = Path(text).expanduser()
    if not is_adapter(path):
        raise AdapterError(f"adapter {text!r}: not an adapter folder (no adapter_config.json)")
    return Adapter(path.resolve(), read_meta(path), strict=True)


def shop_adapter(instance_path: Path, shop_id: int) -> Adapter | None:
    """The shop's own adapter written by `copydesk train --shop`, if there is one."""
    path = Path(instance_path) / "adapters" / f"shop-{int(shop_id)}"
    return Adapter(path.resolve(), read_meta(path), strict=True) if is_adapter(path) else None


def fits(adapter: Adapter, base_revision: str, base_spec: str = "") -> bool:
    """Whether the adapter was trained on this base model: the same weights hash (none recorded counts as
    fitting), or both name the bundled model, whose weights are pinned by its package version (its converted
    folder's hash also covers config.json, which records the transformers version that wrote it)."""
    trained_on = str(adapter.meta.get("base_revision", ""))
    if not trained_on or trained_on == base_revision:
        return True
    bundled = ("", BUNDLED)
    return str(adapter.meta.get("base_model", "")).lower() == BUNDLED and base_spec.strip().lower() in bundled


def apply(model, adapter: Adapter, base_revision: str, base_spec: str = ""):
    """Return ``model`` with ``adapter`` merged in, or unchanged when a non-strict adapter does not fit."""
    if not fits(adapter, base_revision, base_spec):
        message = (f"adapter {adapter.path} was trained on base weights {adapter.meta.get('base_revision')}, "
                   f"not {base_revision}")
        if adapter.strict:
            raise AdapterError(message)
        log.info("%s: using the base model alone", message)
        return model, ""
    from peft import PeftModel

    try:
        merged = PeftModel.from_pretrained(model, str(adapter.path)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise AdapterError(f"adapter {adapter.path}: cannot be loaded: {err}") from err
    return merged.eval(), adapter.label
