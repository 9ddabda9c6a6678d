"""XeroGateway's side of the books over real HTTP against the sandbox: object states, changes
since a moment, updates, voids and deletes, allocations, the trial balance and the general
ledger, with Xero's refusals coming back per element (docs/xero-rules.md). Runs on SQLite and
PostgreSQL like the rest of the gateway's tests."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from accounts_sync.adapters.xero.gateway import XeroGateway
from accounts_sync.application.ports import Allocation, DocumentUpdate, StatusChange
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import DocumentLine, Kind
from accounts_sync.domain.journals import AccountJournal, JournalLine
from accounts_sync.domain.money import money
from accounts_sync.domain.sync import JournalMode, SyncRecord

from . import test_xero_gateway_harness as harness
from .test_xero_gateway_harness import (  # noqa: F401 - fixtures
    AU_TENANT_ID,
    Xero,
    api_calls,
    connected_fixture,
    sandbox_fixture,
    sandbox_server_fixture,
    xero_fixture,
)


def taxed(document):
    """The ERP's own GST on every line (10%), as it is sent to Xero."""
    lines = tuple(replace(line, tax_amount=money(line.line_amount / 10)) for line in document.lines)
    return replace(document, lines=lines, fingerprint="")


def sale(n: int, **kw):
    return taxed(harness.sale(n, **kw))


def purchase(n: int, **kw):
    return taxed(harness.purchase(n, **kw))


def refund(n: int, **kw):
    return taxed(harness.refund(n, **kw))

SO, PO, RF = Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS, Kind.REFUNDS
APPLIED = "This document cannot be edited as it has a payment or credit note allocated to it."
YESTERDAY = date.today() - timedelta(days=1)


def created(results) -> list[str]:
    assert all(r.created for r in results), [r.errors for r in results]
    return [r.xero_id for r in results]


def larger(document, quantity: str = "24"):
    first = replace(document.lines[0], quantity=Decimal(quantity))
    return taxed(replace(document, lines=(first, *document.lines[1:]), fingerprint=""))


def journal(day: date, amount: str = "100.00", key: str = "") -> AccountJournal:
    key = key or f"{day.isoformat()}-addition"
    value = Decimal(amount)
    return AccountJournal(key, day, MovementType.ADDITION, f"Additions on {day} [AS:{key}]",
                          (JournalLine("1440", value), JournalLine("1420", -value)), 1,
                          url=f"http://erp.test/accounts/sync/journals/{key}")


def one_state(gateway: XeroGateway, kind: Kind, xero_id: str):
    return gateway.object_states(kind, [xero_id])[xero_id]


# ------------------------------------------------------------------ reading states


def test_object_states_read_many_ids_in_one_call_and_find_credit_notes_too(connected: Xero):
    gateway = connected.gateway
    invoices = created(gateway.push_invoices([sale(n) for n in range(1, 4)], "push-so"))
    [credit] = created(gateway.push_credit_notes([refund(1)], "push-rf"))
    before = len(api_calls(connected.sandbox, "GET"))
    unknown = "11111111-2222-3333-4444-555555555555"
    states = gateway.object_states(SO, [*invoices, credit, unknown, "not-an-id"])
    assert set(states) == {*invoices, credit}
    gets = api_calls(connected.sandbox, "GET")[before:]
    assert [c["path"].rsplit("/", 1)[1] for c in gets] == ["Invoices", "CreditNotes"]
    first = states[invoices[0]]
    assert (first.kind, first.document_type, first.status, first.number) == (
        SO, "ACCREC", "AUTHORISED", "SO-00001")
    assert first.total == Decimal("329.67") and first.amount_due == first.total
    assert [(line.account_code, line.amount, line.tax_amount) for line in first.lines] == [
        ("4000", Decimal("299.40"), Decimal("29.94")), ("4100", Decimal("0.30"), Decimal("0.03"))]
    assert first.due_date == date.today() + timedelta(days=30) and first.currency == "AUD"
    assert first.updated_at is not None and first.updated_at.tzinfo is UTC
    assert first.web_url.endswith(invoices[0]) and not first.has_applications
    cn = states[credit]
    assert (cn.kind, cn.document_type, cn.amount_due, cn.allocations) == (
        RF, "ACCRECCREDIT", Decimal("27.45"), ())


# ------------------------------------------------------------------ updates


def test_an_authorised_invoice_is_updated_in_place_with_every_line(connected: Xero):
    gateway = connected.gateway
    document = sale(1)
    [invoice_id] = created(gateway.push_invoices([document], "push-1"))
    results = gateway.update_documents([DocumentUpdate(invoice_id, larger(document))], "upd-1")
    assert [(r.erp_id, r.xero_id) for r in results] == [("1", invoice_id)]
    state = one_state(gateway, SO, invoice_id)
    assert state.total == Decimal("659.01") and state.status == "AUTHORISED"
    [post] = api_calls(connected.sandbox, "POST", "/Invoices")
    assert post["idempotencyKey"] == "upd-1" and post["elements"] == 1
    assert "summarizeErrors=false" in post["query"] and "unitdp=4" in post["query"]


def test_a_paid_invoice_refuses_updates_and_voids(connected: Xero):
    gateway = connected.gateway
    document = sale(1)
    [invoice_id] = created(gateway.push_invoices([document], "push-1"))
    connected.sandbox.pay_document(invoice_id, "10.00")  # someone records a payment in Xero
    [update] = gateway.update_documents([DocumentUpdate(invoice_id, larger(document))], "upd-1")
    [void] = gateway.change_status([StatusChange("1", invoice_id, "ACCREC", "VOIDED")], "void-1")
    assert update.errors == (APPLIED,) and void.errors == (APPLIED,)
    state = one_state(gateway, SO, invoice_id)
    assert state.has_applications and state.amount_paid == Decimal("10.00")
    assert state.amount_due == Decimal("319.67")


def test_a_locked_date_refuses_an_update(connected: Xero):
    gateway = connected.gateway
    document = sale(1)
    [invoice_id] = created(gateway.push_invoices([document], "push-1"))
    connected.sandbox.set_lock_dates(AU_TENANT_ID, period_lock_date=document.date.isoformat())
    [result] = gateway.update_documents([DocumentUpdate(invoice_id, larger(document))], "upd-1")
    assert not result.created and "period lock date" in result.errors[0]
    [void] = gateway.change_status([StatusChange("1", invoice_id, "ACCREC", "VOIDED")], "void-1")
    assert "period lock date" in void.errors[0]


def test_void_an_authorised_invoice_and_delete_a_draft(connected: Xero):
    gateway = connected.gateway
    drafts = XeroGateway(gateway.client, gateway.connector, connected.sessions,
                         replace(gateway.settings, invoice_status="DRAFT"))
    [authorised] = created(gateway.push_invoices([sale(1)], "push-1"))
    [draft] = created(drafts.push_invoices([sale(2)], "push-2"))
    results = gateway.change_status([
        StatusChange("1", authorised, "ACCREC", "VOIDED"),
        StatusChange("2", draft, "ACCREC", "DELETED"),
        StatusChange("3", authorised, "ACCREC", "PAID"),
    ], "status-1")
    assert [r.created for r in results] == [True, True, False]
    assert "only voids or deletes" in results[2].errors[0]
    states = gateway.object_states(SO, [authorised, draft])
    assert (states[authorised].status, states[draft].status) == ("VOIDED", "DELETED")
    records = [SyncRecord(SO, "1", "SO-00001", "f"), SyncRecord(SO, "2", "SO-00002", "f")]
    assert gateway.find_existing(SO, records) == {}  # gone: a resend may create them again
    [wrong] = gateway.change_status([StatusChange("1", authorised, "ACCREC", "DELETED")], "status-2")
    assert wrong.errors == ("Invoice not of valid status for modification",)


def test_updates_of_invoices_and_credit_notes_in_one_call_each_keep_their_order(connected: Xero):
    gateway = connected.gateway
    [invoice_id] = created(gateway.push_invoices([sale(1)], "push-1"))
    [credit_id] = created(gateway.push_credit_notes([refund(2)], "push-2"))
    bigger_refund = larger(refund(2), "1")
    bigger_refund = taxed(replace(bigger_refund, lines=(replace(bigger_refund.lines[0],
                                                                unit_amount=Decimal("30.0000")),),
                                  fingerprint=""))
    results = gateway.update_documents([
        DocumentUpdate(credit_id, bigger_refund),
        DocumentUpdate(invoice_id, larger(sale(1))),
        DocumentUpdate("11111111-2222-3333-4444-555555555555", sale(3)),
    ], "upd-mixed")
    assert [r.erp_id for r in results] == ["2", "1", "3"]
    assert [r.created for r in results] == [True, True, False]
    assert "could not be found" in results[2].errors[0]
    assert one_state(gateway, RF, credit_id).total == Decimal("33.00")
    keys = sorted(c["idempotencyKey"] for c in api_calls(connected.sandbox, "POST"))
    assert keys == ["upd-mixed-creditnotes", "upd-mixed-invoices"]


def test_adjustments_are_sent_as_their_xero_type(connected: Xero):
    gateway = connected.gateway
    bill_credit = replace(purchase(7), erp_id="7-adj", number="PO-00007-A1",
                          document_type="ACCPAYCREDIT", fingerprint="")
    refund_increase = replace(refund(8), erp_id="8-adj", number="RF-00008-A1",
                              document_type="ACCREC", due_date=date.today(), fingerprint="")
    [credit_id] = created(gateway.push_credit_notes([bill_credit], "adj-1"))
    [invoice_id] = created(gateway.push_invoices([refund_increase], "adj-2"))
    assert one_state(gateway, PO, credit_id).document_type == "ACCPAYCREDIT"
    assert one_state(gateway, RF, invoice_id).document_type == "ACCREC"
    [wrong] = gateway.push_invoices([bill_credit], "adj-3")
    assert not wrong.created and "not an invoice" in wrong.errors[0]
    assert api_calls(connected.sandbox, "PUT", "/Invoices")[-1]["idempotencyKey"] == "adj-2"


# ------------------------------------------------------------------ manual journals


def test_a_draft_journal_is_rewritten_a_posted_one_is_refused(connected: Xero):
    gateway = connected.gateway
    [draft] = created(gateway.push_manual_journals([journal(YESTERDAY)], JournalMode.DRAFT, "mj-1"))
    [posted] = created(gateway.push_manual_journals([journal(YESTERDAY, key="2-bottling")],
                                                    JournalMode.POSTED, "mj-2"))
    [rewritten] = gateway.update_manual_journals([(draft, journal(YESTERDAY, "120.00"))],
                                                 JournalMode.POSTED, "mj-3")
    assert rewritten.created and rewritten.erp_id == f"{YESTERDAY.isoformat()}-addition"
    state = one_state(gateway, Kind.JOURNALS, draft)
    assert state.status == "POSTED" and [line.amount for line in state.lines] == [
        Decimal("120.00"), Decimal("-120.00")]
    assert "[AS:" in state.number
    [refused] = gateway.update_manual_journals([(posted, journal(YESTERDAY, "5.00", "2-bottling"))],
                                               JournalMode.POSTED, "mj-4")
    assert "posted manual journal" in refused.errors[0]
    [voided] = gateway.change_status([StatusChange("2", posted, "MANJOURNAL", "VOIDED")], "mj-5")
    assert voided.created and one_state(gateway, Kind.JOURNALS, posted).status == "VOIDED"


# ------------------------------------------------------------------ allocations


def test_a_refund_is_allocated_to_its_sale_and_looked_up_before_any_resend(connected: Xero):
    gateway = connected.gateway
    [invoice_id] = created(gateway.push_invoices([sale(1)], "push-1"))  # 329.67
    [credit_id] = created(gateway.push_credit_notes([refund(1)], "push-2"))  # 27.45
    connected.sandbox.inject("commit_then_drop", count=1)  # Xero allocates, the answer is lost
    [result] = gateway.allocate([Allocation("rf-1", credit_id, invoice_id, Decimal("27.45"),
                                            date.today())], "alloc-1")
    assert result.created  # the retry under the same key got Xero's first answer
    states = gateway.object_states(RF, [credit_id, invoice_id])
    assert states[credit_id].allocations == ((invoice_id, Decimal("27.45")),)
    assert states[credit_id].status == "PAID" and states[credit_id].amount_due == 0
    assert states[invoice_id].amount_credited == Decimal("27.45")
    assert states[invoice_id].amount_due == Decimal("302.22")
    assert states[invoice_id].has_applications
    [again] = gateway.allocate([Allocation("rf-1", credit_id, invoice_id, Decimal("1.00"),
                                           date.today())], "alloc-2")
    assert not again.created and again.errors
    puts = api_calls(connected.sandbox, "PUT", "/Allocations")
    assert [c["idempotencyKey"] for c in puts] == ["alloc-1", "alloc-1", "alloc-2"]


def test_allocations_go_one_call_per_credit_note_and_refusals_come_back_per_element(connected: Xero):
    gateway = connected.gateway
    invoices = created(gateway.push_invoices([sale(1), sale(2)], "push-1"))
    credits = created(gateway.push_credit_notes([refund(1), refund(2)], "push-2"))
    today = date.today()
    results = gateway.allocate([
        Allocation("a", credits[0], invoices[0], Decimal("10.00"), today),
        Allocation("b", credits[1], invoices[1], Decimal("5.00"), today),
        Allocation("c", credits[0], invoices[1], Decimal("50.00"), today),
        Allocation("d", credits[0], invoices[0], Decimal("0.00"), today),
        Allocation("e", "11111111-2222-3333-4444-555555555555", invoices[0], Decimal("1"), today),
    ], "alloc")
    assert [r.erp_id for r in results] == ["a", "b", "c", "d", "e"]
    assert [r.created for r in results] == [True, True, False, False, False]
    assert "greater than amount outstanding" in results[2].errors[0]
    assert "must be positive" in results[3].errors[0]
    assert "no credit note" in results[4].errors[0]
    assert len(api_calls(connected.sandbox, "PUT", "/Allocations")) == 3


# ------------------------------------------------------------------ changes seen from outside


def test_changed_since_pages_through_what_changed(connected: Xero):
    gateway = connected.gateway
    ids = created(gateway.push_invoices([sale(n) for n in range(1, 51)], "p1"))
    ids += created(gateway.push_invoices([sale(n) for n in range(51, 101)], "p2"))
    ids += created(gateway.push_invoices([sale(n) for n in range(101, 121)], "p3"))
    created(gateway.push_invoices([purchase(1)], "p4"))
    first = gateway.changed_since(SO, None)
    second = gateway.changed_since(SO, None, first.next_page)
    assert (len(first.items), first.next_page, len(second.items), second.next_page) == (100, 2, 20, None)
    assert {s.xero_id for s in first.items + second.items} == set(ids)
    assert [s.document_type for s in gateway.changed_since(PO, None).items] == ["ACCPAY"]
    time.sleep(1.1)  # If-Modified-Since has whole seconds; the sandbox keeps real time here
    mark = datetime.now(UTC)
    gateway.update_documents([DocumentUpdate(ids[7], larger(sale(8)))], "u1")
    gateway.change_status([StatusChange("4", ids[3], "ACCREC", "VOIDED")], "v1")
    later = gateway.changed_since(SO, mark)
    assert [s.xero_id for s in later.items] == [ids[7], ids[3]] and later.next_page is None
    assert later.items[1].status == "VOIDED"
    gets = api_calls(connected.sandbox, "GET", "/Invoices")
    assert "order=UpdatedDateUTC" in gets[-1]["query"]
    journal_id = connected.sandbox.record_manual_journal(YESTERDAY, [("1450", "1"), ("5000", "-1")])
    assert [s.xero_id for s in gateway.changed_since(Kind.JOURNALS, mark).items] == [journal_id]
    assert gateway.changed_since(RF, mark).items == ()


# ------------------------------------------------------------------ the ledger


def test_the_trial_balance_balances_after_a_mixed_set_of_documents(connected: Xero):
    gateway = connected.gateway
    invoices = created(gateway.push_invoices([sale(1), sale(2), purchase(1)], "p1"))
    [credit] = created(gateway.push_credit_notes([refund(1)], "p2"))
    created(gateway.push_manual_journals([journal(YESTERDAY)], JournalMode.POSTED, "p3"))
    created(gateway.allocate([Allocation("a", credit, invoices[0], Decimal("27.45"),
                                         date.today())], "p4"))
    connected.sandbox.pay_document(invoices[1], "100.00")
    gateway.change_status([StatusChange("x", invoices[0], "ACCREC", "VOIDED")], "p5")  # refused
    rows = {r.account_code: r for r in gateway.trial_balance(date.today())}
    assert sum(r.debit for r in rows.values()) == sum(r.credit for r in rows.values())
    receivable = rows["610"]
    assert receivable.name == "Accounts Receivable" and receivable.account_type == "CURRENT"
    assert receivable.section == "Assets" and receivable.account_id
    assert receivable.balance == Decimal("329.67") * 2 - Decimal("27.45") - Decimal("100.00")
    assert rows["090"].balance == Decimal("100.00")
    assert rows["1440"].balance == Decimal("100.00") and rows["1420"].balance == Decimal("-100.00")
    assert rows["800"].balance == Decimal("-2530.00") and rows["1430"].balance == Decimal("2300.00")
    assert rows["4000"].section == "Revenue"
    assert gateway.trial_balance(date.today() - timedelta(days=10)) == ()


def test_the_general_ledger_pages_by_journal_number(connected: Xero):
    gateway = connected.gateway
    for batch in range(3):
        created(gateway.push_invoices([sale(n) for n in range(batch * 40 + 1, batch * 40 + 41)],
                                      f"p{batch}"))
    [credit] = created(gateway.push_credit_notes([refund(1)], "r1"))
    first = gateway.journals()
    assert [j.number for j in first] == list(range(1, 101))
    rest = gateway.journals(first[-1].number)
    assert [j.number for j in rest] == list(range(101, 122))
    assert gateway.journals(rest[-1].number) == ()
    sale_journal = first[0]
    assert sale_journal.source_type == "ACCREC" and sale_journal.date == YESTERDAY
    assert sum(line.net_amount for line in sale_journal.lines) == 0
    revenue = next(line for line in sale_journal.lines if line.account_code == "4000")
    assert (revenue.net_amount, revenue.tax_amount) == (Decimal("-299.40"), Decimal("-29.94"))
    assert rest[-1].source_type == "ACCRECCREDIT" and rest[-1].source_id == credit
    assert rest[-1].created_at is not None


def test_reads_survive_an_expired_token_and_a_429(connected: Xero):
    gateway = connected.gateway
    [invoice_id] = created(gateway.push_invoices([sale(1)], "push-1"))
    connected.sandbox.expire_tokens()
    connected.sandbox.inject("rate_limit_storm", count=1, retry_after=5)
    assert one_state(gateway, SO, invoice_id).status == "AUTHORISED"
    assert 5 in connected.time.slept
    connected.sandbox.inject("fail", status=503, count=1)
    [voided] = gateway.change_status([StatusChange("1", invoice_id, "ACCREC", "VOIDED")], "v-1")
    assert voided.created
    posts = api_calls(connected.sandbox, "POST", "/Invoices")
    assert [c["idempotencyKey"] for c in posts] == ["v-1", "v-1"]  # the retry kept its key


def test_lines_read_back_match_what_was_sent(connected: Xero):
    gateway = connected.gateway
    document = replace(sale(1), lines=(DocumentLine("Shiraz", Decimal("3"), Decimal("10.1234"),
                                                    "4000", "OUTPUT", Decimal("3.04")),),
                       fingerprint="")
    [invoice_id] = created(gateway.push_invoices([document], "push-1"))
    [line] = one_state(gateway, SO, invoice_id).lines
    assert (line.amount, line.tax_amount, line.tax_type) == (Decimal("30.37"), Decimal("3.04"),
                                                             "OUTPUT")
