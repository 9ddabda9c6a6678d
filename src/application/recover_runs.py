"""RecoverRuns: free the kinds held by runs whose worker died, so the books can be synced again.

A run shows it is alive by its heartbeat (see RunJob). When the last sign of life is older than
the configured timeout (`ACCOUNTS_SYNC_RUN_STALE_AFTER`):

- a RUNNING run's worker died mid-run: the run is aborted with a plain message. Its records
  stay `in_flight`; the next run of the kind looks every one of them up in Xero before it
  sends anything (ExecuteRun's reconciliation), so nothing is sent twice or lost;
- a QUEUED run was never started (its job was lost, e.g. with a Redis that restarted): it is
  handed to the job queue again. A job delivered twice is harmless, because a worker must
  take the run (RunJob) before working on it.

`flask accounts-sync recover`, every worker before each job, and a Sync that finds its kind
held by a dead run call it. Each run is seized with one conditional update, so two
recoverers never both act on the same run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain.errors import RunAlreadyActive
from ..domain.sync import RunState, SyncRun
from .ports import Clock, JobQueue, UnitOfWorkFactory

log = logging.getLogger(__name__)

DEFAULT_STALE_AFTER = 120.0  # seconds without a heartbeat before a run counts as stuck


@dataclass(frozen=True)
class RecoverRequest:
    run_id: int | None = None  # only this run (a Sync that found its kind held); else all
    stale_after: float | None = None  # seconds; else the configured timeout


@dataclass(frozen=True)
class RecoverResult:
    aborted: tuple[SyncRun, ...] = ()
    requeued: tuple[SyncRun, ...] = ()

    @property
    def recovered(self) -> tuple[SyncRun, ...]:
        return self.aborted + self.requeued


def _time(at: datetime | None) -> str:
    return at.strftime("%d %b %Y %H:%M UTC").lstrip("0") if at else "its start"


def died_message(run: SyncRun) -> str:
    return (
        f"The worker running this sync stopped responding (last sign of life {_time(run.heartbeat_at)}), "
        f"so the sync was stopped. Nothing is lost: press Sync again; the documents it was "
        f"sending are looked up in Xero first, so none is sent twice."
    )


def never_started_message(stale_after: float) -> str:
    return (
        f"No worker started this sync within {int(stale_after)} seconds, so it was cancelled. "
        f"Check that the workers are running (flask accounts-sync worker) and press Sync again."
    )


class RecoverRuns:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        queue: JobQueue | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
    ) -> None:
        if stale_after <= 0:
            raise ValueError("the stale-run timeout must be a positive number of seconds")
        self.uow = uow
        self.clock = clock
        self.queue = queue
        self.stale_after = float(stale_after)

    def execute(self, request: RecoverRequest | None = None) -> RecoverResult:
        request = request or RecoverRequest()
        stale_after = request.stale_after if request.stale_after is not None else self.stale_after
        now = self.clock.now()
        stale_before = now - timedelta(seconds=stale_after)
        with self.uow() as uow:
            stale = uow.ledger.stale_runs(stale_before)
        if request.run_id is not None:
            stale = [run for run in stale if run.id == request.run_id]
        aborted: list[SyncRun] = []
        requeued: list[SyncRun] = []
        for run in stale:
            if run.state is RunState.QUEUED and self.queue is not None:
                if self._requeue(run, stale_before, now):
                    requeued.append(run)
            elif (stopped := self._abort(run, stale_before, now, stale_after)) is not None:
                aborted.append(stopped)
        return RecoverResult(tuple(aborted), tuple(requeued))

    def _abort(
        self, run: SyncRun, stale_before: datetime, now: datetime, stale_after: float
    ) -> SyncRun | None:
        with self.uow() as uow:
            # Seized under the recoverer's name, so the dead worker (should it wake up) finds
            # another owner at its next heartbeat and stops sending.
            seized = uow.ledger.seize_stale_run(run.id, stale_before, now, owner="recover")
            if seized is None:
                return None  # another recoverer or a worker got there first
            message = (
                died_message(run) if seized.state is RunState.RUNNING
                else never_started_message(stale_after)
            )
            stopped = seized.abort(message, now)
            uow.ledger.save_run(stopped)
            # Its documents in flight stay so (Xero may have them), but say why and what to do.
            why = ("the worker running the sync stopped responding" if seized.state is
                   RunState.RUNNING else "the sync never started")
            uow.ledger.save_records([r.unconfirmed(f"{why}.") for r in uow.ledger.in_flight(run.kind)
                                     if r.run_id == run.id])
            uow.commit()
        log.warning("run %s (%s) recovered: %s", run.id, run.kind.value, message)
        return stopped

    def _requeue(self, run: SyncRun, stale_before: datetime, now: datetime) -> bool:
        assert self.queue is not None
        with self.uow() as uow:
            # Freed (no owner) with a fresh heartbeat: any worker may take it, and it is not
            # handed over again before another timeout passes.
            if uow.ledger.seize_stale_run(run.id, stale_before, now, owner=None) is None:
                return False
            uow.commit()
        self.queue.enqueue(run.id)
        log.warning("run %s (%s) was queued but never started; handed to the workers again",
                    run.id, run.kind.value)
        return True


class _Claims(Protocol):
    def execute(self, request: Any) -> Any: ...


class ClaimWithRecovery:
    """Wraps a use case that claims a run (StartSync, SyncDocuments, PostJournals): when the
    kind is held by a run whose worker died, that run is recovered and the claim made again.

    The claim fails before anything is enqueued or sent, so claiming once more is safe; a live
    run still refuses the second claim.
    """

    def __init__(self, use_case: _Claims, recover: RecoverRuns) -> None:
        self.use_case = use_case
        self.recover = recover

    def execute(self, request: Any) -> Any:
        try:
            return self.use_case.execute(request)
        except RunAlreadyActive as busy:
            result = self.recover.execute(RecoverRequest(run_id=busy.run_id))
            if not result.aborted:
                raise  # alive, or queued again: the run already going is the answer
            return self.use_case.execute(request)
