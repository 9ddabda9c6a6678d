"""The SQL adapter's side of books over time, on real SQLite and PostgreSQL: the ERP's documents
now, deletions and refunds found by anti-joins, the flows of synced journals, correction
records and the changes seen in Xero."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.application.ports import XeroChange
from accounts_sync.domain.corrections import (
    Choice,
    CorrectionAction,
    Decision,
    SentLine,
    SentState,
    XeroSeen,
)
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.journals import journal_key
from accounts_sync.domain.sync import CorrectionLink, SyncRecord, SyncState

SYNCED_AT = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
D = Decimal


def synced(kind: Kind, erp_id: str, number: str = "", **changes) -> SyncRecord:
    return SyncRecord(kind, str(erp_id), number or str(erp_id), changes.pop("fingerprint", "f"),
                      SyncState.SYNCED, xero_id=changes.pop("xero_id", f"x-{kind.value}-{erp_id}"),
                      synced_at=SYNCED_AT, **changes)


def refund(erp_id: str, **changes) -> SyncRecord:
    """A synced refund as a run leaves it: what it sent kept."""
    sent = SentState(date(2026, 3, 2), (SentLine("4000", D("-10.00"), D("-1.00"), "OUTPUT"),),
                     document_type="ACCRECCREDIT")
    return synced(Kind.REFUNDS, erp_id, sent=sent, **changes)


def save(uow_factory, *records):
    with uow_factory() as uow:
        uow.ledger.save_records(list(records))
        uow.commit()


def test_documents_now_answers_every_id_with_the_document_or_why_it_no_longer_counts(erp, uow_factory):
    customer = erp.customer()
    live = erp.sales_order(customer)
    cancelled = erp.sales_order(customer, status="cancelled")
    sale = erp.sales_order(customer)
    refund = erp.refund(customer, sales_order_id=sale)
    with uow_factory() as uow:
        now = uow.documents.documents_now(Kind.SALES_ORDERS, [str(live), str(cancelled), "999999"])
        refunds = uow.documents.documents_now(Kind.REFUNDS, [str(refund)])
    assert now[str(live)].document is not None and now[str(live)].gone == ""
    assert now[str(cancelled)].document is None and now[str(cancelled)].gone == "cancelled in the ERP"
    assert now["999999"].document is None and now["999999"].gone == "deleted in the ERP"
    assert refunds[str(refund)].refund_of == str(sale)


def test_removed_after_sync_finds_deleted_documents_not_yet_corrected(erp, uow_factory, clean_db):
    customer = erp.customer()
    kept, gone, done = (erp.sales_order(customer) for _ in range(3))
    save(uow_factory, synced(Kind.SALES_ORDERS, kept), synced(Kind.SALES_ORDERS, gone),
         synced(Kind.SALES_ORDERS, done, fingerprint="removed:abc"))
    with clean_db.begin() as connection:
        for table, column in ((host.sales_order_lines, "sales_order_id"), (host.sales_orders, "id")):
            connection.execute(delete(table).where(table.c[column].in_([gone, done])))
    with uow_factory() as uow:
        assert uow.documents.removed_after_sync(Kind.SALES_ORDERS, 10) == [str(gone)]


def test_refunds_to_allocate_are_synced_refunds_of_synced_sales_not_yet_allocated(erp, uow_factory):
    customer = erp.customer()
    sale, other_sale = erp.sales_order(customer), erp.sales_order(customer)
    to_allocate = erp.refund(customer, sales_order_id=sale)
    allocated = erp.refund(customer, sales_order_id=sale)
    sale_not_synced = erp.refund(customer, sales_order_id=other_sale)
    no_sale = erp.refund(customer)
    later = erp.refund(customer, sales_order_id=sale, refund_date=date(2027, 1, 1))
    # Nothing to plan from without an object in Xero, or what the refund sent.
    not_in_xero = erp.refund(customer, sales_order_id=sale)
    sent_unknown = erp.refund(customer, sales_order_id=sale)
    save(uow_factory, synced(Kind.SALES_ORDERS, sale),
         *(refund(r) for r in (to_allocate, allocated, sale_not_synced, no_sale, later)),
         refund(not_in_xero, xero_id=""), synced(Kind.REFUNDS, sent_unknown),
         SyncRecord(Kind.CORRECTIONS, f"refunds:{allocated}:1", "RF", "allocated:x",
                    SyncState.SYNCED, correction=CorrectionLink(Kind.REFUNDS, str(allocated),
                                                                CorrectionAction.ALLOCATE)))
    with uow_factory() as uow:
        assert uow.documents.refunds_to_allocate(date(2026, 12, 31), 10) == [(str(to_allocate), str(sale))]


def test_synced_cost_flows_are_the_synced_days_only_and_follow_late_entries(erp, uow_factory):
    op = erp.operation()
    day, other = date(2026, 3, 2), date(2026, 3, 3)
    erp.cost_entry(op, day, "bottling", amount="100.0000")
    erp.cost_entry(op, other, "bottling", amount="7.0000")
    save(uow_factory, synced(Kind.JOURNALS, journal_key(day, MovementType.BOTTLING)))
    with uow_factory() as uow:
        flows = uow.documents.synced_cost_flows(date(2026, 3, 31))
        unsynced = uow.documents.cost_flows(date(2026, 3, 31))
    assert {f.date for f in flows} == {day} and sum(f.amount for f in flows) == D("100")
    assert {f.date for f in unsynced} == {other}
    erp.cost_entry(op, day, "bottling", amount="0.5000")  # a late cost on the synced day
    with uow_factory() as uow:
        assert sum(f.amount for f in uow.documents.synced_cost_flows(date(2026, 3, 31))) == D("100.5")


def test_a_record_keeps_what_it_sent_its_xero_side_its_decision_and_its_corrections(uow_factory):
    sent = SentState(date(2026, 3, 2), (SentLine("4000", D("100.00"), D("10.00"), "OUTPUT"),),
                     "c1", "Harbour Wines", "AUD", "ACCREC", "Exclusive")
    original = synced(Kind.SALES_ORDERS, "7", "SO-7", sent=sent, xero_status="AUTHORISED",
                      read_at=SYNCED_AT,
                      xero_seen=XeroSeen(D("110.00"), D("60.00"), True, False, ""),
                      decision=Decision(Choice.ADJUST, "fp", "accountant"))
    link = CorrectionLink(Kind.SALES_ORDERS, "7", CorrectionAction.ADJUST, "x-sales_orders-7",
                          net_change=D("55.00"), amount=D("55.00"), due_before=D("60.00"),
                          day=date(2026, 3, 9), number="SO-7-ADJ1", document_type="ACCREC",
                          previous=sent, reason="cannot be changed in Xero")
    correction = SyncRecord(Kind.CORRECTIONS, "sales_orders:7:1", "SO-7", "new",
                            SyncState.IN_FLIGHT, sent=replace(sent, lines=sent.lines * 2),
                            correction=link)
    save(uow_factory, original, correction)
    with uow_factory() as uow:
        assert uow.ledger.records(Kind.SALES_ORDERS, ["7"])["7"] == original
        assert uow.ledger.corrections_of([(Kind.SALES_ORDERS, "7")]) == {
            (Kind.SALES_ORDERS, "7"): [correction]}
        assert uow.ledger.in_flight(Kind.CORRECTIONS) == [correction]
        assert uow.ledger.records_by_xero_id(["x-sales_orders-7"])["x-sales_orders-7"] == original
        assert uow.ledger.first_synced_at() == SYNCED_AT


def test_changes_seen_in_xero_are_kept_once_per_object_latest_first(uow_factory):
    at = datetime(2026, 4, 2, tzinfo=UTC)
    first = XeroChange(Kind.SALES_ORDERS, "inv-1", "SO-1", "AUTHORISED", D("110.00"), at,
                       "https://go.xero.com/x", "1", "its total is 90.00 in Xero", "ACCREC")
    theirs = XeroChange(Kind.JOURNALS, "mj-1", "Write-off", "POSTED", D("12.00"),
                        at + timedelta(hours=1), "", None, "made in Xero")
    with uow_factory() as uow:
        uow.ledger.save_xero_changes([first, theirs])
        uow.ledger.save_xero_changes([replace(first, status="VOIDED")])
        uow.commit()
    with uow_factory() as uow:
        assert [c.xero_id for c in uow.ledger.xero_changes(10)] == ["mj-1", "inv-1"]
        assert [c.status for c in uow.ledger.xero_changes(10, ours_only=True)] == ["VOIDED"]


def test_synced_journals_are_the_journal_records_up_to_the_closing_date(uow_factory):
    a = journal_key(date(2026, 3, 2), MovementType.BOTTLING)
    b = journal_key(date(2026, 4, 2), MovementType.LOSS)
    save(uow_factory, synced(Kind.JOURNALS, a), synced(Kind.JOURNALS, b))
    with uow_factory() as uow:
        assert uow.ledger.synced_journals(date(2026, 3, 31)) == {a: "f"}


def test_no_allocation_is_proposed_from_a_used_credit_or_to_a_paid_invoice(erp, uow_factory):
    customer = erp.customer()
    paid_sale, open_sale = erp.sales_order(customer), erp.sales_order(customer)
    to_paid = erp.refund(customer, sales_order_id=paid_sale)
    used = erp.refund(customer, sales_order_id=open_sale)
    fine = erp.refund(customer, sales_order_id=open_sale)
    save(uow_factory, synced(Kind.SALES_ORDERS, paid_sale, xero_status="PAID"),
         synced(Kind.SALES_ORDERS, open_sale, xero_status="AUTHORISED"),
         refund(to_paid), refund(used, xero_status="PAID"),
         refund(fine, xero_status="AUTHORISED"))
    with uow_factory() as uow:
        assert uow.documents.refunds_to_allocate(date(2026, 12, 31), 10) == [(str(fine), str(open_sale))]


def test_a_record_marked_read_is_no_longer_a_candidate_until_saved_again(erp, uow_factory):
    customer = erp.customer()
    so = erp.sales_order(customer, updated_at=datetime(2026, 4, 2, 9))
    save(uow_factory, synced(Kind.SALES_ORDERS, so, read_at=SYNCED_AT))
    with uow_factory() as uow:
        assert [c.erp_id for c in uow.documents.changed_after_sync(Kind.SALES_ORDERS, 10)] == [str(so)]
        uow.ledger.mark_read(Kind.SALES_ORDERS, [str(so)], datetime(2026, 4, 2, 10, tzinfo=UTC))
        uow.commit()
    with uow_factory() as uow:
        assert uow.documents.changed_after_sync(Kind.SALES_ORDERS, 10) == []


def test_sent_unknown_names_the_records_that_kept_nothing_of_what_they_sent(uow_factory, clean_db):
    from sqlalchemy import null, update

    from accounts_sync.adapters.erp_sql.plugin_tables import SyncRecordRow

    kept, json_null, sql_null = (journal_key(date(2026, 3, day), MovementType.BOTTLING) for day in (2, 3, 4))
    sent = SentState(date(2026, 3, 2), (SentLine("1400", D("10.00"), D("0"), "BASEXCLUDED"),))
    save(uow_factory, synced(Kind.JOURNALS, kept, sent=sent), synced(Kind.JOURNALS, json_null, "J-3"),
         synced(Kind.JOURNALS, sql_null, "J-4", sent=sent))
    with clean_db.begin() as connection:  # as a row written before the column was filled
        connection.execute(update(SyncRecordRow.__table__)
                           .where(SyncRecordRow.__table__.c.erp_id == sql_null).values(sent=null()))
    with uow_factory() as uow:
        assert uow.ledger.sent_unknown(Kind.JOURNALS, [kept, json_null, sql_null, "nope"]) == {
            json_null: "J-3", sql_null: "J-4"}
        assert uow.ledger.records(Kind.JOURNALS, [sql_null])[sql_null].sent is None
