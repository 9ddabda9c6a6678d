"""Alembic environment for Accounts Sync's own tables.

The host ERP's tables share the database: the include_name filter keeps autogenerate (and so
every migration written from it) to `accounts_sync_*` tables in the default schema, and the
version table is the plugin's own `accounts_sync_alembic_version`.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from accounts_sync.adapters.erp_sql.engine import make_engine
from accounts_sync.adapters.erp_sql.plugin_tables import PREFIX, plugin_metadata

VERSION_TABLE = "accounts_sync_alembic_version"

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    if type_ == "schema":
        return name is None  # the default schema (the search_path's first) only
    if type_ == "table":
        return bool(name) and name.startswith(PREFIX) and name != VERSION_TABLE
    table = parent_names.get("table_name")
    return table is None or table.startswith(PREFIX)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    table = obj if type_ == "table" else getattr(obj, "table", None)
    table_name = getattr(table, "name", None)
    return table_name is None or (table_name.startswith(PREFIX) and table_name != VERSION_TABLE)


def database_url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("ACCOUNTS_SYNC_DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit(
            "No database to migrate: set ACCOUNTS_SYNC_DATABASE_URL or pass -x url=..."
        )
    return str(url)


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": plugin_metadata,
        "version_table": VERSION_TABLE,
        "include_name": include_name,
        "include_object": include_object,
        "compare_type": True,
        # SQLite alters tables by copy-and-move; batch mode does that for us.
        "render_as_batch": dialect_name == "sqlite",
    }


def run_migrations_offline() -> None:
    url = database_url()
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"},
                      **_options(url.split(":", 1)[0].split("+", 1)[0]))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(database_url(), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
