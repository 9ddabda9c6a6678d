"""PostJournals: send the production-cost journals up to a closing date as DRAFT or POSTED."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.documents import Kind
from ..domain.sync import JournalMode, SyncRun
from .execute_run import ExecuteRun
from .ports import Clock, UnitOfWorkFactory
from .start_sync import SyncRequest, claim


@dataclass(frozen=True)
class PostJournalsRequest:
    closing_date: date
    mode: JournalMode
    requested_by: str


class PostJournals:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, execute_run: ExecuteRun) -> None:
        self.uow = uow
        self.clock = clock
        self.execute_run = execute_run

    def execute(self, request: PostJournalsRequest) -> SyncRun:
        run = claim(
            self.uow,
            self.clock,
            SyncRequest(Kind.JOURNALS, request.closing_date, request.requested_by, request.mode),
        )
        return self.execute_run.execute(run.id)
