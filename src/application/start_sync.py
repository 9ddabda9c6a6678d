"""StartSync: claim a run for a kind and hand it to the job queue (what the Sync button does)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.documents import Kind
from ..domain.sync import JournalMode, SyncRun, SyncWindow
from .ports import Clock, JobQueue, UnitOfWorkFactory


@dataclass(frozen=True)
class SyncRequest:
    kind: Kind
    closing_date: date
    requested_by: str
    mode: JournalMode | None = None  # journals only: DRAFT or POSTED


def claim(uow_factory: UnitOfWorkFactory, clock: Clock, request: SyncRequest) -> SyncRun:
    """Check the closing date and claim the kind's single active run (RunAlreadyActive else)."""
    with uow_factory() as uow:
        SyncWindow.open(
            request.closing_date,
            clock.today(),
            last_synced_up_to=uow.ledger.last_synced_up_to(request.kind),
        )
        mode = request.mode or (JournalMode.DRAFT if request.kind is Kind.JOURNALS else None)
        run = uow.ledger.claim_run(
            request.kind, request.closing_date, request.requested_by, mode, clock.now()
        )
        if mode is not None:
            uow.settings.set_preference("journal_mode", mode.value)
        uow.commit()
    return run


class StartSync:
    def __init__(self, uow: UnitOfWorkFactory, queue: JobQueue, clock: Clock) -> None:
        self.uow = uow
        self.queue = queue
        self.clock = clock

    def execute(self, request: SyncRequest) -> SyncRun:
        run = claim(self.uow, self.clock, request)
        self.queue.enqueue(run.id)
        return run
