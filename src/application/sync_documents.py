"""SyncDocuments: send every unsynced document of a kind up to a closing date, now.

The synchronous form of the Sync button, for testers, integrators and the CLI: it claims a run
exactly as the console does and carries it out in this process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import InvalidRequest
from ..domain.sync import SyncRun
from .execute_run import ExecuteRun
from .ports import Clock, UnitOfWorkFactory
from .start_sync import SyncRequest, claim


@dataclass(frozen=True)
class SyncDocumentsRequest:
    kind: Kind
    closing_date: date
    requested_by: str


class SyncDocuments:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, execute_run: ExecuteRun) -> None:
        self.uow = uow
        self.clock = clock
        self.execute_run = execute_run

    def execute(self, request: SyncDocumentsRequest) -> SyncRun:
        if request.kind not in (*TRADE_KINDS, Kind.CORRECTIONS):
            raise InvalidRequest("Journals are sent with PostJournals (Save and Sync).")
        run = claim(self.uow, self.clock,
                    SyncRequest(request.kind, request.closing_date, request.requested_by))
        return self.execute_run.execute(run.id)
