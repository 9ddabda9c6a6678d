"""Xero's OAuth 2.0 identity service: clients, codes, grants, rotating tokens, connections.

Behaviour copied from Xero, because the adapter's hardest code exists to survive it:
- codes are single use and live 5 minutes;
- access tokens live 30 minutes (configurable);
- refresh tokens are single use and rotate, but a used one keeps working for a grace period
  (answering with a further new pair), after which it is `invalid_grant`;
- revoking a refresh token ends the whole grant and removes the app's connections;
- a connection is per app and organisation, shared by every grant of that app.
All methods run under the sandbox's lock.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from .formats import utc_iso

CODE_TTL_SECONDS = 300
REFRESH_TOKEN_TTL_SECONDS = 60 * 24 * 3600

GRANULAR_SCOPES = {
    "offline_access": "Keep access while you are not using the app (refresh tokens)",
    "openid": "Your identity",
    "profile": "Your name",
    "email": "Your email address",
    "accounting.invoices": "Read and write invoices, bills and credit notes",
    "accounting.invoices.read": "Read invoices, bills and credit notes",
    "accounting.manualjournals": "Read and write manual journals",
    "accounting.manualjournals.read": "Read manual journals",
    "accounting.payments": "Read and write payments",
    "accounting.payments.read": "Read payments",
    "accounting.banktransactions": "Read and write bank transactions",
    "accounting.banktransactions.read": "Read bank transactions",
    "accounting.contacts": "Read and write contacts",
    "accounting.contacts.read": "Read contacts",
    "accounting.settings": "Read and write organisation settings and the chart of accounts",
    "accounting.settings.read": "Read organisation settings and the chart of accounts",
    "accounting.transactions": "Read and write all transactions (older apps)",
    "accounting.transactions.read": "Read all transactions (older apps)",
    "accounting.journals.read": "Read general ledger journals",
    "accounting.reports.read": "Read reports",
    "accounting.reports.trialbalance.read": "Read the trial balance",
    "accounting.attachments": "Read and write attachments",
    "accounting.attachments.read": "Read attachments",
    "accounting.budgets.read": "Read budgets",
}

DEFAULT_CLIENTS: dict[str, dict[str, Any]] = {
    "accounts-sync-demo": {
        "secret": "accounts-sync-demo-secret",
        "redirect_uris": [],
        "name": "Accounts Sync (demo)",
    },
}

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}


class OAuthError(Exception):
    """An OAuth error answer: `{"error": code}` with an HTTP status."""

    def __init__(self, error: str, status: int = 400, description: str | None = None):
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description

    def body(self) -> dict:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


class AuthFailure(Exception):
    """A Bearer token the Accounting API refuses (401)."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


@dataclass
class Authenticated:
    grant: dict
    client: dict
    scopes: frozenset[str]


def _token(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


def _expired_text(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%m/%d/%Y %H:%M:%S")


class OAuthStore:
    def __init__(self, clients: dict[str, dict], allow_localhost: bool, access_ttl: int,
                 refresh_grace: int, refresh_ttl: int = REFRESH_TOKEN_TTL_SECONDS):
        self.clients = clients
        self.allow_localhost = allow_localhost
        self.access_ttl = access_ttl
        self.refresh_grace = refresh_grace
        self.refresh_ttl = refresh_ttl
        self.codes: dict[str, dict] = {}
        self.grants: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.refresh_tokens: dict[str, dict] = {}
        # client_id -> tenant_id -> connection
        self.connections: dict[str, dict[str, dict]] = {}
        self._issued_since_prune = 0

    # --- authorization ------------------------------------------------------------------

    def client(self, client_id: str | None) -> dict | None:
        if not client_id:
            return None
        client = self.clients.get(client_id)
        return {**client, "client_id": client_id} if client else None

    def redirect_allowed(self, client: dict, redirect_uri: str | None) -> bool:
        if not redirect_uri:
            return False
        if redirect_uri in client.get("redirect_uris", ()):
            return True
        parts = urlsplit(redirect_uri)
        return (self.allow_localhost and parts.scheme in ("http", "https")
                and (parts.hostname or "") in LOCAL_HOSTS)

    @staticmethod
    def unknown_scopes(scope: str) -> list[str]:
        return [s for s in scope.split() if s not in GRANULAR_SCOPES]

    def issue_code(self, client_id: str, redirect_uri: str, scope: str, tenant_ids: list[str],
                   now: float, code_challenge: str | None = None,
                   code_challenge_method: str | None = None) -> str:
        self._prune_codes(now)
        code = _token("sbx_code_")
        self.codes[code] = {
            "client_id": client_id, "redirect_uri": redirect_uri, "scope": scope,
            "tenants": list(tenant_ids), "expires_at": now + CODE_TTL_SECONDS,
            "code_challenge": code_challenge,
            "code_challenge_method": code_challenge_method or "plain",
        }
        return code

    def _prune_codes(self, now: float) -> None:
        for code in [c for c, rec in self.codes.items() if rec["expires_at"] < now]:
            del self.codes[code]

    # --- token endpoint -----------------------------------------------------------------

    def authenticate_client(self, client_id: str | None, secret: str | None,
                            pkce: bool) -> dict:
        client = self.client(client_id)
        if client is None:
            raise OAuthError("invalid_client", 401)
        expected = client.get("secret")
        if secret is None and pkce:
            return client  # a PKCE public client proves itself with the code verifier
        if expected is None or secret is None or not secrets.compare_digest(
                str(secret), str(expected)):
            raise OAuthError("invalid_client", 401)
        return client

    def exchange_code(self, client: dict, code: str | None, redirect_uri: str | None,
                      code_verifier: str | None, now: float) -> dict:
        record = self.codes.pop(code or "", None)  # single use, even when it fails
        if record is None or record["expires_at"] <= now:
            raise OAuthError("invalid_grant")
        if record["client_id"] != client["client_id"] or record["redirect_uri"] != redirect_uri:
            raise OAuthError("invalid_grant")
        if record["code_challenge"]:
            if not code_verifier or not _pkce_matches(record["code_challenge"],
                                                      record["code_challenge_method"],
                                                      code_verifier):
                raise OAuthError("invalid_grant", description="code_verifier does not match")
        grant = self._new_grant(client["client_id"], record["scope"], record["tenants"], now)
        return self._issue_pair(grant, now)

    def _new_grant(self, client_id: str, scope: str, tenant_ids: list[str], now: float) -> dict:
        grant_id = str(uuid.uuid4())
        grant = {"id": grant_id, "client_id": client_id, "scope": scope, "created_at": now,
                 "revoked": False, "tenants": list(tenant_ids)}
        self.grants[grant_id] = grant
        connections = self.connections.setdefault(client_id, {})
        for tenant_id in tenant_ids:
            existing = connections.get(tenant_id)
            if existing:
                existing.update(authEventId=grant_id, updated_at=now)
            else:
                connections[tenant_id] = {"id": str(uuid.uuid4()), "authEventId": grant_id,
                                          "tenantId": tenant_id, "created_at": now,
                                          "updated_at": now}
        return grant

    def _issue_pair(self, grant: dict, now: float) -> dict:
        access = _token("sbx_at_")
        self.access_tokens[access] = {"grant_id": grant["id"], "expires_at": now + self.access_ttl}
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": self.access_ttl,
            "token_type": "Bearer",
            "scope": grant["scope"],
        }
        if "offline_access" in grant["scope"].split():
            refresh = _token("sbx_rt_")
            self.refresh_tokens[refresh] = {"grant_id": grant["id"], "issued_at": now,
                                            "expires_at": now + self.refresh_ttl,
                                            "rotated_at": None}
            answer["refresh_token"] = refresh
        self._issued_since_prune += 1
        if self._issued_since_prune >= 200:
            self._prune_tokens(now)
        return answer

    def _prune_tokens(self, now: float) -> None:
        """Forget long-dead tokens so a week-long benchmark does not grow without bound."""
        self._issued_since_prune = 0
        horizon = now - 24 * 3600
        for token in [t for t, rec in self.access_tokens.items() if rec["expires_at"] < horizon]:
            del self.access_tokens[token]
        for token in [t for t, rec in self.refresh_tokens.items()
                      if rec["expires_at"] < now or (
                          rec["rotated_at"] is not None
                          and rec["rotated_at"] + self.refresh_grace < horizon)]:
            del self.refresh_tokens[token]

    def refresh(self, client: dict, refresh_token: str | None, now: float) -> dict:
        record = self.refresh_tokens.get(refresh_token or "")
        if record is None:
            raise OAuthError("invalid_grant")
        grant = self.grants.get(record["grant_id"])
        if grant is None or grant["revoked"] or grant["client_id"] != client["client_id"]:
            raise OAuthError("invalid_grant")
        if record["expires_at"] <= now:
            raise OAuthError("invalid_grant")
        if record["rotated_at"] is not None and now - record["rotated_at"] >= self.refresh_grace:
            raise OAuthError("invalid_grant")
        if record["rotated_at"] is None:
            record["rotated_at"] = now
        return self._issue_pair(grant, now)

    def revoke(self, client: dict, token: str | None) -> bool:
        record = self.refresh_tokens.get(token or "")
        if record is None:
            return False
        grant = self.grants.get(record["grant_id"])
        if grant is None or grant["client_id"] != client["client_id"]:
            return False
        grant["revoked"] = True
        # Xero: revoking removes the connections the token gave access to.
        self.connections.pop(grant["client_id"], None)
        return True

    def revoke_all(self) -> None:
        """Every app disconnected in Xero: tokens stop working and refreshes are refused."""
        for grant in self.grants.values():
            grant["revoked"] = True
        self.connections.clear()

    def issue_direct(self, client_id: str, tenant_ids: list[str], scope: str, now: float) -> dict:
        """Tokens without the browser dance, for tests that are not about OAuth."""
        if client_id not in self.clients:
            raise OAuthError("invalid_client", 401)
        return self._issue_pair(self._new_grant(client_id, scope, tenant_ids, now), now)

    # --- resource side ------------------------------------------------------------------

    def authenticate(self, authorization: str | None, now: float) -> Authenticated:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise AuthFailure("AuthenticationUnsuccessful")
        record = self.access_tokens.get(authorization[7:].strip())
        if record is None:
            raise AuthFailure("AuthenticationUnsuccessful")
        grant = self.grants.get(record["grant_id"])
        if grant is None or grant["revoked"]:
            raise AuthFailure("AuthenticationUnsuccessful")
        if record["expires_at"] <= now:
            expired_at = _expired_text(record["expires_at"])
            raise AuthFailure(f"TokenExpired: token expired at {expired_at}")
        client = self.client(grant["client_id"]) or {"client_id": grant["client_id"]}
        return Authenticated(grant, client, frozenset(grant["scope"].split()))

    def tenant_connected(self, client_id: str, tenant_id: str | None) -> bool:
        return bool(tenant_id) and tenant_id.lower() in self.connections.get(client_id, {})

    def list_connections(self, client_id: str, names: dict[str, str],
                         auth_event_id: str | None = None) -> list[dict]:
        rows = []
        for conn in self.connections.get(client_id, {}).values():
            if auth_event_id and conn["authEventId"] != auth_event_id:
                continue
            rows.append({
                "id": conn["id"],
                "authEventId": conn["authEventId"],
                "tenantId": conn["tenantId"],
                "tenantType": "ORGANISATION",
                "tenantName": names.get(conn["tenantId"], ""),
                "createdDateUtc": utc_iso(conn["created_at"]).rstrip("Z"),
                "updatedDateUtc": utc_iso(conn["updated_at"]).rstrip("Z"),
            })
        return rows

    def delete_connection(self, client_id: str, connection_id: str) -> bool:
        connections = self.connections.get(client_id, {})
        for tenant_id, conn in list(connections.items()):
            if conn["id"] == connection_id.lower():
                del connections[tenant_id]
                return True
        return False

    def expire_all(self, now: float) -> int:
        for record in self.access_tokens.values():
            record["expires_at"] = min(record["expires_at"], now - 1)
        return len(self.access_tokens)

    # --- persistence --------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"grants": self.grants, "access_tokens": self.access_tokens,
                "refresh_tokens": self.refresh_tokens, "connections": self.connections}

    def load(self, data: dict) -> None:
        self.grants = data.get("grants", {})
        self.access_tokens = data.get("access_tokens", {})
        self.refresh_tokens = data.get("refresh_tokens", {})
        self.connections = data.get("connections", {})


def _pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    if method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return secrets.compare_digest(expected, challenge)
    return secrets.compare_digest(verifier, challenge)


def basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    """HTTP Basic client credentials; RFC 6749 2.3.1 form-encodes both parts first."""
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
