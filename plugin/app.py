"""The Flask application factory. Serve it with gunicorn: `gunicorn 'plugin.app:create_app()'`."""

from __future__ import annotations

import logging

import redis
from flask import Flask, current_app, jsonify, redirect, request
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.routing import IntegerConverter

from plugin.crypto import Vault
from plugin.db import init_db, is_transient, make_engine, make_sessionmaker
from plugin.directory import ShopDirectory
from plugin.redis_server import connect
from plugin.settings import Settings
from plugin.state import close_db, get_db, get_redis

log = logging.getLogger(__name__)


HSTS = "max-age=31536000"
"""A year of https-only for the app's host once a browser has seen it over https. No includeSubDomains: the
app's host may share a parent domain with sites this app does not own."""


def baseline_headers(response):
    """`after_request` of every response, panel or not: webhook replies, the widget script, customer
    questions, install flows and error pages. The panel's own headers (CSP with the shop's frame-ancestors,
    plugin.panel.auth.security_headers) run first and are kept; this only fills what is missing."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if "Cache-Control" not in response.headers:  # answers about shops and customers: never kept by a cache
        response.headers["Cache-Control"] = "no-store"  # static files set their own (send_file)
    if current_app.config["COPYDESK"].app_url.startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


class AsciiInt(IntegerConverter):
    """`<int:id>` of ASCII digits only: Werkzeug's `\\d` also matches other scripts' digits, which int() reads,
    so `/panel/drafts/١` would open draft 1 under a second address."""

    regex = r"[0-9]+"


def create_app(settings: Settings | None = None, *, redis_client: redis.Redis | None = None) -> Flask:
    """Build the web app. Settings default to the environment; Redis to REDIS_URL or the embedded one."""
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = Flask(__name__)
    app.url_map.converters["int"] = AsciiInt  # before any route is added
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_webhook_bytes,
        COPYDESK=settings,
    )
    engine = make_engine(settings.sqlalchemy_url)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    init_db(engine)
    app.extensions["copydesk_engine"] = engine
    app.extensions["copydesk_sessionmaker"] = make_sessionmaker(engine)
    app.extensions["copydesk_redis"] = redis_client or connect(settings.redis_url, settings.instance_path)
    app.extensions["copydesk_vault"] = Vault.for_settings(settings)
    app.extensions["copydesk_directory"] = ShopDirectory(app.extensions["copydesk_sessionmaker"],
                                                         app.extensions["copydesk_vault"])
    app.teardown_appcontext(close_db)
    app.after_request(baseline_headers)

    from plugin import panel, webhooks

    app.register_blueprint(webhooks.bp)
    from plugin.install import exports_view, shopify_oauth, shopify_tokens  # noqa: F401 - exports_view: routes

    app.register_blueprint(shopify_oauth.bp)
    # Where a new Shopify install's API lives; tests point it at the store emulator (shopify_tokens).
    app.extensions.setdefault(shopify_tokens.API_BASE, shopify_tokens.default_api_base)
    from plugin.install import woocommerce_connect

    app.register_blueprint(woocommerce_connect.bp)
    from plugin import questions

    app.register_blueprint(questions.bp)
    panel.register(app)

    @app.errorhandler(DBAPIError)
    def _database_unavailable(err: DBAPIError):
        """PostgreSQL restarting or unreachable, SQLite locked past its busy timeout: 503 with Retry-After, so
        that a store redelivers and a person presses the button again. The request's transaction is rolled
        back when its session closes: nothing of it is half-written. Any other database error stays a 500."""
        if not is_transient(err):
            raise err
        log.warning("%s %s: database unavailable: %s", request.method, request.path, type(err.orig).__name__)
        if request.blueprint == "panel":
            response = ServiceUnavailable("The database is busy or restarting: nothing was changed. "
                                          "Try again in a moment.").get_response()
        else:
            response = jsonify(error="temporarily unavailable")
            response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.get("/")
    def home():
        # Shopify admin opens the app URL with shop, host and id_token: keep them for the panel.
        target = "/panel/" + ("?" + request.query_string.decode() if request.query_string else "")
        return redirect(target)

    @app.get("/healthz")
    def healthz():
        checks = {}
        try:
            checks["redis"] = bool(get_redis().ping())
        except redis.RedisError:
            checks["redis"] = False
        try:
            get_db().connection()
            checks["database"] = True
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            checks["database"] = False
        ok = all(checks.values())
        return jsonify(ok=ok, **checks), 200 if ok else 503

    return app
