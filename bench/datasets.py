"""Seeded benchmark databases: one per scale, on SQLite (a file under bench/data/) and on
PostgreSQL (a schema per scale), reused while they match what is asked for.

A database matches when its marker row names the same document and cost-entry counts, seed,
seeding day and generator source (a hash of the demo generator's files). A reused database
gets any host index or plugin migration added since it was seeded, and the plugin's state
(sync records, runs, marks, contacts, connections) is emptied before every measurement, so
each starts from "nothing synced yet".
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, delete, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from accounts_sync.adapters.erp_sql import host_schema, migrate
from accounts_sync.adapters.erp_sql.engine import make_engine, make_session_factory
from accounts_sync.adapters.erp_sql.host_schema import host_metadata
from accounts_sync.adapters.erp_sql.plugin_tables import plugin_metadata
from accounts_sync.adapters.erp_sql.sqlalchemy_settings import SqlSettingsStore
from accounts_sync.demo import seed as demo_seed
from accounts_sync.demo import seed_data, winery_chart
from accounts_sync.demo.seed import seed
from accounts_sync.demo.setup import DEMO_MAPPING

BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 2026
# The seeded year ends here, so every run sees the same data whatever the day; closing dates
# are this day (never in the future on a machine whose clock is past it).
BENCH_TODAY = date(2026, 6, 30)
BACKENDS = ("sqlite", "postgresql")
# Plugin tables kept between measurements: settings, the cost-flow cache (sums of the host's
# entries) and the document-facts cache (the documents' signatures), true whatever is synced, as
# a process started after another finds them; the rest is emptied.
KEPT_PLUGIN_TABLES = {"accounts_sync_account_mappings", "accounts_sync_preferences",
                      "accounts_sync_flow_sums", "accounts_sync_flow_state",
                      "accounts_sync_fact_signatures", "accounts_sync_fact_members",
                      "accounts_sync_fact_state"}

marker_metadata = MetaData()
marker = Table(
    "bench_dataset", marker_metadata,
    Column("name", String(40), primary_key=True),
    Column("spec", Text, nullable=False),
)


@dataclass(frozen=True)
class Scale:
    name: str
    documents: int
    cost_entries: int

    @property
    def spec(self) -> dict[str, Any]:
        return {"documents": self.documents, "cost_entries": self.cost_entries, "seed": SEED,
                "today": closing_date().isoformat(), "generator": _generator_hash()}


SCALES = {
    "1k": Scale("1k", 1_000, 10_000),
    "10k": Scale("10k", 10_000, 100_000),
    "100k": Scale("100k", 100_000, 1_000_000),
}
# The demo's document mix has 600 invoiced sales orders in 864 documents: 4,320 documents give
# exactly 3,000 invoices to sync at Xero's limits.
LIMIT_SCALE = Scale("limit", 4_320, 10_000)
LIMIT_DOCUMENTS = 3_000


def closing_date() -> date:
    return min(BENCH_TODAY, date.today())


def _generator_hash() -> str:
    digest = hashlib.sha256()
    for module in (demo_seed, seed_data, winery_chart, host_schema):
        digest.update(Path(module.__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


def database_url(backend: str, scale: Scale, postgres_url: str = DEFAULT_POSTGRES_URL) -> str:
    if backend == "sqlite":
        return f"sqlite:///{DATA_DIR / f'bench-{scale.name}.sqlite3'}"
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={_schema(scale)}"})
    return url.render_as_string(hide_password=False)


def _schema(scale: Scale) -> str:
    return f"bench_{scale.name}"


def ensure(backend: str, scale: Scale, postgres_url: str = DEFAULT_POSTGRES_URL,
           reseed: bool = False, log: Any = print) -> str:
    """The URL of a database holding `scale`, seeding it first unless one already matches."""
    url = database_url(backend, scale, postgres_url)
    if not reseed and _matches(url, scale):
        engine = make_engine(url, poolclass=NullPool)
        try:
            _upgrade(engine)
            reset_plugin_state(engine)
        finally:
            engine.dispose()
        return url
    log(f"seeding {scale.name} ({scale.documents:,} documents, {scale.cost_entries:,} cost "
        f"entries) on {backend} ...")
    started = time.perf_counter()
    _drop(backend, scale, postgres_url)
    engine = make_engine(url, poolclass=NullPool)
    try:
        host_metadata.create_all(engine)
        migrate.upgrade(engine)
        seed(engine, seed=SEED, documents=scale.documents, cost_entries=scale.cost_entries,
             today=closing_date())
        sessions = make_session_factory(engine)
        with sessions() as session:
            SqlSettingsStore(session).save_mapping(DEMO_MAPPING)
            session.commit()
        if backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        marker_metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(marker.insert().values(name="dataset", spec=json.dumps(scale.spec)))
    finally:
        engine.dispose()
    log(f"  seeded in {time.perf_counter() - started:.0f} s")
    return url


def _matches(url: str, scale: Scale) -> bool:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not engine.dialect.has_table(connection, marker.name):
                return False
            spec = connection.scalar(select(marker.c.spec).where(marker.c.name == "dataset"))
        return spec is not None and json.loads(spec) == scale.spec
    except Exception:  # no database, no schema, an old layout: seed afresh
        return False
    finally:
        engine.dispose()


def _drop(backend: str, scale: Scale, postgres_url: str) -> None:
    if backend == "sqlite":
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        path = DATA_DIR / f"bench-{scale.name}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    admin = make_engine(postgres_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{_schema(scale)}" CASCADE'))
            connection.execute(text(f'CREATE SCHEMA "{_schema(scale)}"'))
    finally:
        admin.dispose()


def _upgrade(engine: Engine) -> None:
    """Indexes the host schema gained since seeding, and the plugin's newer migrations."""
    with engine.begin() as connection:
        for table in host_metadata.sorted_tables:
            for index in table.indexes:
                index.create(connection, checkfirst=True)
    migrate.upgrade(engine)


def reset_plugin_state(target: str | Engine) -> None:
    """Back to "nothing synced, not connected", keeping the account mapping.

    PostgreSQL truncates: deleting 100,000 records would leave as many dead rows behind, and
    the next measurement would scan them until autovacuum came by."""
    engine = make_engine(target, poolclass=NullPool) if isinstance(target, str) else target
    try:
        with engine.begin() as connection:
            present = set(inspect(connection).get_table_names())
            tables = [t for t in reversed(plugin_metadata.sorted_tables)
                      if t.name in present and t.name not in KEPT_PLUGIN_TABLES]
            if not tables:
                return
            if connection.dialect.name == "postgresql":
                names = ", ".join(connection.dialect.identifier_preparer.format_table(t) for t in tables)
                connection.execute(text(f"TRUNCATE TABLE {names}"))
            else:
                for table in tables:
                    connection.execute(delete(table))
    finally:
        if isinstance(target, str):
            engine.dispose()
