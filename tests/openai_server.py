"""A small OpenAI-compatible inference server over a local ``Generator``, for tests.

``create_app(generator)`` serves ``POST /v1/chat/completions`` and ``GET /v1/models``; ``serve(app)``
runs it on 127.0.0.1 (a free port) in a thread. Test hooks in ``app.config``:

    FAIL_NEXT      list of HTTP statuses answered (in order) before any real completion;
                   a 429 carries ``Retry-After: RETRY_AFTER``
    FAIL_ALWAYS    a status answered to every completion request (0 = off)
    ERROR_DETAIL   the ``error.message`` text of injected failures
    REQUESTS       every completion request seen: ``{"authorization": ..., "body": ...}``
    MAX_IN_FLIGHT  most completion requests that were being handled at the same time
"""

from __future__ import annotations

import threading
import time

from flask import Flask, jsonify, request
from werkzeug.serving import make_server


def create_app(generator, *, model_name: str = "tiny") -> Flask:
    app = Flask(__name__)
    app.config.update(FAIL_NEXT=[], FAIL_ALWAYS=0, RETRY_AFTER="1", ERROR_DETAIL="injected failure",
                      REQUESTS=[], MAX_IN_FLIGHT=0)
    generate_lock, state_lock = threading.Lock(), threading.Lock()
    in_flight = [0]

    def error(status: int, message: str):
        response = jsonify(error={"message": message, "type": "invalid_request_error"})
        response.status_code = status
        return response

    @app.get("/v1/models")
    def models():
        return jsonify(object="list", data=[{"id": model_name, "object": "model", "owned_by": "test"}])

    @app.post("/v1/chat/completions")
    def chat_completions():
        body = request.get_json(silent=True)
        with state_lock:
            app.config["REQUESTS"].append({"authorization": request.headers.get("Authorization"),
                                           "body": body})
            injected = app.config["FAIL_NEXT"].pop(0) if app.config["FAIL_NEXT"] else 0
            injected = injected or app.config["FAIL_ALWAYS"]
            in_flight[0] += 1
            app.config["MAX_IN_FLIGHT"] = max(app.config["MAX_IN_FLIGHT"], in_flight[0])
        try:
            if injected:
                response = error(injected, app.config["ERROR_DETAIL"])
                if injected == 429:
                    response.headers["Retry-After"] = app.config["RETRY_AFTER"]
                return response
            problem = _invalid(body, model_name)
            if problem:
                return error(400, problem)
            with generate_lock:  # the local model is not thread-safe
                text = generator.generate(
                    [body["messages"]], max_new_tokens=body["max_tokens"], seed=body.get("seed") or 0,
                    temperature=body.get("temperature", 1.0), top_p=body.get("top_p", 1.0),
                    repetition_penalty=body.get("repetition_penalty", 1.0))[0]
                ids = generator.tokenizer(text, add_special_tokens=False)["input_ids"]
            finish = "length" if len(ids) >= body["max_tokens"] else "stop"
            return jsonify(
                id=f"chatcmpl-{len(app.config['REQUESTS'])}", object="chat.completion",
                created=int(time.time()), model=body["model"],
                choices=[{"index": 0, "message": {"role": "assistant", "content": text},
                          "finish_reason": finish}],
                usage={"prompt_tokens": 0, "completion_tokens": len(ids),
                       "total_tokens": len(ids)})
        finally:
            with state_lock:
                in_flight[0] -= 1

    return app


def _invalid(body, model_name: str) -> str:
    """Why ``body`` is not a chat-completions request this server can answer ("" if it is)."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if body.get("model") != model_name:
        return f"model: unknown {body.get('model')!r}"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
            isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
            and isinstance(m.get("content"), str) for m in messages):
        return "messages: need a non-empty list of {role, content}"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: need an int >= 1"
    if body.get("n", 1) != 1:
        return "n: only 1 is supported"
    if not isinstance(body.get("seed", 0), int | None):
        return "seed: need an int"
    return ""


def serve(app: Flask) -> tuple[str, callable]:
    """Serve ``app`` on 127.0.0.1 from a thread; return ``(base_url ending in /v1, stop)``."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}/v1", stop
