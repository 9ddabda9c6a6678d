"""ScheduleStore and AlertLog on the plugin's tables.

Both are built per unit of work on its session and never open, commit or close it. The one
step several processes race for, firing a due schedule, is a single conditional UPDATE
(compare-and-set on `next_due_at`), as claiming a run is: PostgreSQL re-checks the condition
once a concurrent update commits, SQLite writes one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ...domain.alerts import Alert, AlertKind
from ...domain.schedules import Cadence, ClosingRule, Schedule, ScheduleEntry
from ...domain.sync import JournalMode
from .plugin_tables import AlertRow, ScheduleRow


def _entry(row: ScheduleRow) -> ScheduleEntry:
    try:
        schedule = Schedule(
            name=row.name,
            cadence=Cadence(row.cadence),
            every_minutes=int(row.every_minutes),
            at=time(row.at_minute // 60 % 24, row.at_minute % 60),
            weekday=int(row.weekday),
            closing_rule=ClosingRule(row.closing_rule),
            journal_mode=JournalMode(row.journal_mode),
        )
    except ValueError:
        schedule = Schedule(row.name)  # written by another version: treated as off
    return ScheduleEntry(schedule, row.next_due_at, row.last_due_at, row.last_fired_at,
                         row.last_outcome or "", row.last_run_id, row.updated_by or "",
                         row.updated_at)


class SqlScheduleStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def entries(self) -> dict[str, ScheduleEntry]:
        rows = self.session.scalars(select(ScheduleRow).execution_options(populate_existing=True))
        return {row.name: _entry(row) for row in rows}

    def save(self, entry: ScheduleEntry) -> None:
        s = entry.schedule
        row = self.session.get(ScheduleRow, s.name, populate_existing=True)
        if row is None:
            row = ScheduleRow(name=s.name)
            self.session.add(row)
        row.cadence = s.cadence.value
        row.every_minutes = int(s.every_minutes)
        row.at_minute = s.at.hour * 60 + s.at.minute
        row.weekday = int(s.weekday)
        row.closing_rule = s.closing_rule.value
        row.journal_mode = s.journal_mode.value
        row.next_due_at = entry.next_due_at
        row.last_due_at = entry.last_due_at
        row.last_fired_at = entry.last_fired_at
        row.last_outcome = entry.last_outcome
        row.last_run_id = entry.last_run_id
        row.updated_by = entry.updated_by[:120]
        row.updated_at = entry.updated_at
        self.session.flush()

    def fire(self, name: str, seen_due: datetime, next_due: datetime | None, at: datetime) -> bool:
        stmt = (
            update(ScheduleRow)
            .where(ScheduleRow.name == name, ScheduleRow.next_due_at == seen_due)
            .values(next_due_at=next_due, last_due_at=seen_due, last_fired_at=at,
                    last_outcome="Starting…", last_run_id=None)
            .execution_options(synchronize_session=False)
        )
        return self.session.execute(stmt).rowcount == 1

    def record_outcome(self, name: str, outcome: str, run_id: int | None) -> None:
        self.session.execute(
            update(ScheduleRow).where(ScheduleRow.name == name)
            .values(last_outcome=outcome[:2000], last_run_id=run_id)
            .execution_options(synchronize_session=False))


def _alert(row: AlertRow) -> Alert:
    try:
        kind = AlertKind(row.kind)
    except ValueError:
        kind = AlertKind.RUN_FAILED
    return Alert(
        key=row.key, kind=kind, topic=row.topic, subject=row.subject, body=row.body,
        signature=row.signature, link=row.link, id=row.id, created_at=row.created_at,
        repeats=row.repeats, last_repeated_at=row.last_repeated_at, resolved_at=row.resolved_at,
        dismissed_at=row.dismissed_at, dismissed_by=row.dismissed_by, email_to=row.email_to,
        emailed_at=row.emailed_at, email_error=row.email_error, email_attempts=row.email_attempts,
    )


def _values(alert: Alert) -> dict[str, Any]:
    return {
        "key": alert.key[:160], "kind": alert.kind.value, "topic": alert.topic[:60],
        "signature": alert.signature[:64], "subject": alert.subject[:300], "body": alert.body,
        "link": alert.link[:300], "email_to": alert.email_to,
    }


class SqlAlertLog:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, alert: Alert) -> Alert | None:
        row = AlertRow(**_values(alert))
        if alert.created_at is not None:
            row.created_at = alert.created_at
        try:
            # A savepoint keeps the caller's transaction usable when the key exists.
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            return None
        return _alert(row)

    def latest(self, topic: str) -> Alert | None:
        row = self.session.scalar(
            select(AlertRow).where(AlertRow.topic == topic, AlertRow.repeat_of.is_(None))
            .order_by(AlertRow.id.desc()).limit(1).execution_options(populate_existing=True))
        return _alert(row) if row is not None else None

    def known(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            found.update(self.session.scalars(
                select(AlertRow.key).where(AlertRow.key.in_(wanted[start:start + 500]))))
        return found

    def repeat(self, original_id: int, key: str, at: datetime) -> bool:
        original = self.session.get(AlertRow, original_id, populate_existing=True)
        if original is None:
            return False
        marker = AlertRow(key=key[:160], kind=original.kind, topic=original.topic,
                          signature=original.signature, repeat_of=original_id, created_at=at)
        try:
            with self.session.begin_nested():
                self.session.add(marker)
        except IntegrityError:
            return False
        self.session.execute(
            update(AlertRow).where(AlertRow.id == original_id)
            .values(repeats=AlertRow.repeats + 1, last_repeated_at=at)
            .execution_options(synchronize_session=False))
        return True

    def resolve(self, topic: str, at: datetime, raised_before: datetime) -> None:
        self.session.execute(
            update(AlertRow)
            .where(AlertRow.topic == topic, AlertRow.resolved_at.is_(None),
                   AlertRow.repeat_of.is_(None), AlertRow.created_at < raised_before)
            .values(resolved_at=at).execution_options(synchronize_session=False))

    def emailed(self, alert_id: int, to: str, at: datetime) -> None:
        self.session.execute(
            update(AlertRow).where(AlertRow.id == alert_id)
            .values(emailed_at=at, email_to=to, email_error="",
                    email_attempts=AlertRow.email_attempts + 1)
            .execution_options(synchronize_session=False))

    def email_failed(self, alert_id: int, to: str, error: str) -> None:
        self.session.execute(
            update(AlertRow).where(AlertRow.id == alert_id)
            .values(email_to=to, email_error=error[:1000], email_attempts=AlertRow.email_attempts + 1)
            .execution_options(synchronize_session=False))

    def unsent(self, limit: int, max_attempts: int) -> list[Alert]:
        stmt = (select(AlertRow)
                .where(AlertRow.emailed_at.is_(None), AlertRow.repeat_of.is_(None),
                       AlertRow.email_to != "", AlertRow.email_attempts < max_attempts)
                .order_by(AlertRow.id).limit(limit).execution_options(populate_existing=True))
        return [_alert(row) for row in self.session.scalars(stmt)]

    def recent(self, limit: int, before_id: int | None = None, shown_only: bool = False,
               digests: bool = False) -> list[Alert]:
        stmt = select(AlertRow).where(AlertRow.repeat_of.is_(None))
        if before_id is not None:
            stmt = stmt.where(AlertRow.id < before_id)
        if shown_only:
            stmt = stmt.where(AlertRow.dismissed_at.is_(None))
        if not digests:
            stmt = stmt.where(AlertRow.kind != AlertKind.DIGEST.value)
        stmt = stmt.order_by(AlertRow.id.desc()).limit(limit).execution_options(populate_existing=True)
        return [_alert(row) for row in self.session.scalars(stmt)]

    def dismiss(self, alert_id: int, by: str, at: datetime) -> bool:
        done = self.session.execute(
            update(AlertRow).where(AlertRow.id == alert_id, AlertRow.dismissed_at.is_(None))
            .values(dismissed_at=at, dismissed_by=by[:120])
            .execution_options(synchronize_session=False))
        return done.rowcount == 1
