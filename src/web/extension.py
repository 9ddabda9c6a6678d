"""AccountsSync: the Flask extension a host ERP mounts (`AccountsSync(app)` or `init_app`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app

from ..container import Container, build_container

PREFIX = "ACCOUNTS_SYNC_"

DEFAULT_CONFIG: dict[str, Any] = {
    "ACCOUNTS_SYNC_URL_PREFIX": "/accounts/sync",
    "ACCOUNTS_SYNC_BASE_TEMPLATE": "erp/base.html",
    "ACCOUNTS_SYNC_PERMISSION": "can_view_costs",
    "ACCOUNTS_SYNC_BASE_URL": "http://127.0.0.1:5000",
    "ACCOUNTS_SYNC_PAGE_SIZE": 50,
}

# Keys that configure the web layer itself, not the container.
_WEB_ONLY = {"URL_PREFIX", "BASE_TEMPLATE", "PERMISSION", "PERMISSION_CHECK", "PAGE_SIZE",
             "TIMEZONE", "TZINFO"}


class ConfigurationError(RuntimeError):
    """Raised at start-up, before any request, when the host's configuration can't work."""


@dataclass
class State:
    container: Container
    settings: dict[str, Any]


class AccountsSync:
    def __init__(self, app: Flask | None = None, **overrides: Any) -> None:
        if app is not None:
            self.init_app(app, **overrides)

    def init_app(self, app: Flask, **overrides: Any) -> None:
        for key, value in DEFAULT_CONFIG.items():
            app.config.setdefault(key, value)
        app.config.update({PREFIX + k.upper(): v for k, v in overrides.items()})
        if not app.config.get("ACCOUNTS_SYNC_DATABASE_URL"):
            raise ConfigurationError(
                "Set ACCOUNTS_SYNC_DATABASE_URL to the host database (plugin tables live there)."
            )
        if getattr(app, "login_manager", None) is None:
            raise ConfigurationError(
                "Accounts Sync uses the host's flask-login LoginManager; initialise it first."
            )
        app.config["ACCOUNTS_SYNC_TZINFO"] = _time_zone(app.config.get("ACCOUNTS_SYNC_TIMEZONE"))
        settings = {
            key[len(PREFIX):].lower(): value
            for key, value in app.config.items()
            if key.startswith(PREFIX) and key[len(PREFIX):] not in _WEB_ONLY
        }
        try:
            container = build_container(settings)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        container.check_dependencies()
        app.extensions["accounts_sync"] = State(container, settings)

        from .cli import cli
        from .views import make_blueprint

        app.register_blueprint(make_blueprint(), url_prefix=app.config["ACCOUNTS_SYNC_URL_PREFIX"])
        app.cli.add_command(cli)


def _time_zone(name: Any) -> Any:
    """Times are shown in the host's zone: ACCOUNTS_SYNC_TIMEZONE ('Australia/Adelaide'), else
    the server's own (None)."""
    if not name:
        return None
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(
            f"ACCOUNTS_SYNC_TIMEZONE '{name}' is not a time zone; use a name such as "
            f"Australia/Adelaide."
        ) from None


def state() -> State:
    return current_app.extensions["accounts_sync"]


def container() -> Container:
    return state().container
