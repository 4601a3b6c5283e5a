"""The staff panel: the review queue, draft pages, bulk actions, history, settings and jobs.

Server-rendered Jinja2 with one small script; it runs embedded in Shopify admin (session tokens) and
on its own for any shop (staff logins). `register(app)` adds it to the web app.
"""

from __future__ import annotations

from datetime import timedelta


def register(app) -> None:
    from plugin.panel import (  # noqa: F401 - routes
        views_auth,
        views_campaign,
        views_connect,
        views_draft,
        views_queue,
        views_shop,
    )
    from plugin.panel.auth import purl
    from plugin.panel.blueprint import bp

    settings = app.config["COPYDESK"]
    app.config.update(
        SESSION_COOKIE_NAME="copydesk_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.app_url.startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    app.jinja_env.globals["purl"] = purl
    app.register_blueprint(bp)
