"""Failures a test can schedule: the ways Xero and the network really let a client down.

Counted faults fire on the next N Accounting API calls (after authentication, before the
limits), in the order checked here: dropped connection, 5xx answer, 429 storm. Delays hold a
call while it counts as in flight, which is how a test fills the concurrency limit. "Commit
then drop" lets a write succeed and then loses its answer. Runs under the sandbox's lock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COUNTED_KINDS = ("fail", "drop", "commit_then_drop", "rate_limit_storm", "delay",
                 "token_commit_then_drop")
ACTION_KINDS = ("expire_tokens", "lock_dates", "archive_account", "restore_account",
                "revoke_connections", "clear")
ALL_KINDS = COUNTED_KINDS + ACTION_KINDS


class FaultError(ValueError):
    """An injection request the sandbox does not understand."""


@dataclass
class PreFault:
    kind: str  # drop | fail | rate_limit_storm
    status: int = 0
    retry_after: int = 0


@dataclass
class Faults:
    fail: list[dict] = field(default_factory=list)  # [{"status": 503, "remaining": 2}]
    drop: int = 0
    commit_then_drop: int = 0
    token_commit_then_drop: int = 0
    storm: dict | None = None  # {"remaining": n, "retry_after": s}
    delay: dict | None = None  # {"ms": x, "remaining": n or None for every call}

    def add(self, kind: str, params: dict[str, Any]) -> None:
        count = _count(params.get("count", 1))
        if kind == "fail":
            status = int(params.get("status", 503))
            if status not in (500, 502, 503, 504):
                raise FaultError("fail: status must be 500, 502, 503 or 504")
            self.fail.append({"status": status, "remaining": count})
        elif kind == "drop":
            self.drop += count
        elif kind == "commit_then_drop":
            self.commit_then_drop += count
        elif kind == "token_commit_then_drop":
            self.token_commit_then_drop += count
        elif kind == "rate_limit_storm":
            retry_after = int(params.get("retry_after", 60))
            if retry_after < 1:
                raise FaultError("rate_limit_storm: retry_after must be at least 1 second")
            self.storm = {"remaining": count, "retry_after": retry_after}
        elif kind == "delay":
            ms = int(params.get("ms", params.get("delay_ms", 0)))
            if ms < 0:
                raise FaultError("delay: ms must not be negative")
            remaining = None if params.get("count") is None else _count(params["count"])
            self.delay = {"ms": ms, "remaining": remaining} if ms else None
        else:
            raise FaultError(f"Unknown fault kind {kind!r}; known: {', '.join(ALL_KINDS)}")

    def take_pre(self) -> PreFault | None:
        if self.drop:
            self.drop -= 1
            return PreFault("drop")
        if self.fail:
            head = self.fail[0]
            head["remaining"] -= 1
            if head["remaining"] <= 0:
                self.fail.pop(0)
            return PreFault("fail", status=head["status"])
        if self.storm:
            self.storm["remaining"] -= 1
            retry_after = self.storm["retry_after"]
            if self.storm["remaining"] <= 0:
                self.storm = None
            return PreFault("rate_limit_storm", retry_after=retry_after)
        return None

    def take_delay(self) -> float:
        if not self.delay:
            return 0.0
        seconds = self.delay["ms"] / 1000.0
        if self.delay["remaining"] is not None:
            self.delay["remaining"] -= 1
            if self.delay["remaining"] <= 0:
                self.delay = None
        return seconds

    def take_commit_then_drop(self) -> bool:
        if self.commit_then_drop:
            self.commit_then_drop -= 1
            return True
        return False

    def take_token_drop(self) -> bool:
        if self.token_commit_then_drop:
            self.token_commit_then_drop -= 1
            return True
        return False

    def pending(self) -> dict:
        return {
            "fail": [dict(item) for item in self.fail],
            "drop": self.drop,
            "commit_then_drop": self.commit_then_drop,
            "token_commit_then_drop": self.token_commit_then_drop,
            "rate_limit_storm": dict(self.storm) if self.storm else None,
            "delay": dict(self.delay) if self.delay else None,
        }


def _count(value: Any) -> int:
    count = int(value)
    if count < 1:
        raise FaultError("count must be at least 1")
    return count
