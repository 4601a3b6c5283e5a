"""Logging in and out of the standalone panel, switching shops, and the session-token bounce page."""

from __future__ import annotations

import secrets

from flask import abort, redirect, render_template, request, session, url_for

from plugin.drafts import audit
from plugin.panel import accounts
from plugin.panel.auth import bounce_page, current
from plugin.panel.blueprint import bp
from plugin.state import get_db, get_redis


def _safe_next(target: str) -> str:
    """Only our own panel paths: never an open redirect to another site."""
    if target.startswith("/panel") and not target.startswith("//") and "\\" not in target and "//" not in target:
        return target
    return url_for("panel.queue")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        session.setdefault("login_csrf", secrets.token_urlsafe(24))
        return render_template("panel/login.html", next=request.args.get("next", ""),
                               csrf=session["login_csrf"], error=None)
    expected = session.get("login_csrf", "")
    if not expected or not secrets.compare_digest(request.form.get("csrf_token", ""), expected):
        abort(400, "missing or wrong CSRF token: reload the login page and try again")
    email = request.form.get("email", "")[:255]
    password = request.form.get("password", "")[:1024]
    address = request.remote_addr or "unknown"
    conn = get_redis()
    error, status = None, 200
    if accounts.throttled(conn, address, email):
        error, status = "Too many failed attempts. Wait 15 minutes and try again.", 429
    else:
        opened = accounts.verify_login(get_db(), email, password)
        if not opened:
            accounts.record_failure(conn, address, email)
            error, status = "That email and password do not match an account.", 401
    if error:
        return render_template("panel/login.html", next=request.form.get("next", ""), csrf=expected,
                               error=error, email=email), status
    accounts.clear_failures(conn, address, email)
    old = session.get("sid")
    if old:
        accounts.close_session(conn, old)
    session.clear()  # a fresh session at every login
    session.permanent = True
    session["sid"] = accounts.open_session(conn, opened)
    db = get_db()
    for account in opened:
        audit(db, action="staff.login", actor=f"staff:{account.email}", shop_id=account.shop_id)
    db.commit()
    return redirect(_safe_next(request.form.get("next", "")))


@bp.post("/logout")
def logout():
    principal = current()
    if principal.sid:
        accounts.close_session(get_redis(), principal.sid)
    session.clear()
    return redirect(url_for("panel.login"))


@bp.post("/shop")
def switch_shop():
    """Review another shop this login opens (the same email and password on several shops)."""
    principal = current()
    wanted = request.form.get("shop_id", "")
    record = accounts.load_session(get_redis(), principal.sid) if principal.sid else None
    if record is None or wanted not in record["shops"]:
        abort(404)
    record["shop_id"] = int(wanted)
    accounts.save_session(get_redis(), principal.sid, record)
    return redirect(url_for("panel.queue"))


@bp.get("/session-token")
def bounce():
    return bounce_page()
