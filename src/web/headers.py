"""Security headers on every answer of the plugin, pages and API alike.

A strict Content-Security-Policy: scripts and styles only from this origin's files (no inline
script, style or event handler anywhere in the plugin's pages; the host's layout must not
have any either, or set ACCOUNTS_SYNC_CONTENT_SECURITY_POLICY to a policy of its own, or to
"" to send none), forms only to this origin and to Xero's login (Connect redirects there),
no framing by other sites, no plugins, no <base>. Pages and API answers carry the books, so
browsers and proxies are told not to keep them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, request

from .services import state

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "font-src 'self'; connect-src 'self'; form-action 'self'{form_targets}; "
          "frame-ancestors 'self'; base-uri 'none'; object-src 'none'")


def install(blueprint: Blueprint) -> None:
    blueprint.after_request(_headers)


def content_security_policy() -> str:
    configured = current_app.config.get("ACCOUNTS_SYNC_CONTENT_SECURITY_POLICY")
    if configured is not None:
        return str(configured)
    return POLICY.format(form_targets="".join(f" {origin}" for origin in _xero_login_origins()))


def _xero_login_origins() -> list[str]:
    if state().settings.get("gateway") != "xero":
        return []
    parts = urlsplit(state().container.xero_settings().authorize_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    return [] if origin == request.host_url.rstrip("/") else [origin]


def _headers(response: Response) -> Response:
    policy = content_security_policy()
    if policy:
        response.headers["Content-Security-Policy"] = policy
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "accounts_sync.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
