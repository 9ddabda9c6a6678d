"""RedisRateLimiter against the real Redis: one budget per organisation shared by every worker,
atomic (one Lua script), with leases that free a killed worker's slot and a day count.

The four-worker test runs against the Xero sandbox over HTTP on a clock that runs 30 times
faster than real time (the sandbox, the limiters and the clients share it), so minute windows
pass in two seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from accounts_sync.adapters.redis_rate_limiter import RedisRateLimiter
from accounts_sync.adapters.xero.client import InProcessRateLimiter, RateLimiter, XeroHttpClient
from accounts_sync.adapters.xero.config import XeroSettings
from accounts_sync.adapters.xero.oauth import XeroConnector
from accounts_sync.adapters.xero.tokens import EncryptedTokenStore
from accounts_sync.demo.xero_sandbox import create_app
from accounts_sync.demo.xero_sandbox.server import run_in_thread
from accounts_sync.domain.errors import GatewayUnavailable, RateLimited

from .test_redis_harness import redis_prefix_fixture, redis_url_fixture  # noqa: F401 - fixtures
from .test_xero_gateway_harness import (
    AU_TENANT_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    REDIRECT_URI,
    SECRET_KEY,
    consent,
)

TENANT = AU_TENANT_ID
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class ScaledTime:
    """Real time, `factor` times faster: sleeping s seconds takes s / factor real seconds."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.origin = time.time()

    def time(self) -> float:
        return self.origin + (time.time() - self.origin) * self.factor

    def sleep(self, seconds: float) -> None:
        time.sleep(max(seconds, 0.0) / self.factor)


class SteppedTime:
    """A clock that only moves when slept on (single-threaded tests)."""

    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def limiter_for(redis_url: str, redis_prefix: str) -> Iterator[Any]:
    clients: list[Redis] = []

    def make(**kwargs: Any) -> RedisRateLimiter:
        client = Redis.from_url(redis_url)
        clients.append(client)
        return RedisRateLimiter(client, prefix=f"{redis_prefix}:limits", **kwargs)

    yield make
    for client in clients:
        client.close()


# ------------------------------------------------------------------ the budget, atomically


def test_calls_per_window_are_never_exceeded_and_the_window_rolls(limiter_for):
    clock = SteppedTime()
    limiter = limiter_for(calls_per_minute=3, concurrency=5, calls_per_day=None, margin=1.0,
                          clock=clock.time, sleep=clock.sleep)
    starts = []
    for _ in range(7):
        with limiter.acquire(TENANT):
            starts.append(clock.time())
    for i, at in enumerate(starts):
        assert sum(1 for t in starts if at <= t < at + 61) <= 3, starts
    assert clock.slept >= 2 * 60, "two full windows were waited out"


def test_the_day_budget_is_refused_at_once_never_slept_through(limiter_for):
    limiter = limiter_for(calls_per_minute=100, calls_per_day=3, sleep=lambda s: pytest.fail("slept"))
    for _ in range(3):
        with limiter.acquire(TENANT):
            pass
    with pytest.raises(RateLimited) as refused:
        with limiter.acquire(TENANT):
            pass
    assert refused.value.problem == "day" and 86_000 < refused.value.retry_after <= 86_400
    with limiter_for(calls_per_minute=100, calls_per_day=3).acquire("another-organisation"):
        pass  # budgets are per organisation


def test_a_killed_workers_slot_frees_itself_when_its_lease_ends(limiter_for):
    """The worker holding the only slot dies mid-call (never releases); its lease expires."""
    dead = limiter_for(concurrency=1, lease_seconds=0.4)
    held = dead.acquire(TENANT)  # kept referenced: a collected generator would release it
    held.__enter__()  # ... and the process is gone
    alive = limiter_for(concurrency=1, lease_seconds=0.4, poll=0.02)
    assert alive.in_flight(TENANT) == 1
    started = time.monotonic()
    with alive.acquire(TENANT):
        waited = time.monotonic() - started
    assert 0.25 < waited < 2.0
    del held


def test_a_released_slot_is_free_at_once(limiter_for):
    first, second = limiter_for(concurrency=1), limiter_for(concurrency=1, poll=0.02)
    with first.acquire(TENANT):
        pass
    started = time.monotonic()
    with second.acquire(TENANT):
        assert time.monotonic() - started < 0.2
    assert second.in_flight(TENANT) == 0


def test_a_429_holds_off_every_worker(limiter_for):
    told, other = limiter_for(), limiter_for()
    told.hold_off(TENANT, 0.5)
    told.hold_off(TENANT, 0.1)  # a shorter Retry-After never shortens the wait
    started = time.monotonic()
    with other.acquire(TENANT):
        assert time.monotonic() - started >= 0.4


def test_redis_out_of_reach_is_a_plain_error_after_retrying():
    limiter = RedisRateLimiter.from_url("redis://127.0.0.1:1/0", unavailable_after=0.3)
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable, match="rate limiter .Redis. cannot be reached"):
        with limiter.acquire(TENANT):
            pass
    assert time.monotonic() - started >= 0.3 and limiter.redis_errors >= 2


# ------------------------------------------------------------------ four workers, one budget


@pytest.fixture
def fast_sandbox() -> Iterator[tuple[Any, str, ScaledTime]]:
    clock = ScaledTime(30)
    app = create_app({"RATE_LIMIT_PER_MINUTE": 8, "CONCURRENCY_LIMIT": 2, "DAILY_LIMIT": 0,
                      "CLOCK": clock.time})
    with run_in_thread(app) as server:
        yield app, server.base_url, clock


def _worker_client(base_url: str, sessions: sessionmaker[Session], clock: ScaledTime,
                   limiter: RateLimiter) -> XeroHttpClient:
    settings = XeroSettings.for_sandbox(base_url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                        max_rate_limit_waits=0)
    connector = XeroConnector(settings, EncryptedTokenStore(sessions, SECRET_KEY), sessions)
    return XeroHttpClient(settings, connector, limiter=limiter, sleep=clock.sleep, clock=clock.time)


def _hammer(clients: list[XeroHttpClient], calls_each: int) -> list[BaseException]:
    errors: list[BaseException] = []

    def work(client: XeroHttpClient) -> None:
        try:
            for _ in range(calls_each):
                assert client.get(TENANT, "Organisation").status == 200
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


@SQLITE_ONLY
def test_four_workers_with_their_own_clients_never_exceed_the_organisations_limits(
        fast_sandbox, clean_db, session_factory, redis_url, redis_prefix):
    """Four workers, each with its own HTTP client, connection to Redis and limiter, call one
    organisation that allows 8 calls a minute and 2 in flight: 24 calls, zero 429s.

    Safeguard: the budget is shared in Redis. The same four workers with a limiter each (the
    in-process one, set to the same limits) overrun Xero at once: the control below."""
    app, base_url, clock = fast_sandbox
    sandbox = app.sandbox
    sandbox.inject("delay", ms=25)  # calls overlap, so the in-flight limit matters
    connector = XeroConnector(XeroSettings.for_sandbox(base_url, client_id=CLIENT_ID,
                                                       client_secret=CLIENT_SECRET),
                              EncryptedTokenStore(session_factory, SECRET_KEY), session_factory)
    url, state = connector.authorization_url(REDIRECT_URI)
    connector.complete(REDIRECT_URI, consent(base_url, url), state, "alice")

    def shared() -> RedisRateLimiter:
        return RedisRateLimiter(Redis.from_url(redis_url), calls_per_minute=8, concurrency=2,
                                calls_per_day=None, margin=3.0, prefix=f"{redis_prefix}:limits",
                                clock=clock.time, sleep=clock.sleep, poll=0.6)

    clients = [_worker_client(base_url, session_factory, clock, shared()) for _ in range(4)]
    api_calls = sandbox.counters["api_calls"]
    began = clock.time()
    errors = _hammer(clients, 6)
    assert errors == []
    assert sandbox.counters["api_calls"] - api_calls == 24
    assert sandbox.counters["rate_limited"] == 0, sandbox.counters["rate_limited_by_problem"]
    assert clock.time() - began >= 2 * 60, "24 calls at 8 a minute take over two minutes"

    # Control: the same workers, each pacing itself alone, go over the limits.
    sandbox.limits.reset()
    sandbox.counters["rate_limited"] = 0
    alone = [_worker_client(base_url, session_factory, clock, InProcessRateLimiter(
        8, 2, None, window=63.0, clock=clock.time, sleep=clock.sleep)) for _ in range(4)]
    errors = _hammer(alone, 6)
    assert sandbox.counters["rate_limited"] > 0 and any(isinstance(e, RateLimited) for e in errors)
