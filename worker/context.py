"""The worker process's state: the only process-wide state in Copydesk, set explicitly at start-up.

`worker.main` (or a test) calls `init(Context.build(settings))` once; jobs call `get()`. The model is
loaded once per process (once per adapter in use), on first use or eagerly at start-up, never per job.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import redis
import requests
from sqlalchemy.orm import sessionmaker

from model import lora
from plugin.crypto import Vault
from plugin.db import init_db, make_engine, make_sessionmaker
from plugin.platforms.http import make_session
from plugin.settings import Settings

MAX_LOADED_MODELS = 3
"""Models kept loaded at once (the configured one plus shops' own adapters); each copy of the default
135M-parameter model takes about 0.6 GB in float32."""


@dataclass
class Context:
    settings: Settings
    sessions: sessionmaker
    redis: redis.Redis
    vault: Vault
    http: requests.Session
    _installed: object | None = None
    _generators: OrderedDict = field(default_factory=OrderedDict)
    _batching: tuple[int, float] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(cls, settings: Settings, redis_client: redis.Redis) -> Context:
        engine = make_engine(settings.sqlalchemy_url)
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        init_db(engine)
        return cls(settings=settings, sessions=make_sessionmaker(engine), redis=redis_client,
                   vault=Vault.for_settings(settings), http=make_session())

    def generator(self, shop_id: int | None = None):
        """The model for `shop_id`'s drafts, loaded on first use and kept: with the shop's own adapter
        (`copydesk train --shop`) when it has one, else with COPYDESK_ADAPTER's. At most
        MAX_LOADED_MODELS are kept; the least recently used one is let go."""
        if self._installed is not None:
            return self._installed
        own = lora.shop_adapter(self.settings.instance_path, shop_id) if shop_id is not None else None
        key = f"{own.path}@{own.label}" if own else ""
        with self._lock:
            generator = self._generators.get(key)
            if generator is None:
                generator = self._load(own)
                self._generators[key] = generator
                while len(self._generators) > MAX_LOADED_MODELS:
                    _, evicted = self._generators.popitem(last=False)
                    getattr(evicted, "close", lambda: None)()
            self._generators.move_to_end(key)
            return generator

    def _load(self, own: lora.Adapter | None):
        from model.backend import load_generator

        generator = load_generator(
            self.settings.model,
            device=self.settings.device,
            threads=self.settings.torch_threads or None,
            cache_dir=self.settings.cache_dir,
            api_key=self.settings.openai_api_key,
            adapter=own if own is not None else self.settings.adapter,
        )
        return self._batched(generator)

    def _batched(self, generator):
        if self._batching is None:
            return generator
        from worker.batcher import Batcher

        return Batcher(generator, max_rows=self._batching[0], max_wait=self._batching[1])

    def use_batching(self, max_rows: int, max_wait: float) -> None:
        """Put every model this process loads behind a `Batcher` (thread workers share it)."""
        with self._lock:
            self._batching = (max_rows, max_wait)
            if self._installed is not None:
                self._installed = self._batched(self._installed)

    def use_generator(self, generator) -> None:
        """Install an already loaded model for every shop (tests, benchmarks)."""
        self._installed = generator


_current: Context | None = None


def init(context: Context) -> None:
    global _current
    _current = context


def get() -> Context:
    if _current is None:
        raise RuntimeError("worker context not initialised: start workers with `copydesk worker`")
    return _current
