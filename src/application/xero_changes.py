"""LookAtXero: what changed in Xero since Accounts Sync last looked (DESIGN: "Books over time").

Invoices, bills, credit notes and manual journals modified in Xero since the last look are read
with If-Modified-Since, a page at a time. For an object Accounts Sync sent, its record learns
what Xero now says (status, what is owing, whether a payment or credit is applied), and a change
to what we wrote — voided, deleted or re-totalled by someone — marks it changed in Xero, so the
planner never overwrites it without a person's say. Objects Accounts Sync did not make are kept
as "made in Xero by someone else" for the preview and the reconciliation. Nothing is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..domain.corrections import GONE, XeroSeen, XeroStatus
from ..domain.documents import Kind
from ..domain.errors import GatewayUnavailable, NotConnected, ReauthorisationNeeded
from ..domain.money import format_money, money
from ..domain.sync import SyncRecord
from .ports import AccountingGateway, Clock, UnitOfWorkFactory, XeroChange, XeroObjectState

log = logging.getLogger(__name__)

SINCE = "xero_changes_since"  # preference: ISO time of the last look's high-water mark
LOOKED_AT = "xero_changes_looked_at"  # preference: when the last look happened
KINDS = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS, Kind.JOURNALS)
MAX_PAGES = 20  # per kind and look; the next look goes on from where this one stopped
# Each look reads again what changed a little before the last one began: an object changed
# while the last look was paging (after its page was read) is then not missed, whatever the
# skew between Xero's clock and ours. Seeing an object twice is harmless.
OVERLAP = timedelta(minutes=2)


@dataclass(frozen=True)
class LookRequest:
    force: bool = False  # look now, even if the last look was moments ago


@dataclass(frozen=True)
class LookResult:
    looked: bool  # False when the last look was recent enough, or Xero could not be asked
    seen: int = 0  # objects read
    changed: int = 0  # ours, changed in Xero by someone
    made_elsewhere: int = 0  # not ours
    reason: str = ""  # why it did not look


class LookAtXero:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway, clock: Clock,
                 min_interval: float = 60.0) -> None:
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.min_interval = min_interval

    def execute(self, request: LookRequest) -> LookResult:
        now = self.clock.now()
        with self.uow() as uow:
            looked_at = _parse(uow.settings.preference(LOOKED_AT))
            since = _parse(uow.settings.preference(SINCE))
            if since is None:
                since = uow.ledger.first_synced_at()
        if not request.force and looked_at is not None and \
                (now - looked_at).total_seconds() < self.min_interval:
            return LookResult(False, reason="Xero was looked at moments ago.")
        if since is None:
            # Nothing was ever sent: what Xero held before Accounts Sync is not ours to watch.
            self._save_marks(now, now)
            return LookResult(True)
        high = since
        seen = changed = elsewhere = 0
        try:
            for kind in KINDS:
                page: int | None = 1
                pages = 0
                while page is not None and pages < MAX_PAGES:
                    answer = self.gateway.changed_since(kind, since - OVERLAP, page)
                    pages += 1
                    counts = self._note(kind, answer.items)
                    seen += len(answer.items)
                    changed += counts[0]
                    elsewhere += counts[1]
                    for item in answer.items:
                        if item.updated_at is not None and item.updated_at > high:
                            high = item.updated_at
                    page = answer.next_page
        except (NotConnected, ReauthorisationNeeded, GatewayUnavailable) as exc:
            return LookResult(False, reason=exc.message)
        # The next look starts from this one's start (or the newest change seen, if earlier),
        # never from the newest change alone: see OVERLAP.
        self._save_marks(now, min(high, now))
        return LookResult(True, seen, changed, elsewhere)

    def _save_marks(self, looked_at: datetime, high: datetime) -> None:
        with self.uow() as uow:
            uow.settings.set_preference(LOOKED_AT, looked_at.isoformat())
            uow.settings.set_preference(SINCE, high.isoformat())
            uow.commit()

    def _note(self, kind: Kind, items: tuple[XeroObjectState, ...]) -> tuple[int, int]:
        if not items:
            return 0, 0
        with self.uow() as uow:
            records = uow.ledger.records_by_xero_id([i.xero_id for i in items])
            updated: list[SyncRecord] = []
            changes: list[XeroChange] = []
            changed = elsewhere = 0
            for item in items:
                record = records.get(item.xero_id)
                if record is None:
                    elsewhere += 1
                    changes.append(_change(kind, item, None, _made_elsewhere(item)))
                    continue
                if record.kind is Kind.CORRECTIONS or record.sent is None:
                    continue  # an adjustment we made: nothing to compare it with here
                seen, note = observe(record, item)
                if seen != record.xero_seen or item.status != record.xero_status:
                    updated.append(replace(record, xero_status=item.status, xero_seen=seen))
                if note:
                    changed += 1
                    changes.append(_change(kind, item, record.erp_id, note))
            uow.ledger.save_records(updated)
            uow.ledger.save_xero_changes(changes)
            uow.commit()
        return changed, elsewhere


def observe(record: SyncRecord, item: XeroObjectState) -> tuple[XeroSeen, str]:
    """What a record learns from Xero's current state of its object, and, when someone changed
    what we wrote, that change in words (else '')."""
    sent = record.sent
    assert sent is not None
    journal = record.kind is Kind.JOURNALS
    previous = record.xero_seen or XeroSeen.written(sent, journal, record.xero_status
                                                    or XeroStatus.AUTHORISED.value)
    notes = []
    if item.status in GONE and sent.lines and record.xero_status not in GONE:
        notes.append(f"{item.status.lower()} in Xero")
    if item.status == XeroStatus.ARCHIVED.value and record.xero_status != item.status:
        notes.append("archived in Xero")
    if not journal and item.status not in GONE and money(item.total) != previous.total:
        notes.append(f"its total is {format_money(item.total)} in Xero, "
                     f"{format_money(previous.total)} as sent")
    note = "; ".join(notes)
    seen = replace(
        previous,
        amount_due=None if journal else money(item.amount_due),
        has_applications=item.has_applications,
        changed_in_xero=previous.changed_in_xero or bool(note),
        note=note or previous.note,
    )
    return seen, note


def _made_elsewhere(item: XeroObjectState) -> str:
    what = "manual journal" if not item.document_type else {
        "ACCREC": "invoice", "ACCPAY": "bill", "ACCRECCREDIT": "credit note",
        "ACCPAYCREDIT": "supplier credit note"}.get(item.document_type, "document")
    return f"A {what} made or changed in Xero, not by Accounts Sync ({item.status.lower()})."


def _change(kind: Kind, item: XeroObjectState, record_erp_id: str | None, summary: str) -> XeroChange:
    return XeroChange(kind, item.xero_id, item.number, item.status, money(item.total),
                      item.updated_at, item.web_url, record_erp_id, summary, item.document_type)


def _parse(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        log.warning("ignoring a stored time that is not one: %r", raw)
        return None


class ListXeroChanges:
    """What was seen changed in Xero, the latest first (read-only)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, limit: int = 50, ours_only: bool = False) -> list[XeroChange]:
        with self.uow() as uow:
            return uow.ledger.xero_changes(limit, ours_only)
