"""The plugin's own CSRF check, whatever the host's Flask-WTF configuration says.

Every request that changes something (any method but GET, HEAD, OPTIONS) needs a valid
Flask-WTF token, in the form field `csrf_token` or the `X-CSRFToken` / `X-CSRF-Token` header,
and is refused when the browser says it came from another site (`Sec-Fetch-Site:
cross-site`) or, over HTTPS, when its Referer is not this host. The host's CSRFProtect (if it
has one) is told to leave the plugin's blueprint to this check, so the rules and messages are
the same with `WTF_CSRF_ENABLED=False`, `WTF_CSRF_CHECK_DEFAULT=False`, CSRFProtect installed
before or after the plugin, or none at all.

One exception, for scripts: a request whose user the host's flask-login *request loader*
found from the `Authorization` header needs no token on the API. Browsers never attach that
header to a request by themselves, so another site cannot forge one; a user found from the
session, the remember-me cookie or a token in a cookie or the query string gets no exemption.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, g, request
from flask_login import user_loaded_from_request
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HEADERS = ("X-CSRFToken", "X-CSRF-Token")
MESSAGE = ("The form has expired or was not sent from this page; reload the page and try "
           "again.")
_HEADER_USER = "_accounts_sync_user_from_authorization_header"


def install(app: Flask, blueprint: Blueprint) -> None:
    user_loaded_from_request.connect(_remember_header_user, app)

    @blueprint.url_value_preprocessor
    def _leave_the_blueprint_to_us(_endpoint: str | None, _values: Any) -> None:
        # Runs before every before_request function, the host's CSRFProtect's included, so
        # a CSRFProtect installed after the plugin is covered too.
        host_csrf = current_app.extensions.get("csrf")
        if host_csrf is not None:
            host_csrf.exempt(blueprint)


def _remember_header_user(_app: Flask, **_extra: Any) -> None:
    g.setdefault(_HEADER_USER, "Authorization" in request.headers)


def authenticated_by_header() -> bool:
    """True when flask-login's request loader found the user from the Authorization header."""
    return bool(g.get(_HEADER_USER, False))


def csrf_refusal() -> str | None:
    """None when the request may go on; else why it is refused (for the log)."""
    if request.method in SAFE_METHODS:
        return None
    if authenticated_by_header() and _is_api():
        return None
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return "sent from another site"
    token = request.form.get("csrf_token") or next(
        (request.headers[name] for name in HEADERS if request.headers.get(name)), None)
    try:
        validate_csrf(token)
    except ValidationError as error:
        return str(error)
    if request.is_secure:
        referrer = urlsplit(request.referrer or "")
        if (referrer.scheme, referrer.netloc) != ("https", request.host):
            return "the Referer is not this site"
    return None


def _is_api() -> bool:
    return "/api/" in request.path
