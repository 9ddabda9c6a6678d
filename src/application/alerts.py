"""Alerts: raised once, emailed to the addresses in Settings, shown on the console.

- `DeliverAlerts` stores an alert (once per key; a repeat of the topic's latest unresolved
  alert is counted on it, not sent again) and emails it through the Notifier port; what could
  not be emailed is tried again at later ticks.
- `WatchRuns` turns a run that ended stopped or with documents not sent into an alert, and a
  run that succeeded into the end of its kind's alerts. Called when a run ends (RunJob), and
  over the last day's runs at every tick, so a run stopped by recovery is not missed.
- `CheckConnection`: Xero needs re-authorisation; the day's calls run low.
- `KeepConnectionAlive`: a quiet organisation's tokens are refreshed well before Xero's refresh
  token lapses (60 days unused), and a lapse that comes near is alerted.
- `SendDigest`: the optional daily digest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo

from ..domain.alerts import (
    Alert,
    AlertKind,
    budget_alert,
    lapse_alert,
    reauthorisation_alert,
    run_alert,
    run_topic,
    signature_of,
)
from ..domain.errors import AccountsSyncError, GatewayUnavailable, NotConnected, ReauthorisationNeeded
from ..domain.schedules import SCHEDULED_BY, SCHEDULED_KINDS
from ..domain.sync import RunState, SyncRun
from .ports import AccountingGateway, Clock, ConnectionKeeper, Notifier, UnitOfWorkFactory
from .schedules import alert_settings, entries_of

log = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 5
NOT_CONFIGURED = ("Email is not set up for Accounts Sync (ACCOUNTS_SYNC_SMTP_HOST); the alert "
                  "is on the console only.")
TOKEN_LIFETIME = timedelta(days=60)  # Xero: a refresh token unused for 60 days lapses


class DeliverAlerts:
    def __init__(self, uow: UnitOfWorkFactory, notifier: Notifier, clock: Clock,
                 console_url: str = "") -> None:
        self.uow = uow
        self.notifier = notifier
        self.clock = clock
        self.console_url = console_url.rstrip("/")

    def raise_(self, alert: Alert) -> Alert | None:
        """Store and email it; None when it was already raised, or repeats the latest one."""
        now = self.clock.now()
        with self.uow() as uow:
            latest = uow.alerts.latest(alert.topic)
            if (latest is not None and latest.id is not None and latest.kind is alert.kind
                    and latest.signature == alert.signature and latest.resolved_at is None
                    and alert.kind is not AlertKind.DIGEST):
                if uow.alerts.repeat(latest.id, alert.key, now):
                    uow.commit()
                return None
            addresses = alert_settings(uow.settings, {}).addresses
            stored = uow.alerts.add(replace(alert, created_at=now, email_to=",".join(addresses)))
            if stored is None:
                return None  # raised a moment ago by another process
            uow.commit()
        log.warning("Accounts Sync alert: %s", alert.subject)
        if addresses:
            self._email(stored, addresses)
        return stored

    def resolve(self, topic: str, before: datetime) -> None:
        with self.uow() as uow:
            uow.alerts.resolve(topic, self.clock.now(), before)
            uow.commit()

    def resend(self, limit: int = 20) -> int:
        """Email what could not be emailed before (SMTP was down); how many went."""
        if not self.notifier.configured:
            return 0
        with self.uow() as uow:
            waiting = uow.alerts.unsent(limit, MAX_EMAIL_ATTEMPTS)
        sent = 0
        for alert in waiting:
            addresses = tuple(a for a in alert.email_to.split(",") if a)
            sent += self._email(alert, addresses)
        return sent

    def _email(self, alert: Alert, addresses: tuple[str, ...]) -> int:
        assert alert.id is not None
        to = ",".join(addresses)
        if not self.notifier.configured:
            with self.uow() as uow:
                uow.alerts.email_failed(alert.id, to, NOT_CONFIGURED)
                uow.commit()
            return 0
        body = alert.body
        if self.console_url:
            where = f"{self.console_url}/{alert.link}" if alert.link else f"{self.console_url}/"
            body = f"{body}\n\n{where}"
        try:
            self.notifier.send(addresses, alert.subject, body)
        except AccountsSyncError as exc:
            log.warning("alert %s not emailed: %s", alert.key, exc.message)
            with self.uow() as uow:
                uow.alerts.email_failed(alert.id, to, exc.message)
                uow.commit()
            return 0
        with self.uow() as uow:
            uow.alerts.emailed(alert.id, to, self.clock.now())
            uow.commit()
        return 1


class WatchRuns:
    def __init__(self, uow: UnitOfWorkFactory, alerts: DeliverAlerts, clock: Clock,
                 lookback: timedelta = timedelta(days=1)) -> None:
        self.uow = uow
        self.alerts = alerts
        self.clock = clock
        self.lookback = lookback

    def run_ended(self, run: SyncRun) -> None:
        if run.is_active:
            return
        if run.state is RunState.SUCCEEDED:
            self.alerts.resolve(run_topic(run.kind), run.finished_at or self.clock.now())
            return
        with self.uow() as uow:
            every_run = alert_settings(uow.settings, {}).every_run
        if not every_run and run.requested_by != SCHEDULED_BY:
            return
        alert = run_alert(run, SCHEDULED_BY)
        if alert is not None:
            self.alerts.raise_(alert)

    def sweep(self) -> None:
        """The last day's ended runs, for what the hook at their end could not tell (a run
        stopped by recovery, a process that died before raising its alert): a kind's latest
        success ends its earlier alerts; a run that ended badly after it, and was not alerted
        yet, is. One read of the runs and one of the keys already raised per call."""
        since = self.clock.now() - self.lookback
        with self.uow() as uow:
            runs = [r for r in uow.ledger.list_runs(200)
                    if not r.is_active and r.finished_at is not None and r.finished_at >= since]
        succeeded: dict = {}
        for run in sorted(runs, key=lambda r: r.id):
            if run.state is RunState.SUCCEEDED:
                succeeded[run.kind] = run
        for kind, run in succeeded.items():
            self.alerts.resolve(run_topic(kind), run.finished_at or self.clock.now())
        failing = [r for r in sorted(runs, key=lambda r: r.id) if r.state is not RunState.SUCCEEDED
                   and r.id > (succeeded[r.kind].id if r.kind in succeeded else 0)]
        if not failing:
            return
        with self.uow() as uow:
            known = uow.alerts.known([f"run:{r.id}" for r in failing])
        for run in failing:
            if f"run:{run.id}" not in known:
                self.run_ended(run)


class CheckConnection:
    def __init__(self, gateway: AccountingGateway, alerts: DeliverAlerts, clock: Clock,
                 zone: tzinfo, budget_below: int = 500, calls_per_day: int = 5000) -> None:
        self.gateway = gateway
        self.alerts = alerts
        self.clock = clock
        self.zone = zone
        self.budget_below = budget_below
        self.calls_per_day = calls_per_day

    def execute(self) -> None:
        connection = self.gateway.connection()
        if connection is None:
            return
        if connection.needs_reauthorisation:
            since = connection.connected_at.isoformat() if connection.connected_at else ""
            self.alerts.raise_(reauthorisation_alert(connection.tenant_id,
                                                     connection.organisation_name, since))
            return
        left = connection.rate_limit_remaining.get("day")
        if left is not None and left < self.budget_below:
            today = self.clock.now().astimezone(self.zone).date()
            self.alerts.raise_(budget_alert(connection.tenant_id, connection.organisation_name,
                                            left, today, self.calls_per_day))


class KeepConnectionAlive:
    """Hourly (the KEEP_ALIVE schedule): tokens older than `refresh_after` are refreshed."""

    def __init__(self, gateway: AccountingGateway, keeper: ConnectionKeeper, alerts: DeliverAlerts,
                 clock: Clock, refresh_after: timedelta = timedelta(days=7),
                 warn_after: timedelta = timedelta(days=45)) -> None:
        self.gateway = gateway
        self.keeper = keeper
        self.alerts = alerts
        self.clock = clock
        self.refresh_after = refresh_after
        self.warn_after = warn_after

    def execute(self) -> str:
        connection = self.gateway.connection()
        if connection is None:
            return "Not connected to Xero: nothing to keep alive."
        if connection.needs_reauthorisation:
            return f"{connection.organisation_name} needs re-authorisation (press Connect)."
        now = self.clock.now()
        refreshed = connection.tokens_refreshed_at
        if refreshed is not None and now - refreshed < self.refresh_after:
            return (f"Tokens issued {refreshed:%d %b %Y %H:%M} UTC, less than "
                    f"{self.refresh_after.days} days ago: nothing to do.")
        try:
            issued = self.keeper.keep_alive()
        except ReauthorisationNeeded as exc:
            self.alerts.raise_(reauthorisation_alert(
                connection.tenant_id, connection.organisation_name,
                connection.connected_at.isoformat() if connection.connected_at else ""))
            return exc.message
        except (GatewayUnavailable, NotConnected) as exc:
            if refreshed is not None and now - refreshed >= self.warn_after:
                self.alerts.raise_(lapse_alert(connection.tenant_id, connection.organisation_name,
                                               refreshed.date(), (refreshed + TOKEN_LIFETIME).date(),
                                               exc.message))
            return f"Could not refresh the tokens: {exc.message}"
        self.alerts.resolve("connection", now)
        when = f" (issued {issued:%d %b %Y %H:%M} UTC)" if issued else ""
        return f"Refreshed the Xero tokens of {connection.organisation_name}{when}."


@dataclass(frozen=True)
class DigestFacts:
    runs: tuple[SyncRun, ...]
    unsettled: dict
    alerts: tuple[Alert, ...]


class SendDigest:
    """The daily digest: the last day's runs per kind, what is not in Xero, open alerts, the
    next scheduled syncs and the day's Xero calls left."""

    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway, alerts: DeliverAlerts,
                 clock: Clock, zone: tzinfo) -> None:
        self.uow = uow
        self.gateway = gateway
        self.alerts = alerts
        self.clock = clock
        self.zone = zone

    def execute(self) -> str:
        now = self.clock.now()
        local_now = now.astimezone(self.zone)
        since = now - timedelta(days=1)
        with self.uow() as uow:
            runs = [r for r in uow.ledger.list_runs(500) if (r.created_at or now) >= since]
            unsettled = uow.ledger.unsettled()
            entries = entries_of(uow)
            open_alerts = [a for a in uow.alerts.recent(50, shown_only=True)
                           if a.resolved_at is None and a.created_at and a.created_at >= since]
        try:
            connection = self.gateway.connection()
        except AccountsSyncError:
            connection = None
        organisation = connection.organisation_name if connection else "Xero (not connected)"
        lines = [f"Accounts Sync: the day up to {local_now:%d %b %Y %H:%M %Z} for {organisation}.", ""]
        lines.append("Syncs in the last 24 hours:")
        for kind in SCHEDULED_KINDS:
            mine = [r for r in runs if r.kind is kind]
            if not mine:
                continue
            sent = sum(r.created for r in mine)
            failed = sum(1 for r in mine if r.state is RunState.FAILED)
            stopped = sum(1 for r in mine if r.state is RunState.ABORTED)
            extra = (f", {failed} with documents not sent" if failed else "") + (
                f", {stopped} stopped" if stopped else "")
            lines.append(f"- {kind.label}: {len(mine)} run{'s' if len(mine) != 1 else ''}, "
                         f"{sent:,} sent{extra}. Last: {mine[0].message}")
        if not runs:
            lines.append("- None.")
        waiting = [(k, f, u) for k, (f, u) in unsettled.items() if f or u]
        lines += ["", "Not in Xero yet:" if waiting else "Everything synced is in Xero."]
        for kind, failed, unconfirmed in waiting:
            parts = [f"{failed:,} refused or failed"] if failed else []
            parts += [f"{unconfirmed:,} not confirmed"] if unconfirmed else []
            lines.append(f"- {kind.label}: {', '.join(parts)}.")
        lines += ["", "Scheduled syncs:"]
        on = [e for e in (entries[k.value] for k in SCHEDULED_KINDS) if e.schedule.is_on]
        for entry in on:
            nxt = entry.next_due_at.astimezone(self.zone).strftime("%d %b %H:%M %Z") \
                if entry.next_due_at else "—"
            lines.append(f"- {entry.schedule.kind.label if entry.schedule.kind else entry.name}: "
                         f"{entry.schedule.describe()}, next {nxt}. Last: "
                         f"{entry.last_outcome or 'not fired yet'}")
        if not on:
            lines.append("- None: syncs run only when someone presses Sync.")
        if open_alerts:
            lines += ["", f"Alerts in the last 24 hours ({len(open_alerts)}):"]
            lines += [f"- {a.subject}" + (f" (and {a.repeats} more times)" if a.repeats else "")
                      for a in open_alerts]
        if connection is not None:
            left = connection.rate_limit_remaining.get("day")
            if left is not None:
                lines += ["", f"Xero calls left today at the last call: {left:,}."]
            if connection.needs_reauthorisation:
                lines += ["", "Xero needs re-authorisation: press Connect on the console."]
        day = local_now.date().isoformat()
        digest = Alert(f"digest:{day}", AlertKind.DIGEST, "digest",
                       f"Accounts Sync daily digest, {local_now:%d %b %Y}", "\n".join(lines),
                       signature_of("digest", day))
        stored = self.alerts.raise_(digest)
        if stored is None:
            return "The digest for today was already sent."
        return "Digest sent." if stored.email_to else "Digest written (no alert addresses set)."


class ListAlerts:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, limit: int = 50, before_id: int | None = None, shown_only: bool = False
                ) -> list[Alert]:
        with self.uow() as uow:
            return uow.alerts.recent(limit, before_id, shown_only=shown_only)


class DismissAlert:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    def execute(self, alert_id: int, by: str) -> bool:
        with self.uow() as uow:
            done = uow.alerts.dismiss(alert_id, by, self.clock.now())
            uow.commit()
        return done
