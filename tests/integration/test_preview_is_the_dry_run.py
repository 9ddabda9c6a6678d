"""The preview is the sync's dry run: on a winery with problems injected (an archived line
account, an unknown tax type, a date inside the lock period, a missing due date, and more),
the documents the preview lists are exactly the documents the sync then refuses itself, per
kind, on SQLite and PostgreSQL, whether the documents' values are read afresh (a small ERP) or
kept between previews (a large one), and whether Settings carry what falls inside Xero's
locked period to the first open day (then it is sent) or hold it back (then it is refused)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import update

from accounts_sync.adapters.erp_sql import document_facts
from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced
from accounts_sync.application.sync_documents import SyncDocuments, SyncDocumentsRequest
from accounts_sync.domain.documents import TRADE_KINDS, Kind
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping, TradeDefaults
from accounts_sync.domain.sync import RefusedBy, SyncState
from tests.fakes import FakeClock, FakeGateway, default_chart

from .fixtures import line

TODAY = date(2026, 11, 26)
LOCK = date(2026, 3, 31)


@pytest.fixture(params=["fresh", "kept"])
def reading(request, monkeypatch):
    """'kept': every kind's values are kept between calls, as for an ERP of 5,000+ documents."""
    if request.param == "kept":
        monkeypatch.setattr(document_facts, "FACT_CACHE_MIN_DOCUMENTS", 0)
        monkeypatch.setattr(document_facts._FactCache, "_caches", type(document_facts._FactCache._caches)())
    return request.param


def stamp() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def winery_with_problems(erp) -> dict[Kind, set[str]]:
    """Good documents, and one of each problem; returns the numbers that must be refused."""
    now = stamp()
    customer = erp.customer("Harbour Wine Distributors")
    nameless = erp.customer("   ")
    supplier = erp.supplier("Valley Growers")
    day = date(2026, 11, 2)
    for n in range(1, 6):
        erp.sales_order(customer, number=f"SO-OK-{n}", invoice_date=day, updated_at=now,
                        lines=[line(vintage="2024", brand="Estate")])
    erp.sales_order(customer, number="SO-ARCHIVED", invoice_date=day, updated_at=now,
                    lines=[line(), line(account="1460")])
    erp.sales_order(customer, number="SO-TAX", invoice_date=day, updated_at=now,
                    lines=[line(tax_type="GSTX")])
    erp.sales_order(customer, number="SO-LOCKED", invoice_date=LOCK, updated_at=now)
    erp.sales_order(customer, number="SO-NO-DUE", invoice_date=day, due_date=None, updated_at=now)
    erp.sales_order(customer, number="SO-UNKNOWN", invoice_date=day, updated_at=now,
                    lines=[line(account="9999")])
    erp.sales_order(customer, number="SO-VINTAGE", invoice_date=day, updated_at=now,
                    lines=[line(vintage="1999")])
    erp.sales_order(customer, number="SO-USD", invoice_date=day, currency="JPY", updated_at=now)
    erp.sales_order(nameless, number="SO-NAMELESS", invoice_date=day, updated_at=now)
    erp.sales_order(customer, number="SO-EMPTY", invoice_date=day, lines=[], total="0",
                    updated_at=now)
    erp.sales_order(customer, number="SO-LATER", invoice_date=date(2026, 11, 27), updated_at=now,
                    lines=[line(account="1460")])  # after the closing date: neither lists it
    erp.sales_order(customer, number="SO-DRAFT", status="confirmed", invoice_date=None,
                    due_date=None, updated_at=now, lines=[line(account="1460")])
    # Purchase orders: the defaults fill an empty account; a bill without a due date is fine
    # here because purchase orders have payment terms in the mapping.
    erp.purchase_order(supplier, number="PO-OK", bill_date=day, updated_at=now,
                       lines=[line(account=None, tax_type="INPUT")])
    erp.purchase_order(supplier, number="PO-TERMS", bill_date=day, due_date=None, updated_at=now,
                       lines=[line(account="1430", tax_type="INPUT")])
    erp.purchase_order(supplier, number="PO-ARCHIVED", bill_date=day, updated_at=now,
                       lines=[line(account="1460", tax_type="INPUT")])
    # Refunds: no default account is mapped for them, so a line without one is refused.
    erp.refund(customer, number="RF-OK", refund_date=day, updated_at=now)
    erp.refund(customer, number="RF-NO-ACCOUNT", refund_date=day, updated_at=now,
               lines=[line(account=None)])
    erp.refund(customer, number="RF-LOCKED", refund_date=date(2026, 1, 15), updated_at=now)
    return {
        Kind.SALES_ORDERS: {"SO-ARCHIVED", "SO-TAX", "SO-LOCKED", "SO-NO-DUE", "SO-UNKNOWN",
                            "SO-VINTAGE", "SO-USD", "SO-NAMELESS", "SO-EMPTY"},
        Kind.PURCHASE_ORDERS: {"PO-ARCHIVED"},
        Kind.REFUNDS: {"RF-NO-ACCOUNT", "RF-LOCKED"},
    }


LOCKED = {Kind.SALES_ORDERS: "SO-LOCKED", Kind.REFUNDS: "RF-LOCKED"}


@pytest.fixture(params=["carry", "hold"])
def world(request, erp, uow_factory):
    expected = winery_with_problems(erp)
    if request.param == "carry":  # sent on the first open day, with their own date noted
        for kind, number in LOCKED.items():
            expected[kind].discard(number)
    with uow_factory() as uow:
        uow.settings.set_preference("locked_period_policy", request.param)
        uow.settings.save_mapping(AccountMapping(
            rounding_account="860",
            # The lines' vintage becomes tracking (SO-VINTAGE's 1999 is no option in Xero).
            tracking=(TrackingMapping("vintage", "Vintage"),),
            trade_defaults={
                Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT"),
                Kind.PURCHASE_ORDERS: TradeDefaults("1430", "INPUT", payment_days=30),
            },
        ))
        uow.commit()
    gateway = FakeGateway(default_chart(lock_date=LOCK))
    clock = FakeClock()
    return expected, gateway, clock, request.param


def test_the_preview_lists_exactly_what_the_sync_refuses_itself(world, uow_factory, reading):
    expected, gateway, clock, policy = world
    preview = PreviewUnsynced(uow_factory, gateway, clock).execute(PreviewRequest(TODAY))
    listed = {kind: {d.number for d in preview.refused[kind].shown} if kind in preview.refused
              else set() for kind in TRADE_KINDS}
    assert listed == expected
    assert {k: f.count for k, f in preview.refused.items()} == {k: len(v) for k, v in expected.items()}
    reasons = {d.number: " ".join(d.reasons) for f in preview.refused.values() for d in f.shown}
    assert "archived" in reasons["SO-ARCHIVED"] and "GSTX" in reasons["SO-TAX"]
    assert "due date" in reasons["SO-NO-DUE"]
    if policy == "hold":
        assert "held back, as Settings ask" in reasons["SO-LOCKED"]
    assert "1999" in reasons["SO-VINTAGE"] and "JPY" in reasons["SO-USD"]
    assert "contact name" in reasons["SO-NAMELESS"] and "no lines" in reasons["SO-EMPTY"]
    assert "no account" in reasons["RF-NO-ACCOUNT"]

    sync = SyncDocuments(uow_factory, clock, ExecuteRun(uow_factory, gateway, clock))
    refused: dict[Kind, set[str]] = {}
    for kind in TRADE_KINDS:
        run = sync.execute(SyncDocumentsRequest(kind, TODAY, "accountant"))
        refused[kind] = {f.number for f in run.failures if f.by == RefusedBy.ACCOUNTS_SYNC.value}
        assert run.failed == len(refused[kind])  # Xero refused nothing: the checks caught it all
        with uow_factory() as uow:
            failed = uow.ledger.failed(kind, 100)
        assert {r.number for r in failed} == refused[kind]
        assert all(r.refused_by is RefusedBy.ACCOUNTS_SYNC and r.state is SyncState.FAILED
                   for r in failed)
    # The two sets are equal, and nothing refused ever reached Xero.
    assert refused == listed
    sent = {o.number for o in gateway.objects.values()}
    assert not sent & set().union(*expected.values())
    assert {"SO-OK-1", "PO-OK", "PO-TERMS", "RF-OK"} <= sent
    if policy == "carry":
        carried = next(o.payload for o in gateway.objects.values() if o.number == "SO-LOCKED")
        assert carried.date == LOCK + timedelta(days=1)
    bill = next(o.payload for o in gateway.objects.values() if o.number == "PO-TERMS")
    assert bill.due_date == date(2026, 12, 2)  # filled from the payment terms
    # Once synced, the next preview lists only what is still refused.
    again = PreviewUnsynced(uow_factory, gateway, clock).execute(PreviewRequest(TODAY))
    assert {k: {d.number for d in f.shown} for k, f in again.refused.items()} == expected


def test_a_fix_in_the_erp_or_in_xero_is_seen_by_the_next_preview(world, uow_factory, engine,
                                                                  reading):
    expected, gateway, clock, _ = world
    previews = PreviewUnsynced(uow_factory, gateway, clock)
    assert "SO-ARCHIVED" in {d.number for d in previews.execute(
        PreviewRequest(TODAY)).refused[Kind.SALES_ORDERS].shown}
    # The accountant restores 1460 in Xero, and corrects the tax type in the ERP (which stamps
    # the document, as the host does).
    gateway.chart_ = default_chart(lock_date=LOCK)
    accounts = tuple(a if a.code != "1460" else type(a)(a.code, a.name, a.type)
                     for a in gateway.chart_.accounts)
    gateway.chart_ = type(gateway.chart_)(gateway.chart_.organisation, accounts,
                                          gateway.chart_.tax_rates, gateway.chart_.tracking)
    lines = host.sales_order_lines
    with engine.begin() as connection:
        so_id = connection.execute(host.sales_orders.select().with_only_columns(
            host.sales_orders.c.id).where(host.sales_orders.c.number == "SO-TAX")).scalar_one()
        connection.execute(update(lines).where(lines.c.sales_order_id == so_id)
                           .values(tax_type="OUTPUT"))
        connection.execute(update(host.sales_orders).where(host.sales_orders.c.id == so_id)
                           .values(updated_at=stamp() + timedelta(seconds=1)))
    after = previews.execute(PreviewRequest(TODAY)).refused[Kind.SALES_ORDERS]
    numbers = {d.number for d in after.shown}
    assert "SO-TAX" not in numbers and "SO-ARCHIVED" not in numbers
    assert numbers == expected[Kind.SALES_ORDERS] - {"SO-TAX", "SO-ARCHIVED"}
