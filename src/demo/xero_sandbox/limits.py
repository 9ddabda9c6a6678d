"""Xero's API limits: per organisation 60/minute, 5 in flight, 5,000/day; 10,000/minute per app.

Windows are fixed and start with the first call after the previous window ended, so a test
that makes 61 quick calls always sees the 61st refused. A limit of 0 or None is unlimited
(the benchmarks' fast mode); its header is then left out. Runs under the sandbox's lock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MINUTE = 60.0
DAY = 86_400.0


@dataclass
class Window:
    length: float
    start: float = 0.0
    count: int = 0

    def roll(self, now: float) -> None:
        if now >= self.start + self.length or now < self.start:
            self.start, self.count = now, 0

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.start + self.length - now))


@dataclass
class Refusal:
    problem: str  # minute | day | concurrent | appminute
    retry_after: int


@dataclass
class RateLimiter:
    per_minute: int | None
    per_day: int | None
    concurrency: int | None
    app_per_minute: int | None
    minute: dict[str, Window] = field(default_factory=dict)
    day: dict[str, Window] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    app_minute: Window = field(default_factory=lambda: Window(MINUTE))

    def admit(self, tenant: str, now: float) -> Refusal | None:
        """Count the call if every limit allows it; otherwise say which limit refused it."""
        minute = self.minute.setdefault(tenant, Window(MINUTE))
        day = self.day.setdefault(tenant, Window(DAY))
        for window in (minute, day, self.app_minute):
            window.roll(now)
        if self.per_day and day.count >= self.per_day:
            return Refusal("day", day.retry_after(now))
        if self.app_per_minute and self.app_minute.count >= self.app_per_minute:
            return Refusal("appminute", self.app_minute.retry_after(now))
        if self.per_minute and minute.count >= self.per_minute:
            return Refusal("minute", minute.retry_after(now))
        if self.concurrency and self.in_flight.get(tenant, 0) >= self.concurrency:
            return Refusal("concurrent", 1)
        minute.count += 1
        day.count += 1
        self.app_minute.count += 1
        self.in_flight[tenant] = self.in_flight.get(tenant, 0) + 1
        return None

    def release(self, tenant: str) -> None:
        self.in_flight[tenant] = max(0, self.in_flight.get(tenant, 0) - 1)

    def headers(self, tenant: str | None, now: float) -> dict[str, str]:
        out = {}
        if tenant is not None:
            if self.per_minute:
                window = self.minute.get(tenant)
                used = window.count if window and now < window.start + window.length else 0
                out["X-MinLimit-Remaining"] = str(max(0, self.per_minute - used))
            if self.per_day:
                window = self.day.get(tenant)
                used = window.count if window and now < window.start + window.length else 0
                out["X-DayLimit-Remaining"] = str(max(0, self.per_day - used))
        if self.app_per_minute:
            window = self.app_minute
            used = window.count if now < window.start + window.length else 0
            out["X-AppMinLimit-Remaining"] = str(max(0, self.app_per_minute - used))
        return out

    def reset(self) -> None:
        self.minute.clear()
        self.day.clear()
        self.app_minute = Window(MINUTE)
        # in-flight calls are real requests still running: they release themselves
