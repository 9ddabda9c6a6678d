"""The plugin's per-app state and the accessors that views, the API and the CLI share.

Kept apart from `extension` so that the extension imports the blueprint and the CLI, and
they import this, never the extension: no import cycle in the web package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app

from ..container import Container

EXTENSION_KEY = "accounts_sync"


@dataclass
class State:
    container: Container
    settings: dict[str, Any]
    scheduler_started: bool = False


def state() -> State:
    return current_app.extensions[EXTENSION_KEY]


def container() -> Container:
    return state().container
