"""The correction planner (domain.corrections): every row of DESIGN's "Books over time" table,
both sides of each rule, on plain domain objects."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.domain.corrections import (
    Choice,
    CorrectionAction,
    Decision,
    LockPolicy,
    Original,
    Period,
    SentLine,
    XeroSide,
    carry_document,
    line_difference,
    plan_allocation,
    plan_document,
    plan_journal,
    sent_state_of_document,
    sent_state_of_journal,
)
from accounts_sync.domain.costs import CostFlow, MovementType
from accounts_sync.domain.documents import Contact, DocumentLine, Kind
from accounts_sync.domain.journals import build_journals
from tests.builders import document, entry, mapping

D = Decimal
OPEN = Period()
DAY = date(2026, 11, 18)


def sale(amount="100.00", **kwargs):
    return document(Kind.SALES_ORDERS, day=DAY, amount=amount, **kwargs)


def with_line(doc, net="50.00", tax="5.00", account="4000"):
    extra = DocumentLine("Freight", D(1), D(net), account, "OUTPUT", tax_amount=D(tax))
    return replace(doc, lines=doc.lines + (extra,), fingerprint="")


def original(doc, status="AUTHORISED", due=None, applied=False, changed=False, decision=None):
    sent = sent_state_of_document(doc)
    return Original(doc.kind, doc.erp_id, doc.number, "xero-1", doc.fingerprint, sent,
                    XeroSide(status, sent.total if due is None else D(due), applied, changed),
                    decision)


# ---------------------------------------------------------------- edited trade documents


@pytest.mark.parametrize("status", ["DRAFT", "SUBMITTED", "AUTHORISED"])
def test_an_edit_is_applied_in_place_while_xero_allows_it(status):
    doc = sale()
    now = with_line(doc)
    c = plan_document(original(doc, status), now, OPEN)
    assert c.action is CorrectionAction.UPDATE and c.document is now
    assert (c.old_total, c.new_total, c.net_change) == (D("110.00"), D("165.00"), D("55.00"))


def test_an_unchanged_document_needs_nothing():
    doc = sale()
    assert plan_document(original(doc), doc, OPEN) is None


def test_a_part_paid_invoice_gets_a_supplementary_invoice_for_the_increase_only():
    doc = sale()
    now = with_line(doc)
    c = plan_document(original(doc, due="60.00", applied=True), now, OPEN)
    assert c.action is CorrectionAction.ADJUST and "payment or credit is applied" in c.reason
    adj = c.document
    assert adj.xero_type == "ACCREC" and adj.number == f"{doc.number}-ADJ1"
    assert adj.reference == f"Adjustment to {doc.number}"
    assert [(ln.line_amount, ln.tax_amount) for ln in adj.lines] == [(D("50.00"), D("5.00"))]
    assert adj.total == D("55.00") and not c.allocate_after


def test_a_decrease_on_a_part_paid_invoice_is_a_credit_note_allocated_to_it():
    doc = with_line(sale())
    now = sale_like(doc, drop_last=True)
    c = plan_document(original(doc, due="100.00", applied=True), now, OPEN)
    assert c.action is CorrectionAction.ADJUST and c.document.xero_type == "ACCRECCREDIT"
    assert [(ln.line_amount, ln.tax_amount) for ln in c.document.lines] == [(D("50.00"), D("5.00"))]
    assert c.allocate_after and c.net_change == D("-55.00")


def sale_like(doc, drop_last=False):
    lines = doc.lines[:-1] if drop_last else doc.lines
    return replace(doc, lines=lines, fingerprint="")


def test_a_decrease_beyond_what_is_owing_needs_a_person_and_says_the_difference_and_choices():
    doc = with_line(sale())
    now = sale_like(doc, drop_last=True)
    c = plan_document(original(doc, "PAID", due="0", applied=True), now, OPEN)
    assert c.action is CorrectionAction.DECIDE and not c.sendable
    assert "55.00" in c.reason and "paid in Xero" in c.reason
    assert c.choices == (Choice.ADJUST, Choice.ACCEPT)
    decided = original(doc, "PAID", due="0", applied=True,
                       decision=Decision(Choice.ADJUST, now.fingerprint, "accountant"))
    sent_anyway = plan_document(decided, now, OPEN)
    assert sent_anyway.action is CorrectionAction.ADJUST and not sent_anyway.allocate_after
    left = original(doc, "PAID", due="0", applied=True,
                    decision=Decision(Choice.ACCEPT, now.fingerprint, "accountant"))
    assert plan_document(left, now, OPEN).action is CorrectionAction.ACCEPT


def test_a_decision_holds_only_for_the_content_it_was_taken_on():
    doc = with_line(sale())
    now = sale_like(doc, drop_last=True)
    stale = original(doc, "PAID", due="0", applied=True,
                     decision=Decision(Choice.ACCEPT, "another-edit", "accountant"))
    assert plan_document(stale, now, OPEN).action is CorrectionAction.DECIDE


def test_an_increase_on_a_paid_invoice_is_a_supplementary_invoice():
    doc = sale()
    c = plan_document(original(doc, "PAID", due="0", applied=True), with_line(doc), OPEN)
    assert c.action is CorrectionAction.ADJUST and c.document.xero_type == "ACCREC"


def test_a_locked_invoice_is_adjusted_on_the_first_open_day_or_held_by_setting():
    doc = sale()
    now = with_line(doc)
    locked = Period(date(2026, 11, 30))
    c = plan_document(original(doc), now, locked)
    assert c.action is CorrectionAction.ADJUST and "locked period" in c.reason
    assert c.date == date(2026, 12, 1) and c.carried_from == DAY and not c.held
    assert c.document.date == date(2026, 12, 1)
    held = plan_document(original(doc), now, Period(date(2026, 11, 30), LockPolicy.HOLD))
    assert held.held and not held.sendable


def test_a_new_date_inside_the_lock_also_prevents_an_update():
    doc = sale()
    moved = replace(doc, date=date(2026, 10, 1), fingerprint="")
    c = plan_document(original(doc), moved, Period(date(2026, 10, 31)))
    assert c.action is not CorrectionAction.UPDATE


@pytest.mark.parametrize("changed", [False, True])
def test_a_document_voided_in_xero_is_never_overwritten(changed):
    doc = sale()
    c = plan_document(original(doc, "VOIDED", changed=changed), with_line(doc), OPEN)
    assert c.action is CorrectionAction.DECIDE and "voided in Xero" in c.reason
    assert c.choices == (Choice.ACCEPT,), "a void cannot be overwritten, whatever the choice"


def test_a_document_changed_in_xero_is_overwritten_only_with_the_users_say():
    doc = sale()
    now = with_line(doc)
    c = plan_document(original(doc, changed=True), now, OPEN)
    assert c.action is CorrectionAction.DECIDE and "changed in Xero" in c.reason
    assert Choice.OVERWRITE in c.choices
    yes = original(doc, changed=True, decision=Decision(Choice.OVERWRITE, now.fingerprint))
    assert plan_document(yes, now, OPEN).action is CorrectionAction.UPDATE


def test_a_new_contact_on_a_document_xero_will_not_change_needs_a_person():
    doc = sale()
    now = replace(doc, contact=Contact("c99", "Someone Else"), fingerprint="")
    c = plan_document(original(doc, "PAID", due="0", applied=True), now, OPEN)
    assert c.action is CorrectionAction.DECIDE and "contact or currency" in c.reason


def test_an_edit_that_moves_no_account_changes_nothing_in_xero():
    doc = sale()
    now = replace(doc, reference="new reference", fingerprint="")
    c = plan_document(original(doc, "PAID", due="0", applied=True), now, OPEN)
    assert c.action is CorrectionAction.ACCEPT and c.difference == ()


def test_a_refund_lowered_after_it_was_applied_is_answered_by_an_invoice():
    refund = document(Kind.REFUNDS, day=DAY, amount="100.00")
    now = replace(refund, lines=(replace(refund.lines[0], unit_amount=D("60.00"),
                                         tax_amount=D("6.00")),), fingerprint="")
    c = plan_document(original(refund, due="0", applied=True), now, OPEN)
    assert c.action is CorrectionAction.ADJUST and c.document.xero_type == "ACCREC"
    assert c.document.total == D("44.00") and not c.allocate_after


def test_a_bill_lowered_gets_a_supplier_credit_note():
    bill = document(Kind.PURCHASE_ORDERS, day=DAY, amount="100.00", account="1430",
                    tax_type="INPUT")
    now = replace(bill, lines=(replace(bill.lines[0], unit_amount=D("90.00"),
                                       tax_amount=D("9.00")),), fingerprint="")
    c = plan_document(original(bill, due="110.00", applied=True), now, OPEN)
    assert c.document.xero_type == "ACCPAYCREDIT" and c.document.total == D("11.00")
    assert c.allocate_after


# ---------------------------------------------------------------- cancelled or deleted


@pytest.mark.parametrize(("status", "action"), [
    ("DRAFT", CorrectionAction.DELETE), ("SUBMITTED", CorrectionAction.DELETE),
    ("AUTHORISED", CorrectionAction.VOID),
])
def test_a_cancelled_document_is_deleted_or_voided_while_xero_allows_it(status, action):
    c = plan_document(original(sale(), status), None, OPEN, cancelled="cancelled in the ERP")
    assert c.action is action and c.new is None and c.net_change == D("-110.00")


def test_a_cancelled_part_paid_invoice_is_credited_in_full_and_the_credit_allocated():
    doc = sale()
    c = plan_document(original(doc, due="40.00", applied=True), None, OPEN, cancelled="cancelled")
    assert c.action is CorrectionAction.CREDIT and c.allocate_after
    assert c.document.xero_type == "ACCRECCREDIT" and c.document.total == D("110.00")
    assert c.document.lines[0].description.startswith(f"Credit in full of {doc.number}")


def test_a_cancelled_paid_invoice_needs_a_person():
    c = plan_document(original(sale(), "PAID", due="0", applied=True), None, OPEN,
                      cancelled="cancelled")
    assert c.action is CorrectionAction.DECIDE and Choice.ADJUST in c.choices


def test_a_cancelled_invoice_in_a_locked_period_is_credited_on_the_first_open_day():
    c = plan_document(original(sale()), None, Period(date(2026, 11, 30)), cancelled="deleted")
    assert c.action is CorrectionAction.CREDIT and c.date == date(2026, 12, 1)
    assert c.carried_from == DAY


def test_a_cancelled_document_already_voided_in_xero_needs_nothing_sent():
    c = plan_document(original(sale(), "VOIDED"), None, OPEN, cancelled="cancelled")
    assert c.action is CorrectionAction.ACCEPT and c.sendable


def test_a_document_already_credited_in_full_is_not_credited_again():
    doc = sale()
    gone = replace(original(doc), sent=replace(original(doc).sent, lines=()))
    assert plan_document(gone, None, OPEN, cancelled="cancelled") is None


# ---------------------------------------------------------------- journals


def journal_of(*entries):
    build = build_journals([CostFlow.of(e) for e in entries], mapping())
    return build.journals[0]


def journal_original(journal, status="POSTED"):
    return Original(Kind.JOURNALS, journal.key, journal.key, "mj-1", journal.fingerprint,
                    sent_state_of_journal(journal), XeroSide(status))


def test_a_draft_journal_is_rewritten_in_place():
    a = entry(MovementType.LOSS, "250", day=DAY)
    before, after = journal_of(a), journal_of(a, entry(MovementType.LOSS, "1000", day=DAY))
    c = plan_journal(journal_original(before, "DRAFT"), after, OPEN)
    assert c.action is CorrectionAction.REWRITE_JOURNAL and c.journal is after


def test_a_draft_journal_whose_costs_were_all_removed_is_deleted():
    before = journal_of(entry(MovementType.LOSS, "250", day=DAY))
    c = plan_journal(journal_original(before, "DRAFT"), None, OPEN)
    assert c.action is CorrectionAction.DELETE_JOURNAL


def test_a_posted_journal_gets_an_adjustment_with_only_the_difference_per_account_and_tracking():
    a = entry(MovementType.ADDITION, "250", day=DAY)
    before = journal_of(a)
    after = journal_of(a, entry(MovementType.ADDITION, "1000", day=DAY, vintage="2024"))
    c = plan_journal(journal_original(before), after, OPEN)
    assert c.action is CorrectionAction.ADJUST_JOURNAL and c.date == DAY
    adj = c.journal
    assert adj.is_balanced and adj.key == f"{before.key}#adj1"
    assert sorted((ln.account_code, ln.amount, tuple(t.option for t in ln.tracking))
                  for ln in adj.lines) == [("1420", D("-1000.00"), ("2024", "Reserve")),
                                           ("1440", D("1000.00"), ("2024", "Reserve"))]
    assert f"[AS:{adj.key}]" in adj.narration


def test_a_locked_posted_journal_is_adjusted_on_the_first_open_day_with_its_date_in_the_narration():
    a = entry(MovementType.LOSS, "250", day=DAY)
    before, after = journal_of(a), journal_of(a, entry(MovementType.LOSS, "5", day=DAY))
    c = plan_journal(journal_original(before), after, Period(date(2026, 11, 30)))
    assert c.date == date(2026, 12, 1) and c.journal.date == date(2026, 12, 1)
    assert DAY.isoformat() in c.journal.narration and c.carried_from == DAY


def test_a_draft_journal_in_a_locked_period_is_adjusted_not_rewritten():
    a = entry(MovementType.LOSS, "250", day=DAY)
    before, after = journal_of(a), journal_of(a, entry(MovementType.LOSS, "5", day=DAY))
    c = plan_journal(journal_original(before, "DRAFT"), after, Period(date(2026, 11, 30)))
    assert c.action is CorrectionAction.ADJUST_JOURNAL


def test_a_journal_voided_in_xero_is_left_to_a_person():
    a = entry(MovementType.LOSS, "250", day=DAY)
    before, after = journal_of(a), journal_of(a, entry(MovementType.LOSS, "5", day=DAY))
    c = plan_journal(journal_original(before, "VOIDED"), after, OPEN)
    assert c.action is CorrectionAction.DECIDE


def test_a_journal_whose_lines_are_the_same_needs_nothing_sent():
    a = entry(MovementType.LOSS, "250", day=DAY)
    before = journal_of(a)
    same = replace(before, fingerprint="other")
    c = plan_journal(journal_original(before), same, OPEN)
    assert c.action is CorrectionAction.ACCEPT


# ---------------------------------------------------------------- refunds


def refund_original(due="110.00", status="AUTHORISED"):
    refund = document(Kind.REFUNDS, day=DAY)
    return Original(Kind.REFUNDS, refund.erp_id, refund.number, "cn-1", refund.fingerprint,
                    sent_state_of_document(refund), XeroSide(status, D(due)))


def test_a_refund_of_a_synced_sale_is_allocated_for_what_is_owing():
    c = plan_allocation(refund_original(), "inv-1", XeroSide("AUTHORISED", D("80.00")), OPEN)
    assert c.action is CorrectionAction.ALLOCATE
    assert (c.allocation.invoice_xero_id, c.allocation.amount) == ("inv-1", D("80.00"))
    assert c.net_change == D("0.00")


def test_no_allocation_to_a_paid_invoice_or_from_a_used_credit_note():
    assert plan_allocation(refund_original(), "inv-1", XeroSide("PAID", D("0")), OPEN) is None
    assert plan_allocation(refund_original(due="0"), "inv-1", XeroSide("AUTHORISED", D("80")),
                           OPEN) is None


# ---------------------------------------------------------------- pieces


def test_the_difference_is_per_account_tracking_and_tax_type_and_exact():
    old = [SentLine("4000", D("100.00"), D("10.00"), "OUTPUT"),
           SentLine("4100", D("20.00"), D("2.00"), "OUTPUT")]
    new = [SentLine("4000", D("60.00"), D("6.00"), "OUTPUT"),
           SentLine("4000", D("40.01"), D("4.00"), "OUTPUT"),
           SentLine("4010", D("20.00"), D("0.00"), "EXEMPTEXPORT")]
    diff = line_difference(old, new)
    assert [(d.account_code, d.amount, d.tax_amount) for d in diff] == [
        ("4000", D("0.01"), D("0.00")), ("4010", D("20.00"), D("0.00")),
        ("4100", D("-20.00"), D("-2.00"))]


def test_a_new_document_dated_inside_the_lock_is_carried_with_its_date_in_the_reference():
    doc = sale()
    carried = carry_document(doc, Period(date(2026, 11, 30)))
    assert carried.date == date(2026, 12, 1) and "ERP date 2026-11-18" in carried.reference
    assert carried.fingerprint == doc.fingerprint
    assert carry_document(doc, OPEN) is doc


def test_an_original_with_adjustments_is_never_rewritten_voided_or_deleted_on_its_own():
    doc = sale()
    now = with_line(doc)
    updated = plan_document(original(doc), now, OPEN, adjustments_made=1)
    assert updated.action is CorrectionAction.ADJUST and "1 adjustment in Xero" in updated.reason
    assert updated.document.number == f"{doc.number}-ADJ2"
    removed = plan_document(original(doc), None, OPEN, cancelled="cancelled", adjustments_made=1)
    assert removed.action is CorrectionAction.CREDIT, "a void would leave the adjustment behind"
    a = entry(MovementType.LOSS, "250", day=DAY)
    before, after = journal_of(a), journal_of(a, entry(MovementType.LOSS, "5", day=DAY))
    journal = plan_journal(journal_original(before, "DRAFT"), after, OPEN, adjustments_made=1)
    assert journal.action is CorrectionAction.ADJUST_JOURNAL
