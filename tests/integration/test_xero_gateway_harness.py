"""Shared by the Xero integration tests (no tests here): the sandbox on a free port, the
adapter wired to it over real HTTP, and a browser stand-in that clicks through consent.

The database is the integration suite's (`session_factory`/`clean_db` from conftest): each
test runs on SQLite and on PostgreSQL, with the plugin tables created by the migrations.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from accounts_sync.adapters.xero.client import InProcessRateLimiter, XeroHttpClient
from accounts_sync.adapters.xero.config import XeroSettings
from accounts_sync.adapters.xero.gateway import XeroGateway
from accounts_sync.adapters.xero.oauth import Tenant, XeroConnector
from accounts_sync.adapters.xero.tokens import EncryptedTokenStore
from accounts_sync.demo.xero_sandbox import create_app
from accounts_sync.demo.xero_sandbox.consent import grant_consent
from accounts_sync.demo.xero_sandbox.seed import AU_TENANT_ID, NZ_TENANT_ID
from accounts_sync.demo.xero_sandbox.server import run_in_thread
from accounts_sync.domain.documents import Contact, DocumentLine, Kind, TrackingRef, TradeDocument

__all__ = ["AU_TENANT_ID", "NZ_TENANT_ID"]

CLIENT_ID = "accounts-sync-demo"
CLIENT_SECRET = "accounts-sync-demo-secret"  # noqa: S105 - the sandbox's demo client
REDIRECT_URI = "http://localhost:5000/accounts/sync/xero/callback"
SECRET_KEY = "test-app-secret-key-0123456789abcdef"  # noqa: S105


class FakeTime:
    """A clock that only moves when someone sleeps on it (shared by limiter and sandbox).

    A sleeper wakes at the time it last read plus its delay, never later: threads waiting
    side by side do not add their waits up (real time would not either).
    """

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self.lock = threading.Lock()
        self.slept: list[float] = []
        self._seen: dict[int, float] = {}

    def time(self) -> float:
        with self.lock:
            self._seen[threading.get_ident()] = self.now
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.slept.append(seconds)
            since = self._seen.get(threading.get_ident(), self.now)
            self.now = max(self.now, since + max(seconds, 0.0))


@dataclass
class Xero:
    """The adapter as the container would wire it, plus what a test needs to look inside."""

    settings: XeroSettings
    store: EncryptedTokenStore
    connector: XeroConnector
    client: XeroHttpClient
    gateway: XeroGateway
    time: FakeTime  # the client's and limiter's clock; `time.slept` lists every wait
    sandbox: Any
    base_url: str
    sessions: sessionmaker[Session]
    extra: dict[str, Any] = field(default_factory=dict)

    def connect(self, tenants: Sequence[str] = (AU_TENANT_ID,), user: str = "alice") -> list[Tenant]:
        url, state = self.connector.authorization_url(REDIRECT_URI)
        callback = consent(self.base_url, url, tenants)
        return self.connector.complete(REDIRECT_URI, callback, state, user)


def build_xero(
    base_url: str,
    sandbox: Any,
    sessions: sessionmaker[Session],
    fake_time: FakeTime | None = None,
    **overrides: Any,
) -> Xero:
    """Waits (backoff, Retry-After, pacing) go to a fake clock, so tests never really sleep."""
    fake_time = fake_time or FakeTime()
    values: dict[str, Any] = {"backoff_initial": 0.5, "backoff_max": 4.0, "backoff_jitter": 0.5,
                              "calls_per_minute": 10_000}
    values.update(overrides)
    settings = XeroSettings.for_sandbox(base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **values)
    store = EncryptedTokenStore(sessions, SECRET_KEY)
    connector = XeroConnector(settings, store, sessions)
    limiter = InProcessRateLimiter.from_settings(settings, clock=fake_time.time, sleep=fake_time.sleep)
    client = XeroHttpClient(settings, connector, limiter=limiter, sleep=fake_time.sleep,
                            clock=fake_time.time)
    gateway = XeroGateway(client, connector, sessions, settings)
    return Xero(settings, store, connector, client, gateway, fake_time, sandbox, base_url, sessions)


# ------------------------------------------------------------------ the consent page


def consent(base_url: str, authorize_url: str, tenants: Sequence[str] = (AU_TENANT_ID,),
            decision: str = "allow") -> str:
    """Open Xero's consent page, tick the organisations, press the button; the callback URL."""
    return grant_consent(base_url, authorize_url, tenants, decision, timeout=10)


# ------------------------------------------------------------------ documents


def sale(n: int, customer: int = 1, account: str = "4000", day: date | None = None,
         tracking: tuple[TrackingRef, ...] = ()) -> TradeDocument:
    return TradeDocument(
        kind=Kind.SALES_ORDERS, erp_id=str(n), number=f"SO-{n:05d}",
        contact=Contact(f"customer:{customer}", f"Test Customer {customer}"),
        date=day or date.today() - timedelta(days=1), due_date=date.today() + timedelta(days=30),
        currency="AUD",
        lines=(DocumentLine("Shiraz 2022 750ml", Decimal("12"), Decimal("24.9500"), account, "OUTPUT",
                            tracking=tracking),
               DocumentLine("Freight", Decimal("1"), Decimal("0.1") + Decimal("0.2"), "4100", "OUTPUT")),
        reference=f"Customer PO {n}", url=f"http://erp.test/sales_orders/{n}",
    )


def purchase(n: int, supplier: int = 1) -> TradeDocument:
    return TradeDocument(
        kind=Kind.PURCHASE_ORDERS, erp_id=str(n), number=f"PO-{n:05d}",
        contact=Contact(f"supplier:{supplier}", f"Test Supplier {supplier}"),
        date=date.today() - timedelta(days=2), due_date=date.today() + timedelta(days=14),
        currency="AUD",
        lines=(DocumentLine("Oak barrels", Decimal("2"), Decimal("1150.0000"), "1430", "INPUT"),),
        reference=f"PO-{n:05d}", url=f"http://erp.test/purchase_orders/{n}",
        supplier_invoice_number="18822",  # suppliers' numbers repeat: bills are found by Reference
    )


def refund(n: int, customer: int = 1) -> TradeDocument:
    return TradeDocument(
        kind=Kind.REFUNDS, erp_id=str(n), number=f"RF-{n:05d}",
        contact=Contact(f"customer:{customer}", f"Test Customer {customer}"),
        date=date.today() - timedelta(days=1), due_date=None, currency="AUD",
        lines=(DocumentLine("Corked bottle", Decimal("1"), Decimal("24.9500"), "4000", "OUTPUT"),),
        reference="SO-00001", url=f"http://erp.test/refunds/{n}",
    )


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module", name="sandbox_server")
def sandbox_server_fixture() -> Iterator[tuple[Any, str]]:
    app = create_app({"REFRESH_GRACE_SECONDS": 1800})
    with run_in_thread(app) as server:
        yield app, server.base_url


@pytest.fixture(name="sandbox")
def sandbox_fixture(sandbox_server: tuple[Any, str]) -> Any:
    app, _ = sandbox_server
    app.sandbox.reset()
    return app.sandbox


@pytest.fixture(name="xero")
def xero_fixture(sandbox_server: tuple[Any, str], sandbox: Any, clean_db: Engine,
         session_factory: sessionmaker[Session]) -> Iterator[Xero]:
    _, base_url = sandbox_server
    stack = build_xero(base_url, sandbox, session_factory, max_attempts=3)
    yield stack
    stack.client.close()


@pytest.fixture(name="connected")
def connected_fixture(xero: Xero) -> Xero:
    tenants = xero.connect()
    assert [t.tenant_id for t in tenants] == [AU_TENANT_ID]
    return xero


def api_calls(sandbox: Any, method: str | None = None, path_part: str = "") -> list[dict]:
    with sandbox.lock:
        return [c for c in sandbox.calls if "/api.xro/2.0/" in c["path"]
                and (method is None or c["method"] == method) and path_part in c["path"]]
