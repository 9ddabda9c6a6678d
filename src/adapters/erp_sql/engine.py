"""Engines and sessions for the host's database, which also holds the plugin's tables."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(url: str | URL, *, echo: bool = False, **kwargs: Any) -> Engine:
    """An engine tuned for the database behind `url`.

    SQLite: WAL (readers never wait for the writer), foreign keys on, a 30 s busy timeout,
    usable from the job runner's threads. Every transaction starts with BEGIN IMMEDIATE:
    pysqlite's own implicit transactions break SAVEPOINT and transactional DDL, and a
    deferred transaction that reads and then writes fails at once ("database is locked")
    when another connection wrote in between, which concurrent runs of two kinds would hit.
    The cost is that units of work on SQLite run one at a time, so never nest them.

    PostgreSQL: connections are checked before use, so a restarted server is no error.
    """
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, echo=echo, connect_args=connect_args, **kwargs)
        _tune_sqlite(engine, in_memory=url.database in (None, "", ":memory:"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, echo=echo, **kwargs)


def _tune_sqlite(engine: Engine, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (see make_engine).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for units of work; objects stay readable after commit (they are mapped out)."""
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)
