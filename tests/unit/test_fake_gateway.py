"""The in-memory Xero keeps Xero's rules (docs/xero-rules.md), so use-case tests on it mean
something: statuses, what a payment or an allocation blocks, lock dates, allocation limits,
If-Modified-Since, and a ledger whose trial balance balances."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from accounts_sync.application.ports import Allocation, DocumentUpdate, StatusChange
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import DocumentLine, Kind
from accounts_sync.domain.journals import AccountJournal, JournalLine
from accounts_sync.domain.sync import JournalMode
from tests.builders import document
from tests.fakes import FakeClock, FakeGateway, default_chart

SO, PO, RF = Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS
DAY = date(2026, 11, 2)
keys = iter(f"key-{n}" for n in range(10_000))


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))


@pytest.fixture
def xero(clock):
    return FakeGateway(clock=clock)


def sale(amount: str = "100.00", **kw):
    return document(SO, amount=amount, **kw)


def push(xero: FakeGateway, *docs):
    if docs[0].is_credit_note:
        results = xero.push_credit_notes(list(docs), next(keys))
    else:
        results = xero.push_invoices(list(docs), next(keys))
    return results[0] if len(results) == 1 else results


def credit_for(invoice_doc, amount: str = "50.00", kind: Kind = RF, doc_type: str = ""):
    return replace(document(kind, amount=amount, day=invoice_doc.date),
                   contact=invoice_doc.contact, document_type=doc_type, fingerprint="")


def journal(day: date = DAY, amount: str = "100.00", key: str = "") -> AccountJournal:
    key = key or f"{day.isoformat()}-addition"
    value = Decimal(amount)
    return AccountJournal(key, day, MovementType.ADDITION, f"Additions [AS:{key}]",
                          (JournalLine("1440", value), JournalLine("1420", -value)), 1)


def update(xero, xero_id, doc, status=""):
    return xero.update_documents([DocumentUpdate(xero_id, doc, status)], next(keys))[0]


def change(xero, xero_id, doc_type, status):
    return xero.change_status([StatusChange("erp-1", xero_id, doc_type, status)], next(keys))[0]


def balanced(rows) -> bool:
    return sum(r.debit for r in rows) == sum(r.credit for r in rows)


# ------------------------------------------------------------------ creating


def test_an_authorised_invoice_without_a_due_date_is_refused_a_draft_is_not(xero):
    no_due = replace(sale(), due_date=None, fingerprint="")
    assert push(xero, no_due).errors == ("Due Date must be specified.",)
    drafted = xero._push(SO, [no_due], next(keys), "DRAFT")[0]
    assert drafted.created


def test_a_negative_total_is_refused_but_a_negative_line_is_not(xero):
    base = sale("100.00")
    with_discount = replace(base, lines=base.lines + (
        DocumentLine("Discount", Decimal(1), Decimal("-20.00"), "4000", "OUTPUT",
                     Decimal("-2.00")),), fingerprint="")
    assert push(xero, with_discount).created
    assert xero.get(push(xero, sale("80.00")).xero_id).total == Decimal("88.00")
    negative = replace(base, lines=(DocumentLine("Return", Decimal(1), Decimal("-5.00"), "4000",
                                                 "OUTPUT", Decimal("-0.50")),), fingerprint="")
    assert push(xero, negative).errors == ("The document total must not be negative.",)


def test_posting_into_a_locked_period_is_refused_a_draft_is_allowed(xero):
    xero.set_lock_date(date(2026, 10, 31))
    locked = sale(day=date(2026, 10, 31))
    assert "period lock date" in push(xero, locked).errors[0]
    assert push(xero, sale(day=date(2026, 11, 1))).created
    assert xero._push(SO, [locked], next(keys), "DRAFT")[0].created
    assert xero.push_manual_journals([journal(date(2026, 10, 1))], JournalMode.DRAFT,
                                     next(keys))[0].created
    posted = xero.push_manual_journals([journal(date(2026, 10, 2))], JournalMode.POSTED,
                                       next(keys))[0]
    assert "period lock date" in posted.errors[0]


def test_the_xero_type_decides_the_endpoint_and_the_object(xero):
    bill = document(PO, amount="200.00")
    adjustment = credit_for(bill, "30.00", kind=PO, doc_type="ACCPAYCREDIT")
    assert push(xero, bill).created
    made = push(xero, adjustment)
    state = xero.object_states(PO, [made.xero_id])[made.xero_id]
    assert (state.kind, state.document_type, state.total) == (RF, "ACCPAYCREDIT", Decimal("33.00"))
    wrong = xero.push_invoices([adjustment], next(keys))[0]
    assert not wrong.created and "credit notes" not in wrong.errors[0]


# ------------------------------------------------------------------ updating


def test_an_authorised_invoice_with_nothing_applied_is_updated_in_place(xero):
    original = sale("100.00")
    made = push(xero, original)
    edited = replace(sale("150.00", erp_id=original.erp_id), fingerprint="")
    result = update(xero, made.xero_id, edited)
    assert result.created and result.xero_id == made.xero_id
    state = xero.object_states(SO, [made.xero_id])[made.xero_id]
    assert (state.total, state.amount_due, state.status) == (Decimal("165.00"),) * 2 + ("AUTHORISED",)
    # the ledger reversed the first posting and posted the new one
    sources = [(j.source_type, sum(line.net_amount for line in j.lines if line.account_code == "610"))
               for j in xero.ledger]
    assert sources == [("ACCREC", Decimal("110.00")), ("ACCREC", Decimal("-110.00")),
                       ("ACCREC", Decimal("165.00"))]


@pytest.mark.parametrize("paid", ["110.00", "10.00"])
def test_a_paid_or_part_paid_invoice_refuses_updates_and_voids(xero, paid):
    made = push(xero, sale("100.00"))
    xero.pay(made.xero_id, paid)
    applied = "This document cannot be edited as it has a payment or credit note allocated to it."
    assert update(xero, made.xero_id, sale("90.00")).errors == (applied,)
    assert change(xero, made.xero_id, "ACCREC", "VOIDED").errors == (applied,)
    state = xero.object_states(SO, [made.xero_id])[made.xero_id]
    assert state.has_applications and state.amount_paid == Decimal(paid)
    assert state.status == ("PAID" if paid == "110.00" else "AUTHORISED")


def test_a_locked_date_refuses_an_update_old_date_or_new(xero):
    made = push(xero, sale(day=date(2026, 10, 15)))
    xero.set_lock_date(date(2026, 10, 31))
    moved_out = sale(day=date(2026, 11, 5))
    assert "lock date" in update(xero, made.xero_id, moved_out).errors[0]
    fresh = push(xero, sale(day=date(2026, 11, 10)))
    assert "lock date" in update(xero, fresh.xero_id, sale(day=date(2026, 10, 1))).errors[0]
    assert update(xero, fresh.xero_id, sale(day=date(2026, 11, 12))).created


def test_status_moves_follow_xero(xero):
    draft = xero._push(SO, [sale()], next(keys), "DRAFT")[0]
    authorised = push(xero, sale())
    assert change(xero, authorised.xero_id, "ACCREC", "DELETED").errors == (
        "Invoice not of valid status for modification",)
    assert change(xero, draft.xero_id, "ACCREC", "VOIDED").errors == (
        "Invoice not of valid status for modification",)
    assert change(xero, draft.xero_id, "ACCREC", "DELETED").created
    assert change(xero, authorised.xero_id, "ACCREC", "VOIDED").created
    assert update(xero, authorised.xero_id, sale()).errors == (
        "Invoice not of valid status for modification",)
    states = xero.object_states(SO, [draft.xero_id, authorised.xero_id, "nope"])
    assert {i: s.status for i, s in states.items()} == {draft.xero_id: "DELETED",
                                                        authorised.xero_id: "VOIDED"}
    assert update(xero, "nope", sale()).errors  # unknown ids are refused, not created
    # a draft can be authorised by an update, and then it needs a due date
    other = xero._push(SO, [replace(sale(), due_date=None, fingerprint="")], next(keys), "DRAFT")[0]
    assert update(xero, other.xero_id, replace(sale(), due_date=None, fingerprint=""),
                  "AUTHORISED").errors == ("Due Date must be specified.",)
    assert update(xero, other.xero_id, sale(), "AUTHORISED").created


def test_a_void_posts_a_reversal_and_leaves_nothing_in_the_trial_balance(xero):
    made = push(xero, sale("100.00"))
    assert {r.account_code for r in xero.trial_balance(DAY)} == {"4000", "610", "820"}
    change(xero, made.xero_id, "ACCREC", "VOIDED")
    assert xero.trial_balance(DAY) == ()
    assert [j.source_type for j in xero.ledger] == ["ACCREC", "ACCREC"]
    assert xero.ledger[1].date == xero.ledger[0].date


# ------------------------------------------------------------------ manual journals


def test_a_draft_journal_is_rewritten_a_posted_one_is_not(xero):
    draft = xero.push_manual_journals([journal(amount="100.00")], JournalMode.DRAFT, next(keys))[0]
    posted = xero.push_manual_journals([journal(date(2026, 11, 3))], JournalMode.POSTED,
                                       next(keys))[0]
    rewritten = xero.update_manual_journals([(draft.xero_id, journal(amount="120.00"))],
                                            JournalMode.POSTED, next(keys))[0]
    assert rewritten.created and xero.get(draft.xero_id).status == "POSTED"
    refused = xero.update_manual_journals([(posted.xero_id, journal(date(2026, 11, 3), "5.00"))],
                                          JournalMode.POSTED, next(keys))[0]
    assert "posted manual journal" in refused.errors[0]
    assert change(xero, posted.xero_id, "MANJOURNAL", "DELETED").errors
    assert change(xero, posted.xero_id, "MANJOURNAL", "VOIDED").created
    wip = next(r for r in xero.trial_balance(DAY) if r.account_code == "1440")
    assert wip.debit == Decimal("120.00")


# ------------------------------------------------------------------ allocations


def test_a_credit_note_is_allocated_within_both_amounts(xero):
    invoice_doc = sale("100.00")  # 110.00 with GST
    invoice = push(xero, invoice_doc)
    credit = push(xero, credit_for(invoice_doc, "50.00"))  # 55.00
    over = Allocation("a1", credit.xero_id, invoice.xero_id, Decimal("60.00"), DAY)
    assert xero.allocate([over], next(keys))[0].errors == (
        "Credit Note cannot be allocated as amount is greater than amount outstanding",)
    fine = Allocation("a1", credit.xero_id, invoice.xero_id, Decimal("55.00"), DAY)
    key = next(keys)
    assert xero.allocate([fine], key)[0].created
    assert xero.allocate([fine], key)[0].created  # the same key replays the first answer
    states = xero.object_states(RF, [credit.xero_id, invoice.xero_id])
    cn, inv = states[credit.xero_id], states[invoice.xero_id]
    assert cn.allocations == ((invoice.xero_id, Decimal("55.00")),) and cn.status == "PAID"
    assert (inv.amount_credited, inv.amount_due, inv.status) == (Decimal("55.00"), Decimal("55.00"),
                                                                  "AUTHORISED")
    assert cn.has_applications and inv.has_applications
    assert update(xero, invoice.xero_id, invoice_doc).errors == (
        "This document cannot be edited as it has a payment or credit note allocated to it.",)
    # allocations move nothing in the ledger
    assert [j.source_type for j in xero.ledger] == ["ACCREC", "ACCRECCREDIT"]


def test_an_allocation_is_not_idempotent_under_a_new_key(xero):
    invoice_doc = sale("100.00")
    invoice = push(xero, invoice_doc)
    credit = push(xero, credit_for(invoice_doc, "20.00"))  # 22.00
    once = Allocation("a1", credit.xero_id, invoice.xero_id, Decimal("10.00"), DAY)
    xero.allocate([once], next(keys))
    xero.allocate([once], next(keys))
    assert xero.object_states(RF, [credit.xero_id])[credit.xero_id].amount_credited == Decimal("20.00")


def test_allocation_refusals(xero):
    invoice_doc = sale("100.00")
    invoice = push(xero, invoice_doc)
    stranger = push(xero, replace(document(RF, amount="10.00"), contact=replace(
        invoice_doc.contact, name="Someone else"), fingerprint=""))
    supplier_credit = push(xero, credit_for(invoice_doc, "10.00", kind=PO, doc_type="ACCPAYCREDIT"))
    credit = push(xero, credit_for(invoice_doc, "10.00"))

    def refused(credit_id, amount="5.00", day=DAY):
        return xero.allocate([Allocation("a", credit_id, invoice.xero_id, Decimal(amount), day)],
                             next(keys))[0].errors[0]

    assert "same contact" in refused(stranger.xero_id)
    assert refused(supplier_credit.xero_id) == "Credit Note cannot be allocated to an incorrect invoice type"
    assert "before" in refused(credit.xero_id, day=DAY - timedelta(days=1))
    xero.set_lock_date(DAY)
    assert "lock date" in refused(credit.xero_id)
    xero.set_lock_date(None)
    xero.pay(invoice.xero_id, "110.00")
    assert refused(credit.xero_id) == "The invoice you are trying to allocate to has already been paid off"


# ------------------------------------------------------------------ changes seen from outside


def test_changed_since_pages_by_update_time(xero, clock):
    made = [push(xero, sale()) for _ in range(150)]
    assert all(r.created for r in made)
    first = xero.changed_since(SO, None)
    second = xero.changed_since(SO, None, first.next_page)
    assert (len(first.items), first.next_page, len(second.items), second.next_page) == (100, 2, 50, None)
    clock.advance(hours=1)
    mark = clock.now()
    xero.edit(made[7].xero_id, reference="changed in Xero")
    change(xero, made[9].xero_id, "ACCREC", "VOIDED")
    later = xero.changed_since(SO, mark)
    assert [s.xero_id for s in later.items] == [made[7].xero_id, made[9].xero_id]
    assert later.items[1].status == "VOIDED" and later.items[0].reference == "changed in Xero"
    assert xero.changed_since(PO, None).items == ()


def test_a_journal_made_by_someone_else_shows_everywhere(xero, clock):
    mark = clock.now()
    made = xero.record_manual_journal(DAY, [("1450", "250.00"), ("5000", "-250.00")],
                                      "Stocktake adjustment")
    assert [s.xero_id for s in xero.changed_since(Kind.JOURNALS, mark).items] == [made]
    assert xero.journals()[-1].source_type == "MANJOURNAL" and xero.journals()[-1].source_id == made
    rows = {r.account_code: r for r in xero.trial_balance(DAY)}
    assert rows["1450"].debit == Decimal("250.00") and rows["5000"].credit == Decimal("250.00")


# ------------------------------------------------------------------ the ledger


def test_the_trial_balance_balances_after_a_mixed_set(xero):
    invoice_doc = sale("100.00")
    invoice = push(xero, invoice_doc)
    push(xero, document(PO, amount="300.00", account="1430", tax_type="INPUT"))
    credit = push(xero, credit_for(invoice_doc, "20.00"))
    xero.allocate([Allocation("a", credit.xero_id, invoice.xero_id, Decimal("22.00"), DAY)],
                  next(keys))
    xero.pay(invoice.xero_id, "88.00")
    xero.push_manual_journals([journal()], JournalMode.POSTED, next(keys))
    xero.push_manual_journals([journal(date(2026, 11, 4))], JournalMode.DRAFT, next(keys))
    xero._push(SO, [sale("999.00")], next(keys), "DRAFT")
    rows = {r.account_code: r for r in xero.trial_balance(DAY)}
    assert balanced(rows.values())
    assert rows["090"].debit == Decimal("88.00")
    assert "610" not in rows  # 110 invoiced - 22 credited - 88 paid
    assert rows["4000"].credit == Decimal("80.00")
    assert rows["1440"].debit == Decimal("100.00") and rows["1430"].debit == Decimal("300.00")
    assert rows["800"].credit == Decimal("330.00") and rows["820"].debit == Decimal("22.00")
    assert xero.trial_balance(DAY - timedelta(days=1)) == ()


def test_revenue_rolls_into_retained_earnings_at_the_year_end(xero):
    push(xero, sale("100.00", day=date(2026, 6, 30)))
    push(xero, sale("10.00", day=date(2026, 7, 1)))
    rows = {r.account_code: r for r in xero.trial_balance(date(2026, 7, 1))}
    assert rows["4000"].credit == Decimal("10.00") and rows["4000"].section == "Revenue"
    assert rows["960"].credit == Decimal("100.00") and rows["960"].section == "Equity"
    assert rows["610"].debit == Decimal("121.00") and rows["610"].period_debit == Decimal("11.00")
    assert balanced(rows.values())


def test_journals_page_by_offset(xero):
    for _ in range(130):
        push(xero, sale())
    first = xero.journals()
    assert [j.number for j in first] == list(range(1, 101))
    assert [j.number for j in xero.journals(first[-1].number)] == list(range(101, 131))
    assert xero.journals(130) == ()


def test_a_voided_invoice_and_a_deleted_draft_are_not_found_before_a_resend(xero):
    doc = sale()
    made = push(xero, doc)
    change(xero, made.xero_id, "ACCREC", "VOIDED")
    from accounts_sync.domain.sync import SyncRecord

    assert xero.find_existing(SO, [SyncRecord(SO, doc.erp_id, doc.number, "f")]) == {}


def test_the_default_chart_knows_xeros_system_accounts():
    chart = default_chart()
    assert chart.account("610").system_account == "DEBTORS"
    assert chart.account("960").type == "EQUITY"


def test_every_gateway_speaks_the_whole_port_with_the_same_parameter_names():
    """The fake, Xero's adapter and the offline stand-in answer every AccountingGateway call."""
    import inspect

    from accounts_sync.adapters.offline_gateway import OfflineGateway
    from accounts_sync.adapters.xero.gateway import XeroGateway
    from accounts_sync.application.ports import AccountingGateway

    port = {name: list(inspect.signature(member).parameters)
            for name, member in vars(AccountingGateway).items()
            if callable(member) and not name.startswith("_")}
    assert {"object_states", "changed_since", "update_documents", "update_manual_journals",
            "change_status", "allocate", "trial_balance", "journals"} <= set(port)
    for gateway in (FakeGateway, XeroGateway, OfflineGateway):
        for name, parameters in port.items():
            assert list(inspect.signature(getattr(gateway, name)).parameters) == parameters, (
                gateway.__name__, name)
