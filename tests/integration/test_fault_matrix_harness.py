"""Shared by the fault matrix (no tests here): the product wired as in production, from
configuration only (`make_host_app` → AccountsSync → container), against the Xero sandbox over
HTTP, the integration suite's database (SQLite or PostgreSQL) and the real Redis (RQ queue and
shared rate limiter), with RQ workers in threads or in separate processes.

`create_worker_app()` is the app factory a worker subprocess starts with
(`flask --app tests.integration.test_fault_matrix_harness:create_worker_app accounts-sync worker`):
it reads the database URL and the settings from the environment the test gives it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, select, update

from accounts_sync.adapters.erp_sql.plugin_tables import RunRow
from accounts_sync.adapters.jobs.rq_worker import ThreadWorker, build_worker
from accounts_sync.demo.xero_sandbox import create_app as create_sandbox
from accounts_sync.demo.xero_sandbox.server import run_in_thread
from accounts_sync.demo.xero_sandbox.state import KINDS
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.sync import SyncRecord, SyncRun, SyncState

from .fixtures import HostErp, line
from .test_xero_gateway_harness import (
    AU_TENANT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    SECRET_KEY,
    consent,
)
from .web_host import make_host_app

PROJECT = Path(__file__).resolve().parents[2]
TODAY = date.today()
WORKER_APP = "tests.integration.test_fault_matrix_harness:create_worker_app"

# Fast retries: the tests wait out faults, not real backoff schedules.
FAST = {
    "xero_backoff_initial": 0.05,
    "xero_backoff_max": 0.2,
    "xero_backoff_jitter": 0.05,
    "xero_max_attempts": 6,
    "xero_read_timeout": 20,
}


def create_worker_app() -> Flask:
    """The app a worker subprocess runs (see the module docstring)."""
    settings = json.loads(os.environ["AS_TEST_SETTINGS"])
    return make_host_app(os.environ["AS_TEST_DB_URL"], **settings)


def sandbox_docs(sandbox: Any, plural: str = "invoices", doc_type: str | None = "ACCREC") -> list[dict]:
    with sandbox.lock:
        docs = list(sandbox.org(AU_TENANT_ID).collection(KINDS[plural]).docs.values())
    return [d for d in docs if doc_type is None or d.get("Type") == doc_type]


def over_limit_429s(sandbox: Any) -> int:
    """429s caused by calling too fast (injected storms are the sandbox's, not ours)."""
    with sandbox.lock:
        counters = sandbox.counters
        return counters["rate_limited"] - counters["faults_fired"].get("rate_limit_storm", 0)


def wait_until(condition: Callable[[], Any], timeout: float = 20.0, poll: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


class TokenLatency:
    """WSGI middleware: Xero's token endpoint answers after `seconds` (0: at once), so two
    workers refreshing at about the same moment really overlap."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds = 0.0

    def __call__(self, environ: dict, start_response: Any) -> Any:
        if self.seconds and environ.get("PATH_INFO", "").endswith("/connect/token"):
            time.sleep(self.seconds)
        return self.app(environ, start_response)


@dataclass
class Rig:
    db_url: str
    engine: Engine
    erp: HostErp
    sandbox_app: Any
    base_url: str
    redis_url: str
    prefix: str
    settings: dict[str, Any]
    apps: list[Flask] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def sandbox(self) -> Any:
        return self.sandbox_app.sandbox

    def slow_token_endpoint(self, seconds: float) -> None:
        self.sandbox_app.wsgi_app.seconds = seconds

    # ------------------------------------------------------------ the product

    def app(self, db_url: str | None = None, **overrides: Any) -> Flask:
        """A web or worker process's app, with its own container (engine, Xero client, limiter)."""
        app = make_host_app(db_url or self.db_url, **{**self.settings, **overrides})
        self.apps.append(app)
        return app

    @staticmethod
    def container(app: Flask) -> Any:
        return app.extensions["accounts_sync"].container

    def connect(self, app: Flask) -> None:
        """Connect to the sandbox's AU organisation through the consent page (tokens in the DB)."""
        connector = self.container(app).xero_connector()
        url, state = connector.authorization_url(REDIRECT_URI)
        connector.complete(REDIRECT_URI, consent(self.base_url, url), state, "alice")

    def work(self, *apps: Flask, timeout: float = 60.0) -> None:
        """One RQ worker per app, each in its own thread, until the queue is empty."""
        join(self.start_workers(*apps), timeout)

    def start_workers(self, *apps: Flask, redis_url: str | None = None) -> list[threading.Thread]:
        """RQ workers in threads (burst: they stop when the queue is empty), one per app."""
        workers: list[ThreadWorker] = [
            build_worker(redis_url or self.redis_url, self.settings["rq_queue"], mode="thread",
                         runner=lambda run_id, c=self.container(app): c.run_job().execute(run_id),
                         name=f"{self.prefix}-{uuid.uuid4().hex[:8]}")
            for app in apps
        ]
        threads = [threading.Thread(target=w.work, kwargs={"burst": True}, daemon=True)
                   for w in workers]
        for thread in threads:
            thread.start()
        self.threads += threads
        return threads

    def worker_process(self, *args: str, **settings: Any) -> subprocess.Popen:
        """`flask accounts-sync worker` in a separate process, as it is run in production."""
        env = {**os.environ, "AS_TEST_DB_URL": self.db_url,
               "AS_TEST_SETTINGS": json.dumps({**self.settings, **settings}),
               "PYTHONPATH": str(PROJECT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", WORKER_APP, "accounts-sync", "worker", *args],
            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.processes.append(process)
        return process

    def cli(self, *args: str, **settings: Any) -> subprocess.CompletedProcess:
        env = {**os.environ, "AS_TEST_DB_URL": self.db_url,
               "AS_TEST_SETTINGS": json.dumps({**self.settings, **settings}),
               "PYTHONPATH": str(PROJECT)}
        return subprocess.run(
            [sys.executable, "-m", "flask", "--app", WORKER_APP, "accounts-sync", *args],
            cwd=PROJECT, env=env, capture_output=True, text=True, timeout=60,
        )

    # ------------------------------------------------------------ the ERP

    def sales_orders(self, count: int, *, account: str | None = "4000", prefix: str = "SO") -> list[str]:
        customer = self.erp.customer("Cellar Door Sales")  # seeded in Xero: no contact writes
        return [
            str(self.erp.sales_order(customer, number=f"{prefix}-{i:04d}",
                                     lines=[line(quantity="6", unit_price="24.50", tax="14.70",
                                                 account=account)]))
            for i in range(1, count + 1)
        ]

    def purchase_orders(self, count: int) -> list[str]:
        supplier = self.erp.supplier("Barossa Growers Co-operative")
        return [str(self.erp.purchase_order(supplier, number=f"PO-{i:04d}",
                                            supplier_invoice_number=f"INV-{i}"))
                for i in range(1, count + 1)]

    # ------------------------------------------------------------ what happened

    def records(self, app: Flask, kind: Kind, erp_ids: list[str]) -> dict[str, SyncRecord]:
        with self.container(app).unit_of_work() as uow:
            return uow.ledger.records(kind, erp_ids)

    def run(self, app: Flask, run_id: int) -> SyncRun:
        return self.container(app).get_run().execute(run_id)

    def owner(self, run_id: int) -> str | None:
        with self.engine.connect() as connection:
            return connection.scalar(select(RunRow.owner).where(RunRow.id == run_id))

    def age_run(self, run_id: int, seconds: float) -> None:
        """Move a run's last heartbeat back in time (instead of waiting for it to go stale)."""
        with self.engine.begin() as connection:
            row = connection.execute(select(RunRow.heartbeat_at, RunRow.created_at)
                                     .where(RunRow.id == run_id)).one()
            connection.execute(update(RunRow).where(RunRow.id == run_id).values(
                heartbeat_at=(row.heartbeat_at or row.created_at) - timedelta(seconds=seconds),
                created_at=row.created_at - timedelta(seconds=seconds)))

    def assert_books_consistent(self, app: Flask, kind: Kind, erp_ids: list[str],
                                plural: str = "invoices", doc_type: str | None = "ACCREC",
                                number_field: str = "InvoiceNumber", expect_failed: int = 0) -> None:
        """Exactly one Xero object per synced ERP document, with its id recorded; every other
        document visibly failed with a reason."""
        records = self.records(app, kind, erp_ids)
        in_xero = sandbox_docs(self.sandbox, plural, doc_type)
        per_number = Counter(d[number_field] if number_field else d.get("Reference") for d in in_xero)
        duplicates = {n: c for n, c in per_number.items() if c > 1}
        assert not duplicates, f"duplicates in Xero: {duplicates}"
        ids = {d[_id_field(plural)]: d for d in in_xero}
        failed = 0
        for erp_id in erp_ids:
            record = records.get(erp_id)
            assert record is not None, f"document {erp_id} was never tried"
            if record.state is SyncState.SYNCED:
                assert record.xero_id in ids, f"{record.number}: recorded id not in Xero"
            else:
                assert record.state is SyncState.FAILED, f"{record.number} is {record.state.value}"
                assert record.last_error, f"{record.number} failed without a reason"
                failed += 1
        synced = len(erp_ids) - failed
        assert failed == expect_failed
        assert len(in_xero) == synced, f"{len(in_xero)} objects in Xero for {synced} synced documents"

    def close(self) -> None:
        for thread in self.threads:  # a failed test leaves no worker behind on a dropped schema
            thread.join(30)
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)
        for app in self.apps:
            container = self.container(app)
            queue = container.job_queue()
            if hasattr(queue, "shutdown"):
                queue.shutdown()
            container.engine().dispose()


def join(threads: list[threading.Thread], timeout: float = 60.0) -> None:
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a worker did not finish"


def _id_field(plural: str) -> str:
    return {"invoices": "InvoiceID", "creditnotes": "CreditNoteID",
            "manualjournals": "ManualJournalID"}[plural]


def rig_settings(base_url: str, redis_url: str, prefix: str, **overrides: Any) -> dict[str, Any]:
    return {
        "gateway": "xero",
        "secret_key": SECRET_KEY,
        "xero_base_url": base_url,
        "xero_client_id": CLIENT_ID,
        "xero_client_secret": CLIENT_SECRET,
        "redis_url": redis_url,
        "rq_queue": f"{prefix}-runs",
        "rate_limit_prefix": f"{prefix}:xero-limits",
        "batch_size": 5,
        "run_stale_after": 30,
        **FAST,
        **overrides,
    }


@pytest.fixture(name="make_rig")
def make_rig_fixture(db_url: str, clean_db: Engine, erp: HostErp, redis_url: str,
                     redis_prefix: str) -> Iterator[Callable[..., Rig]]:
    """make_rig(sandbox_config=None, **settings): a sandbox of its own and the product around it."""
    made: list[tuple[Rig, Any]] = []

    def make(sandbox_config: dict[str, Any] | None = None, **settings: Any) -> Rig:
        sandbox_app = create_sandbox({"REFRESH_GRACE_SECONDS": 1800, **(sandbox_config or {})})
        sandbox_app.wsgi_app = TokenLatency(sandbox_app.wsgi_app)
        server = run_in_thread(sandbox_app)
        redis = settings.pop("redis_url", redis_url)
        rig = Rig(db_url, clean_db, erp, sandbox_app, server.base_url, redis, redis_prefix,
                  rig_settings(server.base_url, redis, redis_prefix, **settings))
        made.append((rig, server))
        return rig

    yield make
    for rig, server in made:
        rig.close()
        server.stop()
