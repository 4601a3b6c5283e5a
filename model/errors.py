"""Exceptions raised by the model package.

    ModelError                 root of everything raised here
    ├── ModelNotFoundError     a spec resolves to no local path, GGUF or cached hub model
    └── ConversionError        converting the bundled GGUF to safetensors failed
"""


class ModelError(Exception):
    """Root of the model package's exceptions."""


class ModelNotFoundError(ModelError, LookupError):
    """The model spec names nothing that can be loaded offline."""

    def __init__(self, spec: str, reason: str = "") -> None:
        self.spec = spec
        super().__init__(f"model {spec!r} not found" + (f": {reason}" if reason else ""))


class ConversionError(ModelError):
    """The GGUF → safetensors conversion failed."""
