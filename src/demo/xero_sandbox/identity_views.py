"""login.xero.com / identity.xero.com stand-ins: consent page, token, revocation, connections."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request

from . import formats
from .api_views import drop_connection, json_response, sandbox
from .oauth import GRANULAR_SCOPES, AuthFailure, OAuthError, basic_credentials

bp = Blueprint("xero_identity", __name__)


def _log(method_status: int, started: float, extra: dict[str, Any] | None = None) -> None:
    sb = sandbox()
    entry = {
        "time": formats.utc_iso(sb.now()),
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode("latin-1"),
        "status": method_status,
        "org": None,
        "idempotencyKey": None,
        "elements": None,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    entry.update(extra or {})
    sb.log_call(entry)


def _redirect_with(redirect_uri: str, params: dict[str, str | None]) -> Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{query}", code=302)


def _error_page(title: str, message: str, status: int = 400) -> tuple[str, int]:
    return render_template("xero_sandbox/oauth_error.html", title=title, message=message), status


@bp.route("/identity/connect/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    started = time.perf_counter()
    sb = sandbox()
    params = request.form if request.method == "POST" else request.args
    client_id = params.get("client_id")
    redirect_uri = params.get("redirect_uri")
    scope = " ".join((params.get("scope") or "").split())
    state = params.get("state")
    with sb.lock:
        client = sb.oauth.client(client_id)
        redirect_ok = client is not None and sb.oauth.redirect_allowed(client, redirect_uri)
        orgs = [(org.tenant_id, org.name) for org in sb.orgs.values()]
    # Never redirect to an address the client has not registered: show the error instead.
    if client is None:
        _log(400, started)
        return _error_page("Unknown application",
                           f"No application is registered with client_id '{client_id}'.")
    if not redirect_ok:
        _log(400, started)
        return _error_page("Invalid redirect_uri",
                           f"'{redirect_uri}' is not a registered redirect URI for "
                           f"{client.get('name', client_id)}.")
    assert redirect_uri is not None
    if params.get("response_type") != "code":
        _log(302, started)
        return _redirect_with(redirect_uri, {"error": "unsupported_response_type",
                                             "state": state})
    unknown = sb.oauth.unknown_scopes(scope)
    if not scope or unknown:
        _log(302, started)
        return _redirect_with(redirect_uri, {"error": "invalid_scope", "state": state})

    form_fields = {key: params.get(key) for key in (
        "response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
        "code_challenge_method") if params.get(key) is not None}
    page = {
        "app_name": client.get("name", client_id),
        "scopes": [(s, GRANULAR_SCOPES[s]) for s in scope.split()],
        "orgs": orgs,
        "fields": form_fields,
        "error": None,
        "checked": {orgs[0][0]} if orgs else set(),
    }
    if request.method == "GET":
        _log(200, started)
        return render_template("xero_sandbox/authorize.html", **page)

    if request.form.get("decision") != "allow":
        _log(302, started, {"decision": "cancel"})
        return _redirect_with(redirect_uri, {"error": "access_denied", "state": state})
    known = {tenant for tenant, _ in orgs}
    chosen = [t.lower() for t in request.form.getlist("tenant") if t.lower() in known]
    if not chosen:
        page.update(error="Choose at least one organisation to connect.", checked=set())
        _log(400, started)
        return render_template("xero_sandbox/authorize.html", **page), 400
    with sb.lock:
        code = sb.oauth.issue_code(client["client_id"], redirect_uri, scope, chosen, sb.now(),
                                   params.get("code_challenge"),
                                   params.get("code_challenge_method"))
    _log(302, started, {"decision": "allow", "tenants": chosen})
    return _redirect_with(redirect_uri, {"code": code, "scope": scope, "state": state})


def _client_credentials() -> tuple[str | None, str | None]:
    basic_id, basic_secret = basic_credentials(request.headers.get("Authorization"))
    if basic_id is not None:
        return basic_id, basic_secret
    return request.form.get("client_id"), request.form.get("client_secret")


def _token_response(body: dict, status: int = 200) -> Response:
    response = json_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="xero-sandbox"'
    return response


@bp.post("/identity/connect/token")
@bp.post("/connect/token")
def token() -> Response:
    started = time.perf_counter()
    sb = sandbox()
    form = request.form
    grant_type = form.get("grant_type")
    client_id, secret = _client_credentials()
    drop = False
    with sb.lock:
        now = sb.now()
        sb.count("token_requests")
        if grant_type == "refresh_token":
            sb.count("refresh_calls")
        try:
            client = sb.oauth.authenticate_client(client_id, secret,
                                                  pkce=bool(form.get("code_verifier")))
            if grant_type == "authorization_code":
                answer = sb.oauth.exchange_code(client, form.get("code"),
                                                form.get("redirect_uri"),
                                                form.get("code_verifier"), now)
                sb.count("authorization_code_grants")
            elif grant_type == "refresh_token":
                answer = sb.oauth.refresh(client, form.get("refresh_token"), now)
                sb.count("refresh_token_grants")
            else:
                raise OAuthError("unsupported_grant_type")
            response = _token_response(answer)
            sb.save()
            drop = sb.faults.take_token_drop()
            if drop:
                sb.count_in("faults_fired", "token_commit_then_drop")
        except OAuthError as exc:
            if grant_type == "refresh_token":
                sb.count("refresh_failures")
            response = _token_response(exc.body(), exc.status)
    if drop:
        _log(0, started, {"grantType": grant_type, "dropped": True})
        return drop_connection()
    _log(response.status_code, started, {"grantType": grant_type})
    return response


@bp.post("/identity/connect/revocation")
@bp.post("/connect/revocation")
def revocation() -> Response:
    started = time.perf_counter()
    sb = sandbox()
    client_id, secret = _client_credentials()
    with sb.lock:
        try:
            client = sb.oauth.authenticate_client(client_id, secret, pkce=False)
        except OAuthError as exc:
            response = _token_response(exc.body(), exc.status)
        else:
            if sb.oauth.revoke(client, request.form.get("token")):
                sb.count("revocations")
                sb.save()
            # RFC 7009: an unknown token is not an error
            response = Response(b"", status=200)
    _log(response.status_code, started)
    return response


def _bearer_client() -> str | Response:
    sb = sandbox()
    with sb.lock:
        try:
            auth = sb.oauth.authenticate(request.headers.get("Authorization"), sb.now())
        except AuthFailure as exc:
            return json_response({"Type": None, "Title": "Unauthorized", "Status": 401,
                                  "Detail": exc.detail}, 401)
    return auth.client["client_id"]


@bp.get("/connections")
@bp.get("/Connections")
def connections() -> Response:
    started = time.perf_counter()
    sb = sandbox()
    client_id = _bearer_client()
    if isinstance(client_id, Response):
        _log(401, started)
        return client_id
    with sb.lock:
        names = {org.tenant_id: org.name for org in sb.orgs.values()}
        rows = sb.oauth.list_connections(client_id, names, request.args.get("authEventId"))
    _log(200, started)
    return json_response(rows)


@bp.delete("/connections/<connection_id>")
@bp.delete("/Connections/<connection_id>")
def delete_connection(connection_id: str) -> Response:
    started = time.perf_counter()
    sb = sandbox()
    client_id = _bearer_client()
    if isinstance(client_id, Response):
        _log(401, started)
        return client_id
    with sb.lock:
        removed = sb.oauth.delete_connection(client_id, connection_id)
        if removed:
            sb.save()
    if not removed:
        _log(404, started)
        return json_response({"Title": "Not Found", "Status": 404,
                              "Detail": "No such connection"}, 404)
    _log(204, started)
    return Response(status=204)
