"""Invoice and bill lines get their tracking from the mapping, not from the ERP adapter: the
preview's checks (over the SQL adapter's document facts, read afresh or kept) and the sync
both see the tracking the mapping makes of the lines' batch attributes, and none when none is
mapped. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from accounts_sync.adapters.erp_sql import document_facts
from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced
from accounts_sync.application.sync_documents import SyncDocuments, SyncDocumentsRequest
from accounts_sync.domain.documents import Kind, TrackingRef
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping, TradeDefaults
from tests.fakes import FakeClock, FakeGateway, default_chart

from .fixtures import line

TODAY = date(2026, 11, 26)
SO = Kind.SALES_ORDERS


@pytest.fixture(params=["fresh", "kept"])
def reading(request, monkeypatch):
    if request.param == "kept":
        monkeypatch.setattr(document_facts, "FACT_CACHE_MIN_DOCUMENTS", 0)
        monkeypatch.setattr(document_facts._FactCache, "_caches",
                            type(document_facts._FactCache._caches)())
    return request.param


@pytest.fixture
def sales(erp):
    customer = erp.customer("Fitzroy Wine Room")
    erp.sales_order(customer, number="SO-2024", invoice_date=date(2026, 11, 2),
                    lines=[line(vintage="2024", brand="Reserve")])
    erp.sales_order(customer, number="SO-1999", invoice_date=date(2026, 11, 3),
                    lines=[line(vintage="1999", brand="Reserve")])


def save(uow_factory, *tracking: TrackingMapping) -> None:
    with uow_factory() as uow:
        uow.settings.save_mapping(AccountMapping(
            tracking=tracking, rounding_account="860",
            trade_defaults={SO: TradeDefaults("4000", "OUTPUT")}))
        uow.commit()


def refused(uow_factory, gateway) -> set[str]:
    preview = PreviewUnsynced(uow_factory, gateway, FakeClock()).execute(PreviewRequest(TODAY))
    return {d.number for d in preview.refused[SO].shown} if SO in preview.refused else set()


@pytest.mark.parametrize("tracking, refused_numbers, sent", [
    # Vintage mapped: 1999 is no option of Xero's Vintage category, so that sale is held back.
    ((TrackingMapping("vintage", "Vintage"),), {"SO-1999"}, (TrackingRef("Vintage", "2024"),)),
    # Only the brand mapped: the vintage is not tracked, so nothing is refused for it.
    ((TrackingMapping("brand", "Brand"),), set(), (TrackingRef("Brand", "Reserve"),)),
    # Nothing mapped: no tracking on the lines at all.
    ((), set(), ()),
])
def test_preview_and_sync_use_the_tracking_the_mapping_makes(uow_factory, sales, reading, tracking,
                                                             refused_numbers, sent):
    save(uow_factory, *tracking)
    gateway = FakeGateway(default_chart())
    assert refused(uow_factory, gateway) == refused_numbers
    clock = FakeClock()
    run = SyncDocuments(uow_factory, clock, ExecuteRun(uow_factory, gateway, clock)).execute(
        SyncDocumentsRequest(SO, TODAY, "accountant"))
    assert {f.number for f in run.failures} == refused_numbers
    first = next(o for o in gateway.created(SO) if o.number == "SO-2024")
    assert [ln.tracking for ln in first.payload.lines] == [sent]
