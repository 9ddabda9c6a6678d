"""The Schedules section of Settings ↔ SchedulesRequest, and the JSON the API and CLI show.

Field names are plain (`schedule__<kind>__cadence`, `alert_addresses`, ...) so the page works
without JavaScript; a problem's field (`schedule:<kind>:every`) maps to its input through
`mapping_form.form_field`. Alert addresses are checked with email-validator (the library
pydantic's EmailStr uses), syntax only: nothing is looked up on the network.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from ..application.schedules import SchedulePlan, digest_from_field, schedule_from_fields
from ..domain.errors import Problem
from ..domain.schedules import (
    MAX_ALERT_ADDRESSES,
    SCHEDULED_KINDS,
    WEEKDAYS,
    AlertSettings,
    Cadence,
    ClosingRule,
    Schedule,
    ScheduleEntry,
    SchedulesRequest,
)

CADENCES = [(c.value, c.label) for c in Cadence]
CLOSING_RULES = [(r.value, r.label) for r in ClosingRule]
DAYS = list(enumerate(WEEKDAYS))
_SEPARATORS = re.compile(r"[,;\r\n]+")


def field_name(kind: str, part: str) -> str:
    return f"schedule__{kind}__{part}"


def parse_addresses(raw: str) -> tuple[tuple[str, ...], list[Problem]]:
    """Addresses separated by commas, semicolons or lines; each checked (syntax)."""
    addresses: list[str] = []
    problems: list[Problem] = []
    for item in (a.strip() for a in _SEPARATORS.split(raw or "") if a.strip()):
        try:
            checked = validate_email(item, check_deliverability=False)
        except EmailNotValidError as error:
            problems.append(Problem("bad_address", f"Alert addresses: '{item[:60]}' is not an "
                                    f"email address ({error}).", item, field="alert_addresses"))
            continue
        if checked.normalized not in addresses:
            addresses.append(checked.normalized)
    if len(addresses) > MAX_ALERT_ADDRESSES:
        problems.append(Problem("too_many_addresses", f"Alerts go to at most "
                                f"{MAX_ALERT_ADDRESSES} addresses; {len(addresses)} were given.",
                                "alert_addresses", field="alert_addresses"))
    return tuple(addresses), problems


def schedules_from_form(form: Any, plan: SchedulePlan) -> tuple[SchedulesRequest, list[Problem]]:
    problems: list[Problem] = []
    schedules: list[Schedule] = []
    for kind in SCHEDULED_KINDS:
        def text(part: str, k: str = kind.value) -> str:
            return (form.get(field_name(k, part)) or "").strip()

        schedule, unreadable = schedule_from_fields(
            kind.value, text("cadence") or "off", text("every"), text("at"), text("weekday"),
            text("closing"), text("mode"), current=plan.entry(kind).schedule)
        schedules.append(schedule)
        problems += unreadable
    addresses, bad = parse_addresses(form.get("alert_addresses", ""))
    problems += bad
    runs = (form.get("alert_runs") or "all").strip()
    if runs not in ("all", "scheduled"):
        problems.append(Problem("alert_runs", f"'{runs[:20]}' is not 'all' or 'scheduled'.",
                                "alert_runs", field="alert_runs"))
    digest_at, unreadable = digest_from_field(form.get("digest_at", ""))
    problems += unreadable
    return (SchedulesRequest(tuple(schedules), AlertSettings(addresses, runs != "scheduled",
                                                             digest_at)), problems)


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def schedule_json(entry: ScheduleEntry) -> dict[str, Any]:
    s = entry.schedule
    return {
        "kind": s.name,
        "cadence": s.cadence.value,
        "every_minutes": s.every_minutes,
        "at": s.at.strftime("%H:%M"),
        "weekday": s.weekday,
        "closing_rule": s.closing_rule.value,
        "journal_mode": s.journal_mode.value,
        "description": s.describe(),
        "next_due_at": _moment(entry.next_due_at),
        "last_due_at": _moment(entry.last_due_at),
        "last_fired_at": _moment(entry.last_fired_at),
        "last_outcome": entry.last_outcome,
        "last_run_id": entry.last_run_id,
        "updated_by": entry.updated_by,
        "updated_at": _moment(entry.updated_at),
    }


def schedules_json(plan: SchedulePlan) -> dict[str, Any]:
    return {
        "time_zone": plan.zone_name,
        "min_interval_minutes": plan.min_interval,
        "schedules": [schedule_json(e) for e in plan.kinds],
        "alerts": alert_settings_json(plan.alerts),
        "digest": schedule_json(plan.digest),
        "keep_alive": schedule_json(plan.keep_alive),
    }


def alert_settings_json(alerts: AlertSettings) -> dict[str, Any]:
    return {
        "addresses": list(alerts.addresses),
        "every_run": alerts.every_run,
        "digest_at": alerts.digest_at.strftime("%H:%M") if alerts.digest_at else None,
    }


def alert_json(alert: Any) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind.value,
        "label": alert.kind.label,
        "subject": alert.subject,
        "body": alert.body,
        "link": alert.link,
        "created_at": _moment(alert.created_at),
        "repeats": alert.repeats,
        "last_repeated_at": _moment(alert.last_repeated_at),
        "resolved_at": _moment(alert.resolved_at),
        "dismissed_at": _moment(alert.dismissed_at),
        "email_to": [a for a in alert.email_to.split(",") if a],
        "emailed_at": _moment(alert.emailed_at),
        "email_error": alert.email_error,
    }
