"""Settings: one frozen object built from the environment at start-up.

`Settings.from_env()` is the only code in Copydesk that reads `os.environ`. Conventional names are kept
where they exist (`REDIS_URL`, `DATABASE_URL`, `SHOPIFY_API_KEY`, `SHOPIFY_API_SECRET`); everything else
is `COPYDESK_*`. An unknown `COPYDESK_*` key, a value of the wrong type or a missing secret fails at
start-up with a `SettingsError` that names it. Tests build `Settings(...)` directly.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from plugin.errors import SettingsError

# COPYDESK_* key -> (field name, type). The README's settings table mirrors this.
_PREFIXED: dict[str, tuple[str, type]] = {
    "COPYDESK_SECRET_KEY": ("secret_key", str),
    "COPYDESK_SECRET_KEY_PREVIOUS": ("secret_key_previous", str),
    "COPYDESK_INSTANCE": ("instance_path", Path),
    "COPYDESK_APP_URL": ("app_url", str),
    "COPYDESK_MODEL": ("model", str),
    "COPYDESK_ADAPTER": ("adapter", str),
    "COPYDESK_OPENAI_API_KEY": ("openai_api_key", str),
    "COPYDESK_DEVICE": ("device", str),
    "COPYDESK_TORCH_THREADS": ("torch_threads", int),
    "COPYDESK_CACHE_DIR": ("cache_dir", Path),
    "COPYDESK_MAX_WEBHOOK_BYTES": ("max_webhook_bytes", int),
    "COPYDESK_HTTP_TIMEOUT": ("http_timeout", float),
    "COPYDESK_JOB_TIMEOUT": ("job_timeout", int),
    "COPYDESK_DEDUPE_TTL": ("dedupe_ttl", int),
    "COPYDESK_SEED": ("seed", int),
    "COPYDESK_LOG_LEVEL": ("log_level", str),
    "COPYDESK_SHOPIFY_API_SECRET_PREVIOUS": ("shopify_api_secret_previous", str),
    "COPYDESK_SMTP_URL": ("smtp_url", str),
}
_CONVENTIONAL: dict[str, tuple[str, type]] = {
    "REDIS_URL": ("redis_url", str),
    "DATABASE_URL": ("database_url", str),
    "SHOPIFY_API_KEY": ("shopify_api_key", str),
    "SHOPIFY_API_SECRET": ("shopify_api_secret", str),
}
_SECRET_FIELDS = {"secret_key", "secret_key_previous", "shopify_api_secret", "shopify_api_secret_previous",
                  "openai_api_key", "smtp_url"}
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Settings:
    """Everything a Copydesk process needs to know, fixed at start-up."""

    secret_key: str
    secret_key_previous: str = ""
    """Earlier secret keys, comma-separated, still accepted for reading credentials during a rotation
    (`copydesk rotate-key`); drop them once the rotation has run."""
    instance_path: Path = Path("instance")
    redis_url: str = ""
    """Empty: start (or join) the embedded redis-server under the instance folder."""
    database_url: str = ""
    """Empty: sqlite file `copydesk.db` under the instance folder."""
    app_url: str = "http://127.0.0.1:8000"
    shopify_api_key: str = ""
    shopify_api_secret: str = ""
    shopify_api_secret_previous: str = ""
    """Accepted for webhook signatures during the hour after a secret rotation."""
    model: str = "smollm2"
    """`smollm2` (bundled), a local folder, a hub id in the local cache, or `openai:<base-url>#<model>`."""
    adapter: str = "default"
    """Fine-tuned adapter merged into the model: `default` (the shipped one, when it fits the model), `none`,
    or an adapter folder written by `copydesk train` (model/lora.py)."""
    openai_api_key: str = ""
    """Bearer token for an `openai:` inference server, if it wants one."""
    device: str = "auto"
    torch_threads: int = 0
    """0: let torch decide."""
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "copydesk")
    max_webhook_bytes: int = 2 * 1024 * 1024
    http_timeout: float = 30.0
    """Seconds for every call to a store API (WordPress hosts are often slow)."""
    job_timeout: int = 900
    """Seconds before RQ kills a job."""
    dedupe_ttl: int = 7 * 24 * 3600
    """Seconds a delivery is remembered; Shopify retries for 4 hours, retries can come a day late."""
    seed: int = 0
    log_level: str = "INFO"
    smtp_url: str = ""
    """Where answers by email are sent: `smtp://user:password@host:port?from=shop@example.com` (or
    `smtps://`, or `smtp+starttls://`). Empty: the email answer channel fails with a reason."""

    def __post_init__(self) -> None:
        if not self.secret_key:
            raise SettingsError("COPYDESK_SECRET_KEY is required (a long random string; keep it secret)")
        if len(self.secret_key) < 16:
            raise SettingsError("COPYDESK_SECRET_KEY is too short: use at least 16 characters")
        if any(len(key) < 16 for key in self.secret_key_previous.split(",") if key.strip()):
            raise SettingsError("COPYDESK_SECRET_KEY_PREVIOUS: each key must be at least 16 characters")
        if self.device not in DEVICES:
            raise SettingsError(f"COPYDESK_DEVICE must be one of {', '.join(DEVICES)}, not {self.device!r}")
        for name in ("max_webhook_bytes", "http_timeout", "job_timeout", "dedupe_ttl"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive")
        if self.torch_threads < 0:
            raise SettingsError("COPYDESK_TORCH_THREADS must be 0 (automatic) or positive")

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.instance_path / 'copydesk.db').resolve()}"

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:  # never print secrets
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _SECRET_FIELDS}
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, need_secrets: bool = True) -> Settings:
        """Settings from the environment. `need_secrets=False` is for commands that touch no shop data
        (`copydesk generate`): a missing secret key is then replaced by a random throwaway one."""
        env = os.environ if environ is None else environ
        unknown = sorted(k for k in env if k.startswith("COPYDESK_") and k not in _PREFIXED)
        if unknown:
            raise SettingsError(
                f"unknown setting(s): {', '.join(unknown)}; known COPYDESK_* settings are "
                + ", ".join(sorted(_PREFIXED))
            )
        values: dict[str, object] = {}
        for key, (name, kind) in {**_PREFIXED, **_CONVENTIONAL}.items():
            raw = env.get(key)
            if raw is None or raw == "":
                continue
            try:
                values[name] = kind(raw)
            except ValueError:
                raise SettingsError(f"{key} must be {kind.__name__}, got {raw!r}") from None
        if "secret_key" not in values and not need_secrets:
            values["secret_key"] = secrets.token_urlsafe(32)
        if "secret_key" not in values:
            raise SettingsError("COPYDESK_SECRET_KEY is required (a long random string; keep it secret)")
        return cls(**values)
