"""`create_app`: the sandbox as its own WSGI app, to mount under a prefix or serve alone."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

from . import api_views, identity_views, ui_views
from .sandbox import DEFAULTS, Sandbox

PACKAGE_DIR = Path(__file__).parent


class SandboxApp(Flask):
    """A Flask app that also carries its `sandbox` (state, fault injection, counters)."""

    sandbox: Sandbox


def create_app(config: dict[str, Any] | None = None) -> SandboxApp:
    """Build a sandbox app. Config keys (all optional) are listed in `sandbox.DEFAULTS`."""
    app = SandboxApp("accounts_sync.demo.xero_sandbox", root_path=str(PACKAGE_DIR),
                     template_folder="templates", static_folder="static",
                     static_url_path="/_static")
    cfg = dict(config or {})
    sandbox_cfg = {key: cfg[key] for key in DEFAULTS if key in cfg}
    app.config.update({k: v for k, v in cfg.items() if k not in DEFAULTS})
    sandbox = Sandbox(sandbox_cfg)
    app.sandbox = sandbox
    app.extensions["xero_sandbox"] = sandbox

    app.register_blueprint(identity_views.bp)
    app.register_blueprint(api_views.bp)
    app.register_blueprint(ui_views.bp)
    app.jinja_env.filters["money"] = _money
    app.jinja_env.filters["day"] = _day
    app.after_request(_security_headers)
    return app


# No form-action: the consent form's answer redirects to the client's own callback, wherever
# that is.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'")


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if request.path.startswith(("/_state.json", "/_faults", "/_reset")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _money(value: Any) -> str:
    if value is None:
        return ""
    amount = value if isinstance(value, Decimal) else Decimal(value)
    return f"{amount:,.2f}"


def _day(iso: str | None) -> str:
    return date.fromisoformat(iso).strftime("%d %b %Y") if iso else ""
