"""RunJob: what a worker (a thread of the web process, or an RQ worker) does with a run id.

1. Take the run: one conditional update makes this worker its owner, unless a live worker
   already holds it or it has ended. A job delivered twice, or a run handed over again by
   recovery, is therefore worked on by one worker at a time.
2. Recover the other runs whose worker died (RecoverRuns), as the next worker should.
3. Keep a heartbeat while the run is carried out (a thread, every `heartbeat_every` seconds),
   so a run waiting out Xero's limits is never mistaken for a dead one; a worker that stops
   beating for `stale_after` seconds is taken for dead and its run recovered.
4. Execute it (ExecuteRun) through a fenced gateway: if the heartbeat finds that another
   worker took the run over (this one was wrongly thought dead), nothing more is sent to Xero.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta

from ..domain.documents import Kind, TradeDocument
from ..domain.errors import AccountsSyncError
from ..domain.journals import AccountJournal
from ..domain.sync import JournalMode, SyncRecord, SyncRun
from .execute_run import ExecuteRun
from .ports import AccountingGateway, ChartOfAccounts, Clock, Connection, PushResult, UnitOfWorkFactory
from .recover_runs import DEFAULT_STALE_AFTER, RecoverRuns

log = logging.getLogger(__name__)


class RunTakenOver(Exception):  # noqa: N818 - not an AccountsSyncError on purpose
    """Another worker took this run over; stop without touching the run (it is not ours).

    Deliberately not an AccountsSyncError: ExecuteRun would otherwise mark the run aborted,
    and the run belongs to the worker that took it over.
    """


class FencedGateway:
    """The gateway, refusing to send once this worker no longer owns its run."""

    def __init__(self, gateway: AccountingGateway, lost: threading.Event, run_id: int) -> None:
        self.gateway = gateway
        self.lost = lost
        self.run_id = run_id

    def __getattr__(self, name: str) -> object:
        return getattr(self.gateway, name)

    def _check(self) -> None:
        if self.lost.is_set():
            raise RunTakenOver(f"run {self.run_id} was taken over by another worker")

    def connection(self) -> Connection | None:
        return self.gateway.connection()

    def chart(self) -> ChartOfAccounts:
        return self.gateway.chart()

    def tracking_categories(self) -> tuple:
        return self.gateway.tracking_categories()

    def web_url(self, kind: Kind, xero_id: str) -> str:
        return self.gateway.web_url(kind, xero_id)

    def find_existing(self, kind: Kind, records: Sequence[SyncRecord]) -> dict[str, str]:
        return self.gateway.find_existing(kind, records)

    def prepare_contacts(self, documents: Sequence[TradeDocument]) -> None:
        self._check()
        self.gateway.prepare_contacts(documents)

    def push_invoices(self, documents: Sequence[TradeDocument], idempotency_key: str) -> list[PushResult]:
        self._check()
        return self.gateway.push_invoices(documents, idempotency_key)

    def push_credit_notes(
        self, documents: Sequence[TradeDocument], idempotency_key: str
    ) -> list[PushResult]:
        self._check()
        return self.gateway.push_credit_notes(documents, idempotency_key)

    def push_manual_journals(
        self, journals: Sequence[AccountJournal], mode: JournalMode, idempotency_key: str
    ) -> list[PushResult]:
        self._check()
        return self.gateway.push_manual_journals(journals, mode, idempotency_key)


def worker_name() -> str:
    """Who holds a run: host and process (a killed worker is found by it), plus a token."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunJob:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        gateway: AccountingGateway,
        clock: Clock,
        execute_run: Callable[..., ExecuteRun],
        recover: RecoverRuns | None = None,
        stale_after: float = DEFAULT_STALE_AFTER,
        heartbeat_every: float | None = None,
        watch: Callable[[SyncRun], None] | None = None,
    ) -> None:
        """`execute_run(gateway=...)` builds an ExecuteRun on the given gateway (a provider);
        `watch(run)` hears each run this worker ended (the alerts)."""
        self.uow = uow
        self.watch = watch
        self.gateway = gateway
        self.clock = clock
        self.execute_run = execute_run
        self.recover = recover
        self.stale_after = float(stale_after)
        # Several beats fit in the timeout, so a late beat or two never looks like a death.
        self.heartbeat_every = float(heartbeat_every or max(self.stale_after / 6, 0.05))
        if self.heartbeat_every >= self.stale_after:
            raise ValueError("the heartbeat must be more frequent than the stale-run timeout")

    def execute(self, run_id: int) -> SyncRun:
        owner = worker_name()
        now = self.clock.now()
        with self.uow() as uow:
            run = uow.ledger.take_run(
                run_id, owner, now, stale_before=now - timedelta(seconds=self.stale_after)
            )
            uow.commit()
        # After taking its own run (a run that waited long in the queue is not stale any more
        # once taken), the worker recovers the others.
        self._recover_others()
        if run is None:
            with self.uow() as uow:
                current = uow.ledger.get_run(run_id)
            log.info("run %s not taken: it is %s%s", run_id, current.state.value,
                     " and held by a live worker" if current.is_active else "")
            return current

        lost = threading.Event()
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(run_id, owner, stop, lost),
                                name=f"accounts-sync-heartbeat-{run_id}", daemon=True)
        beat.start()
        try:
            ended = self.execute_run(gateway=FencedGateway(self.gateway, lost, run_id)).execute(run_id)
            self._tell(ended)
            return ended
        except RunTakenOver:
            log.warning("run %s was taken over by another worker; this worker stopped sending", run_id)
            with self.uow() as uow:
                return uow.ledger.get_run(run_id)
        finally:
            stop.set()
            beat.join()

    def _tell(self, run: SyncRun) -> None:
        if self.watch is None or run.is_active:
            return
        try:
            self.watch(run)
        except Exception:  # an alert that cannot be raised never changes the run
            log.exception("run %s: could not raise its alerts", run.id)

    def _recover_others(self) -> None:
        if self.recover is None:
            return
        try:
            self.recover.execute()
        except AccountsSyncError as exc:  # recovery must never stop this run
            log.warning("could not recover stuck runs: %s", exc.message)

    def _beat(self, run_id: int, owner: str, stop: threading.Event, lost: threading.Event) -> None:
        while not stop.wait(self.heartbeat_every):
            try:
                with self.uow() as uow:
                    alive = uow.ledger.beat_run(run_id, owner, self.clock.now())
                    if alive:
                        uow.commit()
            except AccountsSyncError as exc:
                # The database is briefly unreachable: the run's own next step will say so;
                # a missed beat or two is what the timeout allows for.
                log.warning("run %s heartbeat failed: %s", run_id, exc.message)
                continue
            except Exception:
                log.exception("run %s heartbeat failed", run_id)
                continue
            if not alive:
                if not stop.is_set():
                    lost.set()  # ended meanwhile, or taken over: send nothing more
                return
