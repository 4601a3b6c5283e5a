"""Generate through an OpenAI-compatible inference server (vLLM, TGI, Ollama, ...).

``COPYDESK_MODEL=openai:<base-url>#<model>`` (e.g. ``openai:http://127.0.0.1:8080/v1#smollm2``)
selects this backend. ``OpenAIGenerator.generate`` has the semantics of
``model.backend.Generator.generate``: the same chats, one ``POST {base}/chat/completions`` per chat,
sent ``concurrency`` at a time so the server can batch them, results in input order.

Generation has no side effects on the server, so a POST is retried (up to ``MAX_ATTEMPTS``) on
connection errors, timeouts, 429 (honouring ``Retry-After`` seconds) and 5xx; after that, or on
any other non-2xx answer, ``InferenceServerError`` is raised. The API key never appears in
``model_id`` or in an error message.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from model.backend import _limits, _seeds
from model.errors import ModelError

__all__ = ["InferenceServerError", "OpenAIGenerator", "load", "parse_spec"]

PREFIX = "openai:"
MAX_ATTEMPTS = 3
"""Tries per request (first try included) before InferenceServerError is raised."""
BACKOFF_S = 0.5
"""First retry delay in seconds; doubled on each further retry (when no Retry-After is given)."""
MAX_RETRY_AFTER_S = 30.0
"""A server's Retry-After is honoured up to this many seconds."""


class InferenceServerError(ModelError):
    """The inference server could not be reached or gave no usable answer (after retries)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``openai:<base-url>#<model>`` into ``(base_url, model)``; ValueError says what's wrong."""
    spec = (spec or "").strip()
    if not spec.startswith(PREFIX):
        raise ValueError(f"model spec: expected 'openai:<base-url>#<model>', got {_public(spec)!r}")
    url, sep, model = spec[len(PREFIX):].partition("#")
    url, model = url.strip().rstrip("/"), model.strip()
    if not sep or not model:
        raise ValueError(f"model spec: missing '#<model>' after the base URL in {_public(spec)!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"model spec: base URL must be http(s)://host[:port]/..., got {_public(url)!r}")
    return url, model


def _public(text: str) -> str:
    """``text`` with any ``user:password@`` removed from a URL in it."""
    head, sep, rest = text.partition("://")
    if not sep:
        return text
    netloc, slash, path = rest.partition("/")
    return head + sep + netloc.rpartition("@")[2] + slash + path


class OpenAIGenerator:
    """A client for ``{base_url}/chat/completions``; thread-safe, holds one ``requests.Session``."""

    device = "remote"

    def __init__(self, base_url: str, model: str, *, api_key: str = "", timeout: float = 120.0,
                 concurrency: int = 8, backoff: float = BACKOFF_S) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout: must be > 0 seconds, got {timeout}")
        if concurrency < 1:
            raise ValueError(f"concurrency: must be >= 1, got {concurrency}")
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.model_id = f"{PREFIX}{urlunsplit(parts._replace(netloc=parts.netloc.rpartition('@')[2]))}#{model}"
        self.revision = f"remote:{model}"
        self.timeout = timeout
        self.concurrency = concurrency
        self.backoff = backoff
        self._secrets = [s for s in (api_key, parts.password) if s]
        self.session = requests.Session()
        pool = HTTPAdapter(pool_maxsize=max(10, concurrency))  # one per thread
        self.session.mount("http://", pool)
        self.session.mount("https://", pool)
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return f"OpenAIGenerator(model_id={self.model_id!r})"

    def generate(
        self,
        conversations: list[list[dict]],
        *,
        max_new_tokens: int | Sequence[int],
        seed: int | Sequence[int],
        temperature: float = 0.7,
        top_p: float = 0.9,
        repetition_penalty: float = 1.0,
    ) -> list[str]:
        """Complete each chat; same arguments and meaning as ``Generator.generate``, except that the
        server applies ``repetition_penalty`` by its own rule (vLLM's counts the prompt's tokens too)."""
        if not conversations:
            return []
        limits = _limits(max_new_tokens, len(conversations))
        if temperature < 0 or not 0 < top_p <= 1 or repetition_penalty <= 0:
            raise ValueError("temperature must be >= 0, top_p in (0, 1], repetition_penalty > 0")
        seeds = _seeds(seed, len(conversations))
        bodies = []
        for messages, limit, row_seed in zip(conversations, limits, seeds, strict=True):
            body = {"model": self.model, "messages": messages, "max_tokens": limit,
                    "temperature": temperature, "top_p": top_p, "seed": row_seed, "n": 1}
            if repetition_penalty != 1.0:
                body["repetition_penalty"] = repetition_penalty
            bodies.append(body)
        if len(bodies) == 1:
            return [self._complete(bodies[0])]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return list(pool.map(self._complete, bodies))  # map keeps input order

    def _complete(self, body: dict) -> str:
        url = f"{self.base_url}/chat/completions"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            delay = self.backoff * 2 ** (attempt - 1)
            try:
                response = self.session.post(url, json=body, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as err:
                if attempt == MAX_ATTEMPTS:
                    raise self._error(f"{type(err).__name__} after {attempt} attempts") from err
                time.sleep(delay)
                continue
            if response.ok:
                return self._content(response)
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == MAX_ATTEMPTS:
                    raise self._error(f"HTTP {response.status_code} after {attempt} attempts"
                                      f"{_detail(response)}", status=response.status_code)
                time.sleep(_retry_after(response, delay))
                continue
            raise self._error(f"HTTP {response.status_code}{_detail(response)}",
                              status=response.status_code)
        raise AssertionError("unreachable")

    def _content(self, response: requests.Response) -> str:
        try:
            choice = response.json()["choices"][0]
            return choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as err:
            raise self._error("answer has no choices[0].message.content",
                              status=response.status_code) from err

    def _error(self, reason: str, *, status: int | None = None) -> InferenceServerError:
        message = f"inference server {self.model_id}: {reason}"
        for secret in self._secrets:
            message = message.replace(secret, "***")
        return InferenceServerError(message, status=status)


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(response.headers.get("Retry-After", ""))))
    except ValueError:  # absent, or an HTTP date: use the backoff
        return default


def _detail(response: requests.Response) -> str:
    """The server's short error message (OpenAI ``error.message`` shape), never the request."""
    try:
        error = response.json().get("error")
        text = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        return ""
    return f": {' '.join(str(text).split())[:200]}" if text else ""


def load(spec: str, *, api_key: str = "", timeout: float = 120.0,
         concurrency: int = 8) -> OpenAIGenerator:
    """``OpenAIGenerator`` for an ``openai:<base-url>#<model>`` spec; makes no network call."""
    base_url, model = parse_spec(spec)
    return OpenAIGenerator(base_url, model, api_key=api_key, timeout=timeout,
                           concurrency=concurrency)
