"""model/openai_backend.py against a real OpenAI-compatible server (tests/openai_server.py) that
serves the tiny model over HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest

from model import parse
from model.backend import load_generator
from model.copy import ALL_FIELDS, write_copy
from model.errors import ModelError
from model.openai_backend import InferenceServerError, OpenAIGenerator, load, parse_spec
from tests.model_fixtures import SAMPLE_RECORD
from tests.openai_server import create_app, serve

API_KEY = "sk-test-SECRET-0123456789"
CHATS = [[{"role": "system", "content": "You write product copy."},
          {"role": "user", "content": f"Describe product number {i}: a {thing}."}]
         for i, thing in enumerate(["tea towel", "wool throw", "oak stool", "linen shirt",
                                    "clay mug", "cotton tote"])]


@pytest.fixture
def server(tiny_generator):
    app = create_app(tiny_generator, model_name="tiny")
    base_url, stop = serve(app)
    app.base_url = base_url
    yield app
    stop()


def _remote(app, **kw) -> OpenAIGenerator:
    base_url, model = parse_spec(f"openai:{app.base_url}#tiny")
    return OpenAIGenerator(base_url, model, **{"backoff": 0.01, **kw})


def test_write_copy_through_server_matches_local(server, tiny_generator, tmp_path):
    remote = load_generator(f"openai:{server.base_url}#tiny", cache_dir=tmp_path)
    assert isinstance(remote, OpenAIGenerator) and remote.device == "remote"
    style = {"target_words": 20}
    got = write_copy(remote, SAMPLE_RECORD, seed=1, style=style)  # seeded sampling, T=0.5
    want = write_copy(tiny_generator, SAMPLE_RECORD, seed=1, style=style)
    f = got.fields
    assert set(f) == set(ALL_FIELDS) and all(f.values())
    assert len(f["seo_title"]) <= 70 and len(f["seo_description"]) <= 160
    assert f["description"] == parse.sanitize_html(f["description"])
    assert len(parse.sentences(f["short_description"])) <= 2
    assert got.raw == want.raw and got.fields == want.fields
    assert got.model_id == f"openai:{server.base_url}#tiny" and got.revision == "remote:tiny"
    # the server saw one request per field with the copy settings write_copy chose
    bodies = [r["body"] for r in server.config["REQUESTS"]]
    assert len(bodies) == 4 and {b["seed"] for b in bodies} == {1}
    assert all(b["temperature"] == 0.5 and b["repetition_penalty"] == 1.15 and b["n"] == 1
               for b in bodies)


def test_order_kept_under_concurrency(server, tiny_generator):
    remote = _remote(server, concurrency=4)
    limits = [3, 14, 6, 10, 4, 12]
    for temperature, seeds in ((0, 0), (0.9, [5, 6, 7, 8, 9, 10])):
        got = remote.generate(CHATS, max_new_tokens=limits, seed=seeds, temperature=temperature)
        want = tiny_generator.generate(CHATS, max_new_tokens=limits, seed=seeds,
                                       temperature=temperature)
        assert got == want and len(set(got)) == len(CHATS)
    assert server.config["MAX_IN_FLIGHT"] >= 2  # requests really overlapped
    bodies = [r["body"] for r in server.config["REQUESTS"]]
    assert sorted(b["max_tokens"] for b in bodies) == sorted(limits * 2)
    assert all("repetition_penalty" not in b for b in bodies)  # only sent when != 1.0
    assert remote.generate([], max_new_tokens=5, seed=0) == []


def test_503_then_429_are_retried(server, tiny_generator):
    server.config.update(FAIL_NEXT=[503, 429], RETRY_AFTER="1")
    remote = _remote(server)
    started = time.monotonic()
    got = remote.generate(CHATS[:1], max_new_tokens=8, seed=3, temperature=0)
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured (backoff is 10 ms)
    assert got == tiny_generator.generate(CHATS[:1], max_new_tokens=8, seed=3, temperature=0)
    assert len(server.config["REQUESTS"]) == 3


def test_persistent_failure_raises_without_leaking_key(server):
    server.config.update(FAIL_ALWAYS=500, ERROR_DETAIL=f"backend exploded, key was {API_KEY}")
    remote = _remote(server, api_key=API_KEY)
    with pytest.raises(InferenceServerError) as info:
        remote.generate(CHATS[:2], max_new_tokens=5, seed=0)
    err = info.value
    assert isinstance(err, ModelError) and err.status == 500
    assert "HTTP 500 after 3 attempts" in str(err) and "backend exploded" in str(err)
    assert API_KEY not in str(err) and API_KEY not in repr(err)
    assert len(server.config["REQUESTS"]) == 6  # 3 attempts for each of the 2 chats
    # a 4xx other than 429 is not retried
    server.config.update(FAIL_ALWAYS=0, FAIL_NEXT=[400])
    with pytest.raises(InferenceServerError, match="HTTP 400"):
        remote.generate(CHATS[:1], max_new_tokens=5, seed=0)
    assert len(server.config["REQUESTS"]) == 7


def test_unreachable_server_raises_after_retries():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = OpenAIGenerator(f"http://user:pw-{API_KEY}@127.0.0.1:{port}/v1", "tiny",
                             api_key=API_KEY, timeout=2, backoff=0.01)
    with pytest.raises(InferenceServerError, match="ConnectionError after 3 attempts") as info:
        remote.generate(CHATS[:1], max_new_tokens=5, seed=0)
    assert API_KEY not in str(info.value) and "pw-" not in str(info.value)
    assert API_KEY not in remote.model_id and API_KEY not in repr(remote)


@pytest.mark.parametrize("spec, problem", [
    ("openai:http://127.0.0.1:8080/v1", "missing '#<model>'"),
    ("openai:http://127.0.0.1:8080/v1#", "missing '#<model>'"),
    ("openai:ftp://127.0.0.1/v1#tiny", "must be http"),
    ("openai:127.0.0.1:8080/v1#tiny", "must be http"),
    ("openai:http://#tiny", "must be http"),
    ("smollm2", "expected 'openai:"),
])
def test_bad_specs_name_the_problem(spec, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        parse_spec(spec)


def test_spec_and_load_arguments(tmp_path):
    assert parse_spec("openai:https://gpu.example/v1/#smollm2") == ("https://gpu.example/v1",
                                                                     "smollm2")
    gen = load("openai:http://127.0.0.1:9/v1#m", timeout=5, concurrency=2)  # no network call
    assert (gen.model_id, gen.revision, gen.timeout, gen.concurrency) == (
        "openai:http://127.0.0.1:9/v1#m", "remote:m", 5, 2)
    with pytest.raises(ValueError, match="concurrency"):
        load("openai:http://127.0.0.1:9/v1#m", concurrency=0)
    with pytest.raises(ValueError, match="timeout"):
        load_generator("openai:http://127.0.0.1:9/v1#m", cache_dir=tmp_path, timeout=0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        gen.generate(CHATS[:2], max_new_tokens=[5], seed=0)
    with pytest.raises(ValueError, match="temperature"):
        gen.generate(CHATS[:1], max_new_tokens=5, seed=0, temperature=-1)


def test_authorization_only_with_api_key(server):
    _remote(server).generate(CHATS[:1], max_new_tokens=3, seed=0)
    _remote(server, api_key=API_KEY).generate(CHATS[:1], max_new_tokens=3, seed=0)
    assert [r["authorization"] for r in server.config["REQUESTS"]] == [None, f"Bearer {API_KEY}"]


def test_server_rejects_bad_bodies(server):
    import requests

    url = f"{server.base_url}/chat/completions"
    assert requests.post(url, json={"model": "tiny", "messages": []}, timeout=5).status_code == 400
    assert requests.post(url, json={"model": "other", "messages": CHATS[0], "max_tokens": 2},
                         timeout=5).status_code == 400
    models = requests.get(f"{server.base_url}/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == ["tiny"]
    answer = requests.post(url, json={"model": "tiny", "messages": CHATS[0], "max_tokens": 2},
                           timeout=5).json()
    assert answer["choices"][0]["finish_reason"] in ("length", "stop")
    assert answer["usage"]["completion_tokens"] >= 1 and answer["choices"][0]["message"]["content"]
