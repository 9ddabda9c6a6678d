"""Corrections end to end: the product wired from configuration, the Xero adapter over real
HTTP and OAuth2, the sandbox keeping Xero's rules, the integration database (SQLite and
PostgreSQL). Each path of DESIGN's "Books over time" table once, through the use cases, with
the sandbox's own state as the witness: edits in place, paid invoices, cancellations, late
costs on posted journals, locked periods, allocations, changes made in Xero, and a crash
between Xero's commit and ours."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, update

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.application.plan_corrections import CorrectionsRequest
from accounts_sync.application.post_journals import PostJournalsRequest
from accounts_sync.application.sync_documents import SyncDocumentsRequest
from accounts_sync.domain.costs import Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping, TradeDefaults
from accounts_sync.domain.sync import JournalMode, RunState

from .fixtures import line
from .test_fault_matrix_harness import (  # noqa: F401 - fixtures
    AU_TENANT_ID,
    make_rig_fixture,
    sandbox_docs,
)
from .test_redis_harness import redis_prefix_fixture, redis_url_fixture  # noqa: F401

TODAY = date.today()
SO, PO, RF, J, C = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS, Kind.JOURNALS,
                    Kind.CORRECTIONS)
D = Decimal


@pytest.fixture
def books(make_rig):
    """The product with an in-process runner (no Redis) against a sandbox, connected, mapped."""
    rig = make_rig(redis_url="", job_queue="in_process", rate_limiter="in_process", batch_size=50)
    app = rig.app()
    rig.connect(app)
    services = rig.container(app)
    with services.unit_of_work() as uow:
        uow.settings.save_mapping(AccountMapping(
            stage_accounts={Stage.ADDITIVES: "1420", Stage.BULK_WINE: "1440",
                            Stage.LOSSES: "5100"},
            tracking=(TrackingMapping("vintage", "Vintage"),),
            rounding_account="860",
            trade_defaults={SO: TradeDefaults("4000", "OUTPUT"), RF: TradeDefaults("4000", "OUTPUT"),
                            PO: TradeDefaults("1430", "INPUT")}))
        uow.commit()
    return rig, app, services


def sync(services, kind, closing=TODAY):
    run = services.sync_documents().execute(SyncDocumentsRequest(kind, closing, "alice"))
    return run


def invoice(rig, number):
    return next(d for d in sandbox_docs(rig.sandbox) if d["InvoiceNumber"] == number)


def credit_notes(rig):
    return sandbox_docs(rig.sandbox, "creditnotes", None)


def add_freight(engine, so_id, amount="50.00"):
    """The ERP adds a freight line (+GST) to a sales order and stamps it."""
    from datetime import UTC, datetime

    with engine.begin() as conn:
        conn.execute(insert(host.sales_order_lines).values(
            sales_order_id=so_id, line_no=9, description="Freight", quantity=1, unit_price=D(amount),
            account_code="4100", tax_type="OUTPUT", tax_amount=D(amount) / 10))
        conn.execute(update(host.sales_orders).where(host.sales_orders.c.id == so_id).values(
            total=host.sales_orders.c.total + D(amount) * D("1.1"),
            updated_at=datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)))


def stamp(engine, table, row_id, **values):
    from datetime import UTC, datetime

    with engine.begin() as conn:
        conn.execute(update(table).where(table.c.id == row_id).values(
            updated_at=datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1), **values))


def test_an_edit_is_applied_in_place_and_a_paid_invoice_gets_a_supplementary_one(books):
    rig, _, services = books
    customer = rig.erp.customer("Harbour Wines")
    day = TODAY - timedelta(days=3)
    plain = rig.erp.sales_order(customer, number="SO-E1", invoice_date=day,
                                lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    paid = rig.erp.sales_order(customer, number="SO-E2", invoice_date=day,
                               lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    assert sync(services, SO).created == 2
    rig.sandbox.pay_document(invoice(rig, "SO-E2")["InvoiceID"], "110.00")
    add_freight(rig.engine, plain)
    add_freight(rig.engine, paid)

    plan = services.plan_corrections().execute(CorrectionsRequest(TODAY, fresh=True))
    assert {c.number: c.action.value for c in plan.corrections} == {"SO-E1": "update",
                                                                    "SO-E2": "adjust"}
    run = sync(services, C)
    assert run.state is RunState.SUCCEEDED and run.created == 2, run.failures
    assert D(str(invoice(rig, "SO-E1")["Total"])) == D("165.00")
    assert D(str(invoice(rig, "SO-E2")["Total"])) == D("110.00")
    supplementary = invoice(rig, "SO-E2-ADJ1")
    assert D(str(supplementary["Total"])) == D("55.00")
    assert supplementary["Reference"] == "Adjustment to SO-E2"
    assert services.plan_corrections().execute(CorrectionsRequest(TODAY)).count == 0


def test_cancellations_are_voided_or_credited_and_allocated(books):
    rig, _, services = books
    customer = rig.erp.customer("Harbour Wines")
    day = TODAY - timedelta(days=3)
    unpaid = rig.erp.sales_order(customer, number="SO-C1", invoice_date=day,
                                 lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    part_paid = rig.erp.sales_order(customer, number="SO-C2", invoice_date=day,
                                    lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    sync(services, SO)
    rig.sandbox.pay_document(invoice(rig, "SO-C2")["InvoiceID"], "10.00")
    stamp(rig.engine, host.sales_orders, unpaid, status="cancelled")
    stamp(rig.engine, host.sales_orders, part_paid, status="cancelled")

    run = sync(services, C)
    assert run.created == 2, run.failures
    assert invoice(rig, "SO-C1")["Status"] == "VOIDED"
    (credit,) = credit_notes(rig)
    assert credit["CreditNoteNumber"] == "SO-C2-ADJ1" and D(str(credit["Total"])) == D("110.00")
    state = services.gateway().object_states(RF, [credit["CreditNoteID"]])[credit["CreditNoteID"]]
    assert state.amount_due == D("10.00"), "allocated for what was owing"
    part = services.gateway().object_states(SO, [invoice(rig, "SO-C2")["InvoiceID"]])
    (part,) = part.values()
    assert part.status == "PAID" and part.amount_due == 0


def test_a_refund_is_allocated_to_the_sale_it_refunds(books):
    rig, _, services = books
    customer = rig.erp.customer("Harbour Wines")
    day = TODAY - timedelta(days=3)
    sale = rig.erp.sales_order(customer, number="SO-R1", invoice_date=day,
                               lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    rig.erp.refund(customer, number="RF-R1", sales_order_id=sale, refund_date=day,
                   lines=[line("Corked", "1", "30.00", tax="3.00")])
    sync(services, SO)
    sync(services, RF)
    assert sync(services, C).created == 1
    (credit,) = credit_notes(rig)
    state = services.gateway().object_states(RF, [credit["CreditNoteID"]])[credit["CreditNoteID"]]
    assert state.amount_due == 0 and len(state.allocations) == 1
    sale_id = invoice(rig, "SO-R1")["InvoiceID"]
    assert services.gateway().object_states(SO, [sale_id])[sale_id].amount_due == D("77.00")


def test_a_late_cost_on_a_posted_journal_and_a_locked_day(books):
    rig, _, services = books
    op = rig.erp.operation("ADD-1", "Addition: tartaric acid", op_type="addition")
    day = TODAY - timedelta(days=10)
    rig.erp.cost_entry(op, day, "addition", "additive", "250.0000", "additives", "bulk_wine",
                       vintage="2025")
    run = services.post_journals().execute(PostJournalsRequest(TODAY, JournalMode.POSTED, "alice"))
    assert run.created == 1, run.failures
    rig.sandbox.set_lock_dates(AU_TENANT_ID, period_lock_date=(day + timedelta(days=1)).isoformat())
    services.gateway().forget_chart()
    rig.erp.cost_entry(op, day, "addition", "additive", "1000.0000", "additives", "bulk_wine",
                       vintage="2025")
    (c,) = services.plan_corrections().execute(CorrectionsRequest(TODAY)).corrections
    assert c.action.value == "adjust_journal" and c.date == day + timedelta(days=2)
    assert sync(services, C).created == 1
    journals = sandbox_docs(rig.sandbox, "manualjournals", None)
    (adjustment,) = [j for j in journals if "#adj1" in j["Narration"]]
    assert adjustment["Status"] == "POSTED" and day.isoformat() in adjustment["Narration"]
    assert sorted(D(str(ln["LineAmount"])) for ln in adjustment["JournalLines"]) == [
        D("-1000.00"), D("1000.00")]


def test_a_void_in_xero_is_seen_and_never_overwritten(books):
    rig, _, services = books
    customer = rig.erp.customer("Harbour Wines")
    so = rig.erp.sales_order(customer, number="SO-X1", invoice_date=TODAY - timedelta(days=2),
                             lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    sync(services, SO)
    rig.sandbox.update_document("invoices", invoice(rig, "SO-X1")["InvoiceID"], {"Status": "VOIDED"})
    from accounts_sync.application.xero_changes import LookRequest

    assert services.look_at_xero().execute(LookRequest(force=True)).changed == 1
    add_freight(rig.engine, so)
    (c,) = services.plan_corrections().execute(CorrectionsRequest(TODAY)).corrections
    assert c.action.value == "decide" and "voided in Xero" in c.reason
    assert sync(services, C).created == 0
    assert invoice(rig, "SO-X1")["Status"] == "VOIDED"


def test_a_crash_after_xero_made_the_adjustment_makes_it_once(books, monkeypatch):
    rig, app, services = books
    customer = rig.erp.customer("Harbour Wines")
    so = rig.erp.sales_order(customer, number="SO-K1", invoice_date=TODAY - timedelta(days=2),
                             lines=[line(quantity="1", unit_price="100.00", tax="10.00")])
    sync(services, SO)
    rig.sandbox.pay_document(invoice(rig, "SO-K1")["InvoiceID"], "10.00")
    add_freight(rig.engine, so)

    class Crash(BaseException):
        pass

    gateway = services.gateway()
    real = type(gateway).push_invoices

    def push_then_die(self, documents, key):
        real(self, documents, key)  # Xero commits...
        raise Crash()  # ...and the worker dies before recording it

    monkeypatch.setattr(type(gateway), "push_invoices", push_then_die)
    with pytest.raises(Crash):
        sync(services, C)
    monkeypatch.undo()
    services.recover_runs().execute(__import__(
        "accounts_sync.application.recover_runs", fromlist=["x"]).RecoverRequest(stale_after=0.001))
    run = sync(services, C)
    assert run.state is RunState.SUCCEEDED, run.message
    adjustments = [d for d in sandbox_docs(rig.sandbox) if d["InvoiceNumber"] == "SO-K1-ADJ1"]
    assert len(adjustments) == 1
    assert services.plan_corrections().execute(CorrectionsRequest(TODAY)).count == 0
