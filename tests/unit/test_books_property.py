"""The books property (issue 9): whatever happens in the ERP and in Xero, after a sync Xero's
per-account totals (and per contact for receivables and payables) equal the ERP's to the cent,
every journal balances, and no object or adjustment reaches Xero twice.

A hypothesis state machine drives the ERP (sales, refunds of sales, purchase orders, edits,
cancellations, deletions, late, edited and removed cost entries), Xero (payments, lock-date
moves) and the plugin (syncs of every kind and corrections, with crashes after Xero committed).
Xero is the in-memory FakeGateway, which keeps Xero's rules (docs/xero-rules.md) and its own
general ledger; a person's decision is taken the way that keeps the books whole.
"""

import itertools
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.plan_corrections import CorrectionsRequest, PlanCorrections
from accounts_sync.application.post_journals import PostJournals, PostJournalsRequest
from accounts_sync.application.reconcile import Reconcile, ReconcileRequest
from accounts_sync.application.sync_documents import SyncDocuments, SyncDocumentsRequest
from accounts_sync.domain.corrections import Choice, Decision
from accounts_sync.domain.costs import CostFlow, MovementType
from accounts_sync.domain.documents import Contact, DocumentLine, Kind
from accounts_sync.domain.journals import build_journals
from accounts_sync.domain.reconciliation import Cause
from accounts_sync.domain.sync import JournalMode, SyncState
from tests import builders
from tests.builders import document, entry, mapping
from tests.fakes import (
    CONTROL_ACCOUNT,
    GST_ACCOUNT,
    LINE_SIGN,
    PAYMENT_SOURCE,
    FakeClock,
    FakeGateway,
    InMemoryStore,
    SimulatedCrash,
    uow_factory,
)

D = Decimal
START = date(2026, 11, 1)
TODAY = date(2026, 11, 26)
CONTACTS = [Contact(f"c{i}", f"Customer {i}") for i in range(3)]
TRADE = (Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS)
PAYMENTS = set(PAYMENT_SOURCE.values())

days = st.integers(0, 24).map(lambda n: START + timedelta(days=n))
cents = st.integers(1, 50_000).map(lambda n: D(n).scaleb(-2))
costs = st.integers(1, 5_000_000).map(lambda n: D(n).scaleb(-4))


class Books(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        builders._ids = itertools.count(1)  # the same steps make the same documents: replayable
        self.store = InMemoryStore()
        self.store.state.mapping = mapping()
        self.clock = FakeClock()
        self.gateway = FakeGateway(clock=self.clock)
        self.uow = uow_factory(self.store)
        self.execute = ExecuteRun(self.uow, self.gateway, self.clock, batch_size=3)
        self.sync = SyncDocuments(self.uow, self.clock, self.execute)
        self.post = PostJournals(self.uow, self.clock, self.execute)
        self.plan = PlanCorrections(self.uow, self.gateway, self.clock)
        self.reconcile = Reconcile(self.uow, self.gateway)
        self.lock: date | None = None

    # ------------------------------------------------------------ the ERP

    def _tick(self) -> None:
        self.clock.advance(minutes=1)

    def _docs(self, kind: Kind) -> list:
        return self.store.documents.get(kind, [])

    @rule(day=days, amount=cents, contact=st.sampled_from(CONTACTS))
    def a_sale(self, day, amount, contact):
        self._tick()
        self.store.add(replace(document(Kind.SALES_ORDERS, day=day, amount=str(amount)),
                               contact=contact, fingerprint=""))

    @rule(day=days, amount=cents)
    def a_purchase(self, day, amount):
        self._tick()
        self.store.add(document(Kind.PURCHASE_ORDERS, day=day, amount=str(amount),
                                account="1430", tax_type="INPUT"))

    @precondition(lambda self: self._docs(Kind.SALES_ORDERS))
    @rule(data=st.data(), share=st.integers(1, 100))
    def a_refund_of_a_sale(self, data, share):
        self._tick()
        sale = data.draw(st.sampled_from(self._docs(Kind.SALES_ORDERS)))
        amount = max(D("0.01"), (sale.subtotal * share / 100).quantize(D("0.01")))
        refund = replace(document(Kind.REFUNDS, day=max(sale.date, TODAY - timedelta(days=1)),
                                  amount=str(amount)), contact=sale.contact, fingerprint="")
        self.store.add(refund)
        self.store.refund_of[refund.erp_id] = sale.erp_id

    @precondition(lambda self: any(self._docs(k) for k in TRADE))
    @rule(data=st.data(), amount=cents, how=st.sampled_from(["price", "add", "drop", "date"]))
    def an_edit(self, data, amount, how):
        kind = data.draw(st.sampled_from([k for k in TRADE if self._docs(k)]))
        doc = data.draw(st.sampled_from(self._docs(kind)))
        first = doc.lines[0]
        if how == "price":
            lines = (replace(first, unit_amount=amount, tax_amount=(amount / 10).quantize(D("0.01"))),
                     *doc.lines[1:])
        elif how == "add":
            lines = doc.lines + (DocumentLine("Freight", D(1), amount, "4100" if kind is not
                                              Kind.PURCHASE_ORDERS else "1430", first.tax_type,
                                              tax_amount=(amount / 10).quantize(D("0.01"))),)
        elif how == "drop" and len(doc.lines) > 1:
            lines = doc.lines[:-1]
        else:
            lines = doc.lines
        day = data.draw(days) if how == "date" else doc.date
        self._tick()
        changed = replace(doc, lines=lines, date=day, due_date=day + timedelta(days=30),
                          fingerprint="")
        docs = self.store.documents[kind]
        docs[docs.index(doc)] = changed
        self.store.edited_at[(kind, doc.erp_id)] = self.clock.now()

    @precondition(lambda self: any(self._docs(k) for k in TRADE))
    @rule(data=st.data(), deleted=st.booleans())
    def a_cancellation(self, data, deleted):
        kind = data.draw(st.sampled_from([k for k in TRADE if self._docs(k)]))
        doc = data.draw(st.sampled_from(self._docs(kind)))
        self._tick()
        self.store.documents[kind].remove(doc)
        if not deleted:
            self.store.cancelled[(kind, doc.erp_id)] = doc
            self.store.edited_at[(kind, doc.erp_id)] = self.clock.now()

    @rule(day=days, amount=costs,
          movement=st.sampled_from([MovementType.ADDITION, MovementType.LOSS,
                                    MovementType.BOTTLING]),
          vintage=st.sampled_from(["2024", "2025"]))
    def a_cost(self, day, amount, movement, vintage):
        self._tick()
        self.store.cost_entries.append(entry(movement, str(amount), day=day, vintage=vintage))

    @precondition(lambda self: self.store.cost_entries)
    @rule(data=st.data(), amount=costs, remove=st.booleans())
    def a_cost_corrected(self, data, amount, remove):
        index = data.draw(st.integers(0, len(self.store.cost_entries) - 1))
        self._tick()
        if remove:
            del self.store.cost_entries[index]
        else:
            self.store.cost_entries[index] = replace(self.store.cost_entries[index], amount=amount)

    # ------------------------------------------------------------ Xero

    @rule(data=st.data(), share=st.integers(1, 100))
    def a_payment_in_xero(self, data, share):
        owing = [o for o in self.gateway.objects.values()
                 if o.document_type in ("ACCREC", "ACCPAY") and o.status == "AUTHORISED"
                 and o.amount_due > 0 and not o.made_in_xero]
        if not owing:
            return
        invoice = data.draw(st.sampled_from(sorted(owing, key=lambda o: o.xero_id)))
        amount = max(D("0.01"), (invoice.amount_due * share / 100).quantize(D("0.01")))
        day = max(invoice.date, self.lock + timedelta(days=1) if self.lock else invoice.date)
        self._tick()
        self.gateway.pay(invoice.xero_id, amount, day)

    @rule(days_=st.integers(0, 20))
    def the_lock_date_moves(self, days_):
        lock = START + timedelta(days=days_)
        if self.lock is not None and lock <= self.lock:
            return
        self.lock = lock
        self.gateway.set_lock_date(lock)
        self.gateway.chart_ = replace(self.gateway.chart_, organisation=replace(
            self.gateway.chart_.organisation, period_lock_date=lock))

    # ------------------------------------------------------------ the plugin

    @rule(crash_on=st.one_of(st.none(), st.integers(1, 4)))
    def a_sync(self, crash_on):
        if crash_on is not None:
            self.gateway.crash_after_commit_on_push = len(self.gateway.push_calls) + crash_on
            self.gateway.crash_after_commit_on_write = len(self.gateway.write_calls) + crash_on
        try:
            self._sync_everything()
        except SimulatedCrash:
            self._worker_died()
        finally:
            self.gateway.crash_after_commit_on_push = None
            self.gateway.crash_after_commit_on_write = None

    @rule(crash_on=st.integers(1, 3), on_write=st.booleans())
    def a_corrections_run_that_dies(self, crash_on, on_write):
        """Corrections only, the worker dying after Xero committed one of its calls."""
        if on_write:
            self.gateway.crash_after_commit_on_write = len(self.gateway.write_calls) + crash_on
        else:
            self.gateway.crash_after_commit_on_push = len(self.gateway.push_calls) + crash_on
        try:
            self._tick()
            self.sync.execute(SyncDocumentsRequest(Kind.CORRECTIONS, TODAY, "tester"))
        except SimulatedCrash:
            self._worker_died()
        finally:
            self.gateway.crash_after_commit_on_push = None
            self.gateway.crash_after_commit_on_write = None

    def _sync_everything(self) -> None:
        self._tick()
        for kind in TRADE:
            self.sync.execute(SyncDocumentsRequest(kind, TODAY, "tester"))
        self.post.execute(PostJournalsRequest(TODAY, JournalMode.POSTED, "tester"))
        self.sync.execute(SyncDocumentsRequest(Kind.CORRECTIONS, TODAY, "tester"))
        # The accountant decides what only a person can, the way that keeps the books whole.
        plan = self.plan.execute(CorrectionsRequest(TODAY, fresh=True))
        if plan.to_decide:
            for c in plan.to_decide:
                record = self.store.state.records[(c.kind, c.erp_id)]
                choice = Choice.ADJUST if Choice.ADJUST in c.choices else Choice.OVERWRITE
                self.store.state.records[(c.kind, c.erp_id)] = replace(
                    record, decision=Decision(choice, c.target_fingerprint, "tester"))
            self.sync.execute(SyncDocumentsRequest(Kind.CORRECTIONS, TODAY, "tester"))
        # A refund allocates once its own correction is through.
        self.sync.execute(SyncDocumentsRequest(Kind.CORRECTIONS, TODAY, "tester"))

    def _worker_died(self) -> None:
        for run_id, run in list(self.store.state.runs.items()):
            if run.is_active:
                self.store.state.runs[run_id] = run.abort("The worker died.", self.clock.now())

    # ------------------------------------------------------------ the promises

    @invariant()
    def no_object_twice(self):
        numbers = [(o.document_type, o.number) for o in self.gateway.objects.values()
                   if o.status not in ("VOIDED", "DELETED") and not o.made_in_xero]
        assert len(numbers) == len(set(numbers)), "an object or adjustment reached Xero twice"

    @invariant()
    def every_ledger_journal_balances(self):
        for journal in self.gateway.ledger:
            assert sum(line.net_amount for line in journal.lines) == 0

    @invariant()
    def every_difference_has_a_named_cause(self):
        """At any moment, crashes included, reconciliation explains ERP − Xero on every account
        and every contact by its causes (not synced, failed, correction pending, drafts,
        payments made in Xero), with nothing unexplained."""
        result = self.reconcile.execute(ReconcileRequest(TODAY))
        assert result.reconciled, [
            (a.code, a.figures, [(p.label, p.figures) for p in a.unexplained_parts])
            for a in result.unexplained]

    def teardown(self):
        # Whatever happened, one clean sync brings Xero in line with the ERP.
        self.gateway.crash_after_commit_on_push = None
        self.gateway.crash_after_commit_on_write = None
        self._sync_everything()
        self._sync_everything()
        assert _xero_totals(self.gateway) == _erp_totals(self.store), \
            "Xero's per-account totals differ from the ERP's"
        assert _xero_by_contact(self.gateway) == _erp_by_contact(self.store)
        # ...and the reconciliation then finds no difference at all, only payments in Xero.
        result = self.reconcile.execute(ReconcileRequest(TODAY))
        assert [(a.code, a.figures.causes) for a in result.accounts
                if any(c is not Cause.OTHERS for c, _ in a.figures.causes)] == []
        stuck = [r for r in self.store.state.records.values() if r.state is SyncState.IN_FLIGHT]
        assert not stuck, f"left in flight: {stuck}"


def _xero_totals(gateway: FakeGateway) -> dict[str, Decimal]:
    """Per account, everything posted in Xero except payments (the ERP knows nothing of them)."""
    totals: dict[str, Decimal] = defaultdict(lambda: D("0.00"))
    for journal in gateway.ledger:
        if journal.source_type in PAYMENTS:
            continue
        for line in journal.lines:
            totals[line.account_code] += line.net_amount
    return {k: v for k, v in totals.items() if v != 0}


def _erp_totals(store: InMemoryStore) -> dict[str, Decimal]:
    """What the ERP says each account should hold: its documents and its cost journals."""
    totals: dict[str, Decimal] = defaultdict(lambda: D("0.00"))
    types = {Kind.SALES_ORDERS: "ACCREC", Kind.PURCHASE_ORDERS: "ACCPAY", Kind.REFUNDS: "ACCRECCREDIT"}
    for kind, docs in store.documents.items():
        for doc in docs:
            sign = LINE_SIGN[types[kind]]
            for line in doc.lines:
                totals[line.account_code] += sign * line.line_amount
                totals[GST_ACCOUNT] += sign * line.tax_amount
            totals[CONTROL_ACCOUNT[types[kind]]] -= sign * doc.total
    build = build_journals([CostFlow.of(e) for e in store.cost_entries if e.date <= TODAY],
                           store.state.mapping)
    for journal in build.journals:
        for line in journal.lines:
            totals[line.account_code] += line.amount
    return {k: v for k, v in totals.items() if v != 0}


def _xero_by_contact(gateway: FakeGateway) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: D("0.00"))
    for o in gateway.objects.values():
        if o.document_type and o.status in ("AUTHORISED", "PAID"):
            totals[(CONTROL_ACCOUNT[o.document_type], o.contact)] -= LINE_SIGN[o.document_type] * o.total
    return {k: v for k, v in totals.items() if v != 0}


def _erp_by_contact(store: InMemoryStore) -> dict[tuple[str, str], Decimal]:
    types = {Kind.SALES_ORDERS: "ACCREC", Kind.PURCHASE_ORDERS: "ACCPAY", Kind.REFUNDS: "ACCRECCREDIT"}
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: D("0.00"))
    for kind, docs in store.documents.items():
        for doc in docs:
            t = types[kind]
            totals[(CONTROL_ACCOUNT[t], doc.contact.name)] -= LINE_SIGN[t] * doc.total
    return {k: v for k, v in totals.items() if v != 0}


Books.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_books_agree_after_any_sequence_of_changes_and_syncs = Books.TestCase
