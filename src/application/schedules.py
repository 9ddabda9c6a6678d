"""GetSchedules / SaveSchedules: the Schedules section of Settings, and the plan the console,
the API and `schedule list` show."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, tzinfo

from ..domain.documents import Kind
from ..domain.errors import Problem
from ..domain.schedules import (
    DEFAULT_MIN_INTERVAL,
    DIGEST,
    KEEP_ALIVE,
    MAX_ALERT_ADDRESSES,
    SCHEDULED_KINDS,
    AlertSettings,
    Cadence,
    Schedule,
    ScheduleEntry,
    SchedulesRefused,
    SchedulesRequest,
    default_schedule,
    parse_time,
)
from .ports import Clock, Scheduler, SettingsStore, UnitOfWork, UnitOfWorkFactory

ALERT_ADDRESSES = "alert_addresses"  # preferences
ALERT_RUNS = "alert_runs"  # "all" or "scheduled"


def alert_settings(settings: SettingsStore, entries: dict[str, ScheduleEntry]) -> AlertSettings:
    addresses = tuple(a for a in settings.preference(ALERT_ADDRESSES, "").split(",") if a.strip())
    digest = entries.get(DIGEST)
    digest_at = digest.schedule.at if digest and digest.schedule.is_on else None
    return AlertSettings(tuple(a.strip() for a in addresses),
                         settings.preference(ALERT_RUNS, "all") != "scheduled", digest_at)


def entries_of(uow: UnitOfWork) -> dict[str, ScheduleEntry]:
    """Every schedule, the ones never saved as their defaults (off; the keep-alive hourly)."""
    stored = uow.schedules.entries()
    names = [k.value for k in SCHEDULED_KINDS] + [DIGEST, KEEP_ALIVE]
    return {name: stored.get(name) or ScheduleEntry(default_schedule(name)) for name in names}


@dataclass(frozen=True)
class SchedulePlan:
    kinds: tuple[ScheduleEntry, ...]  # in SCHEDULED_KINDS order
    digest: ScheduleEntry
    keep_alive: ScheduleEntry
    alerts: AlertSettings
    zone_name: str
    min_interval: int

    def entry(self, kind: Kind) -> ScheduleEntry:
        return next(e for e in self.kinds if e.name == kind.value)

    @property
    def next_due(self) -> datetime | None:
        moments = [e.next_due_at for e in (*self.kinds, self.digest) if e.schedule.is_on
                   and e.next_due_at is not None]
        return min(moments) if moments else None


class GetSchedules:
    def __init__(self, uow: UnitOfWorkFactory, zone: tzinfo, min_interval: int = DEFAULT_MIN_INTERVAL
                 ) -> None:
        self.uow = uow
        self.zone = zone
        self.min_interval = min_interval

    def execute(self) -> SchedulePlan:
        with self.uow() as uow:
            entries = entries_of(uow)
            alerts = alert_settings(uow.settings, entries)
        return SchedulePlan(tuple(entries[k.value] for k in SCHEDULED_KINDS), entries[DIGEST],
                            entries[KEEP_ALIVE], alerts, zone_name(self.zone), self.min_interval)


def zone_name(zone: tzinfo) -> str:
    return str(getattr(zone, "key", None) or zone)


def address_problems(addresses: tuple[str, ...]) -> list[Problem]:
    """What the domain can tell of an address (the web layer checks the syntax fully)."""
    problems = []
    if len(addresses) > MAX_ALERT_ADDRESSES:
        problems.append(Problem("too_many_addresses",
                                f"Alerts go to at most {MAX_ALERT_ADDRESSES} addresses; "
                                f"{len(addresses)} were given.", "alert_addresses",
                                field="alert_addresses"))
    for address in addresses:
        local, at, domain = address.partition("@")
        if not (local and at and "." in domain) or len(address) > 254 or any(
                c in address for c in " ,;<>\"'"):
            problems.append(Problem("bad_address", f"Alert addresses: '{address[:60]}' is not "
                                    f"an email address.", address, field="alert_addresses"))
    return problems


class SaveSchedules:
    """Refuses everything, with every reason at once, if any field would not work."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, zone: tzinfo, scheduler: Scheduler,
                 min_interval: int = DEFAULT_MIN_INTERVAL) -> None:
        self.uow = uow
        self.clock = clock
        self.zone = zone
        self.scheduler = scheduler
        self.min_interval = min_interval

    def execute(self, request: SchedulesRequest, changed_by: str,
                unreadable: list[Problem] | None = None) -> SchedulePlan:
        """`unreadable`: what the form could not even read (refused with the rest)."""
        problems = list(unreadable or ())
        names = {k.value for k in SCHEDULED_KINDS}
        for schedule in request.schedules:
            if schedule.name not in names:
                problems.append(Problem("unknown_kind", f"'{schedule.name}' cannot be scheduled; "
                                        f"use one of {', '.join(sorted(names))}.", schedule.name))
                continue
            problems += schedule.problems(self.min_interval)
        problems += address_problems(request.alerts.addresses)
        if problems:
            raise SchedulesRefused(problems)
        now = self.clock.now()
        with self.uow() as uow:
            entries = entries_of(uow)
            changed = [*request.schedules, request.alerts.digest_schedule]
            for schedule in changed:
                entry = entries[schedule.name].with_schedule(schedule, now, self.zone)
                uow.schedules.save(replace(entry, updated_by=changed_by, updated_at=now))
            keep_alive = entries[KEEP_ALIVE]
            if keep_alive.next_due_at is None:  # the first save starts the keep-alive's clock
                uow.schedules.save(keep_alive.with_schedule(keep_alive.schedule, now, self.zone))
            uow.settings.set_preference(ALERT_ADDRESSES, ",".join(request.alerts.addresses))
            uow.settings.set_preference(ALERT_RUNS, "all" if request.alerts.every_run else "scheduled")
            uow.commit()
        plan = GetSchedules(self.uow, self.zone, self.min_interval).execute()
        if plan.next_due is not None:
            self.scheduler.plan(plan.next_due)
        return plan


def schedule_from_fields(name: str, cadence: str, every: str, at: str, weekday: str,
                         closing_rule: str, mode: str, current: Schedule | None = None
                         ) -> tuple[Schedule, list[Problem]]:
    """A schedule from text fields (a form, the API, the CLI), and what could not be read.

    Every field given is checked, used or not; a field left empty keeps the current value."""
    from ..domain.schedules import ClosingRule
    from ..domain.sync import JournalMode

    base = current or default_schedule(name)
    label = base.label_for_problems()
    problems: list[Problem] = []

    def refuse(part: str, message: str) -> None:
        problems.append(Problem(f"schedule_{part}", f"{label}: {message}", name,
                                field=f"schedule:{name}:{part}"))

    try:
        cadence_ = Cadence((cadence or base.cadence.value).strip().lower())
    except ValueError:
        refuse("cadence", f"'{cadence[:20]}' is not off, every, daily or weekly.")
        cadence_ = base.cadence
    every_ = base.every_minutes
    if every.strip():
        if every.strip().isdigit() and len(every.strip()) <= 5:
            every_ = int(every.strip())
        else:
            refuse("every", f"'{every[:20]}' is not a whole number of minutes.")
    at_ = base.at
    if at.strip():
        parsed = parse_time(at)
        if parsed is None:
            refuse("at", f"'{at[:20]}' is not a time of day; write it as HH:MM, e.g. 06:30.")
        else:
            at_ = parsed
    weekday_ = base.weekday
    if weekday.strip():
        if weekday.strip().isdigit() and 0 <= int(weekday.strip()) <= 6:
            weekday_ = int(weekday.strip())
        else:
            refuse("weekday", f"'{weekday[:20]}' is not a day of the week (0 = Monday … 6 = Sunday).")
    try:
        rule = ClosingRule((closing_rule or base.closing_rule.value).strip().lower())
    except ValueError:
        refuse("closing", f"'{closing_rule[:20]}' is not today, yesterday or end_of_last_month.")
        rule = base.closing_rule
    journal_mode = base.journal_mode
    if mode.strip():
        try:
            journal_mode = JournalMode(mode.strip().upper())
        except ValueError:
            refuse("mode", f"'{mode[:20]}' is not draft or posted.")
    schedule = Schedule(name, cadence_, every_, at_, weekday_, rule, journal_mode)
    return schedule, problems


def digest_from_field(raw: str) -> tuple[time | None, list[Problem]]:
    text = (raw or "").strip()
    if not text or text.lower() == "off":
        return None, []
    parsed = parse_time(text)
    if parsed is None:
        return None, [Problem("digest_at", f"Daily digest: '{text[:20]}' is not a time of day; "
                              f"write it as HH:MM, or leave it empty for no digest.", "digest",
                              field="digest_at")]
    return parsed, []
