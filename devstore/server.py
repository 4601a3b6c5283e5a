"""Run the emulator: in a background thread (tests, benchmarks) or in the foreground (CLI, demo)."""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from .app import create_app
from .config import StoreConfig


class _QuietHandler(WSGIRequestHandler):
    """No access log: query strings can carry WooCommerce keys or signatures."""

    def log_request(self, code="-", size="-") -> None:
        pass


class _PathOnlyHandler(WSGIRequestHandler):
    """Access log with the path only (never the query string)."""

    def log_request(self, code="-", size="-") -> None:
        path = self.path.split("?", 1)[0]
        self.log("info", '"%s %s" %s', self.command, path, code)


class RunningStore:
    """A started emulator; `base_url` is where it listens. Use as a context manager or call shutdown()."""

    def __init__(self, app: Flask, server, thread: threading.Thread, base_url: str) -> None:
        self.app = app
        self.base_url = base_url
        self._server = server
        self._thread = thread

    @property
    def store(self):
        return self.app.extensions["devstore"].store

    def shutdown(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
        self.app.extensions["devstore"].sender.stop()

    def __enter__(self) -> RunningStore:
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()


def serve_in_thread(
    config: StoreConfig | None = None, host: str = "127.0.0.1", port: int = 0
) -> RunningStore:
    """Start the emulator on host:port (0 = a free port) in a daemon thread."""
    config = config or StoreConfig()
    app = create_app(config)
    server = make_server(host, port, app, threaded=True, request_handler=_QuietHandler)
    base_url = f"http://{host}:{server.server_port}"
    store = app.extensions["devstore"].store
    if store.base_url is None:
        store.base_url = base_url
    thread = threading.Thread(target=server.serve_forever, name="devstore-http", daemon=True)
    thread.start()
    return RunningStore(app, server, thread, base_url)


def main(host: str = "127.0.0.1", port: int = 8081, seed: bool = True) -> None:
    """Serve in the foreground until interrupted (`copydesk devstore`)."""
    config = StoreConfig(seed=seed)
    app = create_app(config)
    server = make_server(host, port, app, threaded=True, request_handler=_PathOnlyHandler)
    store = app.extensions["devstore"].store
    store.base_url = store.base_url or f"http://{host}:{server.server_port}"
    print(f"devstore listening on {store.base_url} (Shopify {config.shopify.shop_domain}, WooCommerce)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.extensions["devstore"].sender.stop()


if __name__ == "__main__":
    main()
