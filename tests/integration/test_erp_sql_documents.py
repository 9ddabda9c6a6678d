"""SqlDocumentSource against real SQLite and PostgreSQL databases."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, event

from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import decode_cursor, encode_cursor
from accounts_sync.domain.costs import CostCategory, MovementType, Stage
from accounts_sync.domain.documents import Contact, Kind, LineAmountTypes
from accounts_sync.domain.errors import InvalidRequest
from accounts_sync.domain.journals import journal_key
from accounts_sync.domain.sync import SyncRecord, SyncState

from .fixtures import line

CLOSING = date(2026, 3, 31)
SYNCED_AT = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


@contextmanager
def count_queries(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


def record(kind: Kind, erp_id: int | str, state: SyncState, error: str = "") -> SyncRecord:
    synced_at = SYNCED_AT if state is SyncState.SYNCED else None
    return SyncRecord(kind, str(erp_id), f"N-{erp_id}", "f" * 64, state=state,
                      xero_id="x-1" if state is SyncState.SYNCED else None,
                      last_error=error, synced_at=synced_at)


def save(uow_factory, *records: SyncRecord) -> None:
    with uow_factory() as uow:
        uow.ledger.save_records(list(records))
        uow.commit()


# ------------------------------------------------------------------ what counts as unsynced


def test_statuses_and_dates_decide_what_counts(uow_factory, erp):
    customer, supplier = erp.customer(), erp.supplier()
    counted = [
        erp.sales_order(customer, invoice_date=date(2026, 3, 5), total="100.00"),
        erp.sales_order(customer, invoice_date=CLOSING, total="50.25"),  # on the closing day
    ]
    erp.sales_order(customer, invoice_date=date(2026, 4, 1), total="7.00")  # after closing
    erp.sales_order(customer, status="confirmed", invoice_date=None, total="9.00")
    erp.sales_order(customer, status="draft", invoice_date=date(2026, 3, 1), total="9.00")
    erp.sales_order(customer, status="cancelled", invoice_date=date(2026, 3, 1), total="9.00")
    erp.purchase_order(supplier, bill_date=date(2026, 3, 9), total="5500.00")
    erp.purchase_order(supplier, status="received", bill_date=None, total="1.00")
    erp.refund(customer, refund_date=date(2026, 3, 20), total="50.00")
    erp.refund(customer, status="draft", refund_date=date(2026, 3, 2), total="50.00")

    with uow_factory() as uow:
        sales = uow.documents.summarize_unsynced(Kind.SALES_ORDERS, CLOSING)
        purchases = uow.documents.summarize_unsynced(Kind.PURCHASE_ORDERS, CLOSING)
        refunds = uow.documents.summarize_unsynced(Kind.REFUNDS, CLOSING)
        page = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, None, 50)
        empty = uow.documents.summarize_unsynced(Kind.SALES_ORDERS, date(2026, 3, 1))

    assert (sales.count, sales.total, sales.earliest) == (2, Decimal("150.25"), date(2026, 3, 5))
    assert (purchases.count, purchases.total, purchases.earliest) == (1, Decimal("5500.00"), date(2026, 3, 9))
    assert (refunds.count, refunds.total, refunds.earliest) == (1, Decimal("50.00"), date(2026, 3, 20))
    assert [int(item.erp_id) for item in page.items] == counted
    assert (empty.count, empty.total, empty.earliest) == (0, Decimal("0.00"), None)


def test_synced_documents_disappear_failed_and_in_flight_stay(uow_factory, erp):
    customer = erp.customer()
    synced, failed, in_flight, fresh = (
        erp.sales_order(customer, total=t) for t in ("10.00", "20.00", "30.00", "40.00")
    )
    save(
        uow_factory,
        record(Kind.SALES_ORDERS, synced, SyncState.SYNCED),
        record(Kind.SALES_ORDERS, failed, SyncState.FAILED, "Account 9999 is not valid."),
        record(Kind.SALES_ORDERS, in_flight, SyncState.IN_FLIGHT),
        # The same id synced as another kind hides nothing.
        record(Kind.REFUNDS, fresh, SyncState.SYNCED),
    )
    with uow_factory() as uow:
        totals = uow.documents.summarize_unsynced(Kind.SALES_ORDERS, CLOSING)
        page = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, None, 10)
        chunk = uow.documents.next_unsynced(Kind.SALES_ORDERS, CLOSING, None, 10)

    assert (totals.count, totals.total) == (3, Decimal("90.00"))
    states = {int(i.erp_id): (i.sync_state, i.last_error) for i in page.items}
    assert states == {
        failed: ("failed", "Account 9999 is not valid."),
        in_flight: ("in_flight", ""),
        fresh: ("pending", ""),
    }
    assert [int(d.erp_id) for d in chunk] == [failed, in_flight, fresh]


def test_money_is_summed_exactly_over_many_rows(uow_factory, erp):
    customer = erp.customer()
    # 0.1 + 0.2 style values: a float sum of these drifts; ours must not.
    totals = [("0.10", "0.20", "0.70", "1234567.89", "-0.01", "33.33")[i % 6] for i in range(3000)]
    erp.many_sales_orders(customer, totals)
    with uow_factory() as uow:
        summary = uow.documents.summarize_unsynced(Kind.SALES_ORDERS, CLOSING)
        page = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, None, 6)
    assert summary.count == 3000
    assert summary.total == sum((Decimal(t) for t in totals), Decimal("0.00"))
    assert summary.total == Decimal("617301105.00")
    assert [i.total for i in page.items] == [Decimal(t) for t in totals[:6]]


# ------------------------------------------------------------------ keyset pagination


def test_keyset_pages_have_no_duplicates_or_gaps_and_are_stable(uow_factory, erp):
    customer = erp.customer("Northern Distributors")
    days = [date(2026, 3, 1) + timedelta(days=i % 7) for i in range(57)]  # many ties per day
    ids = erp.many_sales_orders(customer, ["10.00"] * 57, dates=days)
    expected = [i for _, i in sorted(zip(days, ids, strict=True))]

    seen: list[int] = []
    cursors: list[str | None] = [None]
    with uow_factory() as uow:
        while True:
            page = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, cursors[-1], 10)
            seen += [int(i.erp_id) for i in page.items]
            if page.next_cursor is None:
                break
            cursors.append(page.next_cursor)
        again = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, cursors[3], 10)

    assert seen == expected
    assert len(cursors) == 6  # 57 documents, 10 a page
    assert [int(i.erp_id) for i in again.items] == expected[30:40]

    # A document synced meanwhile does not shift what follows the cursor.
    save(uow_factory, record(Kind.SALES_ORDERS, expected[5], SyncState.SYNCED))
    with uow_factory() as uow:
        later = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, cursors[3], 10)
    assert [int(i.erp_id) for i in later.items] == expected[30:40]


def test_a_list_page_is_one_query(uow_factory, erp, clean_db):
    customer = erp.customer("Cellar Door")
    erp.many_sales_orders(customer, ["1.00"] * 30)
    with uow_factory() as uow:
        first = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, None, 10)
        with count_queries(clean_db) as statements:
            page = uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, first.next_cursor, 10)
    assert len(statements) == 1
    item = page.items[0]
    assert item.contact_name == "Cellar Door"
    assert item.url == f"http://erp.test/erp/sales-orders/{item.erp_id}"
    assert item.currency == "AUD"


def test_cursors_are_opaque_and_checked(uow_factory, erp):
    cursor = encode_cursor(date(2026, 3, 4), "123")
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode_cursor(cursor) == (date(2026, 3, 4), 123)
    with uow_factory() as uow, pytest.raises(InvalidRequest):
        uow.documents.list_unsynced(Kind.SALES_ORDERS, CLOSING, "not-a-cursor", 10)


def test_journals_are_not_trade_documents(uow_factory):
    with uow_factory() as uow, pytest.raises(InvalidRequest):
        uow.documents.summarize_unsynced(Kind.JOURNALS, CLOSING)


# ------------------------------------------------------------------ whole documents


def test_next_unsynced_reads_whole_documents_in_chunks_with_two_queries_each(uow_factory, erp, clean_db):
    customer = erp.customer("Harbour Wines", email="accounts@harbour.example")
    orders = [
        erp.sales_order(
            customer, invoice_date=date(2026, 3, 1 + i), due_date=date(2026, 4, 1 + i),
            reference=f"PO-HW-{i}",
            lines=[
                line("2024 Reserve Shiraz", "12", "45.50", tax="54.60", vintage="2024", brand="Reserve"),
                line("Freight", "1", "20.00", tax="2.00", account="4100", vintage=None, brand=None),
                line("2023 Estate Riesling", "6", "19.9999", tax="12.00", account=None, tax_type=None,
                     vintage="2023", item_code="RIES-23"),
            ],
        )
        for i in range(5)
    ]
    chunks = []
    after = None
    with uow_factory() as uow:
        while True:
            with count_queries(clean_db) as statements:
                chunk = uow.documents.next_unsynced(Kind.SALES_ORDERS, CLOSING, after, 2)
            if not chunk:
                break
            assert len(statements) == 2
            chunks.append(chunk)
            after = (chunk[-1].date, chunk[-1].erp_id)

    assert [len(c) for c in chunks] == [2, 2, 1]
    documents = [d for c in chunks for d in c]
    assert [int(d.erp_id) for d in documents] == orders
    first = documents[0]
    assert first.kind is Kind.SALES_ORDERS
    assert first.contact == Contact(f"customer:{customer}", "Harbour Wines", "accounts@harbour.example")
    assert (first.date, first.due_date) == (date(2026, 3, 1), date(2026, 4, 1))
    assert first.reference == "PO-HW-0"
    assert first.number.startswith("SO-")
    assert first.currency == "AUD"
    assert first.line_amount_types is LineAmountTypes.EXCLUSIVE
    assert first.url == f"http://erp.test/erp/sales-orders/{orders[0]}"
    shiraz, freight, riesling = first.lines
    assert (shiraz.description, shiraz.quantity, shiraz.unit_amount, shiraz.tax_amount) == (
        "2024 Reserve Shiraz", Decimal("12"), Decimal("45.50"), Decimal("54.60"))
    # The batch's attributes as the ERP has them; the mapping (applied by the use cases) makes
    # them tracking, so the adapter hard-codes no category.
    assert shiraz.attributes == (("brand", "Reserve"), ("vintage", "2024"))
    assert shiraz.tracking == ()
    assert (freight.account_code, freight.attributes) == ("4100", ())
    assert (riesling.account_code, riesling.tax_type, riesling.item_code) == ("", "", "RIES-23")
    assert riesling.unit_amount == Decimal("19.9999")
    assert riesling.attributes == (("vintage", "2023"),)
    assert first.total == Decimal("546.00") + Decimal("20.00") + Decimal("120.00") + Decimal("68.60")
    assert first.fingerprint and first.fingerprint == first.compute_fingerprint()


def test_purchase_orders_and_refunds_carry_their_references(uow_factory, erp):
    customer, supplier = erp.customer(), erp.supplier("Valley Growers")
    po = erp.purchase_order(supplier, number="PO-000777", bill_date=date(2026, 3, 3),
                            due_date=date(2026, 4, 30), supplier_invoice_number="INV-55")
    sale = erp.sales_order(customer, number="SO-000123")
    refund = erp.refund(customer, number="RF-000009", sales_order_id=sale, refund_date=date(2026, 3, 4))
    loose = erp.refund(customer, number="RF-000010", refund_date=date(2026, 3, 5))
    with uow_factory() as uow:
        (bill,) = uow.documents.next_unsynced(Kind.PURCHASE_ORDERS, CLOSING, None, 10)
        credits = uow.documents.next_unsynced(Kind.REFUNDS, CLOSING, None, 10)
    assert (bill.erp_id, bill.number, bill.reference) == (str(po), "PO-000777", "PO-000777")
    assert bill.supplier_invoice_number == "INV-55"
    assert all(c.supplier_invoice_number == "" for c in credits)
    assert bill.contact.erp_id == f"supplier:{supplier}"
    assert bill.due_date == date(2026, 4, 30)
    assert bill.url == f"http://erp.test/erp/purchase-orders/{po}"
    assert bill.lines[0].quantity == Decimal("2.5")
    assert [(c.erp_id, c.number, c.reference, c.due_date) for c in credits] == [
        (str(refund), "RF-000009", "SO-000123", None),
        (str(loose), "RF-000010", "", None),
    ]
    assert credits[0].url == f"http://erp.test/erp/refunds/{refund}"


def test_get_documents_by_id_in_any_status(uow_factory, erp):
    customer = erp.customer()
    draft = erp.sales_order(customer, status="draft", invoice_date=None, order_date=date(2026, 2, 1))
    invoiced = erp.sales_order(customer)
    with uow_factory() as uow:
        found = uow.documents.get_documents(Kind.SALES_ORDERS, [str(invoiced), "999999", str(draft), "x"])
    assert [(d.erp_id, d.date) for d in found] == [(str(invoiced), date(2026, 3, 2)),
                                                   (str(draft), date(2026, 2, 1))]
    assert all(d.lines for d in found)


# ------------------------------------------------------------------ production costs


def test_cost_flows_are_summed_per_day_movement_and_tracking(uow_factory, erp):
    op = erp.operation("BTL-0412", "Bottling BTL-0412: 2024 Reserve Shiraz, 4,800 bottles")
    day = date(2026, 3, 4)
    erp.many_cost_entries(op, [
        {"entry_date": day, "amount": "0.1000", "vintage": "2024", "brand": "Reserve"} for _ in range(1000)
    ] + [
        {"entry_date": day, "amount": "0.2000", "vintage": "2024", "brand": "Reserve"} for _ in range(1000)
    ] + [
        {"entry_date": day, "amount": "12.3456", "cost_category": "labour", "from_stage": "overhead",
         "to_stage": "bulk_wine", "vintage": None, "brand": "Estate"},
        {"entry_date": day, "movement_type": "addition", "cost_category": "additive", "amount": "5.0000",
         "from_stage": "additives", "to_stage": "bulk_wine"},
        {"entry_date": date(2026, 4, 2), "amount": "99.0000"},  # after the closing date
    ])
    with uow_factory() as uow:
        flows = uow.documents.cost_flows(CLOSING)
    by_key = {(f.movement_type, f.category, f.tracking): f for f in flows}
    assert len(flows) == 3
    dry = by_key[(MovementType.BOTTLING, CostCategory.DRY_GOODS, (("brand", "Reserve"), ("vintage", "2024")))]
    assert (dry.date, dry.amount, dry.entry_count) == (day, Decimal("300.0000"), 2000)
    assert (dry.from_stage, dry.to_stage) == (Stage.DRY_GOODS, Stage.FINISHED_GOODS)
    labour = by_key[(MovementType.BOTTLING, CostCategory.LABOUR, (("brand", "Estate"),))]
    assert (labour.amount, labour.entry_count, labour.from_stage) == (Decimal("12.3456"), 1, Stage.OVERHEAD)
    addition = by_key[(MovementType.ADDITION, CostCategory.ADDITIVE, ())]
    assert addition.amount == Decimal("5.0000")


def test_cost_flows_leave_out_synced_journals_only(uow_factory, erp):
    op = erp.operation()
    for day in (date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)):
        erp.cost_entry(op, day, "bottling", amount="10.0000")
        erp.cost_entry(op, day, "addition", "additive", "1.0000", "additives", "bulk_wine")
    save(
        uow_factory,
        record(Kind.JOURNALS, journal_key(date(2026, 3, 4), MovementType.BOTTLING), SyncState.SYNCED),
        record(Kind.JOURNALS, journal_key(date(2026, 3, 5), MovementType.BOTTLING), SyncState.FAILED),
        record(Kind.JOURNALS, journal_key(date(2026, 3, 6), MovementType.ADDITION), SyncState.IN_FLIGHT),
    )
    with uow_factory() as uow:
        keys = {journal_key(f.date, f.movement_type) for f in uow.documents.cost_flows(CLOSING)}
    assert keys == {
        "2026-03-04-addition", "2026-03-05-bottling", "2026-03-05-addition",
        "2026-03-06-bottling", "2026-03-06-addition",
    }


def test_cost_entries_name_and_link_their_operations(uow_factory, erp):
    day = date(2026, 3, 4)
    bottling = erp.operation("BTL-0412", "Bottling BTL-0412: 2024 Reserve Shiraz, 4,800 bottles")
    labour = erp.operation("LAB-0099", "Bottling line crew, 6 h")
    first = erp.cost_entry(bottling, day, "bottling", "dry_goods", "1520.1234", vintage="2024",
                           brand="Reserve", description="Glass and closures")
    second = erp.cost_entry(labour, day, "bottling", "labour", "300.0000", "overhead", "finished_goods")
    erp.cost_entry(bottling, day, "addition", "additive", "3.0000", "additives", "bulk_wine")
    erp.cost_entry(bottling, date(2026, 3, 5), "bottling", "dry_goods", "3.0000")
    with uow_factory() as uow:
        entries = uow.documents.cost_entries(day, MovementType.BOTTLING)
        url = uow.documents.journal_url("2026-03-04-bottling")
    assert [e.erp_id for e in entries] == [str(first), str(second)]
    glass, crew = entries
    assert glass.operation.number == "BTL-0412"
    assert glass.operation.description == "Bottling BTL-0412: 2024 Reserve Shiraz, 4,800 bottles"
    assert glass.operation.url == f"http://erp.test/erp/operations/{bottling}"
    assert (glass.amount, glass.category, glass.to_stage) == (
        Decimal("1520.1234"), CostCategory.DRY_GOODS, Stage.FINISHED_GOODS)
    assert glass.tracking == (("brand", "Reserve"), ("vintage", "2024"))
    assert glass.description == "Glass and closures"
    assert (crew.operation.erp_id, crew.from_stage, crew.tracking) == (str(labour), Stage.OVERHEAD, ())
    assert url == "http://erp.test/accounts/sync/journals/2026-03-04-bottling"


# ------------------------------------------------------------------ changed after sync


def test_documents_edited_after_their_sync_are_reported(uow_factory, erp):
    customer = erp.customer()
    edited, untouched, unsynced = (erp.sales_order(customer) for _ in range(3))
    save(uow_factory, record(Kind.SALES_ORDERS, edited, SyncState.SYNCED),
         record(Kind.SALES_ORDERS, untouched, SyncState.SYNCED))
    erp.touch(host.sales_orders, edited, datetime(2026, 4, 2, 8, 0))
    erp.touch(host.sales_orders, unsynced, datetime(2026, 4, 2, 8, 0))
    with uow_factory() as uow:
        changed = uow.documents.changed_after_sync(Kind.SALES_ORDERS, 20)
        none_for_refunds = uow.documents.changed_after_sync(Kind.REFUNDS, 20)
    assert [(c.kind, c.erp_id, c.number, c.xero_id) for c in changed] == [
        (Kind.SALES_ORDERS, str(edited), f"N-{edited}", "x-1")]
    assert changed[0].synced_at == SYNCED_AT
    assert none_for_refunds == []


def test_journals_with_cost_entries_added_or_edited_after_sync_are_reported(uow_factory, erp):
    op = erp.operation()
    day_edited, day_added, day_quiet = date(2026, 3, 4), date(2026, 3, 5), date(2026, 3, 6)
    edited = erp.cost_entry(op, day_edited, "bottling")
    erp.cost_entry(op, day_added, "bottling")
    erp.cost_entry(op, day_quiet, "bottling")
    keys = [journal_key(d, MovementType.BOTTLING) for d in (day_edited, day_added, day_quiet)]
    save(uow_factory, *(record(Kind.JOURNALS, k, SyncState.SYNCED) for k in keys))
    erp.touch(host.cost_entries, edited, datetime(2026, 4, 3))
    erp.cost_entry(op, day_added, "bottling", created_at=datetime(2026, 4, 3))
    with uow_factory() as uow:
        changed = uow.documents.changed_after_sync(Kind.JOURNALS, 20)
        limited = uow.documents.changed_after_sync(Kind.JOURNALS, 1)
    assert [c.erp_id for c in changed] == keys[:2]
    assert len(limited) == 1


def test_cost_flows_match_a_plain_python_sum_over_scattered_entries(uow_factory, erp):
    """The loose index scan must visit every (day, movement) pair: first, last, lone ones."""
    import random

    rnd = random.Random(7)
    op = erp.operation()
    movements = [m.value for m in MovementType]
    rows = []
    for _ in range(400):
        day = date(2026, 2, 1) + timedelta(days=rnd.choice([0, 1, 2, 5, 13, 27, 40, 58, 59]))
        rows.append({
            "entry_date": day, "movement_type": rnd.choice(movements),
            "cost_category": rnd.choice(["fruit", "labour"]), "from_stage": "overhead",
            "to_stage": rnd.choice(["bulk_wine", "finished_goods"]),
            "amount": f"{rnd.randint(-5000, 99999) / 10000:.4f}",
            "vintage": rnd.choice([None, "2023", "2024"]), "brand": rnd.choice([None, "Estate"]),
        })
    erp.many_cost_entries(op, rows)
    closing = date(2026, 3, 31)  # leaves out the days after it
    pairs = sorted({(r["entry_date"], r["movement_type"]) for r in rows if r["entry_date"] <= closing})
    synced = set(rnd.sample(pairs, len(pairs) // 3))
    save(uow_factory, *(record(Kind.JOURNALS, journal_key(d, MovementType(m)), SyncState.SYNCED)
                        for d, m in synced))

    expected: dict[tuple, list] = {}
    for r in rows:
        if r["entry_date"] > closing or (r["entry_date"], r["movement_type"]) in synced:
            continue
        key = (r["entry_date"], r["movement_type"], r["cost_category"], r["to_stage"],
               tuple((k, r[k]) for k in ("brand", "vintage") if r[k]))
        total = expected.setdefault(key, [Decimal("0"), 0])
        total[0] += Decimal(r["amount"])
        total[1] += 1
    with uow_factory() as uow:
        flows = uow.documents.cost_flows(closing)
    got = {(f.date, f.movement_type.value, f.category.value, f.to_stage.value, f.tracking):
           [f.amount, f.entry_count] for f in flows}
    assert got == expected
    assert len(flows) == len(got)


def test_no_cost_entries_no_flows(uow_factory, erp):
    with uow_factory() as uow:
        assert uow.documents.cost_flows(CLOSING) == []
    op = erp.operation()
    erp.cost_entry(op, date(2026, 4, 5))  # only after the closing date
    with uow_factory() as uow:
        assert uow.documents.cost_flows(CLOSING) == []
