"""Corrections runs against the in-memory Xero (which keeps Xero's rules, docs/xero-rules.md):
each row of DESIGN's "Books over time" table end to end, and the protocol that makes a crash at
any point harmless."""

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.application.plan_corrections import CorrectionsRequest, PlanCorrections
from accounts_sync.application.reconcile import Reconcile, ReconcileRequest
from accounts_sync.application.sync_documents import SyncDocumentsRequest
from accounts_sync.domain.corrections import Choice, Decision
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import DocumentLine, Kind
from accounts_sync.domain.reconciliation import Cause
from accounts_sync.domain.sync import JournalMode, RunState, SyncState
from tests.builders import document, entry
from tests.fakes import FakeGateway, SimulatedCrash, cancel, default_chart, delete

D = Decimal
TODAY = date(2026, 11, 26)
SO, RF, J, C = Kind.SALES_ORDERS, Kind.REFUNDS, Kind.JOURNALS, Kind.CORRECTIONS


@pytest.fixture
def gateway(clock):
    return FakeGateway(clock=clock)


@pytest.fixture
def plan(uow, gateway, clock):
    return PlanCorrections(uow, gateway, clock)


def send(sync, kind):
    return sync.execute(SyncDocumentsRequest(kind, TODAY, "accountant"))


def correct(sync):
    return send(sync, C)


def edit(store, clock, doc, **changes):
    """The ERP edits a synced document a minute later."""
    clock.advance(minutes=1)
    changed = replace(doc, fingerprint="", **changes)
    docs = store.documents[doc.kind]
    docs[[d.erp_id for d in docs].index(doc.erp_id)] = changed
    store.edited_at[(doc.kind, doc.erp_id)] = clock.now()
    return changed


def plus_freight(doc):
    return doc.lines + (DocumentLine("Freight", D(1), D("50.00"), "4000", "OUTPUT",
                                     tax_amount=D("5.00")),)


def xero_of(store, gateway, kind, doc):
    return gateway.get(store.record(kind, doc.erp_id).xero_id)


# ---------------------------------------------------------------- trade documents


def test_an_edit_after_sync_updates_the_invoice_in_xero_in_place(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    edited = edit(store, clock, doc, lines=plus_freight(doc))

    run = correct(sync)
    assert run.state is RunState.SUCCEEDED and run.created == 1
    invoice = xero_of(store, gateway, SO, doc)
    assert invoice.total == D("165.00") and invoice.status == "AUTHORISED"
    record = store.record(SO, doc.erp_id)
    assert record.fingerprint == edited.fingerprint and record.sent.total == D("165.00")
    assert len(gateway.created(SO)) == 1, "updated, not sent again as new"
    (correction,) = [r for r in store.state.records.values() if r.kind is C]
    assert correction.state is SyncState.SYNCED and correction.correction.action.value == "update"
    assert correction.correction.previous.total == D("110.00")
    assert correct(sync).total == 0, "nothing left to correct"


def test_a_part_paid_invoice_gets_a_supplementary_invoice_for_the_difference(
    store, gateway, clock, sync
):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    gateway.pay(store.record(SO, doc.erp_id).xero_id, "60.00")
    edit(store, clock, doc, lines=plus_freight(doc))

    run = correct(sync)
    assert run.created == 1
    original = xero_of(store, gateway, SO, doc)
    assert original.total == D("110.00"), "Xero refuses edits once paid; we never tried"
    (adjustment,) = [o for o in gateway.created(SO) if o.number.endswith("-ADJ1")]
    assert adjustment.document_type == "ACCREC" and adjustment.total == D("55.00")
    assert store.record(SO, doc.erp_id).sent.total == D("165.00")


def test_a_decrease_on_a_part_paid_invoice_is_credited_and_allocated(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2), amount="200.00")
    store.add(doc)
    send(sync, SO)
    invoice_id = store.record(SO, doc.erp_id).xero_id
    gateway.pay(invoice_id, "20.00")
    line = replace(doc.lines[0], unit_amount=D("150.00"), tax_amount=D("15.00"))
    edit(store, clock, doc, lines=(line,))

    run = correct(sync)
    assert run.state is RunState.SUCCEEDED and run.created == 1
    (credit,) = [o for o in gateway.objects.values() if o.document_type == "ACCRECCREDIT"]
    assert credit.total == D("55.00") and credit.number == f"{doc.number}-ADJ1"
    invoice = gateway.get(invoice_id)
    assert invoice.amount_due == D("220.00") - D("20.00") - D("55.00")
    assert store.record(SO, doc.erp_id).xero_seen.amount_due == D("145.00")


def test_a_decrease_on_a_paid_invoice_waits_for_a_persons_decision(
    store, uow, gateway, clock, sync, plan
):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    gateway.pay(store.record(SO, doc.erp_id).xero_id, "110.00")
    edited = edit(store, clock, doc, lines=(replace(doc.lines[0], unit_amount=D("80.00"),
                                                    tax_amount=D("8.00")),))
    look = correct(sync)
    assert look.total == 0 and not [o for o in gateway.objects.values() if o.number.endswith("ADJ1")]
    planned = plan.execute(CorrectionsRequest(TODAY, fresh=True))
    (c,) = planned.to_decide
    assert "22.00" in c.reason and "paid in Xero" in c.reason

    record = store.record(SO, doc.erp_id)
    store.state.records[(SO, doc.erp_id)] = replace(
        record, decision=Decision(Choice.ADJUST, edited.fingerprint, "accountant"))
    assert correct(sync).created == 1
    (credit,) = [o for o in gateway.objects.values() if o.document_type == "ACCRECCREDIT"]
    assert credit.total == D("22.00") and credit.allocations == [], "nothing owing to allocate to"


def test_cancelled_documents_are_voided_or_credited_in_full(store, gateway, clock, sync):
    unpaid, part_paid = document(day=date(2026, 11, 2)), document(day=date(2026, 11, 3))
    store.add(unpaid, part_paid)
    send(sync, SO)
    gateway.pay(store.record(SO, part_paid.erp_id).xero_id, "10.00")
    clock.advance(minutes=1)
    cancel(store, unpaid, clock.now())
    delete(store, part_paid)

    run = correct(sync)
    assert run.created == 2
    assert xero_of(store, gateway, SO, unpaid).status == "VOIDED"
    invoice = xero_of(store, gateway, SO, part_paid)
    (credit,) = [o for o in gateway.objects.values() if o.document_type == "ACCRECCREDIT"]
    assert credit.total == D("110.00") and credit.allocations[0][1] == D("100.00")
    assert invoice.amount_due == D("0.00") and invoice.status == "PAID"
    assert not store.record(SO, part_paid.erp_id).sent.lines
    assert correct(sync).total == 0, "a cancelled document is corrected once"


def test_a_refund_of_a_synced_sale_is_allocated_to_its_invoice(store, gateway, clock, sync):
    sale = document(day=date(2026, 11, 2))
    refund = replace(document(RF, day=date(2026, 11, 5), amount="30.00"), contact=sale.contact,
                     fingerprint="")
    store.add(sale, refund)
    store.refund_of[refund.erp_id] = sale.erp_id
    send(sync, SO)
    send(sync, RF)
    assert correct(sync).created == 1
    credit = xero_of(store, gateway, RF, refund)
    invoice = xero_of(store, gateway, SO, sale)
    assert credit.allocations == [(invoice.xero_id, D("33.00"), date(2026, 11, 5))]
    assert invoice.amount_due == D("77.00")
    assert correct(sync).total == 0


def test_an_edit_inside_the_locked_period_is_adjusted_on_the_first_open_day(
    store, gateway, clock, sync
):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    gateway.set_lock_date(date(2026, 11, 10))
    gateway.chart_ = replace(gateway.chart_, organisation=replace(
        gateway.chart_.organisation, period_lock_date=date(2026, 11, 10)))
    edit(store, clock, doc, lines=plus_freight(doc))
    assert correct(sync).created == 1
    (adjustment,) = [o for o in gateway.created(SO) if o.number.endswith("-ADJ1")]
    assert adjustment.date == date(2026, 11, 11) and adjustment.total == D("55.00")


# ---------------------------------------------------------------- journals


def test_a_late_cost_on_a_posted_journal_is_posted_as_an_adjustment_with_the_difference(
    store, gateway, clock, sync, post
):
    store.cost_entries += [entry(MovementType.ADDITION, "250", day=date(2026, 11, 18))]
    post.execute(__import__("accounts_sync.application.post_journals", fromlist=["x"])
                 .PostJournalsRequest(TODAY, JournalMode.POSTED, "accountant"))
    store.cost_entries += [entry(MovementType.ADDITION, "1000", day=date(2026, 11, 18))]
    run = correct(sync)
    assert run.created == 1
    adjustments = [o for o in gateway.created(J) if "#adj1" in o.erp_id]
    (adj,) = adjustments
    assert adj.status == "POSTED" and adj.date == date(2026, 11, 18)
    assert sorted(line.amount for line in adj.lines) == [D("-1000.00"), D("1000.00")]
    record = store.record(J, "2026-11-18-addition")
    assert record.sent.debit_total == D("1250.00")
    assert correct(sync).total == 0


def test_a_draft_journal_is_rewritten_in_place(store, gateway, clock, sync, post):
    from accounts_sync.application.post_journals import PostJournalsRequest

    store.cost_entries += [entry(MovementType.LOSS, "250", day=date(2026, 11, 18))]
    post.execute(PostJournalsRequest(TODAY, JournalMode.DRAFT, "accountant"))
    store.cost_entries += [entry(MovementType.LOSS, "40", day=date(2026, 11, 18))]
    assert correct(sync).created == 1
    (journal,) = gateway.created(J)
    assert journal.status == "DRAFT" and sum(ln.amount for ln in journal.lines if ln.amount > 0) \
        == D("290.00")


# ---------------------------------------------------------------- crashes


def test_a_crash_after_xero_made_the_adjustment_never_makes_it_twice(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    gateway.pay(store.record(SO, doc.erp_id).xero_id, "60.00")
    edit(store, clock, doc, lines=plus_freight(doc))
    gateway.crash_after_commit_on_push = len(gateway.push_calls) + 1
    with pytest.raises(SimulatedCrash):
        correct(sync)
    gateway.crash_after_commit_on_push = None
    in_flight = [r for r in store.state.records.values() if r.kind is C]
    assert [r.state for r in in_flight] == [SyncState.IN_FLIGHT]
    _recover(store)
    correct(sync)
    assert len([o for o in gateway.created(SO) if o.number.endswith("-ADJ1")]) == 1
    assert store.record(SO, doc.erp_id).sent.total == D("165.00")
    assert correct(sync).total == 0


def test_a_crash_between_the_credit_note_and_its_allocation_allocates_once(
    store, gateway, clock, sync
):
    doc = document(day=date(2026, 11, 2), amount="200.00")
    store.add(doc)
    send(sync, SO)
    invoice_id = store.record(SO, doc.erp_id).xero_id
    gateway.pay(invoice_id, "20.00")
    edit(store, clock, doc, lines=(replace(doc.lines[0], unit_amount=D("150.00"),
                                           tax_amount=D("15.00")),))
    gateway.crash_after_commit_on_write = len(gateway.write_calls) + 1  # the allocation
    with pytest.raises(SimulatedCrash):
        correct(sync)
    gateway.crash_after_commit_on_write = None
    _recover(store)
    correct(sync)
    (credit,) = [o for o in gateway.objects.values() if o.document_type == "ACCRECCREDIT"]
    assert len(credit.allocations) == 1
    assert gateway.get(invoice_id).amount_due == D("145.00")
    assert correct(sync).total == 0


@pytest.mark.parametrize("how", ["lowered", "cancelled"])
def test_a_credit_note_made_before_the_crash_is_no_unexplained_difference(
    store, uow, gateway, clock, sync, how
):
    """The books property's finding: a credit note Xero made whose allocation the worker died
    on keeps its record in flight with the credit note's id; Xero's ledger counts the credit
    note as ours, so the reconciliation must count it as sent, not as a correction pending."""
    doc = document(day=date(2026, 11, 2), amount="200.00")
    store.add(doc)
    send(sync, SO)
    gateway.pay(store.record(SO, doc.erp_id).xero_id, "20.00")
    if how == "lowered":  # an adjustment credit note for the difference
        edit(store, clock, doc, lines=(replace(doc.lines[0], unit_amount=D("150.00"),
                                               tax_amount=D("15.00")),))
    else:  # paid, so it cannot be voided: a credit note for the whole amount
        clock.advance(minutes=1)
        cancel(store, doc, clock.now())
    gateway.crash_after_commit_on_write = len(gateway.write_calls) + 1  # the allocation
    with pytest.raises(SimulatedCrash):
        correct(sync)
    gateway.crash_after_commit_on_write = None
    _recover(store)
    (record,) = [r for r in store.state.records.values() if r.kind is C]
    assert record.state is SyncState.IN_FLIGHT and record.xero_id

    result = Reconcile(uow, gateway).execute(ReconcileRequest(TODAY))
    assert result.reconciled, [(a.code, a.figures) for a in result.unexplained]
    # Only the payment made in Xero is left between them, nothing pending.
    assert result.account("610").figures.causes == ((Cause.OTHERS, D("20.00")),)
    correct(sync)
    result = Reconcile(uow, gateway).execute(ReconcileRequest(TODAY))
    assert result.reconciled
    assert result.account("610").figures.causes == ((Cause.OTHERS, D("20.00")),)


def test_a_crash_after_a_void_is_settled_by_looking_at_xero(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    clock.advance(minutes=1)
    cancel(store, doc, clock.now())
    gateway.crash_after_commit_on_write = len(gateway.write_calls) + 1
    with pytest.raises(SimulatedCrash):
        correct(sync)
    gateway.crash_after_commit_on_write = None
    _recover(store)
    writes = len(gateway.write_calls)
    correct(sync)
    assert len(gateway.write_calls) == writes, "found voided in Xero: nothing sent again"
    assert store.record(SO, doc.erp_id).xero_status == "VOIDED"


def test_a_lost_answer_keeps_the_correction_in_flight_until_looked_up(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    gateway.pay(store.record(SO, doc.erp_id).xero_id, "60.00")
    edit(store, clock, doc, lines=plus_freight(doc))
    gateway.lose_answers.add(f"sales_orders:{doc.erp_id}:1")
    run = correct(sync)
    assert run.failed == 1
    (record,) = [r for r in store.state.records.values() if r.kind is C]
    assert record.state is SyncState.IN_FLIGHT
    gateway.lose_answers.clear()
    correct(sync)
    assert len([o for o in gateway.created(SO) if o.number.endswith("-ADJ1")]) == 1


def _recover(store):
    """What RecoverRuns does for a dead worker's run: end it, keep its records as they are."""
    for run_id, run in list(store.state.runs.items()):
        if run.is_active:
            store.state.runs[run_id] = run.abort("The worker stopped.", run.started_at or
                                                 run.created_at)


def test_the_chart_is_what_xero_says(gateway):
    assert gateway.chart().organisation.lock_date is None
    assert default_chart().account("860") is not None


# ---------------------------------------------------------------- changes made in Xero


def test_a_payment_made_in_xero_is_seen_by_the_preview_before_it_plans(
    store, uow, gateway, clock, sync
):
    from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced

    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    gateway.pay(store.record(SO, doc.erp_id).xero_id, "110.00")
    edit(store, clock, doc, lines=(replace(doc.lines[0], unit_amount=D("80.00"),
                                           tax_amount=D("8.00")),))
    preview = PreviewUnsynced(uow, gateway, clock).execute(PreviewRequest(TODAY))
    (c,) = preview.corrections.corrections
    assert c.action.value == "decide" and "paid in Xero" in c.reason
    assert store.record(SO, doc.erp_id).xero_status == "PAID"


def test_a_void_in_xero_is_listed_and_an_erp_edit_never_overwrites_it(
    store, uow, gateway, clock, sync
):
    from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced

    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    clock.advance(minutes=5)
    gateway.set_status(store.record(SO, doc.erp_id).xero_id, "VOIDED")
    gateway.record_manual_journal(date(2026, 11, 20), [("5100", "12.00"), ("1440", "-12.00")],
                                  "Stock write-off by the bookkeeper")
    preview = PreviewUnsynced(uow, gateway, clock).execute(PreviewRequest(TODAY))
    ours = [x for x in preview.xero_changes if x.record_erp_id == doc.erp_id]
    assert ours and "voided in Xero" in ours[0].summary and ours[0].web_url
    assert any(x.record_erp_id is None and x.kind is J for x in preview.xero_changes)

    edit(store, clock, doc, lines=plus_freight(doc))
    clock.advance(minutes=2)
    assert correct(sync).created == 0
    assert xero_of(store, gateway, SO, doc).status == "VOIDED" and \
        xero_of(store, gateway, SO, doc).total == D("110.00")


def test_a_document_re_totalled_in_xero_is_overwritten_only_with_the_users_say(
    store, uow, gateway, clock, sync, plan
):
    from accounts_sync.application.xero_changes import LookAtXero, LookRequest

    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    clock.advance(minutes=5)
    xero_id = store.record(SO, doc.erp_id).xero_id
    gateway.edit(xero_id, lines=(replace(gateway.get(xero_id).lines[0], amount=D("90.00"),
                                         tax_amount=D("9.00")),))
    LookAtXero(uow, gateway, clock).execute(LookRequest(force=True))
    assert store.record(SO, doc.erp_id).xero_seen.changed_in_xero
    edited = edit(store, clock, doc, lines=plus_freight(doc))
    assert correct(sync).created == 0
    (c,) = plan.execute(CorrectionsRequest(TODAY)).to_decide
    assert "changed in Xero" in c.reason
    record = store.record(SO, doc.erp_id)
    store.state.records[(SO, doc.erp_id)] = replace(
        record, decision=Decision(Choice.OVERWRITE, edited.fingerprint, "accountant"))
    assert correct(sync).created == 1
    assert gateway.get(xero_id).total == D("165.00")
    assert not store.record(SO, doc.erp_id).xero_seen.changed_in_xero


def test_a_decision_is_taken_only_where_one_is_needed_and_only_among_the_choices(
    store, uow, gateway, clock, sync, plan
):
    from accounts_sync.application.decide_correction import DecideCorrection, DecisionRequest
    from accounts_sync.domain.errors import CorrectionNotFound, InvalidRequest

    paid, plain = document(day=date(2026, 11, 2)), document(day=date(2026, 11, 3))
    store.add(paid, plain)
    send(sync, SO)
    gateway.pay(store.record(SO, paid.erp_id).xero_id, "110.00")
    correct(sync)  # the look at Xero inside the run's fresh plan sees the payment
    edit(store, clock, paid, lines=(replace(paid.lines[0], unit_amount=D("80.00"),
                                            tax_amount=D("8.00")),))
    edit(store, clock, plain, lines=plus_freight(plain))
    decide = DecideCorrection(uow, plan)
    fresh_look = PlanCorrections(uow, gateway, clock).execute(CorrectionsRequest(TODAY, fresh=True))
    assert {c.number: c.action.value for c in fresh_look.corrections} == {
        paid.number: "decide", plain.number: "update"}
    assert store.record(SO, paid.erp_id).xero_status == "PAID"
    with pytest.raises(InvalidRequest, match="needs no decision"):
        decide.execute(DecisionRequest(SO, plain.erp_id, Choice.ACCEPT, TODAY, "accountant"))
    with pytest.raises(InvalidRequest, match="you can choose"):
        decide.execute(DecisionRequest(SO, paid.erp_id, Choice.OVERWRITE, TODAY, "accountant"))
    with pytest.raises(CorrectionNotFound):
        decide.execute(DecisionRequest(SO, "nope", Choice.ACCEPT, TODAY, "accountant"))
    decided = decide.execute(DecisionRequest(SO, paid.erp_id, Choice.ACCEPT, TODAY, "accountant"))
    assert decided.action.value == "accept" and "accountant" in decided.reason
    correct(sync)
    assert gateway.get(store.record(SO, paid.erp_id).xero_id).total == D("110.00")
    assert store.record(SO, paid.erp_id).fingerprint == store.documents[SO][0].fingerprint


def test_a_credit_carried_past_the_lock_is_allocated_on_its_own_day(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2), amount="200.00")
    store.add(doc)
    send(sync, SO)
    invoice_id = store.record(SO, doc.erp_id).xero_id
    gateway.pay(invoice_id, "20.00")
    gateway.set_lock_date(date(2026, 11, 10))
    gateway.chart_ = replace(gateway.chart_, organisation=replace(
        gateway.chart_.organisation, period_lock_date=date(2026, 11, 10)))
    edit(store, clock, doc, lines=(replace(doc.lines[0], unit_amount=D("150.00"),
                                           tax_amount=D("15.00")),))
    correct(sync)
    (credit,) = [o for o in gateway.objects.values() if o.document_type == "ACCRECCREDIT"]
    assert credit.date == date(2026, 11, 11)
    assert credit.allocations == [(invoice_id, D("55.00"), date(2026, 11, 11))]


def test_an_edit_made_while_the_record_was_in_flight_is_not_lost(store, gateway, clock, sync):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    gateway.crash_after_commit_on_push = 1
    with pytest.raises(SimulatedCrash):
        send(sync, SO)
    gateway.crash_after_commit_on_push = None
    _recover(store)
    clock.advance(minutes=1)
    edited = edit(store, clock, doc, lines=plus_freight(doc))  # while Xero has it, unconfirmed
    clock.advance(hours=2)
    send(sync, SO)  # finds it in Xero: settled now, with the content sent before the edit
    assert store.record(SO, doc.erp_id).fingerprint != edited.fingerprint
    assert correct(sync).created == 1
    assert xero_of(store, gateway, SO, doc).total == D("165.00")


def test_a_document_saved_again_unchanged_is_read_once_by_a_corrections_run(
    store, uow, gateway, clock, sync, plan
):
    doc = document(day=date(2026, 11, 2))
    store.add(doc)
    send(sync, SO)
    clock.advance(minutes=1)
    store.edited_at[(SO, doc.erp_id)] = clock.now()  # saved in the ERP, nothing changed
    assert plan.execute(CorrectionsRequest(TODAY)).unchanged == ((SO, doc.erp_id),)
    correct(sync)
    assert plan.execute(CorrectionsRequest(TODAY)).unchanged == (), "no longer read every time"
    edited = edit(store, clock, doc, lines=plus_freight(doc))
    (c,) = plan.execute(CorrectionsRequest(TODAY)).corrections
    assert c.target_fingerprint == edited.fingerprint, "a later edit is still seen"


def test_a_journal_sent_before_its_lines_were_kept_is_named_and_the_others_planned(
    store, gateway, clock, plan, post
):
    from accounts_sync.application.post_journals import PostJournalsRequest

    days = (date(2026, 11, 17), date(2026, 11, 18))
    store.cost_entries += [entry(MovementType.ADDITION, "250", day=day) for day in days]
    post.execute(PostJournalsRequest(TODAY, JournalMode.POSTED, "accountant"))
    old = store.record(J, "2026-11-17-addition")
    store.state.records[(J, old.erp_id)] = replace(old, sent=None)  # synced by an older version
    store.cost_entries += [entry(MovementType.ADDITION, "1000", day=day) for day in days]
    found = plan.execute(CorrectionsRequest(TODAY))
    assert found.unknown == (old.number,)
    assert [(c.kind, c.erp_id) for c in found.corrections] == [(J, "2026-11-18-addition")]
