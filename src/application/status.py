"""GetStatus and ListRuns: what the console and `accounts-sync status` show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from ..domain.documents import Kind
from ..domain.errors import Problem
from ..domain.sync import JournalMode, SyncRecord, SyncRun
from .common import read_chart
from .ports import AccountingGateway, ChartOfAccounts, Connection, UnitOfWorkFactory, record_cursor


@dataclass(frozen=True)
class Status:
    connection: Connection | None
    last_synced_up_to: dict[Kind, date | None]
    active_runs: dict[Kind, SyncRun]
    journal_mode: JournalMode
    last_runs: dict[Kind, SyncRun] = field(default_factory=dict)  # the latest of each kind
    # Per kind: records that failed, and records still unconfirmed (in flight).
    unsettled: dict[Kind, tuple[int, int]] = field(default_factory=dict)
    chart: ChartOfAccounts | None = None  # when asked for: lock dates and when it was read
    chart_problem: Problem | None = None  # why the chart could not be read

    def failed(self, kind: Kind) -> int:
        return self.unsettled.get(kind, (0, 0))[0]

    def unconfirmed(self, kind: Kind) -> int:
        return 0 if kind in self.active_runs else self.unsettled.get(kind, (0, 0))[1]


class GetStatus:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway) -> None:
        self.uow = uow
        self.gateway = gateway

    def execute(self, with_chart: bool = False, refresh: bool = False) -> Status:
        """`with_chart`: read Xero's chart too (lock dates, when read); `refresh`: read it from
        Xero now rather than from the few minutes' copy (the console's Refresh from Xero)."""
        with self.uow() as uow:
            marks = {kind: uow.ledger.last_synced_up_to(kind) for kind in Kind}
            active = {kind: run for kind in Kind if (run := uow.ledger.active_run(kind))}
            mode = JournalMode.parse(uow.settings.preference("journal_mode", "DRAFT"))
            last = uow.ledger.last_runs()
            unsettled = uow.ledger.unsettled()
        connection = self.gateway.connection()
        chart = problem = None
        if (with_chart or refresh) and connection is not None:
            if refresh:
                self.gateway.forget_chart()
            chart, problem = read_chart(self.gateway)
            connection = self.gateway.connection()  # reading may have found it revoked
        return Status(connection, marks, active, mode, last, unsettled, chart, problem)


class GetRun:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, run_id: int) -> SyncRun:
        with self.uow() as uow:
            return uow.ledger.get_run(run_id)


@dataclass(frozen=True)
class RunDetail:
    run: SyncRun
    records: tuple[SyncRecord, ...]
    next_after: str | None


class GetRunDetail:
    """A run with the documents it sent (or failed), a page at a time, for the history."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, run_id: int, after: str | None = None, limit: int = 100) -> RunDetail:
        with self.uow() as uow:
            run = uow.ledger.get_run(run_id)
            records = uow.ledger.records_for_run(run_id, limit + 1, after)
        more = len(records) > limit
        records = records[:limit]
        return RunDetail(run, tuple(records), record_cursor(records[-1]) if more else None)


class ListRuns:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, limit: int = 50, before_id: int | None = None) -> list[SyncRun]:
        with self.uow() as uow:
            return uow.ledger.list_runs(limit, before_id)
