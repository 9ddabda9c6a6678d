"""Integration fixtures: the same tests run on SQLite (a temporary file) and PostgreSQL.

PostgreSQL is reached at ACCOUNTS_SYNC_TEST_POSTGRES_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test). Each test module gets its own database:
a fresh SQLite file, or a uniquely named PostgreSQL schema (put first on the search_path)
that is dropped afterwards. When PostgreSQL cannot be reached the tests FAIL, never skip:
CI must not go green without having run them.

Fixtures:
    db_url           module scope, parametrized ['sqlite', 'postgresql']: host tables created
                     by host_metadata.create_all, plugin tables by the Alembic migrations
    blank_db_url     like db_url but host tables only, no migrations (for migration tests)
    engine           make_engine(db_url), module scope
    session_factory  make_session_factory(engine)
    links            ErpLinks("http://erp.test")
    clean_db         function scope: every table emptied before the test; yields the engine
    uow_factory      () -> SqlUnitOfWork on a clean database
    erp              tests.integration.fixtures.HostErp bound to the clean database
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from accounts_sync.adapters.erp_sql import migrate
from accounts_sync.adapters.erp_sql.engine import make_engine, make_session_factory
from accounts_sync.adapters.erp_sql.host_schema import host_metadata
from accounts_sync.adapters.erp_sql.links import ErpLinks
from accounts_sync.adapters.erp_sql.plugin_tables import plugin_metadata
from accounts_sync.adapters.erp_sql.sqlalchemy_uow import SqlUnitOfWork

from .fixtures import HostErp

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_url() -> str:
    return os.environ.get("ACCOUNTS_SYNC_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _require_postgres(url: str) -> Engine:
    engine = make_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        pytest.fail(
            f"PostgreSQL is not reachable at {make_url(url).render_as_string(hide_password=True)} "
            f"({exc.orig}). Start it, or point ACCOUNTS_SYNC_TEST_POSTGRES_URL at a server; "
            f"these tests never skip.",
            pytrace=False,
        )
    return engine


@contextmanager
def fresh_database(backend: str, tmp_dir: Path, *, migrated: bool = True) -> Iterator[str]:
    """A new empty database with the host's tables (and the plugin's, when migrated)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_dir / f'accounts_sync_{uuid.uuid4().hex[:8]}.sqlite3'}"
        _prepare(url, migrated)
        yield url
        return
    admin = _require_postgres(postgres_url())
    schema = f"as_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    try:
        _prepare(rendered, migrated)
        yield rendered
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _prepare(url: str, migrated: bool) -> None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        host_metadata.create_all(engine)
        if migrated:
            migrate.upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path, migrated=False) as url:
        yield url


@pytest.fixture(scope="module")
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def links() -> ErpLinks:
    return ErpLinks("http://erp.test")


@pytest.fixture
def clean_db(engine: Engine) -> Engine:
    tables = list(reversed(plugin_metadata.sorted_tables)) + list(reversed(host_metadata.sorted_tables))
    with engine.begin() as connection:
        for table in tables:
            connection.execute(delete(table))
    return engine


@pytest.fixture
def uow_factory(clean_db: Engine, session_factory: sessionmaker[Session],
                links: ErpLinks) -> Callable[[], SqlUnitOfWork]:
    return lambda: SqlUnitOfWork(session_factory, links)


@pytest.fixture
def erp(clean_db: Engine) -> HostErp:
    return HostErp(clean_db)
