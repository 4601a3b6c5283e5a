"""A connected WooCommerce store, seen from the panel: disconnect it (our webhooks and stored keys go)."""

from __future__ import annotations

from flask import abort, current_app, redirect, url_for

from plugin.install import woocommerce_webhooks as hooks
from plugin.panel.auth import current
from plugin.panel.blueprint import bp
from plugin.platforms.http import make_session
from plugin.state import get_redis


@bp.post("/woocommerce/disconnect")
def woocommerce_disconnect():
    """CSRF-checked like every panel POST (`plugin.panel.auth`). The store's webhooks are deleted
    while the request runs (a few REST calls, each with the configured timeout)."""
    principal = current()
    if principal.platform != "woocommerce":
        abort(404)
    app = current_app
    env = hooks.Env(settings=app.config["COPYDESK"], sessions=app.extensions["copydesk_sessionmaker"],
                    vault=app.extensions["copydesk_vault"], http=make_session(), redis=get_redis())
    try:
        hooks.disconnect(env, principal.shop_id, actor=principal.actor)
    finally:
        env.http.close()
    app.extensions["copydesk_directory"].forget(principal.shop_domain)
    return redirect(url_for("panel.login"))
