"""OAuth tokens per organisation, encrypted at rest, refreshed by one worker at a time.

Xero's refresh tokens are single-use: two workers refreshing with the same one end with one
of them holding a dead token (`invalid_grant`). `lock(tenant_id)` therefore serialises
refreshes across threads (a per-tenant lock) and across processes (the connection's row,
locked in the database), and `load`/`save` inside the lock run in the lock's own
transaction, so a token re-read inside it is the latest one.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ...application.ports import TokenSet
from ...domain.errors import GatewayUnavailable, ReauthorisationNeeded
from ..erp_sql.plugin_tables import ConnectionRow, utcnow

log = logging.getLogger(__name__)

_HKDF_SALT = b"accounts-sync/xero-token-store"
_HKDF_INFO = b"fernet key v1"


def fernet_key(secret: str | bytes) -> bytes:
    """The secret itself when it already is a Fernet key, else one derived from it (HKDF-SHA256)."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise ValueError("The token encryption secret is empty; set ACCOUNTS_SYNC_SECRET_KEY.")
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32 and len(raw) == 44:
            return raw
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(raw)
    return base64.urlsafe_b64encode(derived)


class TokenStoreError(GatewayUnavailable):
    """The plugin's own database could not be read or written while handling tokens."""


@dataclass
class _Held:
    session: Session
    depth: int = 1


class EncryptedTokenStore:
    """`TokenStore` on `ConnectionRow`: the token set as encrypted JSON, its expiry in clear.

    `secret_key` is the app's secret (or a Fernet key); `previous_keys` lets an old secret
    still decrypt tokens after a key rotation (new tokens are encrypted with the new key).
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        secret_key: str | bytes,
        previous_keys: Sequence[str | bytes] = (),
    ) -> None:
        install_log_redaction()
        self._sessions = session_factory
        self._fernet = MultiFernet([Fernet(fernet_key(k)) for k in (secret_key, *previous_keys)])
        self._guard = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._held = threading.local()

    def __repr__(self) -> str:  # never show the key
        return "EncryptedTokenStore()"

    # ------------------------------------------------------------------ TokenStore

    def load(self, tenant_id: str) -> TokenSet | None:
        held = self._held_session(tenant_id)
        if held is not None:
            return self._read(held, tenant_id)
        try:
            with self._sessions() as session, session.begin():
                return self._read(session, tenant_id)
        except SQLAlchemyError as exc:
            raise _db_error(exc) from None

    def save(self, tenant_id: str, tokens: TokenSet) -> None:
        held = self._held_session(tenant_id)
        if held is not None:
            self._write(held, tenant_id, tokens)
            held.flush()
            return
        try:
            with self._sessions() as session, session.begin():
                self._write(session, tenant_id, tokens)
        except SQLAlchemyError as exc:
            raise _db_error(exc) from None

    @contextmanager
    def lock(self, tenant_id: str) -> Iterator[None]:
        """Held by one thread of one process at a time; re-entrant within a thread.

        Whatever was saved inside is committed on the way out, even when the block raised:
        a rotated refresh token must never be lost.
        """
        holding = self._holding()
        if tenant_id in holding:
            holding[tenant_id].depth += 1
            try:
                yield
            finally:
                holding[tenant_id].depth -= 1
            return
        with self._tenant_lock(tenant_id):
            session = self._sessions()
            try:
                session.begin()
                self._lock_row(session, tenant_id)
            except SQLAlchemyError as exc:
                session.rollback()
                session.close()
                raise _db_error(exc) from None
            holding[tenant_id] = _Held(session)
            try:
                yield
            finally:
                del holding[tenant_id]
                try:
                    session.commit()
                except SQLAlchemyError as exc:
                    session.rollback()
                    raise _db_error(exc) from None
                finally:
                    session.close()

    # ------------------------------------------------------------------ beyond the port

    def encrypt(self, tokens: TokenSet) -> bytes:
        content = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "scope": list(tokens.scope),
        }
        return self._fernet.encrypt(json.dumps(content).encode())

    def decrypt(self, ciphertext: bytes) -> TokenSet:
        content = json.loads(self._fernet.decrypt(ciphertext))
        return TokenSet(
            access_token=content["access_token"],
            refresh_token=content["refresh_token"],
            expires_at=float(content["expires_at"]),
            scope=tuple(content.get("scope") or ()),
        )

    # ------------------------------------------------------------------ inside

    def _read(self, session: Session, tenant_id: str) -> TokenSet | None:
        row = session.scalars(select(ConnectionRow).where(ConnectionRow.tenant_id == tenant_id)).first()
        if row is None or not row.token_ciphertext:
            return None
        try:
            return self.decrypt(row.token_ciphertext)
        except (InvalidToken, ValueError, KeyError, TypeError):
            # Usually the secret key changed: the tokens are unreadable, so authorise again.
            log.warning("Xero tokens of tenant %s cannot be decrypted; re-authorisation needed", tenant_id)
            raise ReauthorisationNeeded(row.organisation_name) from None

    def _write(self, session: Session, tenant_id: str, tokens: TokenSet) -> None:
        row = session.scalars(select(ConnectionRow).where(ConnectionRow.tenant_id == tenant_id)).first()
        if row is None:
            row = ConnectionRow(tenant_id=tenant_id, rate_limit_remaining={})
            session.add(row)
        row.token_ciphertext = self.encrypt(tokens)
        row.token_expires_at = tokens.expires_at
        row.needs_reauthorisation = False
        row.updated_at = row.tokens_refreshed_at = utcnow()

    def _lock_row(self, session: Session, tenant_id: str) -> None:
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: a write takes the database's write lock until commit
            # (a no-op on an engine that already begins every transaction IMMEDIATE).
            session.execute(
                update(ConnectionRow)
                .where(ConnectionRow.tenant_id == tenant_id)
                .values(tenant_id=ConnectionRow.tenant_id)
                .execution_options(synchronize_session=False)
            )
        else:
            session.execute(
                select(ConnectionRow.id).where(ConnectionRow.tenant_id == tenant_id).with_for_update()
            )

    def _tenant_lock(self, tenant_id: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault(tenant_id, threading.RLock())

    def _holding(self) -> dict[str, _Held]:
        holding = getattr(self._held, "tenants", None)
        if holding is None:
            holding = self._held.tenants = {}
        return holding

    def _held_session(self, tenant_id: str) -> Session | None:
        held = self._holding().get(tenant_id)
        return held.session if held else None


def _db_error(exc: SQLAlchemyError) -> TokenStoreError:
    log.error("token store database error: %s", type(exc).__name__)
    return TokenStoreError(
        "Accounts Sync could not read its Xero connection from the database; nothing was lost, "
        "retry in a moment."
    )


# ------------------------------------------------------------------------------ logging

_SECRET_PATTERNS = (
    re.compile(r"""(?i)(["']?(?:access_token|refresh_token|id_token|client_secret|code|token)["']?"""
               r"""\s*[:=]\s*["']?)([^"'&\s,}]+)"""),
    re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"""(?i)(["']?auth["']?\s*[:=]\s*)\([^)]*\)"""),
)


def redact(text: str) -> str:
    """Hide tokens, codes and client secrets in a piece of text meant for a log."""
    text = _SECRET_PATTERNS[0].sub(lambda m: m.group(1) + "[redacted]", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: m.group(1) + " [redacted]", text)
    return _SECRET_PATTERNS[2].sub(lambda m: m.group(1) + "([redacted])", text)


class RedactingFilter(logging.Filter):
    """requests-oauthlib logs token responses and Basic credentials at DEBUG; hide them."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken log call is not ours to fix; drop its arguments
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, ()
        return True


# A logger's filters do not apply to its children's records: name the modules that log.
_PACKAGE = __name__.rsplit(".", 1)[0]
_FILTERED_LOGGERS = (
    "requests_oauthlib", "requests_oauthlib.oauth2_session", "oauthlib",
    _PACKAGE, f"{_PACKAGE}.oauth", f"{_PACKAGE}.client", f"{_PACKAGE}.gateway", f"{_PACKAGE}.tokens",
)
_filter = RedactingFilter()


def install_log_redaction() -> None:
    """Idempotent: attach the redacting filter to the loggers that may see tokens."""
    for name in _FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
