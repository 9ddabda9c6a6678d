"""Connecting to Xero: the authorization-code flow, tenants, refresh under a lock, disconnect.

The web layer drives the flow in three steps:

    url, state = connector.authorization_url(redirect_uri)     # keep `state` in the session
    tenants = connector.complete(redirect_uri, request.url, session.pop(state), user)
    if len(tenants) > 1: connector.choose_tenant(chosen_id, user)

One organisation is the active connection at a time (the row with `connected_at` set). When
Xero grants several, each is stored pending (same tokens) until the user picks one; the
others are then forgotten.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError, OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session
from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ...application.ports import Connection, TokenSet, TokenStore
from ...domain.errors import AccountsSyncError, GatewayUnavailable, NotConnected, ReauthorisationNeeded
from ..erp_sql.plugin_tables import ConnectionRow, utcnow
from .config import XeroSettings
from .tokens import install_log_redaction

log = logging.getLogger(__name__)

ORGANISATION = "ORGANISATION"
_TRANSIENT_TOKEN_STATUSES = frozenset({500, 502, 503, 504})
_TOKEN_TRIES = 3


class OAuthStateMismatch(AccountsSyncError):
    code = "oauth_state_mismatch"

    def __init__(self) -> None:
        super().__init__(
            "Xero's answer does not belong to this sign-in (it is old, or from another browser "
            "tab); press Connect to start again."
        )


# OAuth's error codes (RFC 6749 4.1.2.1) in plain words; an unknown one is not shown raw.
_DENIALS = {
    "access_denied": "the connection was cancelled in Xero",
    "invalid_scope": "Xero does not offer the access Accounts Sync asked for",
    "unauthorized_client": "Xero does not allow this app to connect this way",
    "server_error": "Xero had a problem",
    "temporarily_unavailable": "Xero is busy",
}


class OAuthDenied(AccountsSyncError):
    code = "oauth_denied"

    def __init__(self, reason: str = "") -> None:
        words = _DENIALS.get(reason.strip().lower(), "" if "_" in reason and " " not in reason
                             else reason)
        detail = f": {words}" if words else ""
        super().__init__(
            f"Xero did not grant access{detail}. Nothing was changed; press Connect and choose "
            f"Allow access to connect."
        )


class OAuthFailed(GatewayUnavailable):
    code = "oauth_failed"


class NoOrganisation(AccountsSyncError):
    code = "no_organisation"

    def __init__(self) -> None:
        super().__init__(
            "Xero granted access to no organisation; press Connect and tick the organisation "
            "to connect."
        )


class UnknownTenant(AccountsSyncError):
    code = "unknown_tenant"

    def __init__(self) -> None:
        super().__init__(
            "That organisation is not one Xero just authorised; press Connect to choose again."
        )


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    tenant_type: str = ORGANISATION
    connection_id: str = ""


class _Transient(Exception):  # noqa: N818 - internal: the token endpoint did not answer
    pass


class XeroConnector:
    """The OAuth side of the adapter; also the `TokenProvider` the HTTP client uses."""

    def __init__(
        self,
        settings: XeroSettings,
        token_store: TokenStore,
        session_factory: sessionmaker[Session],
        http: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        install_log_redaction()
        self.settings = settings
        self.token_store = token_store
        self._sessions = session_factory
        self._http = http or requests.Session()
        self._clock = clock
        self._cache: dict[str, TokenSet] = {}
        self._limits: dict[str, dict[str, int]] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()
        if settings.allow_insecure_transport:
            # oauthlib refuses http:// token URLs; a local sandbox has nothing else.
            os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")

    def __repr__(self) -> str:
        return f"XeroConnector(client_id={self.settings.client_id!r})"

    # ------------------------------------------------------------------ connect

    def authorization_url(self, redirect_uri: str) -> tuple[str, str]:
        """Where to send the browser, and the state to keep in the user's session."""
        oauth = self._oauth(redirect_uri=redirect_uri)
        url, state = oauth.authorization_url(self.settings.authorize_url)
        return url, state

    def complete(
        self, redirect_uri: str, authorization_response_url: str, expected_state: str | None, user: str
    ) -> list[Tenant]:
        """The callback: check state, exchange the code, store tokens for every granted tenant.

        Returns the tenants; with exactly one it is already the active connection, with
        several the user picks one with `choose_tenant`.
        """
        query = parse_qs(urlsplit(authorization_response_url).query)
        state = (query.get("state") or [""])[0]
        if not expected_state or not state or not hmac.compare_digest(state, expected_state):
            raise OAuthStateMismatch()
        if "error" in query:
            # Xero's own description when it gives one, else its code put in plain words.
            raise OAuthDenied((query.get("error_description") or query["error"])[0][:200])
        if not query.get("code"):
            raise OAuthDenied("no authorisation code came back")
        oauth = self._oauth(redirect_uri=redirect_uri, state=expected_state)
        try:
            # The state is checked above; passing the code alone keeps oauthlib from refusing
            # an http:// callback (a developer's localhost) the way it refuses http token URLs.
            raw = self._token_call(lambda: oauth.fetch_token(
                self.settings.token_url,
                code=query["code"][0],
                client_secret=self.settings.client_secret,
                timeout=self._timeout(),
            ))
        except InvalidGrantError:
            raise OAuthDenied("the authorisation code was already used or has expired") from None
        except OAuth2Error as exc:
            log.warning("Xero token exchange refused: %s", exc.error)
            raise OAuthFailed(
                f"Xero refused to complete the connection ({exc.error}); check the app's client "
                f"id, secret and redirect URI, then press Connect again."
            ) from None
        tokens = self._token_set(raw)
        tenants = self._tenants(tokens.access_token, _auth_event_id(tokens.access_token))
        if not tenants:
            raise NoOrganisation()
        self._store_tenants(tenants, tokens, user)
        if len(tenants) == 1:
            self._activate(tenants[0].tenant_id, user)
        log.info("Xero authorised %d organisation(s) for %s", len(tenants), user)
        return tenants

    def pending_tenants(self) -> list[Tenant]:
        """Organisations authorised but not chosen yet (to show the choice again)."""
        with self._session() as session:
            rows = session.scalars(
                select(ConnectionRow).where(ConnectionRow.connected_at.is_(None)).order_by(ConnectionRow.id)
            ).all()
            return [Tenant(r.tenant_id, r.organisation_name) for r in rows]

    def choose_tenant(self, tenant_id: str, user: str) -> Connection:
        with self._session() as session:
            row = self._row(session, tenant_id)
            if row is None or not row.token_ciphertext:
                raise UnknownTenant()
        self._activate(tenant_id, user)
        connection = self.connection()
        assert connection is not None
        return connection

    def disconnect(self, user: str) -> bool:
        """Remove the connection in Xero and forget it here; True when Xero confirmed.

        The local connection is forgotten even when Xero cannot be reached: the user asked to
        disconnect, and an unused grant expires on its own.
        """
        with self._session() as session:
            rows = session.scalars(select(ConnectionRow)).all()
            active = next((r for r in rows if r.connected_at is not None), None)
            tenant_ids = [r.tenant_id for r in rows]
        if not tenant_ids:
            return False
        confirmed = False
        tenant_id = active.tenant_id if active else tenant_ids[0]
        try:
            tokens = self.token_store.load(tenant_id)
            if tokens is not None:
                confirmed = self._disconnect_remote(tenant_id, tokens)
        except AccountsSyncError as exc:
            log.warning("disconnecting from Xero: %s", exc.message)
        with self._session() as session:
            session.execute(delete(ConnectionRow).where(ConnectionRow.tenant_id.in_(tenant_ids)))
        with self._lock:
            for tid in tenant_ids:
                self._cache.pop(tid, None)
                self._limits.pop(tid, None)
        log.info("Xero disconnected by %s (confirmed by Xero: %s)", user, confirmed)
        return confirmed

    def _disconnect_remote(self, tenant_id: str, tokens: TokenSet) -> bool:
        access = tokens.access_token
        if tokens.expires_at - self._clock() < self.settings.reuse_margin:
            access = self.refresh(tenant_id, stale_token=tokens.access_token)
            tokens = self.token_store.load(tenant_id) or tokens
        deleted = False
        try:
            for tenant in self._tenants(access):
                if tenant.tenant_id == tenant_id and tenant.connection_id:
                    answer = self._http.delete(
                        f"{self.settings.connections_url.rstrip('/')}/{tenant.connection_id}",
                        headers={"Authorization": f"Bearer {access}"},
                        timeout=self._timeout(),
                    )
                    deleted = answer.status_code in (200, 204, 404)
            answer = self._http.post(
                self.settings.revoke_url,
                data={"token": tokens.refresh_token, "token_type_hint": "refresh_token"},
                auth=HTTPBasicAuth(self.settings.client_id, self.settings.client_secret),
                timeout=self._timeout(),
            )
            return deleted and answer.status_code == 200
        except requests.RequestException as exc:
            log.warning("Xero could not be reached to disconnect: %s", type(exc).__name__)
            return False

    # ------------------------------------------------------------------ state

    def connection(self) -> Connection | None:
        with self._session() as session:
            row = self._active_row(session)
            if row is None:
                return None
            with self._lock:
                limits = dict(self._limits.get(row.tenant_id) or row.rate_limit_remaining or {})
            return Connection(
                tenant_id=row.tenant_id,
                organisation_name=row.organisation_name,
                connected_by=row.connected_by,
                connected_at=row.connected_at,
                needs_reauthorisation=row.needs_reauthorisation,
                rate_limit_remaining={k: int(v) for k, v in limits.items()},
                tokens_refreshed_at=row.tokens_refreshed_at,
            )

    def active_tenant_id(self) -> str:
        """The connected organisation; NotConnected or ReauthorisationNeeded when unusable."""
        with self._session() as session:
            row = self._active_row(session)
            if row is None or not row.token_ciphertext:
                raise NotConnected()
            if row.needs_reauthorisation:
                raise ReauthorisationNeeded(row.organisation_name)
            with self._lock:
                self._names[row.tenant_id] = row.organisation_name
            return row.tenant_id

    def organisation_name(self, tenant_id: str) -> str:
        with self._lock:
            if tenant_id in self._names:
                return self._names[tenant_id]
        with self._session() as session:
            row = self._row(session, tenant_id)
            return row.organisation_name if row else ""

    def record_rate_limits(self, tenant_id: str, values: Mapping[str, int], persist: bool) -> None:
        with self._lock:
            self._limits[tenant_id] = dict(values)
        if persist:
            with self._session() as session:
                row = self._row(session, tenant_id)
                if row is not None:
                    row.rate_limit_remaining = dict(values)

    def update_organisation(self, tenant_id: str, name: str, base_currency: str) -> None:
        """Keep the row's organisation name and currency as Xero last reported them."""
        with self._session() as session:
            row = self._row(session, tenant_id)
            if row is not None and (row.organisation_name, row.base_currency) != (name, base_currency):
                row.organisation_name = name or row.organisation_name
                row.base_currency = base_currency or row.base_currency
        with self._lock:
            self._names[tenant_id] = name

    def mark_needs_reauthorisation(self, tenant_id: str) -> None:
        with self._session() as session:
            row = self._row(session, tenant_id)
            if row is not None:
                row.needs_reauthorisation = True
                row.updated_at = utcnow()
        with self._lock:
            self._cache.pop(tenant_id, None)

    # ------------------------------------------------------------------ tokens

    def access_token(self, tenant_id: str) -> str:
        """A token with more than `refresh_margin` left, refreshed first when needed."""
        with self._lock:
            cached = self._cache.get(tenant_id)
        now = self._clock()
        if cached is not None and cached.expires_at - now > self.settings.refresh_margin:
            return cached.access_token
        tokens = self.token_store.load(tenant_id)
        if tokens is None:
            raise NotConnected()
        if tokens.expires_at - now > self.settings.refresh_margin:
            with self._lock:
                self._cache[tenant_id] = tokens
            return tokens.access_token
        return self.refresh(tenant_id, stale_token=tokens.access_token)

    def keep_alive(self) -> datetime | None:
        """Refresh the connected organisation's tokens now, used or not (Xero forgets a refresh
        token unused for 60 days); when they were issued. None when nothing is connected."""
        try:
            tenant_id = self.active_tenant_id()
        except NotConnected:
            return None
        self.refresh(tenant_id, force=True)
        connection = self.connection()
        return connection.tokens_refreshed_at if connection else None

    def refresh(self, tenant_id: str, stale_token: str | None = None, force: bool = False) -> str:
        """Refresh under the tenant's lock, unless another worker already did.

        `stale_token` is the access token the caller found too old or saw refused (401); if
        the token re-read inside the lock is another one with time left, it is used as is.
        """
        self._refuse_if_marked(tenant_id)
        failure: str | None = None
        with self.token_store.lock(tenant_id):
            current = self.token_store.load(tenant_id)
            if current is None:
                raise NotConnected()
            left = current.expires_at - self._clock()
            if force:
                fresh_enough = False
            elif stale_token is None:
                fresh_enough = left > self.settings.refresh_margin
            else:
                # Another worker refreshed while we waited for the lock: use its token.
                fresh_enough = current.access_token != stale_token and left > self.settings.reuse_margin
            if fresh_enough:
                new = current
            else:
                try:
                    new = self._refresh_with(current.refresh_token)
                except InvalidGrantError:
                    failure = "invalid_grant"
                else:
                    # Stored inside the lock: committed before anyone else may refresh.
                    self.token_store.save(tenant_id, new)
        if failure:
            log.warning("Xero refused the refresh token of tenant %s (%s)", tenant_id, failure)
            self.mark_needs_reauthorisation(tenant_id)
            raise ReauthorisationNeeded(self.organisation_name(tenant_id))
        with self._lock:
            self._cache[tenant_id] = new
        return new.access_token

    def _refresh_with(self, refresh_token: str) -> TokenSet:
        oauth = self._oauth()
        try:
            raw = self._token_call(lambda: oauth.refresh_token(
                self.settings.token_url,
                refresh_token=refresh_token,
                auth=HTTPBasicAuth(self.settings.client_id, self.settings.client_secret),
                timeout=self._timeout(),
            ))
        except InvalidGrantError:
            raise
        except OAuth2Error as exc:
            log.warning("Xero refused a token refresh: %s", exc.error)
            raise OAuthFailed(
                f"Xero refused to refresh the connection ({exc.error}); check the app's client id "
                f"and secret. Nothing queued has been lost."
            ) from None
        return self._token_set(raw, previous_refresh_token=refresh_token)

    def _refuse_if_marked(self, tenant_id: str) -> None:
        with self._session() as session:
            row = self._row(session, tenant_id)
            if row is None:
                raise NotConnected()
            if row.needs_reauthorisation:
                raise ReauthorisationNeeded(row.organisation_name)

    def _token_call(self, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """One token-endpoint call; a lost answer or a 5xx is retried a few times.

        Retrying a refresh is safe: Xero keeps a used refresh token valid for a grace period.
        """
        for attempt in range(1, _TOKEN_TRIES + 1):
            try:
                return call()
            except (requests.Timeout, requests.ConnectionError, _Transient) as exc:
                log.warning("Xero's token endpoint did not answer (%s), try %d", type(exc).__name__, attempt)
                if attempt < _TOKEN_TRIES:
                    time.sleep(min(0.2 * 2 ** attempt, 2.0))
            except requests.RequestException as exc:
                log.warning("Xero's token endpoint could not be called: %s", type(exc).__name__)
                break
        raise GatewayUnavailable(
            f"Xero's sign-in service did not answer after {_TOKEN_TRIES} tries; nothing was lost, "
            f"retry later."
        )

    def _token_set(self, raw: Mapping[str, Any], previous_refresh_token: str = "") -> TokenSet:
        scope = raw.get("scope") or ()
        if isinstance(scope, str):
            scope = scope.split()
        expires_in = float(raw.get("expires_in") or 1800)
        return TokenSet(
            access_token=str(raw["access_token"]),
            refresh_token=str(raw.get("refresh_token") or previous_refresh_token),
            expires_at=self._clock() + expires_in,
            scope=tuple(scope),
        )

    def _oauth(self, redirect_uri: str | None = None, state: str | None = None) -> OAuth2Session:
        oauth = OAuth2Session(
            self.settings.client_id,
            redirect_uri=redirect_uri,
            scope=list(self.settings.scopes),
            state=state,
        )

        def transient_check(response: requests.Response) -> requests.Response:
            if response.status_code in _TRANSIENT_TOKEN_STATUSES or response.status_code == 429:
                raise _Transient(f"HTTP {response.status_code}")
            return response

        oauth.register_compliance_hook("access_token_response", transient_check)
        oauth.register_compliance_hook("refresh_token_response", transient_check)
        return oauth

    # ------------------------------------------------------------------ tenants

    def _tenants(self, access_token: str, auth_event_id: str = "") -> list[Tenant]:
        """The organisations the token reaches; with `auth_event_id`, only those just granted."""
        try:
            answer = self._http.get(
                self.settings.connections_url,
                params={"authEventId": auth_event_id} if auth_event_id else None,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=self._timeout(),
            )
        except requests.RequestException as exc:
            log.warning("Xero's connections could not be read: %s", type(exc).__name__)
            raise GatewayUnavailable(
                "Xero did not say which organisations were authorised; press Connect again in a moment."
            ) from None
        if answer.status_code in (401, 403):
            raise OAuthFailed("Xero refused the new connection's token; press Connect again.")
        if answer.status_code != 200:
            raise GatewayUnavailable(
                f"Xero answered {answer.status_code} when asked for the authorised organisations; "
                f"press Connect again in a moment."
            )
        try:
            rows = answer.json()
        except ValueError:
            rows = None
        if not isinstance(rows, list):
            raise GatewayUnavailable("Xero's list of authorised organisations was unreadable; try again.")
        return [
            Tenant(
                tenant_id=str(row.get("tenantId", "")),
                name=str(row.get("tenantName") or ""),
                tenant_type=str(row.get("tenantType") or ORGANISATION),
                connection_id=str(row.get("id") or ""),
            )
            for row in rows
            if isinstance(row, dict) and row.get("tenantId")
            and (row.get("tenantType") or ORGANISATION) == ORGANISATION
        ]

    def _store_tenants(self, tenants: list[Tenant], tokens: TokenSet, user: str) -> None:
        granted = [t.tenant_id for t in tenants]
        with self._session() as session:
            # An earlier, unfinished choice is replaced by this one.
            session.execute(delete(ConnectionRow).where(
                ConnectionRow.connected_at.is_(None), ConnectionRow.tenant_id.not_in(granted)))
            for tenant in tenants:
                row = self._row(session, tenant.tenant_id)
                if row is None:
                    row = ConnectionRow(tenant_id=tenant.tenant_id, rate_limit_remaining={})
                    session.add(row)
                row.organisation_name = tenant.name
                row.connected_by = row.connected_by or user
                row.needs_reauthorisation = False
                row.updated_at = utcnow()
        for tenant in tenants:
            self.token_store.save(tenant.tenant_id, tokens)
        with self._lock:
            for tenant in tenants:
                self._cache[tenant.tenant_id] = tokens
                self._names[tenant.tenant_id] = tenant.name

    def _activate(self, tenant_id: str, user: str) -> None:
        with self._session() as session:
            row = self._row(session, tenant_id)
            if row is None:
                raise UnknownTenant()
            row.connected_at = utcnow()
            row.connected_by = user
            row.needs_reauthorisation = False
            session.execute(delete(ConnectionRow).where(ConnectionRow.tenant_id != tenant_id))

    # ------------------------------------------------------------------ database

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions() as session, session.begin():
                yield session
        except SQLAlchemyError as exc:
            log.error("Xero connection table error: %s", type(exc).__name__)
            raise GatewayUnavailable(
                "Accounts Sync could not read its Xero connection from the database; retry in a moment."
            ) from None

    @staticmethod
    def _row(session: Session, tenant_id: str) -> ConnectionRow | None:
        return session.scalars(select(ConnectionRow).where(ConnectionRow.tenant_id == tenant_id)).first()

    @staticmethod
    def _active_row(session: Session) -> ConnectionRow | None:
        return session.scalars(
            select(ConnectionRow)
            .where(ConnectionRow.connected_at.is_not(None))
            .order_by(ConnectionRow.connected_at.desc(), ConnectionRow.id.desc())
        ).first()

    def _timeout(self) -> tuple[float, float]:
        return (self.settings.connect_timeout, min(self.settings.read_timeout, 30.0))


def _auth_event_id(access_token: str) -> str:
    """Xero's access tokens are JWTs naming the authorisation event; the claim (read, not
    verified: it only narrows a list Xero itself returns) picks the tenants just granted."""
    parts = access_token.split(".")
    if len(parts) != 3:
        return ""
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return ""
    value = claims.get("authentication_event_id") if isinstance(claims, dict) else None
    return str(value) if value else ""
