"""A stand-in inference server for bench/burst.py: OpenAI-compatible, instant, plausible copy.

`copydesk worker` reaches it through its real `openai:` backend (model/openai_backend.py), so a draft
still goes through the whole worker path (store read, prompt, generation call, parsing, every check,
the database) while generation itself costs next to nothing. For a burst of thousands of products on a
small machine, where even the tiny random model costs seconds of CPU a draft (it samples from a flat
distribution, so every step sorts the whole vocabulary). The copy names the product and is otherwise
made of words drawn with a seed from the prompt's hash: grounded, English, and not samey from product to
product (so the sameness check does not retry every draft, as it would for templated copy).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading

from flask import Flask, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server

SUBJECTS = ("it", "this one", "the piece", "the design", "every part", "the shape", "the finish", "the whole thing")
VERBS = ("brings", "offers", "gives", "adds", "keeps", "lends", "makes", "shows", "carries", "holds", "suits",
         "invites", "welcomes", "rewards", "earns", "deserves")
ADJECTIVES = ("warm", "bright", "simple", "sturdy", "gentle", "quiet", "handy", "light", "soft", "clean",
              "classic", "easy", "tidy", "calm", "steady", "neat", "fresh", "cosy", "smart", "useful", "lovely",
              "solid", "friendly", "cheerful", "relaxed", "practical", "welcome", "pleasant", "careful",
              "honest", "modern", "familiar", "playful", "graceful", "humble", "patient", "generous", "lively",
              "balanced", "thoughtful")
NOUNS = ("charm", "comfort", "character", "calm", "joy", "order", "ease", "warmth", "style", "spirit",
         "rhythm", "purpose", "colour", "balance", "energy", "care", "kindness", "pleasure", "detail", "grace",
         "harmony", "freshness", "patience", "focus")
PLACES = ("at home", "every morning", "on busy days", "with friends", "after work", "at the weekend",
          "through the seasons", "in small spaces", "for a long time", "day after day", "in any room",
          "on quiet evenings")


class _Quiet(WSGIRequestHandler):
    def log_request(self, code="-", size="-") -> None:
        pass


def _sentences(rng: random.Random, count: int) -> str:
    """`count` sentences of words drawn at random: no three-word run is shared by many products."""
    out = []
    for _ in range(count):
        out.append(f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(ADJECTIVES)} "
                   f"{rng.choice(NOUNS)} and {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(PLACES)}.")
    return " ".join(out)


def _copy(user: str) -> str:
    name = (re.search(r"^Name: (.*)$", user, re.M) or [None, "product"])[1].strip()
    rng = random.Random(hashlib.sha256(user.encode()).digest())
    if "product description" in user:
        return f"Meet the {name}. " + _sentences(rng, 4)
    if "one or two sentences" in user:
        return _sentences(rng, 1)
    if "page title" in user:
        return name[:58]
    return f"The {name}. " + _sentences(rng, 1)


def serve() -> tuple[str, callable]:
    """Start the server on a free port in a thread: the `openai:` model spec for it, and a stop function."""
    app = Flask(__name__)

    @app.post("/v1/chat/completions")
    def complete():
        messages = (request.get_json(silent=True) or {}).get("messages") or [{}]
        text = _copy(str(messages[-1].get("content") or ""))
        return jsonify(object="chat.completion", model="stub",
                       choices=[{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}])

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="stub-llm", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return f"openai:http://127.0.0.1:{server.server_port}/v1#stub", stop
