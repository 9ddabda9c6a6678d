"""The Xero adapter: OAuth 2.0 connection, paced and retried HTTP, payloads, the gateway.

Wiring (the container does this once per process; the limiter is shared by every gateway):

    settings = XeroSettings.from_config(app.config)          # or XeroSettings.for_sandbox(url, ...)
    store = EncryptedTokenStore(session_factory, secret_key)
    connector = XeroConnector(settings, store, session_factory)
    client = XeroHttpClient(settings, connector, limiter=InProcessRateLimiter.from_settings(settings))
    gateway = XeroGateway(client, connector, session_factory, settings)
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from .client import InProcessRateLimiter, RateLimiter, XeroHttpClient, XeroRejected
from .config import XeroSettings
from .gateway import XeroGateway
from .oauth import (
    NoOrganisation,
    OAuthDenied,
    OAuthFailed,
    OAuthStateMismatch,
    Tenant,
    UnknownTenant,
    XeroConnector,
)
from .tokens import EncryptedTokenStore

__all__ = [
    "EncryptedTokenStore",
    "InProcessRateLimiter",
    "NoOrganisation",
    "OAuthDenied",
    "OAuthFailed",
    "OAuthStateMismatch",
    "RateLimiter",
    "Tenant",
    "UnknownTenant",
    "XeroConnector",
    "XeroGateway",
    "XeroHttpClient",
    "XeroRejected",
    "XeroSettings",
    "create_xero",
]


def create_xero(
    settings: XeroSettings,
    session_factory: sessionmaker[Session],
    secret_key: str | bytes,
    limiter: RateLimiter | None = None,
) -> tuple[XeroConnector, XeroGateway]:
    """The connector (for the connect/callback/disconnect views) and the gateway (for use cases)."""
    store = EncryptedTokenStore(session_factory, secret_key)
    connector = XeroConnector(settings, store, session_factory)
    limiter = limiter or InProcessRateLimiter.from_settings(settings)
    client = XeroHttpClient(settings, connector, limiter=limiter)
    return connector, XeroGateway(client, connector, session_factory, settings)
