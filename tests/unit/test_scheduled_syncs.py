"""Scheduled syncs and alerts against the in-memory fakes, with a fake clock: RunDueSchedules
(exactly-once firing, joining a run already going, nothing sent when nothing is due), the
Schedules settings, and the alerts (runs, re-authorisation, the day's calls, keep-alive,
digest, email retried)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from accounts_sync.application.alerts import (
    CheckConnection,
    DeliverAlerts,
    KeepConnectionAlive,
    SendDigest,
    WatchRuns,
)
from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.recover_runs import ClaimWithRecovery, RecoverRuns
from accounts_sync.application.run_due import Duties, RunDueSchedules
from accounts_sync.application.schedules import (
    GetSchedules,
    SaveSchedules,
    schedule_from_fields,
)
from accounts_sync.application.start_sync import StartSync, SyncRequest
from accounts_sync.domain.alerts import AlertKind
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import GatewayUnavailable, ReauthorisationNeeded
from accounts_sync.domain.schedules import (
    SCHEDULED_BY,
    AlertSettings,
    Cadence,
    ClosingRule,
    Schedule,
    SchedulesRefused,
    SchedulesRequest,
)
from accounts_sync.domain.sync import JournalMode, RunState
from tests.builders import documents, mapping
from tests.fakes import (
    FakeClock,
    FakeGateway,
    FakeJobQueue,
    FakeKeeper,
    FakeNotifier,
    FakeScheduler,
    InMemoryStore,
    uow_factory,
)

SO, PO, RF, J, C = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS, Kind.JOURNALS,
                    Kind.CORRECTIONS)
ADELAIDE = ZoneInfo("Australia/Adelaide")
START = datetime(2026, 11, 26, 8, 50, tzinfo=UTC)


class World:
    """The use cases wired as the container wires them, on fakes."""

    def __init__(self, zone=UTC, now: datetime = START) -> None:
        self.store = InMemoryStore()
        self.store.state.mapping = mapping()
        self.clock = FakeClock(now, zone=zone)
        self.zone = zone
        self.gateway = FakeGateway(clock=self.clock)
        self.queue = FakeJobQueue()
        self.scheduler = FakeScheduler()
        self.notifier = FakeNotifier()
        self.keeper = FakeKeeper(self.clock, self.gateway)
        self.uow = uow_factory(self.store)
        recover = RecoverRuns(self.uow, self.clock, self.queue)
        self.start_sync = ClaimWithRecovery(StartSync(self.uow, self.queue, self.clock), recover)
        self.alerts = DeliverAlerts(self.uow, self.notifier, self.clock,
                                    console_url="http://erp.test/accounts/sync")
        self.watch = WatchRuns(self.uow, self.alerts, self.clock)
        self.check = CheckConnection(self.gateway, self.alerts, self.clock, zone, budget_below=500)
        self.keep = KeepConnectionAlive(self.gateway, self.keeper, self.alerts, self.clock)
        self.digest = SendDigest(self.uow, self.gateway, self.alerts, self.clock, zone)

    def due(self) -> RunDueSchedules:
        return RunDueSchedules(
            self.uow, self.clock, self.zone, self.start_sync, self.scheduler, self.alerts,
            Duties(every_tick=(self.watch.sweep, self.check.execute, self.alerts.resend),
                   digest=self.digest.execute, keep_alive=self.keep.execute))

    def save(self, *schedules: Schedule, addresses=("books@winery.test",), every_run=True,
             digest_at=None) -> None:
        SaveSchedules(self.uow, self.clock, self.zone, self.scheduler).execute(
            SchedulesRequest(schedules, AlertSettings(addresses, every_run, digest_at)), "alice")

    def plan(self):
        return GetSchedules(self.uow, self.zone).execute()

    def runs(self, kind: Kind | None = None):
        return [r for r in self.store.state.runs.values() if kind is None or r.kind is kind]

    def carry_out(self) -> None:
        """The workers: every queued run executed."""
        for run_id in self.queue.enqueued:
            ExecuteRun(self.uow, self.gateway, self.clock).execute(run_id)
            self.watch.run_ended(self.store.state.runs[run_id])
        self.queue.enqueued.clear()

    def alerts_shown(self):
        with self.uow() as uow:
            return uow.alerts.shown()


@pytest.fixture
def world() -> World:
    w = World()
    w.store.add(*documents(3, SO, start=date(2026, 11, 1)))
    return w


def synced(result):
    """The firings of kinds (the keep-alive fires hourly beside them)."""
    return tuple(f for f in result.fired if f.name in {k.value for k in Kind})


def every(kind: Kind, minutes: int, **kw) -> Schedule:
    return Schedule(kind.value, Cadence.EVERY, every_minutes=minutes, **kw)


# ------------------------------------------------------------------ firing


def test_a_due_schedule_starts_one_run_however_often_it_is_looked_at(world):
    world.save(every(SO, 15))
    assert world.plan().entry(SO).next_due_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert synced(world.due().execute()) == ()  # 08:50: not due yet

    world.clock.advance(minutes=10)
    first = world.due().execute()
    assert [(f.name, f.run_id) for f in synced(first)] == [("sales_orders", 1)]
    for _ in range(3):  # more calls, from this process or others, at the same moment
        assert synced(world.due().execute()) == ()
    assert [r.requested_by for r in world.runs(SO)] == [SCHEDULED_BY]
    assert world.queue.enqueued == [1]
    entry = world.plan().entry(SO)
    assert entry.next_due_at == datetime(2026, 11, 26, 9, 15, tzinfo=UTC)
    assert entry.last_run_id == 1 and entry.last_outcome.startswith("Started run 1")


def test_two_processes_that_both_saw_it_due_fire_it_once(world):
    world.save(every(SO, 15))
    world.clock.advance(minutes=10)
    with world.uow() as uow:  # what the other process read before this one fired
        seen = uow.schedules.entries()["sales_orders"]
    assert len(synced(world.due().execute())) == 1
    late = world.due()._fire(seen, world.clock.now())
    assert late is None
    assert len(world.runs(SO)) == 1


def test_a_run_already_going_is_joined_not_duplicated(world):
    manual = world.start_sync.execute(SyncRequest(SO, date(2026, 11, 26), "alice"))
    world.save(every(SO, 15))
    world.clock.advance(minutes=10)
    fired = synced(world.due().execute())
    assert fired[0].run_id == manual.id and fired[0].outcome == f"Joined run {manual.id}, already going."
    assert len(world.runs(SO)) == 1


def test_the_run_carries_the_schedules_closing_date_and_journal_mode():
    w = World()
    w.save(Schedule(J.value, Cadence.DAILY, at=time(9, 0), closing_rule=ClosingRule.END_OF_LAST_MONTH,
                    journal_mode=JournalMode.POSTED),
           Schedule(SO.value, Cadence.DAILY, at=time(9, 0), closing_rule=ClosingRule.YESTERDAY))
    from tests.builders import entry
    w.store.cost_entries.append(entry(day=date(2026, 10, 30)))
    w.store.add(*documents(2, SO, start=date(2026, 11, 1)))
    w.clock.advance(minutes=10)
    w.due().execute()
    by_kind = {r.kind: r for r in w.runs()}
    assert by_kind[J].closing_date == date(2026, 10, 31) and by_kind[J].mode is JournalMode.POSTED
    assert by_kind[SO].closing_date == date(2026, 11, 25)


def test_nothing_to_send_starts_no_run_and_says_so(world):
    world.save(every(PO, 15))
    world.clock.advance(minutes=10)
    fired = synced(world.due().execute())
    assert fired[0].run_id is None and fired[0].outcome == "Nothing to send up to 26 Nov 2026."
    assert world.runs() == []


def test_a_closing_date_before_the_last_sync_sends_nothing_and_says_why(world):
    with world.uow() as uow:
        uow.ledger.set_last_synced_up_to(SO, date(2026, 11, 20))
        uow.commit()
    world.save(Schedule(SO.value, Cadence.DAILY, at=time(9, 0),
                        closing_rule=ClosingRule.END_OF_LAST_MONTH))
    world.clock.advance(minutes=10)
    fired = synced(world.due().execute())
    assert "already synced up to 20 Nov 2026, after this schedule's closing date 31 Oct 2026" \
        in fired[0].outcome
    assert world.runs() == []


def test_missed_firings_fire_once_when_the_server_is_back(world):
    world.save(every(SO, 15))
    world.clock.advance(hours=5)  # the server was off
    fired = synced(world.due().execute())
    assert len(fired) == 1
    assert world.plan().entry(SO).next_due_at == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)


def test_a_scheduled_run_refuses_what_the_preview_would_and_sends_the_rest(world):
    world.store.add(*documents(2, SO, start=date(2026, 11, 3), account="9999"))  # not in Xero
    world.save(every(SO, 15))
    world.clock.advance(minutes=10)
    world.due().execute()
    world.carry_out()
    run = world.runs(SO)[0]
    assert (run.state, run.created, run.failed, run.refused_locally) == (RunState.FAILED, 3, 2, 2)
    assert len(world.gateway.created(SO)) == 3
    alert = world.alerts_shown()[-1]
    assert alert.kind is AlertKind.RUN_FAILED and "2 sales orders not sent" in alert.subject
    assert "refused by Accounts Sync before sending" in alert.body
    to, subject, body = world.notifier.sent[-1]
    assert to == ("books@winery.test",) and subject == alert.subject
    assert "http://erp.test/accounts/sync/runs/1" in body


def test_the_schedule_wakes_the_scheduler_at_the_next_firing(world):
    world.save(every(SO, 15))
    assert world.scheduler.planned[-1] == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    world.clock.advance(minutes=10)
    result = world.due().execute()
    assert result.next_due == datetime(2026, 11, 26, 9, 15, tzinfo=UTC)
    assert result.wake_at == datetime(2026, 11, 26, 9, 5, tzinfo=UTC)  # housekeeping: 5 minutes
    assert world.scheduler.planned[-1] == result.wake_at


# ------------------------------------------------------------------ settings


def test_every_field_is_checked_and_each_refusal_names_its_field(world):
    schedule, unreadable = schedule_from_fields("sales_orders", "every", "ten", "25:00", "9",
                                                "someday", "maybe")
    assert {p.field for p in unreadable} == {
        "schedule:sales_orders:every", "schedule:sales_orders:at",
        "schedule:sales_orders:weekday", "schedule:sales_orders:closing",
        "schedule:sales_orders:mode"}
    with pytest.raises(SchedulesRefused) as refused:
        SaveSchedules(world.uow, world.clock, UTC, world.scheduler).execute(
            SchedulesRequest((every(PO, 2),), AlertSettings(("not-an-address",))), "alice",
            unreadable)
    fields = {p.field for p in refused.value.problems}
    assert "schedule:purchase_orders:every" in fields and "alert_addresses" in fields
    assert world.plan().entry(PO).schedule.cadence is Cadence.OFF  # nothing saved


def test_saving_again_keeps_the_next_firing_and_a_new_time_moves_it(world):
    world.save(every(SO, 15))
    world.clock.advance(minutes=5)
    world.save(every(SO, 15))
    assert world.plan().entry(SO).next_due_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    world.save(Schedule(SO.value, Cadence.DAILY, at=time(18, 30)))
    assert world.plan().entry(SO).next_due_at == datetime(2026, 11, 26, 18, 30, tzinfo=UTC)
    world.save(Schedule(SO.value, Cadence.OFF))
    assert world.plan().entry(SO).next_due_at is None


def test_schedules_are_in_the_hosts_time_zone():
    w = World(zone=ADELAIDE, now=datetime(2026, 10, 3, 12, 0, tzinfo=UTC))  # 22:30 ACST
    w.save(Schedule(SO.value, Cadence.DAILY, at=time(6, 0)))
    assert w.plan().entry(SO).next_due_at == datetime(2026, 10, 3, 19, 30, tzinfo=UTC)  # 06:00 ACDT
    w.store.add(*documents(1, SO, start=date(2026, 10, 1)))
    w.clock.advance(hours=8)
    w.due().execute()
    assert w.runs(SO)[0].closing_date == date(2026, 10, 4)  # Adelaide's today, not UTC's


# ------------------------------------------------------------------ alerts


def test_the_same_refusal_at_every_scheduled_run_is_one_alert_counted_not_resent(world):
    world.store.add(*documents(1, SO, start=date(2026, 11, 3), account="9999"))
    world.save(every(SO, 15))
    for _ in range(4):
        world.clock.advance(minutes=15)
        world.due().execute()
        world.carry_out()
    shown = world.alerts_shown()
    assert len(shown) == 1 and shown[0].repeats == 3
    assert len(world.notifier.sent) == 1


def test_after_a_success_the_same_failure_is_alerted_again(world):
    bad = documents(1, SO, start=date(2026, 11, 3), account="9999")[0]
    world.store.add(bad)
    world.save(every(SO, 15))
    world.clock.advance(minutes=10)
    world.due().execute()
    world.carry_out()
    world.store.documents[SO].remove(bad)  # fixed in the ERP: the next run succeeds
    world.store.add(*documents(1, SO, start=date(2026, 11, 4)))
    world.clock.advance(minutes=15)
    world.due().execute()
    world.carry_out()
    assert world.runs(SO)[-1].state is RunState.SUCCEEDED
    assert world.alerts_shown()[0].resolved_at is not None
    world.store.add(documents(1, SO, start=date(2026, 11, 5), account="9999")[0])
    world.clock.advance(minutes=15)
    world.due().execute()
    world.carry_out()
    assert len(world.alerts_shown()) == 2 and len(world.notifier.sent) == 2


def test_only_scheduled_runs_are_alerted_when_settings_say_so(world):
    world.save(addresses=("books@winery.test",), every_run=False)
    manual = world.start_sync.execute(SyncRequest(SO, date(2026, 11, 26), "alice"))
    world.gateway.connected = False  # the manual run stops: not connected
    world.carry_out()
    assert world.store.state.runs[manual.id].state is RunState.ABORTED
    world.watch.sweep()
    assert world.alerts_shown() == []
    world.save(addresses=("books@winery.test",), every_run=True)
    world.watch.sweep()
    assert [a.kind for a in world.alerts_shown()] == [AlertKind.RUN_STOPPED]


def test_a_run_stopped_by_recovery_is_found_by_the_sweep(world):
    world.save(every(SO, 15))
    world.clock.advance(minutes=10)
    world.due().execute()  # queued; its worker never comes
    world.clock.advance(minutes=10)
    RecoverRuns(world.uow, world.clock, None, stale_after=120).execute()
    world.due().execute()
    alert = next(a for a in world.alerts_shown() if a.kind is AlertKind.RUN_STOPPED)
    assert "No worker started this sync" in alert.body


def test_reauthorisation_and_a_low_day_budget_are_alerted_once_each(world):
    world.save()
    world.gateway.needs_reauthorisation = True
    for _ in range(3):
        world.due().execute()
    world.gateway.needs_reauthorisation = False
    world.gateway.rate_limit_remaining = {"day": 420, "minute": 58}
    for _ in range(3):
        world.due().execute()
    kinds = [a.kind for a in world.alerts_shown()]
    assert kinds == [AlertKind.REAUTHORISATION, AlertKind.BUDGET_LOW]
    assert "420 Xero calls left today" in world.alerts_shown()[1].subject
    world.clock.advance(days=1)
    world.due().execute()  # another day, still low: once more
    assert [a.kind for a in world.alerts_shown()].count(AlertKind.BUDGET_LOW) == 2


def test_email_that_fails_is_tried_again_and_the_console_says_why(world):
    world.save(every(SO, 15))
    world.gateway.needs_reauthorisation = True
    world.notifier.down = True
    world.due().execute()
    alert = world.alerts_shown()[0]
    assert alert.emailed_at is None and "did not answer" in alert.email_error
    world.notifier.down = False
    world.due().execute()
    alert = world.alerts_shown()[0]
    assert alert.emailed_at is not None and alert.email_error == ""
    assert len(world.notifier.sent) == 1


def test_without_addresses_alerts_stay_on_the_console(world):
    world.save(addresses=())
    world.gateway.needs_reauthorisation = True
    world.due().execute()
    assert world.alerts_shown()[0].email_to == "" and world.notifier.sent == []


def test_without_email_configured_the_alert_says_so(world):
    world.notifier.configured = False
    world.save()
    world.gateway.needs_reauthorisation = True
    world.due().execute()
    assert "not set up" in world.alerts_shown()[0].email_error


# ------------------------------------------------------------------ keep-alive


def test_a_quiet_connection_is_refreshed_weekly_and_a_fresh_one_left_alone(world):
    world.gateway.tokens_refreshed_at = START - timedelta(days=2)
    world.due().execute()
    assert world.keeper.calls == 0
    assert "nothing to do" in world.plan().keep_alive.last_outcome
    world.gateway.tokens_refreshed_at = START - timedelta(days=8)
    world.clock.advance(hours=1)
    world.due().execute()
    assert world.keeper.calls == 1
    assert world.plan().keep_alive.last_outcome.startswith("Refreshed the Xero tokens")
    world.clock.advance(minutes=30)
    world.due().execute()  # hourly, not at every tick
    assert world.keeper.calls == 1


def test_a_lapse_that_comes_near_is_alerted_and_a_refused_refresh_asks_to_reconnect(world):
    world.gateway.tokens_refreshed_at = START - timedelta(days=50)
    world.keeper.fail = GatewayUnavailable("Xero's sign-in service did not answer after 3 tries.")
    world.due().execute()
    alert = world.alerts_shown()[0]
    assert alert.kind is AlertKind.CONNECTION_LAPSING and "lapses on 2026-12-06" in alert.subject
    world.keeper.fail = ReauthorisationNeeded("Barossa Valley Wines")
    world.clock.advance(hours=1)
    world.due().execute()
    assert world.alerts_shown()[-1].kind is AlertKind.REAUTHORISATION


# ------------------------------------------------------------------ digest


def test_the_daily_digest_is_sent_once_at_its_time(world):
    world.save(every(SO, 60), digest_at=time(9, 30))
    world.clock.advance(minutes=10)
    world.due().execute()
    world.carry_out()
    world.clock.advance(minutes=30)
    world.due().execute()
    world.due().execute()
    digests = [m for m in world.notifier.sent if "digest" in m[1]]
    assert len(digests) == 1
    body = digests[0][2]
    assert "Sales orders: 1 run, 3 sent" in body
    assert "Sales orders: Every hour, next 26 Nov 10:00 UTC" in body


def test_the_sweep_leaves_out_a_failure_that_a_later_success_put_right(world):
    world.save()
    first = world.start_sync.execute(SyncRequest(SO, date(2026, 11, 26), "alice"))
    world.gateway.connected = False
    ExecuteRun(world.uow, world.gateway, world.clock).execute(first.id)  # its worker died: no hook
    world.gateway.connected = True
    world.store.add(*documents(1, SO, start=date(2026, 11, 4)))
    second = world.start_sync.execute(SyncRequest(SO, date(2026, 11, 26), "alice"))
    ExecuteRun(world.uow, world.gateway, world.clock).execute(second.id)
    assert world.store.state.runs[first.id].state is RunState.ABORTED
    world.watch.sweep()
    assert world.alerts_shown() == []
    third = world.start_sync.execute(SyncRequest(SO, date(2026, 11, 26), "alice"))
    world.gateway.connected = False
    ExecuteRun(world.uow, world.gateway, world.clock).execute(third.id)
    world.watch.sweep()
    world.watch.sweep()
    assert [a.key for a in world.alerts_shown()] == [f"run:{third.id}"]
