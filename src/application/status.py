"""GetStatus and ListRuns: what the console and `accounts-sync status` show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.documents import Kind
from ..domain.sync import JournalMode, SyncRecord, SyncRun
from .ports import AccountingGateway, Connection, UnitOfWorkFactory


@dataclass(frozen=True)
class Status:
    connection: Connection | None
    last_synced_up_to: dict[Kind, date | None]
    active_runs: dict[Kind, SyncRun]
    journal_mode: JournalMode


class GetStatus:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway) -> None:
        self.uow = uow
        self.gateway = gateway

    def execute(self) -> Status:
        with self.uow() as uow:
            marks = {kind: uow.ledger.last_synced_up_to(kind) for kind in Kind}
            active = {kind: run for kind in Kind if (run := uow.ledger.active_run(kind))}
            mode = JournalMode.parse(uow.settings.preference("journal_mode", "DRAFT"))
        return Status(self.gateway.connection(), marks, active, mode)


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
        return RunDetail(run, tuple(records), records[-1].erp_id if more else None)


class ListRuns:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, limit: int = 50, before_id: int | None = None) -> list[SyncRun]:
        with self.uow() as uow:
            return uow.ledger.list_runs(limit, before_id)
