"""Batched generation across jobs: several generate jobs, one forward pass per step.

A generate worker with `--concurrency N` runs N RQ jobs at once in threads of one process (see
`worker.main`), all sharing one model through a `Batcher`. Each job's `write_copy` calls
`Batcher.generate` as if it were the model; the batcher's thread gathers the requests that arrive
within `max_wait` seconds (up to `max_rows` conversations), runs them as ONE batched call (left
padding, per-row token limits and seeds, KV cache) and hands each job its own rows back. While a batch
runs, new requests queue up and form the next batch, so a backlog is worked in batches of up to
`max_rows` while a lone webhook waits at most `max_wait` longer than it would alone.

Each job still succeeds, fails and retries on its own: only the model call is shared, and a row's
text depends only on its own conversation, seed and limits (model/sampling.py), not on its batch.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class _Request:
    conversations: list
    limits: list[int]
    seeds: list[int]
    params: tuple[float, float, float]
    done: threading.Event = field(default_factory=threading.Event)
    result: list[str] | None = None
    error: BaseException | None = None


def _per_row(value: int | Sequence[int], n: int, name: str) -> list[int]:
    values = [value] * n if isinstance(value, int) else list(value)
    if len(values) != n:
        raise ValueError(f"{name}: need one int or {n} of them")
    return values


class Batcher:
    """Looks like a model generator to `write_copy`; batches the calls of concurrent jobs."""

    def __init__(self, generator, *, max_rows: int = 32, max_wait: float = 0.05):
        if max_rows < 1:
            raise ValueError("max_rows: must be at least 1")
        if max_wait < 0:
            raise ValueError("max_wait: must not be negative")
        self.generator = generator
        self.model_id = generator.model_id
        self.revision = generator.revision
        self.device = getattr(generator, "device", "")
        self.adapter = getattr(generator, "adapter", "")
        self.max_rows, self.max_wait = max_rows, max_wait
        self.batches: list[int] = []
        """Rows per model call, most recent last (bounded): what the batcher actually did."""
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        self._closed = False
        self._put_lock = threading.Lock()
        self._direct_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="copydesk-batcher", daemon=True)
        self._thread.start()

    def generate(self, conversations: list[list[dict]], *, max_new_tokens: int | Sequence[int],
                 seed: int | Sequence[int], temperature: float = 0.7, top_p: float = 0.9,
                 repetition_penalty: float = 1.0) -> list[str]:
        n = len(conversations)
        if n == 0:
            return []
        request = _Request(list(conversations), _per_row(max_new_tokens, n, "max_new_tokens"),
                           _per_row(seed, n, "seed"), (temperature, top_p, repetition_penalty))
        with self._put_lock:
            closed = self._closed
            if not closed:
                self._requests.put(request)
        if closed:  # let go of (a job that fetched it just before): run it alone
            with self._direct_lock:
                self._call([request], temperature, top_p, repetition_penalty)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def close(self) -> None:
        """Stop the batching thread once the requests already queued are served; later calls run
        unbatched. The model is freed when the last job holding this batcher lets go of it."""
        with self._put_lock:
            if not self._closed:
                self._closed = True
                self._requests.put(None)

    def _gather(self) -> tuple[list[_Request], bool]:
        first = self._requests.get()
        if first is None:
            return [], True
        batch, rows = [first], len(first.conversations)
        deadline = time.monotonic() + self.max_wait
        while rows < self.max_rows:
            try:
                request = self._requests.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if request is None:
                return batch, True
            batch.append(request)
            rows += len(request.conversations)
        return batch, False

    def _run(self) -> None:
        closing = False
        while not closing:
            batch, closing = self._gather()
            groups: dict[tuple, list[_Request]] = {}
            for request in batch:  # one call per set of sampling parameters
                groups.setdefault(request.params, []).append(request)
            for (temperature, top_p, penalty), requests in groups.items():
                self._call(requests, temperature, top_p, penalty)

    def _call(self, requests: list[_Request], temperature: float, top_p: float, penalty: float) -> None:
        conversations = [c for r in requests for c in r.conversations]
        try:
            extra = {"repetition_penalty": penalty} if penalty != 1.0 else {}
            texts = self.generator.generate(
                conversations, max_new_tokens=[x for r in requests for x in r.limits],
                seed=[x for r in requests for x in r.seeds], temperature=temperature, top_p=top_p, **extra)
        except BaseException as err:  # noqa: BLE001 - handed to every job of the batch, which raises it
            for request in requests:
                request.error = err
                request.done.set()
            return
        self.batches = (self.batches + [len(conversations)])[-100:]
        start = 0
        for request in requests:
            request.result = texts[start:start + len(request.conversations)]
            start += len(request.conversations)
            request.done.set()
        log.debug("batched %d conversations from %d jobs", len(conversations), len(requests))
