"""Login and permission checks, modelled on flask-login's `login_required`.

The host owns flask-login and its users; the plugin only asks whether the current user has a
named permission, through `ACCOUNTS_SYNC_PERMISSION_CHECK` (a callable) or, by default, the
user's `has_permission(name)` method or a boolean attribute of that name.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, jsonify, request
from flask_login import current_user

DEFAULT_PERMISSION = "can_view_costs"


def user_has_permission(user: Any, name: str) -> bool:
    check = current_app.config.get("ACCOUNTS_SYNC_PERMISSION_CHECK")
    if check is not None:
        return bool(check(user, name))
    method = getattr(user, "has_permission", None)
    if callable(method):
        return bool(method(name))
    return bool(getattr(user, name, False))


def wants_json() -> bool:
    return "/api/" in request.path or request.accept_mimetypes.best == "application/json"


def refuse_unless_permitted(name: str) -> Any:
    """None when the current user may go on; otherwise the answer to send instead."""
    if not current_user.is_authenticated:
        if wants_json():
            return _json_error(401, "login_required", "Log in to use Accounts Sync.")
        return current_app.login_manager.unauthorized()
    if not user_has_permission(current_user, name):
        if wants_json():
            return _json_error(403, "forbidden",
                               "You need the 'can view costs' permission to use Accounts Sync.")
        abort(403)
    return None


def requires_permission(name: str = DEFAULT_PERMISSION) -> Callable:
    """Decorator for a view: anonymous → the host's login; logged in without it → 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = refuse_unless_permitted(name)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        return wrapper

    return decorator


def _json_error(status: int, code: str, message: str) -> Any:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response
