"""The worker process's state: the only process-wide state in Copydesk, set explicitly at start-up.

`worker.main` (or a test) calls `init(Context.build(settings))` once; jobs call `get()`. The model is
loaded once per process, on first use or eagerly by `Context.load_model()`, never per job.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import redis
import requests
from sqlalchemy.orm import sessionmaker

from plugin.crypto import Vault
from plugin.db import init_db, make_engine, make_sessionmaker
from plugin.platforms.http import make_session
from plugin.settings import Settings


@dataclass
class Context:
    settings: Settings
    sessions: sessionmaker
    redis: redis.Redis
    vault: Vault
    http: requests.Session
    _generator: object | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, redis_client: redis.Redis) -> Context:
        engine = make_engine(settings.sqlalchemy_url)
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        init_db(engine)
        return cls(settings=settings, sessions=make_sessionmaker(engine), redis=redis_client,
                   vault=Vault.for_settings(settings), http=make_session())

    def generator(self):
        """The model, loaded on first use and kept for the life of the process."""
        with self._lock:
            if self._generator is None:
                from model.backend import load_generator

                self._generator = load_generator(
                    self.settings.model,
                    device=self.settings.device,
                    threads=self.settings.torch_threads or None,
                    cache_dir=self.settings.cache_dir,
                    api_key=self.settings.openai_api_key,
                )
            return self._generator

    def use_generator(self, generator) -> None:
        """Install an already loaded model (tests, benchmarks)."""
        self._generator = generator


_current: Context | None = None


def init(context: Context) -> None:
    global _current
    _current = context


def get() -> Context:
    if _current is None:
        raise RuntimeError("worker context not initialised: start workers with `copydesk worker`")
    return _current
