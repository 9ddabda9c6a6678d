"""HTTP to Xero's Accounting API: headers, pacing, retries and error translation, in one place.

Every call takes a slot from the organisation's `RateLimiter` (calls per minute and calls in
flight), carries the bearer token, the tenant and, on writes, the caller's Idempotency-Key,
which stays the same on every retry of that request so a retry after a lost answer creates
nothing twice. 429 waits out Retry-After; 5xx, timeouts and refused connections retry with
exponential backoff and jitter (tenacity); 401 refreshes the token once. Nothing from
`requests` escapes: callers see domain errors only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential, wait_random

from ...domain.errors import GatewayUnavailable, RateLimited, ReauthorisationNeeded
from .config import XeroSettings
from .payloads import decode_json

log = logging.getLogger(__name__)

RATE_LIMIT_HEADERS = {
    "X-MinLimit-Remaining": "minute",
    "X-DayLimit-Remaining": "day",
    "X-AppMinLimit-Remaining": "app_minute",
}
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
WRITE_METHODS = frozenset({"PUT", "POST"})
# No answer, or half of one: Xero may have committed, so the retry carries the same key.
_TRANSPORT_FAILURES = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError)
MAX_IDEMPOTENCY_KEY = 128


class XeroRejected(GatewayUnavailable):
    """Xero refused a request as malformed (400/404 on a read): a plain message, no retry."""

    code = "xero_rejected"


# ------------------------------------------------------------------------------ pacing


class RateLimiter(Protocol):
    """Paces calls per organisation. The in-process one serves a single process; a shared one
    (Redis) can replace it when several workers spend the same organisation's budget."""

    def acquire(self, key: str) -> AbstractContextManager[None]:
        """Block until a call may start; the slot is held (in flight) until the block exits."""
        ...

    def hold_off(self, key: str, seconds: float) -> None:
        """Xero said 429: start no call for this organisation for `seconds`."""
        ...


@dataclass
class _Bucket:
    calls: deque[float] = field(default_factory=deque)
    day_calls: deque[float] = field(default_factory=deque)
    in_flight: int = 0
    blocked_until: float = 0.0


class InProcessRateLimiter:
    """At most `calls_per_minute` starts in any rolling `window` and `concurrency` in flight.

    A rolling window is never looser than Xero's fixed one, whatever the alignment. `clock`
    and `sleep` are injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        calls_per_minute: int = 60,
        concurrency: int = 5,
        calls_per_day: int | None = 5000,
        # Xero's minute starts when the first call *arrives*, which can be later than we sent
        # it (a new connection, a slow network): a second of margin keeps the 61st call out of
        # that minute (without it a run at the limits met a 429 in the benchmark).
        window: float = 61.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if calls_per_minute < 1 or concurrency < 1:
            raise ValueError("the rate limiter needs at least one call per window and one in flight")
        self.calls_per_minute = calls_per_minute
        self.concurrency = concurrency
        self.calls_per_day = calls_per_day
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition()
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def from_settings(
        cls,
        settings: XeroSettings,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> InProcessRateLimiter:
        return cls(settings.calls_per_minute, settings.concurrency, settings.calls_per_day,
                   clock=clock, sleep=sleep)

    @contextmanager
    def acquire(self, key: str) -> Iterator[None]:
        self._take(key)
        try:
            yield
        finally:
            with self._cond:
                self._buckets[key].in_flight -= 1
                self._cond.notify_all()

    def hold_off(self, key: str, seconds: float) -> None:
        with self._cond:
            bucket = self._buckets.setdefault(key, _Bucket())
            bucket.blocked_until = max(bucket.blocked_until, self._clock() + seconds)

    def _take(self, key: str) -> None:
        while True:
            with self._cond:
                bucket = self._buckets.setdefault(key, _Bucket())
                if bucket.in_flight >= self.concurrency:
                    self._cond.wait(timeout=1.0)  # woken by a release
                    continue
                now = self._clock()
                while bucket.calls and now - bucket.calls[0] >= self.window:
                    bucket.calls.popleft()
                while bucket.day_calls and now - bucket.day_calls[0] >= 86_400:
                    bucket.day_calls.popleft()
                if self.calls_per_day is not None and len(bucket.day_calls) >= self.calls_per_day:
                    raise RateLimited(bucket.day_calls[0] + 86_400 - now, "day")
                delay = bucket.blocked_until - now
                if delay <= 0 and len(bucket.calls) >= self.calls_per_minute:
                    delay = bucket.calls[0] + self.window - now
                if delay <= 0:
                    bucket.calls.append(now)
                    if self.calls_per_day is not None:
                        bucket.day_calls.append(now)
                    bucket.in_flight += 1
                    return
            self._sleep(delay)


# ------------------------------------------------------------------------------ answers


@dataclass(frozen=True)
class XeroResponse:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON (fractions as Decimal), or None
    text: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class TokenProvider(Protocol):
    """What the client needs from the OAuth side (the `XeroConnector`)."""

    def access_token(self, tenant_id: str) -> str: ...

    def refresh(self, tenant_id: str, stale_token: str | None = None) -> str: ...

    def organisation_name(self, tenant_id: str) -> str: ...

    def record_rate_limits(self, tenant_id: str, values: Mapping[str, int], persist: bool) -> None: ...


class _Transient(Exception):  # noqa: N818 - internal signal, never leaves this module
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Throttled(Exception):  # noqa: N818
    def __init__(self, retry_after: float, problem: str) -> None:
        super().__init__(f"429 {problem}")
        self.retry_after = retry_after
        self.problem = problem


class _RetryNow(Exception):  # noqa: N818 - the token was refreshed after a 401
    pass


@dataclass
class _Tries:
    transient: int = 0
    throttled: int = 0
    refreshed: bool = False
    last_reason: str = ""


_LIMIT_WORDS = {"minute": "per-minute call limit", "day": "daily call limit",
                "concurrent": "limit of calls at once", "appminute": "app's per-minute limit"}


def waiting_note(error: BaseException, seconds: float, tries: _Tries, max_attempts: int) -> str:
    """What a person reads while the client waits before trying again."""
    wait = f"{int(seconds + 0.999)} second{'s' if int(seconds + 0.999) != 1 else ''}"
    if isinstance(error, _Throttled):
        limit = _LIMIT_WORDS.get(error.problem.replace("-", "").replace("_", "").lower(),
                                 f"{error.problem} limit")
        return f"Waiting for Xero: its {limit} is reached; continuing in {wait}."
    reason = tries.last_reason or "no answer"
    reason = {"ConnectTimeout": "no connection", "ReadTimeout": "no answer in time",
              "ConnectionError": "the connection failed",
              "ChunkedEncodingError": "the answer broke off"}.get(reason, reason)
    return (f"Waiting for Xero: it did not answer ({reason}); trying again in {wait} "
            f"(try {tries.transient + 1} of {max_attempts}).")


class XeroHttpClient:
    """One per gateway: a pooled `requests.Session`, shared pacing, bounded retries."""

    def __init__(
        self,
        settings: XeroSettings,
        tokens: TokenProvider,
        limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self.limiter = limiter or InProcessRateLimiter.from_settings(settings, clock=clock, sleep=sleep)
        self.session = session or requests.Session()
        self._sleep = sleep
        self._clock = clock
        self._limits: dict[str, dict[str, int]] = {}
        self._persisted_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._listeners = threading.local()
        # Exponential from backoff_initial up to backoff_max, plus up to backoff_jitter at random.
        self._backoff = wait_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        ) + wait_random(0, settings.backoff_jitter)

    def close(self) -> None:
        self.session.close()

    @contextmanager
    def observe(self, listener: Callable[[str], None]) -> Iterator[None]:
        """Within the block, this thread's waits (429s, retries) are told to `listener`."""
        previous = getattr(self._listeners, "listener", None)
        self._listeners.listener = listener
        try:
            yield
        finally:
            self._listeners.listener = previous

    def _tell(self, note: str) -> None:
        listener = getattr(self._listeners, "listener", None)
        if listener is None:
            return
        try:
            listener(note)
        except Exception:  # telling must never fail a call
            log.warning("could not report a wait on Xero", exc_info=True)

    # ------------------------------------------------------------------ calls

    def get(self, tenant_id: str, path: str, params: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None) -> XeroResponse:
        return self.request("GET", tenant_id, path, params=params, headers=headers)

    def post(
        self,
        tenant_id: str,
        path: str,
        body: bytes,
        idempotency_key: str,
        params: Mapping[str, str] | None = None,
    ) -> XeroResponse:
        """POST updates (Xero's updateOrCreate, used here only with ids)."""
        return self.request("POST", tenant_id, path, params=params, body=body,
                            idempotency_key=idempotency_key)

    def put(
        self,
        tenant_id: str,
        path: str,
        body: bytes,
        idempotency_key: str,
        params: Mapping[str, str] | None = None,
    ) -> XeroResponse:
        return self.request("PUT", tenant_id, path, params=params, body=body,
                            idempotency_key=idempotency_key)

    def request(
        self,
        method: str,
        tenant_id: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> XeroResponse:
        """Answers 2xx and the 4xx the caller must interpret (400, 404, ...); raises the rest.
        `headers` adds request headers (If-Modified-Since)."""
        method = method.upper()
        if method in WRITE_METHODS and not (idempotency_key and len(idempotency_key) <= MAX_IDEMPOTENCY_KEY):
            raise ValueError("every PUT/POST to Xero needs an Idempotency-Key of 1-128 characters")
        base = self.settings.api_base_url.rstrip("/")
        url = path if path.startswith("http") else f"{base}/{path.lstrip('/')}"
        tries = _Tries()
        retrying = Retrying(
            retry=retry_if_exception_type((_Transient, _Throttled, _RetryNow)),
            stop=lambda state: self._give_up(tries),
            wait=lambda state: self._wait(state, tries),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            answer = retrying(self._attempt, method, tenant_id, url, params, body, idempotency_key,
                              tries, headers)
            if tries.transient or tries.throttled:
                self._tell("")  # Xero answers again: the wait is over
            return answer
        except _Transient:
            log.warning("Xero %s %s failed %d times (%s)", method, path, tries.transient, tries.last_reason)
            raise GatewayUnavailable(
                f"Xero did not answer after {tries.transient} tries; nothing was lost, retry the "
                f"sync later."
            ) from None
        except _Throttled as exc:
            raise RateLimited(exc.retry_after, exc.problem) from None
        except _RetryNow:  # a second 401 right after a refresh
            raise ReauthorisationNeeded(self._organisation(tenant_id)) from None

    def rate_limits(self, tenant_id: str) -> dict[str, int]:
        """The last `X-*Limit-Remaining` values Xero sent for this organisation."""
        with self._lock:
            return dict(self._limits.get(tenant_id, {}))

    # ------------------------------------------------------------------ one try

    def _attempt(
        self,
        method: str,
        tenant_id: str,
        url: str,
        params: Mapping[str, str] | None,
        body: bytes | None,
        idempotency_key: str | None,
        tries: _Tries,
        extra_headers: Mapping[str, str] | None = None,
    ) -> XeroResponse:
        token = self.tokens.access_token(tenant_id)
        headers = {
            **(extra_headers or {}),
            "Authorization": f"Bearer {token}",
            "xero-tenant-id": tenant_id,
            "Accept": "application/json",
        }
        if body is not None:
            headers["Content-Type"] = "application/json; charset=utf-8"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        with self.limiter.acquire(tenant_id):
            try:
                answer = self.session.request(
                    method, url, params=params, data=body, headers=headers,
                    timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                )
            except _TRANSPORT_FAILURES as exc:
                tries.transient += 1
                tries.last_reason = type(exc).__name__
                raise _Transient(type(exc).__name__) from None
            except requests.RequestException as exc:
                log.error("Xero %s %s could not be sent: %s", method, url, type(exc).__name__)
                raise GatewayUnavailable(
                    "Accounts Sync could not send its request to Xero; nothing was lost, retry later."
                ) from None
        self._note_limits(tenant_id, answer.headers)
        status = answer.status_code
        if status == 401:
            if tries.refreshed:
                self._needs_reauthorisation(tenant_id)
                raise ReauthorisationNeeded(self._organisation(tenant_id))
            tries.refreshed = True
            self.tokens.refresh(tenant_id, stale_token=token)
            raise _RetryNow()
        if status == 403:
            log.warning("Xero refused access (403) for tenant %s: %s", tenant_id, _detail(answer))
            self._needs_reauthorisation(tenant_id)
            raise ReauthorisationNeeded(self._organisation(tenant_id))
        if status == 429:
            return self._throttled(tenant_id, answer, tries)
        if status in TRANSIENT_STATUSES or status >= 500:
            tries.transient += 1
            tries.last_reason = f"HTTP {status}"
            raise _Transient(f"HTTP {status}")
        return XeroResponse(status, dict(answer.headers), _parse(answer), answer.text)

    def _throttled(self, tenant_id: str, answer: requests.Response, tries: _Tries) -> XeroResponse:
        problem = answer.headers.get("X-Rate-Limit-Problem", "minute").strip().lower() or "minute"
        retry_after = _seconds(answer.headers.get("Retry-After"), default=60.0)
        self.limiter.hold_off(tenant_id, retry_after)
        # Minute, concurrency and app-minute limits pass within a minute: wait them out. The
        # day limit does not: stop, and say when to come back.
        if problem.startswith("day") or retry_after > self.settings.max_retry_after:
            raise RateLimited(retry_after, "day" if problem.startswith("day") else problem)
        tries.throttled += 1
        log.info("Xero %s limit reached for tenant %s; waiting %.1f s", problem, tenant_id, retry_after)
        raise _Throttled(retry_after, problem)

    # ------------------------------------------------------------------ retry policy

    def _give_up(self, tries: _Tries) -> bool:
        return (
            tries.transient >= self.settings.max_attempts
            or tries.throttled > self.settings.max_rate_limit_waits
        )

    def _wait(self, state: RetryCallState, tries: _Tries | None = None) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _RetryNow):
            return 0.0
        seconds = error.retry_after if isinstance(error, _Throttled) else float(self._backoff(state))
        if error is not None and tries is not None:
            self._tell(waiting_note(error, seconds, tries, self.settings.max_attempts))
        return seconds

    # ------------------------------------------------------------------ bookkeeping

    def _note_limits(self, tenant_id: str, headers: Mapping[str, str]) -> None:
        values: dict[str, int] = {}
        for header, name in RATE_LIMIT_HEADERS.items():
            raw = headers.get(header)
            if raw is not None:
                try:
                    values[name] = int(str(raw).strip())
                except ValueError:
                    continue
        if not values:
            return
        now = self._clock()
        with self._lock:
            self._limits.setdefault(tenant_id, {}).update(values)
            last = self._persisted_at.get(tenant_id)
            persist = last is None or now - last >= self.settings.rate_limit_persist_seconds
            if persist:
                self._persisted_at[tenant_id] = now
            snapshot = dict(self._limits[tenant_id])
        try:
            self.tokens.record_rate_limits(tenant_id, snapshot, persist)
        except Exception:  # bookkeeping must never fail a call
            log.warning("could not record Xero's rate-limit counters", exc_info=True)

    def _needs_reauthorisation(self, tenant_id: str) -> None:
        """Xero no longer accepts the connection: the console must say so, not 'Connected'."""
        mark = getattr(self.tokens, "mark_needs_reauthorisation", None)
        if mark is None:
            return
        try:
            mark(tenant_id)
        except Exception:
            log.warning("could not mark the connection as needing re-authorisation", exc_info=True)

    def _organisation(self, tenant_id: str) -> str:
        try:
            return self.tokens.organisation_name(tenant_id)
        except Exception:
            return ""


def _parse(answer: requests.Response) -> Any:
    if not answer.content:
        return None
    content_type = answer.headers.get("Content-Type", "")
    if "json" not in content_type and not answer.content.lstrip().startswith((b"{", b"[")):
        return None
    try:
        return decode_json(answer.content)
    except ValueError:
        return None


def _detail(answer: requests.Response) -> str:
    body = _parse(answer)
    if isinstance(body, dict):
        return str(body.get("Detail") or body.get("Title") or body.get("Message") or "")[:200]
    return answer.text[:200]


def _seconds(raw: str | None, default: float) -> float:
    try:
        return max(float(raw), 0.0) if raw is not None else default
    except ValueError:
        return default
