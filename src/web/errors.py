"""One table from application errors to HTTP statuses, and the handlers that use it."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..domain.errors import (
    AccountsSyncError,
    GatewayUnavailable,
    InvalidRequest,
    InvalidTransition,
    NotConnected,
    NotFound,
    RateLimited,
    ReauthorisationNeeded,
    RunAlreadyActive,
    SyncRefused,
)
from ..domain.schedules import SchedulesRefused
from .permissions import wants_json

log = logging.getLogger(__name__)

STATUS = [  # most specific first
    (RateLimited, 429),
    (GatewayUnavailable, 503),
    (RunAlreadyActive, 409),
    (NotConnected, 409),
    (ReauthorisationNeeded, 409),
    (SyncRefused, 422),
    (SchedulesRefused, 422),
    (InvalidTransition, 409),
    (NotFound, 404),
    (InvalidRequest, 400),
    (AccountsSyncError, 400),
]

HTTP_MESSAGES = {
    403: ("forbidden", "You need the 'can view costs' permission to use Accounts Sync; ask your "
                       "administrator for it."),
    404: ("not_found", "There is no such page in Accounts Sync; start again from the console."),
    405: ("method_not_allowed", "That action can't be done this way; use the buttons on the page."),
}

UNEXPECTED = ("Something went wrong in Accounts Sync; nothing was lost. Try again, and if it "
              "keeps happening tell your administrator.")


def status_for(error: AccountsSyncError) -> int:
    return next(status for kind, status in STATUS if isinstance(error, kind))


def error_response(status: int, code: str, message: str, **details: Any) -> Any:
    if wants_json():
        body = {"error": {"code": code, "message": message, **details}}
        return jsonify(body), status
    return render_template("accounts_sync/error.html", message=message, status=status), status


def register_error_handlers(blueprint: Blueprint) -> None:
    @blueprint.errorhandler(AccountsSyncError)
    def _known(error: AccountsSyncError) -> Any:
        details = {}
        if isinstance(error, (SyncRefused, SchedulesRefused)):
            details["problems"] = [{"code": p.code, "message": p.message} for p in error.problems]
        if isinstance(error, RunAlreadyActive):
            details["run_id"] = error.run_id
        return error_response(status_for(error), error.code, error.message, **details)

    @blueprint.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> Any:
        return error_response(400, "csrf_failed",
                              "The form has expired or was not sent from this page; reload the "
                              "page and try again.")

    @blueprint.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error
        code, message = HTTP_MESSAGES.get(error.code, ("http_error", error.description or ""))
        return error_response(error.code, code, message)

    @blueprint.errorhandler(Exception)
    def _unexpected(error: Exception) -> Any:
        log.exception("unexpected error in Accounts Sync")
        return error_response(500, "internal_error", UNEXPECTED)
