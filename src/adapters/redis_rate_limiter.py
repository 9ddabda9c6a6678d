"""The Xero rate limiter's budget in Redis, shared by every worker on every machine.

Per organisation (the key), one Lua script decides atomically whether a call may start:

- a rolling window of call starts (`calls_per_minute` in any `window` + `margin` seconds; a
  rolling window is never looser than Xero's fixed one, and the margin absorbs the time a
  request takes to reach Xero);
- calls in flight (`concurrency`), each held under a lease that expires by itself, so a
  worker killed mid-call frees its slot after `lease_seconds` instead of never;
- a rolling day count (`calls_per_day`): once spent, RateLimited("day") is raised at once,
  never slept through;
- a hold-off after a 429 (`hold_off`), so every worker waits out Xero's Retry-After.

Time comes from the Redis server (one clock for all machines) unless a `clock` is given
(tests run windows faster than real minutes). When Redis cannot be reached the limiter keeps
trying for `unavailable_after` seconds (a Redis restart is survived), then raises
GatewayUnavailable: nothing was sent, and the run stops with a plain reason.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from redis.exceptions import RedisError

from ..domain.errors import GatewayUnavailable, RateLimited

log = logging.getLogger(__name__)

# KEYS: 1 minute log (zset of call starts), 2 day log, 3 leases in flight (zset, score = expiry),
#       4 hold-off (string: until), 5 sequence
# ARGV: 1 now ('' = the server's clock), 2 window, 3 per window, 4 day length, 5 per day (0 = no
#       limit), 6 concurrency, 7 lease seconds, 8 lease token
# Returns {1, "0", "ok", now} when the call may start (the lease is held), {0, wait, reason,
# now} when it must wait, {-1, wait, "day", now} when the day's budget is spent.
_TAKE = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local window = tonumber(ARGV[2])
local per_window = tonumber(ARGV[3])
local day = tonumber(ARGV[4])
local per_day = tonumber(ARGV[5])
local concurrency = tonumber(ARGV[6])
local lease = tonumber(ARGV[7])

if per_day > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - day)
  if redis.call('ZCARD', KEYS[2]) >= per_day then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {-1, tostring(tonumber(first[2]) + day - now), 'day', tostring(now)}
  end
end
local hold = tonumber(redis.call('GET', KEYS[4]) or '0')
if hold > now then
  return {0, tostring(hold - now), 'hold', tostring(now)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= concurrency then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  return {0, tostring(tonumber(first[2]) - now), 'concurrent', tostring(now)}
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= per_window then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tostring(tonumber(first[2]) + window - now), 'minute', tostring(now)}
end
local member = ARGV[8] .. ':' .. redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[1], now, member)
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
if per_day > 0 then
  redis.call('ZADD', KEYS[2], now, member)
  redis.call('PEXPIRE', KEYS[2], math.ceil(day * 1000) + 1000)
end
redis.call('ZADD', KEYS[3], now + lease, ARGV[8])
redis.call('PEXPIRE', KEYS[3], math.ceil(lease * 1000) + 1000)
redis.call('PEXPIRE', KEYS[5], math.ceil(day * 1000) + 1000)
return {1, '0', 'ok', tostring(now)}
"""

# KEYS: 1 hold-off; ARGV: 1 now ('' = server clock), 2 seconds. Only ever lengthens a hold-off.
_HOLD_OFF = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local hold_until = now + tonumber(ARGV[2])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if hold_until > current then
  redis.call('SET', KEYS[1], tostring(hold_until), 'PX', math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
end
return tostring(hold_until)
"""

LIMITER_UNAVAILABLE = (
    "Accounts Sync's shared rate limiter (Redis) cannot be reached, so nothing more was sent "
    "to Xero. Check that Redis is running, then press Sync again; nothing was lost."
)


class RedisRateLimiter:
    """`RateLimiter` (see adapters.xero.client) whose budget lives in Redis."""

    def __init__(
        self,
        redis: Redis,
        calls_per_minute: int = 60,
        concurrency: int = 5,
        calls_per_day: int | None = 5000,
        window: float = 60.0,
        margin: float = 1.0,
        day: float = 86_400.0,
        lease_seconds: float = 180.0,
        prefix: str = "accounts-sync:xero-limits",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = 0.05,
        unavailable_after: float = 30.0,
    ) -> None:
        if calls_per_minute < 1 or concurrency < 1:
            raise ValueError("the rate limiter needs at least one call per window and one in flight")
        self.redis = redis
        self.calls_per_minute = calls_per_minute
        self.concurrency = concurrency
        self.calls_per_day = calls_per_day
        self.window = window + margin
        self.day = day
        self.lease_seconds = lease_seconds
        self.prefix = prefix
        self._clock = clock
        self._sleep = sleep
        self.poll = poll
        self.unavailable_after = unavailable_after
        self.redis_errors = 0  # Redis errors waited out (to watch a restart being survived)
        # Scripts run by SHA and are loaded again by redis-py after a Redis restart.
        self._take = redis.register_script(_TAKE)
        self._hold_off = redis.register_script(_HOLD_OFF)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisRateLimiter:
        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
        return cls(client, **kwargs)

    @classmethod
    def from_settings(cls, settings: Any, url: str, **kwargs: Any) -> RedisRateLimiter:
        """From the Xero adapter's settings: its limits, and a lease outliving its timeouts."""
        values: dict[str, Any] = {
            "calls_per_minute": settings.calls_per_minute,
            "concurrency": settings.concurrency,
            "calls_per_day": settings.calls_per_day,
            "lease_seconds": settings.connect_timeout + settings.read_timeout + 30.0,
        }
        values.update(kwargs)
        return cls.from_url(url, **values)

    def keys(self, key: str) -> list[str]:
        base = f"{self.prefix}:{{{key}}}"  # one hash slot per organisation (Redis Cluster)
        return [f"{base}:minute", f"{base}:day", f"{base}:in-flight", f"{base}:hold", f"{base}:seq"]

    # ------------------------------------------------------------------ RateLimiter

    @contextmanager
    def acquire(self, key: str) -> Iterator[None]:
        token = uuid.uuid4().hex
        self._wait_for_slot(key, token)
        try:
            yield
        finally:
            try:
                self.redis.zrem(self.keys(key)[2], token)
            except RedisError:
                # The lease expires by itself; a lost release only delays others a little.
                log.warning("could not release a Xero call slot in Redis; its lease will expire")

    def hold_off(self, key: str, seconds: float) -> None:
        try:
            self._redis_call(lambda: self._hold_off(keys=[self.keys(key)[3]],
                                                    args=[self._now_arg(), float(seconds)]))
        except GatewayUnavailable:
            log.warning("could not record Xero's Retry-After in Redis")

    # ------------------------------------------------------------------ beyond the protocol

    def in_flight(self, key: str) -> int:
        return int(self.redis.zcard(self.keys(key)[2]))

    def reset(self, key: str) -> None:
        self.redis.delete(*self.keys(key))

    # ------------------------------------------------------------------ inside

    def _now_arg(self) -> str:
        return "" if self._clock is None else repr(self._clock())

    def _wait_for_slot(self, key: str, token: str) -> None:
        keys = self.keys(key)
        while True:
            allowed, wait, reason, _ = self._redis_call(lambda: self._take_once(keys, token))
            allowed, wait = int(allowed), float(wait)
            if allowed == 1:
                return
            if allowed == -1:
                raise RateLimited(wait, "day")
            if reason in (b"concurrent", "concurrent"):
                # A release frees a slot before its lease ends: look again soon.
                wait = min(wait, self.poll)
            # A little jitter keeps waiting workers from all asking at the same instant.
            self._sleep(max(wait, 0.001) + random.uniform(0, self.poll / 5))

    def _take_once(self, keys: list[str], token: str) -> Any:
        args = [self._now_arg(), self.window, self.calls_per_minute, self.day,
                self.calls_per_day or 0, self.concurrency, self.lease_seconds, token]
        return self._take(keys=keys, args=args)

    def _redis_call(self, call: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.unavailable_after
        delay = 0.05
        while True:
            try:
                return call()
            except RedisError as exc:
                self.redis_errors += 1
                if time.monotonic() >= deadline:
                    log.error("Redis unreachable for the rate limiter: %s", type(exc).__name__)
                    raise GatewayUnavailable(LIMITER_UNAVAILABLE) from None
                log.warning("Redis unreachable for the rate limiter (%s); retrying", type(exc).__name__)
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
