"""RunDueSchedules: start what is due, then the housekeeping (alerts, keep-alive, digest).

Called by the embedded scheduler's thread, by RQ's scheduler on the workers, and by
`flask accounts-sync run-due` (cron), as often as they like, from as many processes as are up:
each due firing is taken by one conditional update of the schedule's next firing
(`ScheduleStore.fire`, compare-and-set), so it starts one run however many callers saw it due.
The run is claimed through the same use case as the Sync button (StartSync with recovery), so a
run of that kind already going is joined, not duplicated, and the run checks and refuses
exactly what a manual one would.

A kind with nothing to send up to the closing date starts no run (nothing reaches Xero, the
history is not filled with empty runs); corrections always run, as only the run can tell.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Protocol

from ..domain.alerts import schedule_failed_alert, schedule_topic
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import AccountsSyncError, RunAlreadyActive
from ..domain.schedules import DIGEST, KEEP_ALIVE, SCHEDULED_BY, ScheduleEntry
from .alerts import DeliverAlerts
from .ports import Clock, Scheduler, UnitOfWorkFactory
from .schedules import entries_of
from .start_sync import SyncRequest

log = logging.getLogger(__name__)


class _Claims(Protocol):
    def execute(self, request: Any) -> Any: ...


@dataclass(frozen=True)
class Fired:
    name: str
    due_at: datetime
    outcome: str
    run_id: int | None = None


@dataclass(frozen=True)
class DueResult:
    fired: tuple[Fired, ...]
    next_due: datetime | None  # the earliest next firing of anything switched on
    wake_at: datetime  # when to be called again (no later than the housekeeping needs)


@dataclass
class Duties:
    """Housekeeping done at every call (each guarded: one failing never stops the others)."""

    every_tick: tuple[Callable[[], object], ...] = ()
    digest: Callable[[], str] | None = None
    keep_alive: Callable[[], str] | None = None


class RunDueSchedules:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, zone: tzinfo, start_sync: _Claims,
                 scheduler: Scheduler | None = None, alerts: DeliverAlerts | None = None,
                 duties: Duties | None = None, check_every: float = 300.0) -> None:
        self.uow = uow
        self.clock = clock
        self.zone = zone
        self.start_sync = start_sync
        self.scheduler = scheduler
        self.alerts = alerts
        self.duties = duties or Duties()
        self.check_every = timedelta(seconds=check_every)

    def execute(self) -> DueResult:
        now = self.clock.now()
        with self.uow() as uow:
            entries = entries_of(uow)
            keep_alive = entries[KEEP_ALIVE]
            if keep_alive.next_due_at is None and self.duties.keep_alive is not None:
                # Never saved: the keep-alive starts with this first call.
                keep_alive = replace(keep_alive, next_due_at=now.replace(microsecond=0))
                uow.schedules.save(keep_alive)
                uow.commit()
                entries[KEEP_ALIVE] = keep_alive
        fired: list[Fired] = []
        due = sorted((e for e in entries.values() if e.due(now)), key=lambda e: e.next_due_at)
        for entry in due:
            done = self._fire(entry, now)
            if done is not None:
                fired.append(done)
        for duty in self.duties.every_tick:
            _guarded(duty)
        with self.uow() as uow:
            entries = entries_of(uow)
        moments = [e.next_due_at for e in entries.values() if e.schedule.is_on and e.next_due_at]
        next_due = min(moments) if moments else None
        wake_at = min([*moments, self._next_check(now)])
        if self.scheduler is not None:
            self.scheduler.plan(wake_at)
        return DueResult(tuple(fired), next_due, wake_at)

    def _next_check(self, now: datetime) -> datetime:
        """The next housekeeping call, on a grid (every `check_every` from the epoch), so that
        processes that plan it independently plan the same moment (one job, not one each)."""
        step = max(1.0, self.check_every.total_seconds())
        return datetime.fromtimestamp((math.floor(now.timestamp() / step) + 1) * step, UTC)

    def _fire(self, entry: ScheduleEntry, now: datetime) -> Fired | None:
        assert entry.next_due_at is not None
        following = entry.schedule.next_after(now, self.zone)
        with self.uow() as uow:
            if not uow.schedules.fire(entry.name, entry.next_due_at, following, now):
                return None  # another process fired it, or the schedule changed meanwhile
            uow.commit()
        try:
            outcome, run_id = self._carry_out(entry, now)
        except Exception as exc:  # the firing is taken: say what happened, never lose the loop
            log.exception("schedule %s failed", entry.name)
            message = getattr(exc, "message", None) or "an unexpected error (see the log)"
            outcome, run_id = f"Failed: {message}", None
        with self.uow() as uow:
            uow.schedules.record_outcome(entry.name, outcome, run_id)
            uow.commit()
        log.info("schedule %s due %s: %s", entry.name, entry.next_due_at, outcome)
        return Fired(entry.name, entry.next_due_at, outcome, run_id)

    def _carry_out(self, entry: ScheduleEntry, now: datetime) -> tuple[str, int | None]:
        if entry.name == DIGEST:
            return (self.duties.digest() if self.duties.digest else "No digest."), None
        if entry.name == KEEP_ALIVE:
            return (self.duties.keep_alive() if self.duties.keep_alive else "Nothing to keep alive."), None
        kind = entry.schedule.kind
        if kind is None:
            return f"'{entry.name}' is not something Accounts Sync schedules.", None
        closing = entry.schedule.closing_rule.closing_date(self.clock.today())
        shown = closing.strftime("%d %b %Y").lstrip("0")
        with self.uow() as uow:
            active = uow.ledger.active_run(kind)
            mark = uow.ledger.last_synced_up_to(kind)
            if active is None and mark is not None and closing < mark:
                return (f"Nothing sent: {kind.label.lower()} were already synced up to "
                        f"{mark.strftime('%d %b %Y').lstrip('0')}, after this schedule's closing "
                        f"date {shown}."), None
            if active is None and not self._anything_to_send(uow, kind, closing):
                return f"Nothing to send up to {shown}.", None
        if active is not None:
            return f"Joined run {active.id}, already going.", active.id
        mode = entry.schedule.journal_mode if kind is Kind.JOURNALS else None
        try:
            run = self.start_sync.execute(SyncRequest(kind, closing, SCHEDULED_BY, mode))
        except RunAlreadyActive as busy:
            return f"Joined run {busy.run_id}, already going.", busy.run_id or None
        except AccountsSyncError as exc:
            if self.alerts is not None:
                self.alerts.raise_(schedule_failed_alert(kind, entry.next_due_at or now, exc.message))
            return f"Not started: {exc.message}", None
        if self.alerts is not None:
            _guarded(lambda: self.alerts.resolve(schedule_topic(kind), now))
        return f"Started run {run.id}, closing date {shown}.", run.id

    @staticmethod
    def _anything_to_send(uow: Any, kind: Kind, closing: Any) -> bool:
        if kind in TRADE_KINDS:
            return uow.documents.summarize_unsynced(kind, closing).count > 0
        if kind is Kind.JOURNALS:
            return bool(uow.documents.cost_flows(closing))
        return True  # corrections: only the run can tell (it looks at Xero first)


def _guarded(duty: Callable[[], object]) -> None:
    try:
        duty()
    except AccountsSyncError as exc:
        log.warning("scheduled housekeeping: %s", exc.message)
    except Exception:
        log.exception("scheduled housekeeping failed")
