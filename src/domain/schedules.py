"""Scheduled syncs: when each kind is sent on its own, in the host's time zone.

A schedule is what a person sets once in Settings (off, every N minutes, daily at a time,
weekly on a day at a time), with the closing date each scheduled run uses and, for journals,
Draft or Posted. The moments it fires are computed here, from an aware instant and the host's
zone (zoneinfo), and always returned as aware UTC instants:

- **every N minutes** counts elapsed minutes from each local midnight: 00:00, 00:15, 00:30…
  A day that is 23 or 25 hours long (a DST change) has one interval fewer or more; the times
  stay on the local quarter hours, because clocks jump by whole hours (the last interval of a
  day is shorter when N does not divide a day);
- **daily / weekly at HH:MM** fires once on each (matching) local day at that wall-clock time.
  A time the clocks jump over (02:30 on the night clocks go from 02:00 to 03:00) fires at the
  moment they jump, as cron does; a time that happens twice (clocks go back) fires at its first
  occurrence, once.

A missed firing (the server was off) fires once when it is next looked at, never once per
missed moment; the next one is computed from then.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from .documents import Kind
from .errors import InvalidRequest, Problem
from .sync import JournalMode

SCHEDULED_KINDS = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS, Kind.JOURNALS,
                   Kind.CORRECTIONS)
# Housekeeping that fires through the same exactly-once machinery as the kinds.
DIGEST = "digest"  # the daily digest email (a person turns it on, at a time)
KEEP_ALIVE = "keep_alive"  # the Xero connection's keep-alive check (always on, hourly)
DUTIES = (DIGEST, KEEP_ALIVE)

MINUTES_PER_DAY = 24 * 60
DEFAULT_MIN_INTERVAL = 5  # minutes; Xero allows 5,000 calls a day per organisation
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SCHEDULED_BY = "schedule"  # SyncRun.requested_by of a run a schedule started


class Cadence(StrEnum):
    OFF = "off"
    EVERY = "every"
    DAILY = "daily"
    WEEKLY = "weekly"

    @property
    def label(self) -> str:
        return {"off": "Off", "every": "Every N minutes", "daily": "Daily at",
                "weekly": "Weekly on"}[self.value]


class ClosingRule(StrEnum):
    """The closing date a scheduled run uses, from the host's calendar day when it fires."""

    TODAY = "today"
    YESTERDAY = "yesterday"
    END_OF_LAST_MONTH = "end_of_last_month"

    @property
    def label(self) -> str:
        return {"today": "Today", "yesterday": "Yesterday",
                "end_of_last_month": "End of last month"}[self.value]

    def closing_date(self, today: date) -> date:
        if self is ClosingRule.TODAY:
            return today
        if self is ClosingRule.YESTERDAY:
            return today - timedelta(days=1)
        return today.replace(day=1) - timedelta(days=1)


def parse_time(raw: str) -> time | None:
    """'HH:MM' (24-hour) → a time; None when it is not one."""
    text = (raw or "").strip()
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2 or len(hours) > 2:
        return None
    h, m = int(hours), int(minutes)
    return time(h, m) if 0 <= h < 24 and 0 <= m < 60 else None


def weekday_label(day: int) -> str:
    return WEEKDAYS[day]


@dataclass(frozen=True)
class Schedule:
    """When `name` (a kind's value, or a duty) runs on its own. Times are local wall-clock."""

    name: str
    cadence: Cadence = Cadence.OFF
    every_minutes: int = 60
    at: time = time(6, 0)
    weekday: int = 0  # Monday = 0, as date.weekday()
    closing_rule: ClosingRule = ClosingRule.TODAY
    journal_mode: JournalMode = JournalMode.DRAFT

    @property
    def kind(self) -> Kind | None:
        return Kind(self.name) if self.name in {k.value for k in SCHEDULED_KINDS} else None

    @property
    def is_on(self) -> bool:
        return self.cadence is not Cadence.OFF

    def describe(self) -> str:
        """'Every 15 minutes', 'Daily at 06:00', 'Weekly on Monday at 06:00', 'Off'."""
        at = self.at.strftime("%H:%M")
        if self.cadence is Cadence.EVERY:
            n = self.every_minutes
            if n == 1:
                return "Every minute"
            if n % 60 == 0:
                hours = n // 60
                return "Every hour" if hours == 1 else f"Every {hours} hours"
            return f"Every {n} minutes"
        if self.cadence is Cadence.DAILY:
            return f"Daily at {at}"
        if self.cadence is Cadence.WEEKLY:
            return f"Weekly on {weekday_label(self.weekday)} at {at}"
        return "Off"

    def next_after(self, moment: datetime, zone: tzinfo) -> datetime | None:
        """The first firing strictly after `moment` (aware), as aware UTC; None when off."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        moment = moment.astimezone(UTC)
        day = moment.astimezone(zone).date()
        if self.cadence is Cadence.EVERY:
            return _next_interval(moment, day, zone, self.every_minutes)
        if self.cadence is Cadence.DAILY:
            return _next_at(moment, day, zone, self.at, lambda d: True)
        if self.cadence is Cadence.WEEKLY:
            return _next_at(moment, day, zone, self.at, lambda d: d.weekday() == self.weekday)
        return None

    def firings(self, start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
        """Every firing in (start, end], in order (for tests, the console and `schedule list`)."""
        found: list[datetime] = []
        moment = start
        while (nxt := self.next_after(moment, zone)) is not None and nxt <= end:
            found.append(nxt)
            moment = nxt
        return found

    def problems(self, min_interval: int = DEFAULT_MIN_INTERVAL) -> list[Problem]:
        """What is wrong with it, each naming its form field (`schedule:<name>:<part>`)."""
        where = self.label_for_problems()
        found: list[Problem] = []
        if self.cadence is Cadence.EVERY and not min_interval <= self.every_minutes <= MINUTES_PER_DAY:
            found.append(Problem(
                "schedule_interval",
                f"{where}: every {self.every_minutes} minutes is not between {min_interval} and "
                f"{MINUTES_PER_DAY:,} (a day); Xero allows 5,000 calls a day, so schedules run "
                f"at most every {'minute' if min_interval == 1 else f'{min_interval} minutes'}.",
                self.name, field=f"schedule:{self.name}:every"))
        if not 0 <= self.weekday <= 6:
            found.append(Problem("schedule_weekday", f"{where}: choose a day of the week.",
                                 self.name, field=f"schedule:{self.name}:weekday"))
        return found

    def label_for_problems(self) -> str:
        kind = self.kind
        if kind is not None:
            return f"Schedule for {kind.label.lower()}"
        return "Daily digest" if self.name == DIGEST else self.name.replace("_", " ").capitalize()

    def same_timing(self, other: Schedule) -> bool:
        """Whether both fire at the same moments (then a saved change keeps the next firing)."""
        if self.cadence is not other.cadence:
            return False
        if self.cadence is Cadence.EVERY:
            return self.every_minutes == other.every_minutes
        if self.cadence is Cadence.DAILY:
            return self.at == other.at
        if self.cadence is Cadence.WEEKLY:
            return (self.at, self.weekday) == (other.at, other.weekday)
        return True


def default_schedule(name: str) -> Schedule:
    if name == KEEP_ALIVE:
        return Schedule(KEEP_ALIVE, Cadence.EVERY, every_minutes=60)
    return Schedule(name)


@dataclass(frozen=True)
class ScheduleEntry:
    """A schedule with what happened to it: the next firing, the last one and its outcome."""

    schedule: Schedule
    next_due_at: datetime | None = None
    last_due_at: datetime | None = None  # the moment the last firing was due
    last_fired_at: datetime | None = None  # when it was fired (later, if the server was off)
    last_outcome: str = ""  # what the last firing did, in words
    last_run_id: int | None = None  # the run it started or joined, if any
    updated_by: str = ""
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        return self.schedule.name

    def due(self, now: datetime) -> bool:
        return self.schedule.is_on and self.next_due_at is not None and self.next_due_at <= now

    def with_schedule(self, schedule: Schedule, now: datetime, zone: tzinfo) -> ScheduleEntry:
        """Set a new schedule: the next firing is recomputed unless its timing is unchanged
        (saving the page again never pushes a firing back)."""
        keep = (self.schedule.same_timing(schedule) and self.next_due_at is not None
                and self.schedule.is_on)
        next_due = self.next_due_at if keep else schedule.next_after(now, zone)
        return replace(self, schedule=schedule, next_due_at=next_due if schedule.is_on else None)


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and which runs they are about (Settings, beside the schedules)."""

    addresses: tuple[str, ...] = ()
    every_run: bool = True  # False: only runs a schedule started
    digest_at: time | None = None  # None: no daily digest

    @property
    def digest_schedule(self) -> Schedule:
        if self.digest_at is None:
            return Schedule(DIGEST)
        return Schedule(DIGEST, Cadence.DAILY, at=self.digest_at)


MAX_ALERT_ADDRESSES = 10


@dataclass(frozen=True)
class SchedulesRequest:
    """Everything the Schedules section of Settings holds, as a person submitted it."""

    schedules: tuple[Schedule, ...] = ()
    alerts: AlertSettings = field(default_factory=AlertSettings)


class SchedulesRefused(InvalidRequest):
    """Schedules or alert settings that cannot work; nothing was saved."""

    code = "schedules_refused"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"The schedules were not saved: {problems[0].message}{more}")


# ------------------------------------------------------------------ local wall time → UTC


def local_to_utc(day: date, wall: time, zone: tzinfo) -> datetime:
    """The instant the host's clock shows `wall` on `day`: the first occurrence when it shows
    it twice, the moment the clocks jump when they skip over it."""
    naive = datetime.combine(day, wall)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first
    # In a gap. fold=1 reads the wall time with the offset after the jump: an instant before
    # it; fold=0 with the offset before: an instant after it. The jump is the first instant
    # between them whose wall time is not earlier than `naive`.
    low = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = first
    if low > high:
        low, high = high, low
    lo, hi = 0, int((high - low).total_seconds())
    while lo < hi:
        mid = (lo + hi) // 2
        if (low + timedelta(seconds=mid)).astimezone(zone).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return low + timedelta(seconds=lo)


def _next_at(moment: datetime, day: date, zone: tzinfo, wall: time, matches) -> datetime | None:
    for offset in range(-1, 9):  # a week and a margin either side of the local day
        candidate_day = day + timedelta(days=offset)
        if not matches(candidate_day):
            continue
        candidate = local_to_utc(candidate_day, wall, zone)
        if candidate > moment:
            return candidate
    return None


def _next_interval(moment: datetime, day: date, zone: tzinfo, minutes: int) -> datetime:
    step = timedelta(minutes=max(1, minutes))
    for offset in range(-1, 3):
        start = local_to_utc(day + timedelta(days=offset), time(0, 0), zone)
        end = local_to_utc(day + timedelta(days=offset + 1), time(0, 0), zone)
        if moment >= end:
            continue
        if moment < start:
            return start
        k = (moment - start) // step + 1
        candidate = start + step * k
        return candidate if candidate < end else end
    raise AssertionError("unreachable: a moment falls in one of three local days")
