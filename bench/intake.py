"""Webhook intake under load: Copydesk's full intake against a minimal verify-and-enqueue baseline.

Both run under gunicorn (2 sync workers) on 127.0.0.1 against their own real redis-server, side by side
in one run. The load is a fixed mix of signed Shopify product webhooks: unique ones, duplicate
re-deliveries (a third) and forgeries; afterwards the queue is counted: exactly one job per unique
valid delivery, none for a duplicate or a forgery.

    python bench/intake.py [--seconds 10] [--connections 8]

Prints requests/s, p50/p99 latency and the job counts, and writes bench/results/intake.json.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-app-secret"
SHOP = "bench-shop.myshopify.com"
BASELINE = '''
import base64, hashlib, hmac, os
from flask import Flask, request
from redis import Redis
from rq import Queue

def create_app():
    app = Flask(__name__)
    queue = Queue("generate", connection=Redis(unix_socket_path=os.environ["BENCH_SOCKET"]))
    secret = os.environ["BENCH_SECRET"].encode()

    @app.post("/webhooks/shopify")
    def hook():
        body = request.get_data()
        digest = base64.b64encode(hmac.new(secret, body, hashlib.sha256).digest())
        if not hmac.compare_digest(digest, request.headers.get("X-Shopify-Hmac-Sha256", "").encode()):
            return "", 401
        queue.enqueue("worker.tasks.generate_copy", 1, "1")
        return "", 200
    return app
'''


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(i: int, kind: str) -> tuple[bytes, dict]:
    body = json.dumps({"id": 1000 + i, "title": f"Product {i}", "body_html": ""}).encode()
    digest = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    if kind == "forged":
        digest = base64.b64encode(b"f" * 32).decode()
    headers = {"Content-Type": "application/json", "X-Shopify-Topic": "products/create",
               "X-Shopify-Hmac-Sha256": digest, "X-Shopify-Shop-Domain": SHOP,
               "X-Shopify-API-Version": "2025-10", "X-Shopify-Webhook-Id": f"bench-{i}"}
    return body, headers


def run_clients(client, connections: int) -> float:
    """Run `client` in `connections` threads at once; the seconds until the last one finished."""
    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


def load(url: str, seconds: float, connections: int) -> dict:
    """Send the mix for `seconds`; deliveries 3k+1 re-send 3k, 3k+2 are forged."""
    latencies: list[float] = []
    counts = {"unique": 0, "duplicate": 0, "forged": 0, "errors": 0}
    lock = threading.Lock()
    sequence = iter(range(10**9))
    deadline = time.monotonic() + seconds

    def client():
        session = requests.Session()
        while time.monotonic() < deadline:
            with lock:
                n = next(sequence)
            kind = ("unique", "duplicate", "forged")[n % 3]
            body, headers = _request(n - 1 if kind == "duplicate" else n, kind)
            start = time.perf_counter()
            try:
                status = session.post(url, data=body, headers=headers, timeout=10).status_code
            except requests.RequestException:
                status = 0
            took = time.perf_counter() - start
            with lock:
                latencies.append(took)
                expected = 401 if kind == "forged" else 200
                counts[kind if status == expected else "errors"] += 1

    elapsed = run_clients(client, connections)
    latencies.sort()
    return {"requests": len(latencies), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2), **counts}


def _serve(argv: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still loading the app
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server on {port} did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from rq import Queue

    from plugin.commands import open_session
    from plugin.crypto import Vault
    from plugin.redis_server import EmbeddedRedis
    from plugin.settings import Settings
    from plugin.shops import add_shop

    results = {"machine": f"{os.cpu_count()} cores", "seconds": args.seconds, "connections": args.connections}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("baseline", "copydesk"):
            instance = Path(tmp) / name
            redis = EmbeddedRedis(instance)
            redis_proc = redis.start_child()
            port = _port()
            env = {**os.environ, "COPYDESK_SECRET_KEY": "bench-secret-key-0123456789",
                   "COPYDESK_INSTANCE": str(instance), "REDIS_URL": redis.url, "SHOPIFY_API_SECRET": SECRET,
                   "BENCH_SOCKET": str(redis.socket), "BENCH_SECRET": SECRET, "COPYDESK_LOG_LEVEL": "WARNING"}
            if name == "copydesk":
                settings = Settings.from_env({k: v for k, v in env.items()
                                              if k.startswith(("COPYDESK_", "REDIS_URL", "SHOPIFY_"))})
                with open_session(settings) as db:
                    add_shop(db, Vault(settings.secret_key), platform="shopify", domain=SHOP,
                             credentials={"access_token": "t"})
                argv = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                        "plugin.app:create_app()"]
            else:
                (instance / "baseline_app.py").write_text(BASELINE)
                argv = [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                        "--chdir", str(instance), "baseline_app:create_app()"]
            server = _serve(argv, env, port)
            try:
                figures = load(f"http://127.0.0.1:{port}/webhooks/shopify", args.seconds, args.connections)
                figures["jobs_queued"] = Queue("generate", connection=redis.client()).count
                results[name] = figures
            finally:
                server.terminate()
                server.wait(timeout=15)
                redis.shutdown()
                redis_proc.wait(timeout=10)
    ratio = results["copydesk"]["rps"] / results["baseline"]["rps"]
    results["copydesk_vs_baseline"] = round(ratio, 3)
    for name in ("baseline", "copydesk"):
        r = results[name]
        print(f"{name:>9}: {r['rps']:7.1f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
              f"unique {r['unique']}  duplicate {r['duplicate']}  forged {r['forged']}  errors {r['errors']}  "
              f"jobs queued {r['jobs_queued']}")
    c = results["copydesk"]
    print(f"copydesk / baseline throughput: {ratio:.2f}")
    print(f"copydesk queued exactly one job per unique delivery: {c['jobs_queued'] == c['unique']} "
          f"({c['jobs_queued']} jobs for {c['unique']} unique, {c['duplicate']} duplicates, {c['forged']} forged)")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "intake.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
