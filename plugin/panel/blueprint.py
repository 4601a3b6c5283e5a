"""The panel's blueprint, with authentication before and security headers after every request."""

from __future__ import annotations

from flask import Blueprint

from plugin.panel.auth import authenticate, security_headers

bp = Blueprint("panel", __name__, url_prefix="/panel", template_folder="templates", static_folder="static")
bp.before_request(authenticate)
bp.after_request(security_headers)
