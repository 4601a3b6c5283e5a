"""The per-app runtime (store + webhook sender), reachable from views through current_app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from .state import Store
from .webhooks import Sender


@dataclass
class Runtime:
    store: Store
    sender: Sender


def rt() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions["devstore"]
