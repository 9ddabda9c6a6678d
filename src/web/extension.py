"""AccountsSync: the Flask extension a host ERP mounts (`AccountsSync(app)` or `init_app`)."""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

from ..container import build_container, weak_secret
from . import csrf, headers
from .cli import cli
from .services import EXTENSION_KEY, State, container, state
from .views import make_blueprint

__all__ = ["AccountsSync", "ConfigurationError", "State", "container", "start_scheduler", "state"]

PREFIX = "ACCOUNTS_SYNC_"
log = logging.getLogger(__name__)

DEFAULT_CONFIG: dict[str, Any] = {
    "ACCOUNTS_SYNC_URL_PREFIX": "/accounts/sync",
    "ACCOUNTS_SYNC_BASE_TEMPLATE": "erp/base.html",
    "ACCOUNTS_SYNC_PERMISSION": "can_view_costs",
    "ACCOUNTS_SYNC_BASE_URL": "http://127.0.0.1:5000",
    "ACCOUNTS_SYNC_PAGE_SIZE": 50,
}

# Keys that configure the web layer itself, not the container.
_WEB_ONLY = {"URL_PREFIX", "BASE_TEMPLATE", "PERMISSION", "PERMISSION_CHECK", "PAGE_SIZE",
             "CONTENT_SECURITY_POLICY", "TZINFO"}


class ConfigurationError(RuntimeError):
    """Raised at start-up, before any request, when the host's configuration can't work."""


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
        weak = weak_secret(app.config.get("SECRET_KEY") or "")
        if weak:
            raise ConfigurationError(
                f"The app's SECRET_KEY signs the sessions and CSRF tokens Accounts Sync relies "
                f"on; it {weak}")
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
        # Links in alert emails lead to the console.
        settings.setdefault("console_url", str(app.config["ACCOUNTS_SYNC_BASE_URL"]).rstrip("/")
                            + "/" + str(app.config["ACCOUNTS_SYNC_URL_PREFIX"]).strip("/"))
        settings["timezone"] = str(app.config.get("ACCOUNTS_SYNC_TIMEZONE") or "")
        try:
            services = build_container(settings)
        except ValueError as error:
            raise ConfigurationError(str(error)) from None
        services.check_dependencies()
        app.extensions[EXTENSION_KEY] = State(services, settings)
        blueprint = make_blueprint()
        csrf.install(app, blueprint)
        headers.install(blueprint)
        app.register_blueprint(blueprint, url_prefix=app.config["ACCOUNTS_SYNC_URL_PREFIX"])
        app.cli.add_command(cli)
        # Schedules fire from the first request on (not in CLI commands, which build the app
        # too): a thread of this process, or a call planned on RQ's scheduler for the workers.
        app.before_request(lambda: _start_once(app))


def start_scheduler(app: Flask) -> None:
    """Start the scheduled syncs now rather than at the first request (a host's boot code)."""
    _start_once(app, force=True)


def _start_once(app: Flask, force: bool = False) -> None:
    current = app.extensions[EXTENSION_KEY]
    if current.scheduler_started and not force:
        scheduler = current.container.scheduler()
        if getattr(scheduler, "running", True):  # a forked process lost the thread: again
            return
    current.scheduler_started = True
    try:
        current.container.scheduler().start()
    except Exception:  # never let the scheduler stop the host's page
        log.exception("Accounts Sync could not start its scheduler")


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

