"""The sync window, per-document sync records and sync runs, as small state machines."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from .corrections import CorrectionAction, Decision, SentState, XeroSeen
from .documents import Kind
from .errors import (
    ClosingDateBeforeLastSync,
    ClosingDateInFuture,
    ClosingDateInLockedPeriod,
    InvalidClosingDate,
    InvalidTransition,
)


def parse_closing_date(raw: str | date | None, today: date) -> date:
    """A closing date from a form, the API or the CLI; empty means today."""
    if raw is None or raw == "":
        return today
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidClosingDate(raw) from None


@dataclass(frozen=True)
class SyncWindow:
    """What a sync covers: everything unsynced dated up to the closing date.

    Per-document state, not this window, decides what is unsynced; the window only guards
    the closing date a person picks.
    """

    closing_date: date
    last_synced_up_to: date | None = None

    @classmethod
    def open(
        cls,
        closing_date: date,
        today: date,
        lock_date: date | None = None,
        last_synced_up_to: date | None = None,
    ) -> SyncWindow:
        if closing_date > today:
            raise ClosingDateInFuture(closing_date, today)
        if lock_date is not None and closing_date <= lock_date:
            raise ClosingDateInLockedPeriod(closing_date, lock_date)
        if last_synced_up_to is not None and closing_date < last_synced_up_to:
            raise ClosingDateBeforeLastSync(closing_date, last_synced_up_to)
        return cls(closing_date, last_synced_up_to)


class JournalMode(StrEnum):
    DRAFT = "DRAFT"
    POSTED = "POSTED"

    @classmethod
    def parse(cls, raw: str) -> JournalMode:
        from .errors import InvalidRequest

        try:
            return cls(raw.strip().upper())
        except ValueError:
            raise InvalidRequest(f"'{raw}' is not a posting mode; choose draft or posted.") from None


class SyncState(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SYNCED = "synced"
    FAILED = "failed"


_RECORD_MOVES = {
    SyncState.PENDING: {SyncState.IN_FLIGHT},
    SyncState.FAILED: {SyncState.IN_FLIGHT},
    # An in-flight record found absent in Xero on resume is sent again under the same key.
    SyncState.IN_FLIGHT: {SyncState.SYNCED, SyncState.FAILED, SyncState.IN_FLIGHT},
    SyncState.SYNCED: set(),
}


class RefusedBy(StrEnum):
    """Who refused a document: Accounts Sync before sending it, or Xero when it arrived."""

    ACCOUNTS_SYNC = "accounts_sync"
    XERO = "xero"

    @property
    def label(self) -> str:
        return "Accounts Sync" if self is RefusedBy.ACCOUNTS_SYNC else "Xero"


def idempotency_key(kind: Kind, erp_id: str, fingerprint: str) -> str:
    """Deterministic: the same content of the same document always gets the same key."""
    return f"as-{kind.value}-{erp_id}-{fingerprint[:16]}"


@dataclass(frozen=True)
class CorrectionLink:
    """What a correction record corrects: its original, how, and what is known of its progress.

    A correction is a record of kind `corrections` whose erp_id is
    `<original kind>:<original erp_id>:<sequence>`; `previous` is what Xero held from us before
    it (the record's `sent` is what Xero holds after it).
    """

    original_kind: Kind
    original_erp_id: str
    action: CorrectionAction
    target_xero_id: str = ""  # the original's object in Xero
    net_change: Decimal = Decimal("0.00")  # what it changes in the original, signed
    amount: Decimal = Decimal("0.00")  # what the adjustment document or allocation is worth
    due_before: Decimal | None = None  # owing on the original in Xero when it was planned
    day: date | None = None  # the day the correction is dated in Xero (an open day)
    number: str = ""  # of the adjustment document or journal it creates, if any
    document_type: str = ""  # of the adjustment document, or of the original it changes
    allocate_to: str = ""  # the invoice the created credit note is allocated to, if any
    previous: SentState | None = None
    reason: str = ""

    @staticmethod
    def erp_id_for(kind: Kind, erp_id: str, sequence: int) -> str:
        return f"{kind.value}:{erp_id}:{sequence}"


@dataclass(frozen=True)
class SyncRecord:
    """What Accounts Sync knows about one ERP document or journal in Xero."""

    kind: Kind
    erp_id: str
    number: str
    fingerprint: str
    state: SyncState = SyncState.PENDING
    idempotency_key: str = ""
    xero_id: str | None = None
    attempts: int = 0
    last_error: str = ""
    run_id: int | None = None
    synced_at: datetime | None = None
    # When the ERP content this record holds was read: a change stamped after it may make Xero
    # differ from the ERP (checked by content), whenever the record itself was settled.
    read_at: datetime | None = None
    # Books over time: what the object in Xero holds from us (all corrections included), the
    # status we last saw it in there and when Xero last changed it.
    sent: SentState | None = None
    xero_status: str = ""
    xero_updated_at: datetime | None = None
    xero_seen: XeroSeen | None = None
    decision: Decision | None = None  # a person's say on a correction only they can decide
    correction: CorrectionLink | None = None  # set on correction records only
    refused_by: RefusedBy | None = None  # set with a failure: who refused it

    def _move(self, to: SyncState, **changes: object) -> SyncRecord:
        if to not in _RECORD_MOVES[self.state]:
            raise InvalidTransition(
                f"{self.kind.label} {self.number} cannot go from {self.state.value} to {to.value}."
            )
        return replace(self, state=to, **changes)

    def start(self, run_id: int, fingerprint: str, sent: SentState | None = None,
              read_at: datetime | None = None) -> SyncRecord:
        """In flight under a key of its content; `sent` is what Xero will hold once it lands,
        kept from now on, so a look-up that finds it in Xero knows what it holds. The last
        reason is kept while it is being sent: should the run stop before Xero answers, the
        person still sees why it failed before (see `unconfirmed`)."""
        return self._move(
            SyncState.IN_FLIGHT,
            run_id=run_id,
            fingerprint=fingerprint,
            idempotency_key=idempotency_key(self.kind, self.erp_id, fingerprint),
            attempts=self.attempts + 1,
            refused_by=None,
            sent=sent if sent is not None else self.sent,
            read_at=read_at or self.read_at,
        )

    def succeed(self, xero_id: str, at: datetime, status: str = "",
                updated_at: datetime | None = None) -> SyncRecord:
        status = status or self.xero_status
        seen = self.xero_seen
        if self.sent is not None and self.correction is None:
            seen = XeroSeen.written(self.sent, self.kind is Kind.JOURNALS, status)
        return self._move(SyncState.SYNCED, xero_id=xero_id, last_error="", synced_at=at,
                          xero_status=status, xero_updated_at=updated_at or self.xero_updated_at,
                          xero_seen=seen, refused_by=None)

    def fail(self, error: str, by: RefusedBy = RefusedBy.XERO) -> SyncRecord:
        return self._move(SyncState.FAILED, last_error=error, refused_by=by)

    def unconfirmed(self, why: str) -> SyncRecord:
        """Still in flight after its run ended: say why and what to do, keep the earlier reason."""
        if self.state is not SyncState.IN_FLIGHT:
            return self
        earlier = self.last_error
        if earlier.startswith(UNCONFIRMED_PREFIX):
            earlier = earlier.split(EARLIER_MARK, 1)[1] if EARLIER_MARK in earlier else ""
        text = f"{UNCONFIRMED_PREFIX} {why} {UNCONFIRMED_ACTION}"
        return replace(self, last_error=text + (f"{EARLIER_MARK}{earlier}" if earlier else ""))


UNCONFIRMED_PREFIX = "Not confirmed by Xero:"
UNCONFIRMED_ACTION = ("Press Retry (reconnect first if the console asks): Accounts Sync looks it "
                      "up in Xero before sending it again, so it is never sent twice.")
EARLIER_MARK = " Before that: "


class Failure(NamedTuple):
    """One document a run could not get into Xero, and who refused it."""

    number: str
    reason: str
    by: str = RefusedBy.XERO.value


MAX_FAILURES_KEPT = 200


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # finished, some documents failed
    ABORTED = "aborted"  # stopped before the end: refused, Xero unreachable, worker died

    @property
    def is_active(self) -> bool:
        return self in (RunState.QUEUED, RunState.RUNNING)


_RUN_MOVES = {
    RunState.QUEUED: {RunState.RUNNING, RunState.ABORTED},
    # A run resumed after its worker died goes through RUNNING again.
    RunState.RUNNING: {RunState.RUNNING, RunState.SUCCEEDED, RunState.FAILED, RunState.ABORTED},
    RunState.SUCCEEDED: set(),
    RunState.FAILED: set(),
    RunState.ABORTED: set(),
}


@dataclass(frozen=True)
class SyncRun:
    id: int
    kind: Kind
    closing_date: date
    requested_by: str
    state: RunState = RunState.QUEUED
    mode: JournalMode | None = None
    total: int = 0
    done: int = 0
    created: int = 0
    failed: int = 0
    message: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    failures: tuple[Failure, ...] = field(default=())
    note: str = ""  # while running: what it is doing or waiting for (e.g. Xero's limits)

    def _move(self, to: RunState, **changes: object) -> SyncRun:
        if to not in _RUN_MOVES[self.state]:
            raise InvalidTransition(f"Run {self.id} cannot go from {self.state.value} to {to.value}.")
        return replace(self, state=to, **changes)

    def start(self, total: int, at: datetime) -> SyncRun:
        return self._move(RunState.RUNNING, total=total, started_at=self.started_at or at,
                          heartbeat_at=at)

    def progress(
        self,
        done: int,
        created: int,
        failed: int,
        failures: list[Failure] | list[tuple[str, str, str]],
        at: datetime,
    ) -> SyncRun:
        """Count one settled batch; only the first failures are kept, the count stays exact."""
        if self.state is not RunState.RUNNING:
            raise InvalidTransition(f"Run {self.id} is {self.state.value}, not running.")
        kept = tuple(Failure(*f) for f in failures)
        return replace(
            self,
            done=self.done + done,
            created=self.created + created,
            failed=self.failed + failed,
            failures=(self.failures + kept)[:MAX_FAILURES_KEPT],
            heartbeat_at=at,
            note="",
        )

    def noting(self, note: str) -> SyncRun:
        return replace(self, note=note)

    def finish(self, at: datetime, confirmed: int = 0) -> SyncRun:
        """`confirmed`: documents an earlier, stopped run had got into Xero, found there by this
        one before it sent anything (never sent again)."""
        to = RunState.FAILED if self.failed else RunState.SUCCEEDED
        return self._move(to, finished_at=at, message=self.summary(confirmed), note="")

    def summary(self, confirmed: int = 0) -> str:
        """What the run did, in the words an accountant reads: '179 of 180 sent, 1 failed.'"""
        what = self.kind.label.lower()
        found = (f"{confirmed:,} confirmed in Xero (an earlier sync sent "
                 f"{'them' if confirmed > 1 else 'it'} before it stopped)") if confirmed else ""
        if self.total == 0 and not self.done:
            if found:
                return f"{found[0].upper()}{found[1:]}; nothing else to send."
            return (f"Nothing to send: every {what[:-1]} up to "
                    f"{self.closing_date.strftime('%d %b %Y').lstrip('0')} is already in Xero.")
        if not self.failed:
            already = self.total - self.created
            text = f"{self.created:,} sent to Xero" + (
                f" ({already:,} already there)" if already > 0 else "")
        else:
            text = f"{self.created:,} of {self.total:,} sent, {self.failed:,} failed"
        return f"{text}; {found}." if found else f"{text}."

    def abort(self, message: str, at: datetime) -> SyncRun:
        return self._move(RunState.ABORTED, finished_at=at, message=message, note="")

    @property
    def refused_locally(self) -> int:
        """Failures kept that Accounts Sync refused itself (the rest Xero refused)."""
        return sum(1 for f in self.failures if f.by == RefusedBy.ACCOUNTS_SYNC.value)

    @property
    def is_active(self) -> bool:
        return self.state.is_active
