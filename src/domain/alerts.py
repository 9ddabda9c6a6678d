"""Alerts: what Accounts Sync tells a person without being asked, by email and on the console.

Each alert has a `key` (one alert per key, ever: two processes noticing the same thing raise
it once), a `topic` (what it is about: a kind's runs, the connection, the day's calls) and a
`signature` (what exactly went wrong). When the latest alert of a topic has the same
signature and was not resolved since, a new occurrence is counted on it instead of sent
again: a refund refused at every scheduled run is one email, not one every five minutes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from .documents import Kind
from .sync import RefusedBy, RunState, SyncRun

MAX_FAILURES_LISTED = 20


class AlertKind(StrEnum):
    RUN_STOPPED = "run_stopped"  # a run ended before the end (refused, Xero unreachable, ...)
    RUN_FAILED = "run_failed"  # a run ended with documents not sent (refused or failed)
    SCHEDULE_FAILED = "schedule_failed"  # a schedule could not start its run
    REAUTHORISATION = "reauthorisation"  # Xero no longer accepts the connection
    BUDGET_LOW = "budget_low"  # the day's Xero calls are running out
    CONNECTION_LAPSING = "connection_lapsing"  # the refresh token nears its 60 days unused
    DIGEST = "digest"  # the daily digest (sent, not shown among the alerts)

    @property
    def label(self) -> str:
        return {
            "run_stopped": "Sync stopped",
            "run_failed": "Not everything was sent",
            "schedule_failed": "Scheduled sync not started",
            "reauthorisation": "Xero needs re-authorisation",
            "budget_low": "Xero calls running low",
            "connection_lapsing": "Xero connection lapsing",
            "digest": "Daily digest",
        }[self.value]

    @property
    def tone(self) -> str:
        return "bad" if self in (AlertKind.RUN_STOPPED, AlertKind.REAUTHORISATION,
                                 AlertKind.SCHEDULE_FAILED) else "warn"


@dataclass(frozen=True)
class Alert:
    key: str
    kind: AlertKind
    topic: str
    subject: str
    body: str
    signature: str = ""
    link: str = ""  # the console page it is about, relative to the console ('runs/42')
    id: int | None = None
    created_at: datetime | None = None
    repeats: int = 0  # later occurrences of the same thing, counted here, not sent again
    last_repeated_at: datetime | None = None
    resolved_at: datetime | None = None  # the thing went away (a later run succeeded, ...)
    dismissed_at: datetime | None = None
    dismissed_by: str = ""
    email_to: str = ""  # the addresses it was (or was to be) sent to, comma-separated
    emailed_at: datetime | None = None
    email_error: str = ""  # why it could not be emailed (the last try)
    email_attempts: int = 0

    @property
    def emailed(self) -> bool:
        return self.emailed_at is not None


def signature_of(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def run_topic(kind: Kind) -> str:
    return f"runs:{kind.value}"


def schedule_topic(kind: Kind) -> str:
    return f"schedule:{kind.value}"


def who_started(run: SyncRun, scheduled_by: str) -> str:
    return "a schedule" if run.requested_by == scheduled_by else run.requested_by


def run_alert(run: SyncRun, scheduled_by: str) -> Alert | None:
    """The alert a finished run deserves, or None when everything it had to send was sent."""
    if run.is_active or run.state is RunState.SUCCEEDED:
        return None
    what = run.kind.label.lower()
    started = f"Started by {who_started(run, scheduled_by)}, closing date " \
              f"{run.closing_date.isoformat()}."
    if run.state is RunState.ABORTED:
        subject = f"Accounts Sync: the sync of {what} stopped"
        body = f"{run.message}\n\n{started}"
        return Alert(f"run:{run.id}", AlertKind.RUN_STOPPED, run_topic(run.kind), subject, body,
                     signature_of("stopped", run.kind.value, _first_sentence(run.message)),
                     link=f"runs/{run.id}")
    refused = sum(1 for f in run.failures if f.by == RefusedBy.ACCOUNTS_SYNC.value)
    by_xero = len(run.failures) - refused
    counts = []
    if refused:
        counts.append(f"{refused:,} refused by Accounts Sync before sending")
    if by_xero:
        counts.append(f"{by_xero:,} refused by Xero")
    subject = f"Accounts Sync: {run.failed:,} {what} not sent"
    said = ", ".join(counts)
    lines = [run.message, f"{said[:1].upper()}{said[1:]}." if said else "", started, ""]
    for failure in run.failures[:MAX_FAILURES_LISTED]:
        by = RefusedBy(failure.by).label if failure.by in {r.value for r in RefusedBy} else "Xero"
        lines.append(f"- {failure.number} ({by}): {failure.reason}")
    if run.failed > MAX_FAILURES_LISTED:
        lines.append(f"… and {run.failed - MAX_FAILURES_LISTED:,} more on the run's page.")
    body = "\n".join(line for line in lines if line is not None).strip()
    failures = sorted((f.number, _first_sentence(f.reason)) for f in run.failures)
    return Alert(f"run:{run.id}", AlertKind.RUN_FAILED, run_topic(run.kind), subject, body,
                 signature_of("failed", run.kind.value, run.failed, failures), link=f"runs/{run.id}")


def schedule_failed_alert(kind: Kind, due_at: datetime, message: str) -> Alert:
    what = kind.label.lower()
    return Alert(f"schedule:{kind.value}:{int(due_at.timestamp())}", AlertKind.SCHEDULE_FAILED,
                 schedule_topic(kind), f"Accounts Sync: the scheduled sync of {what} did not start",
                 f"{message}\n\nNothing was sent. The schedule tries again at its next time.",
                 signature_of(kind.value, _first_sentence(message)), link="settings#schedules")


def reauthorisation_alert(tenant_id: str, organisation: str, since: str) -> Alert:
    return Alert(f"reauthorisation:{tenant_id}:{since}", AlertKind.REAUTHORISATION, "connection",
                 f"Accounts Sync: {organisation} needs re-authorisation in Xero",
                 f"Xero no longer accepts Accounts Sync's connection to {organisation}, so "
                 f"nothing can be sent to it and scheduled syncs stop at once. Open the Accounts "
                 f"Sync console and press Connect to authorise it again; nothing queued has been "
                 f"lost.", signature_of("reauthorisation", tenant_id, since), link="")


def budget_alert(tenant_id: str, organisation: str, remaining: int, day: date,
                 per_day: int) -> Alert:
    return Alert(f"budget:{tenant_id}:{day.isoformat()}", AlertKind.BUDGET_LOW, "budget",
                 f"Accounts Sync: {remaining:,} Xero calls left today for {organisation}",
                 f"Xero allows {per_day:,} calls a day for {organisation}, and {remaining:,} were "
                 f"left at the last call. When none are left Xero refuses every call until its "
                 f"day ends; syncs then stop and say when to try again. If this happens often, "
                 f"run schedules less often (Settings, Schedules).",
                 signature_of("budget", tenant_id, day.isoformat()), link="")


def lapse_alert(tenant_id: str, organisation: str, refreshed: date, lapses: date,
                reason: str) -> Alert:
    return Alert(f"lapse:{tenant_id}:{refreshed.isoformat()}", AlertKind.CONNECTION_LAPSING,
                 "connection", f"Accounts Sync: the Xero connection to {organisation} lapses on "
                 f"{lapses.isoformat()}",
                 f"Xero forgets a connection that is not used for 60 days. Accounts Sync keeps it "
                 f"alive by itself, but could not since {refreshed.isoformat()}"
                 + (f" ({reason})" if reason else "") + f". Unless it can before "
                 f"{lapses.isoformat()}, press Connect on the console then.",
                 signature_of("lapse", tenant_id, refreshed.isoformat()), link="")


def _first_sentence(text: str) -> str:
    """Messages carry times and counts after their first sentence; the cause is in it."""
    return text.split(". ")[0].strip()
