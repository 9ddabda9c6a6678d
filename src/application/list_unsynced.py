"""ListUnsynced: one page of the unsynced documents of a kind, keyset-paginated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.documents import Kind
from ..domain.errors import InvalidRequest
from ..domain.sync import SyncRecord
from .ports import KindTotals, Page, UnitOfWorkFactory

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class ListRequest:
    kind: Kind
    closing_date: date
    after: str | None = None
    page_size: int = 50


@dataclass(frozen=True)
class DocumentList:
    kind: Kind
    closing_date: date
    totals: KindTotals
    page: Page
    failed: tuple[SyncRecord, ...]  # failures shown with the reason, whatever the page
    # Sent by a run that ended before Xero confirmed them (none while a run is going).
    unconfirmed: tuple[SyncRecord, ...] = ()


class ListUnsynced:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self.uow = uow

    def execute(self, request: ListRequest) -> DocumentList:
        if request.kind is Kind.JOURNALS:
            raise InvalidRequest("Journals are listed in the preview; open one to see its lines.")
        if not 1 <= request.page_size <= MAX_PAGE_SIZE:
            raise InvalidRequest(f"A page holds 1 to {MAX_PAGE_SIZE} documents.")
        with self.uow() as uow:
            totals = uow.documents.summarize_unsynced(request.kind, request.closing_date)
            page = uow.documents.list_unsynced(
                request.kind, request.closing_date, request.after, request.page_size
            )
            failed = uow.ledger.failed(request.kind, MAX_PAGE_SIZE)
            running = uow.ledger.active_run(request.kind) is not None
            unconfirmed = [] if running else uow.ledger.in_flight(request.kind)[:MAX_PAGE_SIZE]
        return DocumentList(request.kind, request.closing_date, totals, page, tuple(failed),
                            tuple(unconfirmed))
