"""UnitOfWork: one SQLAlchemy Session (one transaction) with the repositories built on it."""

from __future__ import annotations

import sqlite3
from types import TracebackType
from typing import Self

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from .errors import DatabaseUnavailable
from .links import ErpLinks
from .sqlalchemy_documents import SqlDocumentSource
from .sqlalchemy_ledger import SqlSyncLedger
from .sqlalchemy_schedules import SqlAlertLog, SqlScheduleStore
from .sqlalchemy_settings import SqlSettingsStore

__all__ = ["DatabaseUnavailable", "SqlUnitOfWork", "is_unavailable"]


# sqlite3 raises OperationalError for SQL mistakes too, so only these messages count.
_SQLITE_UNAVAILABLE = ("unable to open database", "database is locked", "disk i/o error",
                       "readonly database", "database disk image is malformed")


def is_unavailable(exc: BaseException) -> bool:
    """A driver error that means the database is unreachable or stayed locked, not a bug."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    if isinstance(exc.orig, sqlite3.Error):
        return any(text in str(exc.orig).lower() for text in _SQLITE_UNAVAILABLE)
    return True  # psycopg: connection lost or refused, server shutting down, lock timeouts


class SqlUnitOfWork:
    """Rolls back on exit unless commit() was called; the session is always closed.

    Repositories hang off the unit of work and share its session; they never open, commit or
    close sessions themselves. Errors meaning "the database is unreachable" leave as
    DatabaseUnavailable, a plain AccountsSyncError the web layer can show.
    """

    session: Session
    documents: SqlDocumentSource
    ledger: SqlSyncLedger
    settings: SqlSettingsStore
    schedules: SqlScheduleStore
    alerts: SqlAlertLog

    def __init__(self, session_factory: sessionmaker[Session], links: ErpLinks) -> None:
        self.session_factory = session_factory
        self.links = links

    def __enter__(self) -> Self:
        self.session = self.session_factory()
        self.documents = SqlDocumentSource(self.session, self.links)
        self.ledger = SqlSyncLedger(self.session)
        self.settings = SqlSettingsStore(self.session)
        self.schedules = SqlScheduleStore(self.session)
        self.alerts = SqlAlertLog(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()  # a no-op after commit(); discards anything uncommitted
        except DBAPIError as failed:
            if exc is None:
                if is_unavailable(failed):
                    raise DatabaseUnavailable() from failed
                raise
        finally:
            self.session.close()
        if exc is not None and is_unavailable(exc):
            raise DatabaseUnavailable() from exc

    def commit(self) -> None:
        try:
            self.session.commit()
        except DBAPIError as exc:
            if is_unavailable(exc):
                raise DatabaseUnavailable() from exc
            raise

    def rollback(self) -> None:
        self.session.rollback()
