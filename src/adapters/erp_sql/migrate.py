"""Run the plugin's Alembic migrations from code (the demo, the CLI and the tests do).

Only `accounts_sync_*` tables and the `accounts_sync_alembic_version` table are touched.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from .engine import make_engine

VERSION_TABLE = "accounts_sync_alembic_version"

Target = str | URL | Engine | Connection


def migrations_dir() -> Path:
    """The `accounts_sync.migrations` package (`src/migrations/`), installed with the plugin."""
    path = Path(str(resources.files("accounts_sync.migrations")))
    if not (path / "env.py").is_file():
        raise FileNotFoundError(f"Accounts Sync's migrations are not at {path}")
    return path


def alembic_config() -> Config:
    """A Config without an ini file, so running migrations never reconfigures logging."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("path_separator", "os")
    return config


def upgrade(target: Target, revision: str = "head") -> None:
    _run(target, lambda config: command.upgrade(config, revision))


def downgrade(target: Target, revision: str = "base") -> None:
    _run(target, lambda config: command.downgrade(config, revision))


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(target: Target) -> str | None:
    def read(connection: Connection) -> str | None:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()

    if isinstance(target, Connection):
        return read(target)
    engine, owned = _engine(target)
    try:
        with engine.connect() as connection:
            return read(connection)
    finally:
        if owned:
            engine.dispose()


def _engine(target: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(target, Engine):
        return target, False
    return make_engine(target, poolclass=NullPool), True


def _run(target: Target, action: Callable[[Config], None]) -> None:
    config = alembic_config()
    if isinstance(target, Connection):
        config.attributes["connection"] = target
        action(config)
        return
    engine, owned = _engine(target)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            action(config)
    finally:
        if owned:
            engine.dispose()
