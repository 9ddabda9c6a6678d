"""The sandbox after the first sync, over real HTTP: updates and status moves by Xero's rules,
payments, credit note allocations, lock dates, If-Modified-Since, and the general ledger
behind GET /Journals and GET /Reports/TrialBalance (docs/xero-rules.md)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from accounts_sync.demo.xero_sandbox import create_app
from accounts_sync.demo.xero_sandbox.server import run_in_thread
from tests.contract.spec import assert_valid

from .test_xero_sandbox import AU, FakeClock, Sandbox, invoice, journal, messages

APPLIED = "This document cannot be edited as it has a payment or credit note allocated to it."
NOT_VALID = "Invoice not of valid status for modification"


class Books(Sandbox):
    def post(self, path: str, body, key: str | None = None, **params) -> requests.Response:
        headers = self.headers(**({"Idempotency-Key": key} if key else {}))
        return requests.post(f"{self.url}/api.xro/2.0/{path}", headers=headers,
                             params={"summarizeErrors": "false", **params},
                             data=json.dumps(body), timeout=10)

    def send(self, method: str, path: str, body=None, **headers) -> requests.Response:
        return requests.request(method, f"{self.url}/api.xro/2.0/{path}",
                                headers=self.headers(**headers),
                                data=json.dumps(body) if body is not None else None, timeout=10)

    def one(self, answer: requests.Response, plural: str) -> dict:
        assert answer.status_code == 200, answer.text
        items = answer.json()[plural]
        assert len(items) == 1
        return items[0]

    def create(self, plural: str, body: dict) -> dict:
        made = self.one(self.put(plural, {plural: [body]}), plural)
        assert made["StatusAttributeString"] == "OK", messages(made)
        return made

    def read(self, plural: str, doc_id: str) -> dict:
        return self.one(self.get(f"{plural}/{doc_id}"), plural)

    def journals(self, offset: int = 0) -> list[dict]:
        answer = self.get("Journals", params={"offset": offset})
        assert answer.status_code == 200, answer.text
        return answer.json()["Journals"]

    def trial_balance(self, day: date) -> dict[str, tuple[str, ...]]:
        """Account code → (debit, credit, YTD debit, YTD credit) texts."""
        answer = self.get("Reports/TrialBalance", params={"date": day.isoformat()})
        assert answer.status_code == 200, answer.text
        report = answer.json()["Reports"][0]
        rows = {}
        for section in report["Rows"][1:-1]:
            for row in section["Rows"]:
                label = row["Cells"][0]["Value"]
                rows[label.rsplit("(", 1)[1].rstrip(")")] = tuple(c["Value"] for c in row["Cells"][1:])
        return rows


@pytest.fixture
def sb():
    clock = FakeClock()
    app = create_app({"CLOCK": clock, "RATE_LIMIT_PER_MINUTE": 0, "CONCURRENCY_LIMIT": 0,
                      "TEST_HOOKS": True})
    with run_in_thread(app) as (base_url, _stop):
        yield Books(base_url, app, clock)


def credit_note(n: int, day: date, amount: float = 50.0, **over) -> dict:
    body = {"Type": "ACCRECCREDIT", "Contact": {"Name": "Cellar Door Sales"},
            "Date": day.isoformat(), "CreditNoteNumber": f"RF-{n:05d}", "Reference": f"SO-{n:05d}",
            "Status": "AUTHORISED", "LineAmountTypes": "Exclusive",
            "LineItems": [{"Description": "Corked bottles", "Quantity": 1, "UnitAmount": amount,
                           "AccountCode": "4000", "TaxType": "OUTPUT"}]}
    body.update(over)
    return body


def no_due(n: int, day: date, **over) -> dict:
    body = invoice(n, day, **over)
    del body["DueDate"]
    return body


def pay(sb: Books, invoice_id: str, amount: float, day: date, **over):
    return sb.put("Payments", {"Payments": [{"Invoice": {"InvoiceID": invoice_id},
                                             "Account": {"Code": "090"}, "Date": day.isoformat(),
                                             "Amount": amount, **over}]})


def allocate(sb: Books, credit_id: str, invoice_id: str, amount: float, day: date,
             key: str | None = None):
    return sb.put(f"CreditNotes/{credit_id}/Allocations", {"Allocations": [
        {"Invoice": {"InvoiceID": invoice_id}, "Amount": amount, "Date": day.isoformat()}]},
        key=key)


def lines_total(journal_lines: list[dict], code: str) -> Decimal:
    return sum((Decimal(str(line["NetAmount"])) for line in journal_lines
                if line["AccountCode"] == code), Decimal(0))


# ------------------------------------------------------------------ updates and status moves


def test_an_authorised_invoice_with_nothing_applied_is_updated_in_place(sb):
    day = sb.today
    made = sb.create("Invoices", invoice(1, day))
    assert made["Total"] == 265.21  # 2 x 120.55 + GST
    sb.clock.advance(60)
    changed = invoice(1, day, LineItems=[{"Description": "2022 Reserve Shiraz", "Quantity": 3,
                                          "UnitAmount": 120.55, "AccountCode": "4000",
                                          "TaxType": "OUTPUT"}])
    answer = sb.one(sb.post(f"Invoices/{made['InvoiceID']}", {"Invoices": [changed]}), "Invoices")
    assert answer["StatusAttributeString"] == "OK" and answer["InvoiceID"] == made["InvoiceID"]
    now = sb.read("Invoices", made["InvoiceID"])
    assert (now["Total"], now["AmountDue"], now["Status"]) == (397.82, 397.82, "AUTHORISED")
    assert len(now["LineItems"]) == 1 and now["UpdatedDateUTC"] != made["UpdatedDateUTC"]
    assert sb.sb.counters["documents_updated"] == {"Invoices": 1}
    # Xero never edits a ledger journal: the update reversed the first and posted anew
    ledger = sb.journals()
    assert [(j["SourceType"], lines_total(j["JournalLines"], "610")) for j in ledger] == [
        ("ACCREC", Decimal("265.21")), ("ACCREC", Decimal("-265.21")),
        ("ACCREC", Decimal("397.82"))]
    assert {j["SourceID"] for j in ledger} == {made["InvoiceID"]}


def test_a_batch_post_with_ids_updates_and_refuses_what_it_cannot_find(sb):
    day = sb.today
    first, second = sb.create("Invoices", invoice(1, day)), sb.create("Invoices", invoice(2, day))
    answer = sb.post("Invoices", {"Invoices": [
        {"InvoiceID": first["InvoiceID"], "Reference": "new reference"},
        {"InvoiceID": "11111111-2222-3333-4444-555555555555", "Reference": "x"},
        {"InvoiceID": second["InvoiceID"], "DueDate": (day + timedelta(days=60)).isoformat()}]})
    out = answer.json()["Invoices"]
    assert [e["StatusAttributeString"] for e in out] == ["OK", "ERROR", "OK"]
    assert "could not be found" in messages(out[1])[0]
    assert sb.read("Invoices", first["InvoiceID"])["Reference"] == "new reference"
    assert sb.read("Invoices", first["InvoiceID"])["Total"] == 265.21  # lines kept
    # PUT creates; an existing id there is refused rather than updated
    again = sb.put("Invoices", {"Invoices": [invoice(9, day, InvoiceID=first["InvoiceID"])]})
    assert "already exists" in messages(again.json()["Invoices"][0])[0]


def test_status_moves_follow_xero(sb):
    day = sb.today
    draft = sb.create("Invoices", invoice(1, day, Status="DRAFT"))
    authorised = sb.create("Invoices", invoice(2, day))

    def move(doc, status):
        return sb.one(sb.post(f"Invoices/{doc['InvoiceID']}",
                              {"InvoiceID": doc["InvoiceID"], "Status": status}), "Invoices")

    assert messages(move(authorised, "DELETED")) == [NOT_VALID]
    assert messages(move(draft, "VOIDED")) == [NOT_VALID]
    assert move(draft, "SUBMITTED")["Status"] == "SUBMITTED"
    assert move(draft, "AUTHORISED")["Status"] == "AUTHORISED"
    assert move(authorised, "VOIDED")["Status"] == "VOIDED"
    assert messages(move(authorised, "AUTHORISED")) == [NOT_VALID]
    other = sb.create("Invoices", invoice(3, day, Status="SUBMITTED"))
    assert move(other, "DELETED")["Status"] == "DELETED"
    voided = sb.read("Invoices", authorised["InvoiceID"])
    assert (voided["Status"], voided["Total"]) == ("VOIDED", 265.21)
    sources = [j["SourceID"] for j in sb.journals()]
    assert sources.count(authorised["InvoiceID"]) == 2  # posted, then reversed
    assert other["InvoiceID"] not in sources  # never approved, never posted


def test_approved_invoices_and_bills_need_a_due_date_drafts_and_credit_notes_do_not(sb):
    day = sb.today
    out = sb.put("Invoices", {"Invoices": [
        no_due(1, day), no_due(2, day, Status="SUBMITTED"), no_due(3, day, Type="ACCPAY"),
        no_due(4, day, Status="DRAFT")]}).json()["Invoices"]
    assert [messages(e) for e in out] == [["Due Date must be specified."]] * 3 + [[]]
    assert sb.create("CreditNotes", credit_note(1, day))["Status"] == "AUTHORISED"
    approve = sb.one(sb.post(f"Invoices/{out[3]['InvoiceID']}", {"Status": "AUTHORISED"}), "Invoices")
    assert messages(approve) == ["Due Date must be specified."]


def test_a_negative_total_is_refused_a_negative_line_is_not(sb):
    day = sb.today
    discount = {"Description": "Trade discount", "Quantity": 1, "UnitAmount": -40.55,
                "AccountCode": "4000", "TaxType": "OUTPUT"}
    fine = invoice(1, day)
    fine["LineItems"] = fine["LineItems"] + [discount]
    negative = invoice(2, day, LineItems=[discount])
    out = sb.put("Invoices", {"Invoices": [fine, negative]}).json()["Invoices"]
    assert out[0]["StatusAttributeString"] == "OK" and out[0]["Total"] == 220.6
    assert messages(out[1]) == ["The document total must not be negative."]


# ------------------------------------------------------------------ payments


def test_payments_make_an_invoice_part_paid_then_paid_and_block_every_edit(sb):
    day = sb.today
    made = sb.create("Invoices", invoice(1, day))
    part = sb.one(pay(sb, made["InvoiceID"], 65.21, day, Reference="deposit"), "Payments")
    assert part["StatusAttributeString"] == "OK" and part["PaymentType"] == "ACCRECPAYMENT"
    assert_valid("Payments", {"Payments": [part]}, strict=False)
    now = sb.read("Invoices", made["InvoiceID"])
    assert (now["AmountPaid"], now["AmountDue"], now["Status"]) == (65.21, 200.0, "AUTHORISED")
    assert messages(sb.one(sb.post(f"Invoices/{made['InvoiceID']}", {"Reference": "x"}),
                           "Invoices")) == [APPLIED]
    assert messages(sb.one(sb.post(f"Invoices/{made['InvoiceID']}", {"Status": "VOIDED"}),
                           "Invoices")) == [APPLIED]
    over = sb.one(pay(sb, made["InvoiceID"], 200.01, day), "Payments")
    assert messages(over) == ["Payment amount exceeds the amount outstanding on this document."]
    sb.one(pay(sb, made["InvoiceID"], 200.0, day), "Payments")
    paid = sb.read("Invoices", made["InvoiceID"])
    assert (paid["AmountDue"], paid["Status"], len(paid["Payments"])) == (0.0, "PAID", 2)
    refused = sb.one(pay(sb, made["InvoiceID"], 1, day), "Payments")
    assert "AUTHORISED" in messages(refused)[0]
    bank = [j for j in sb.journals() if j["SourceType"] == "ACCRECPAYMENT"]
    assert [lines_total(j["JournalLines"], "090") for j in bank] == [Decimal("65.21"),
                                                                     Decimal("200.00")]
    assert sb.trial_balance(day).get("610") is None  # receivable cleared


def test_a_payment_needs_a_bank_account_and_an_open_date(sb):
    day = sb.today
    made = sb.create("Invoices", invoice(1, day))
    wrong = sb.one(sb.put("Payments", {"Payments": [{"Invoice": {"InvoiceID": made["InvoiceID"]},
                                                     "Account": {"Code": "4000"}, "Amount": 1}]}),
                   "Payments")
    assert "not a bank account" in messages(wrong)[0]
    lock = date.fromisoformat(sb.state()["organisations"][0]["periodLockDate"])
    locked = sb.one(pay(sb, made["InvoiceID"], 1, lock), "Payments")
    assert "lock date" in messages(locked)[0]
    payment_id = sb.sb.pay_document(made["InvoiceID"], "10.00", day)  # the test hooks
    assert sb.read("Invoices", made["InvoiceID"])["Payments"][0]["PaymentID"] == payment_id
    hooked = requests.post(f"{sb.url}/_payments", json={"document_id": made["InvoiceID"],
                                                        "amount": "5.00"}, timeout=10)
    assert hooked.status_code == 200
    assert sb.read("Invoices", made["InvoiceID"])["AmountPaid"] == 15.0


# ------------------------------------------------------------------ lock dates


def test_lock_dates_refuse_changes_to_posted_documents_old_date_or_new(sb):
    day = sb.today
    early = day - timedelta(days=20)
    made = sb.create("Invoices", invoice(1, early))
    draft = sb.create("Invoices", invoice(2, early, Status="DRAFT"))
    sb.sb.set_lock_dates(AU, period_lock_date=(day - timedelta(days=10)).isoformat())

    def post(doc, **changes):
        return sb.one(sb.post(f"Invoices/{doc['InvoiceID']}", changes), "Invoices")

    assert "period lock date" in messages(post(made, Date=day.isoformat()))[0]
    assert "period lock date" in messages(post(made, Status="VOIDED"))[0]
    fresh = sb.create("Invoices", invoice(3, day))
    assert "period lock date" in messages(post(fresh, Date=early.isoformat()))[0]
    assert post(draft, Reference="still a draft")["StatusAttributeString"] == "OK"
    assert "period lock date" in messages(post(draft, Status="AUTHORISED"))[0]
    assert sb.create("Invoices", invoice(4, early, Status="DRAFT"))["Status"] == "DRAFT"


# ------------------------------------------------------------------ credit note allocations


def test_a_credit_note_is_allocated_within_both_amounts(sb):
    day = sb.today
    inv = sb.create("Invoices", invoice(1, day))  # 265.21
    credit = sb.create("CreditNotes", credit_note(1, day, amount=50))  # 55.00
    over = sb.one(allocate(sb, credit["CreditNoteID"], inv["InvoiceID"], 60, day), "Allocations")
    assert messages(over) == ["Credit Note cannot be allocated as amount is greater than "
                              "amount outstanding"]
    key = "allocate-rf-1"
    done = sb.one(allocate(sb, credit["CreditNoteID"], inv["InvoiceID"], 55, day, key), "Allocations")
    assert done["StatusAttributeString"] == "OK"
    assert_valid("Allocations", {"Allocations": [done]}, strict=False)
    replay = sb.one(allocate(sb, credit["CreditNoteID"], inv["InvoiceID"], 55, day, key), "Allocations")
    assert replay == done and sb.sb.counters["idempotent_replays"] == 1
    cn = sb.read("CreditNotes", credit["CreditNoteID"])
    assert (cn["RemainingCredit"], cn["Status"], cn["AppliedAmount"]) == (0.0, "PAID", 55.0)
    assert cn["Allocations"][0]["Invoice"]["InvoiceID"] == inv["InvoiceID"]
    now = sb.read("Invoices", inv["InvoiceID"])
    assert (now["AmountCredited"], now["AmountDue"], now["Status"]) == (55.0, 210.21, "AUTHORISED")
    assert now["CreditNotes"][0]["CreditNoteID"] == credit["CreditNoteID"]
    assert messages(sb.one(sb.post(f"Invoices/{inv['InvoiceID']}", {"Reference": "x"}),
                           "Invoices")) == [APPLIED]
    assert messages(sb.one(sb.post(f"CreditNotes/{credit['CreditNoteID']}", {"Reference": "x"}),
                           "CreditNotes")) == [APPLIED]
    # allocations post nothing to the ledger
    assert [j["SourceType"] for j in sb.journals()] == ["ACCREC", "ACCRECCREDIT"]


def test_an_allocation_is_not_idempotent_under_a_new_key_and_fills_the_invoice(sb):
    day = sb.today
    inv = sb.create("Invoices", invoice(1, day, LineItems=[{
        "Description": "x", "Quantity": 1, "UnitAmount": 20, "AccountCode": "4000",
        "TaxType": "OUTPUT"}]))  # 22.00
    credit = sb.create("CreditNotes", credit_note(1, day, amount=100))  # 110.00
    for key in ("a", "b"):
        sb.one(allocate(sb, credit["CreditNoteID"], inv["InvoiceID"], 11, day, key), "Allocations")
    now = sb.read("Invoices", inv["InvoiceID"])
    assert (now["AmountDue"], now["Status"]) == (0.0, "PAID")
    assert sb.read("CreditNotes", credit["CreditNoteID"])["RemainingCredit"] == 88.0
    refused = sb.one(allocate(sb, credit["CreditNoteID"], inv["InvoiceID"], 1, day), "Allocations")
    # Xero gives both reasons at once (waynerobinson/xeroizer#320)
    assert messages(refused) == ["The invoice you are trying to allocate to has already been "
                                 "paid off", "Credit Note cannot be allocated as amount is "
                                 "greater than amount outstanding"]


def test_allocation_refusals(sb):
    day = sb.today
    inv = sb.create("Invoices", invoice(1, day))
    bill = sb.create("Invoices", invoice(2, day, Type="ACCPAY"))
    credit = sb.create("CreditNotes", credit_note(1, day))
    stranger = sb.create("CreditNotes", credit_note(2, day, Contact={"Name": "Thames Wine Imports Ltd"}))
    draft = sb.create("CreditNotes", credit_note(3, day, Status="DRAFT"))

    def refused(credit_id, invoice_id, when=day):
        return messages(sb.one(allocate(sb, credit_id, invoice_id, 5, when), "Allocations"))

    assert refused(credit["CreditNoteID"], bill["InvoiceID"])[0] == (
        "Credit Note cannot be allocated to an incorrect invoice type")
    assert "same contact" in refused(stranger["CreditNoteID"], inv["InvoiceID"])[0]
    assert "only an AUTHORISED credit note" in refused(draft["CreditNoteID"], inv["InvoiceID"])[0]
    assert "before" in refused(credit["CreditNoteID"], inv["InvoiceID"], day - timedelta(days=1))[0]
    missing = sb.send("PUT", "CreditNotes/11111111-2222-3333-4444-555555555555/Allocations",
                      {"Allocations": [{"Invoice": {"InvoiceID": inv["InvoiceID"]},
                                        "Amount": 1, "Date": day.isoformat()}]})
    assert missing.status_code == 404 and missing.json()["Status"] == 404


# ------------------------------------------------------------------ manual journals


def test_a_draft_journal_is_rewritten_a_posted_one_only_voided(sb):
    day = sb.today
    draft = sb.create("ManualJournals", journal("Additions [AS:1]", day))
    posted = sb.create("ManualJournals", journal("Bottling [AS:2]", day, Status="POSTED"))
    new_lines = [{"LineAmount": 99.5, "AccountCode": "1440"}, {"LineAmount": -99.5, "AccountCode": "1420"}]
    rewritten = sb.one(sb.post(f"ManualJournals/{draft['ManualJournalID']}", {"ManualJournals": [
        {"Narration": "Additions [AS:1] v2", "JournalLines": new_lines, "Status": "POSTED"}]}),
        "ManualJournals")
    assert rewritten["StatusAttributeString"] == "OK" and rewritten["Status"] == "POSTED"
    now = sb.read("ManualJournals", draft["ManualJournalID"])
    assert [line["LineAmount"] for line in now["JournalLines"]] == [99.5, -99.5]
    assert now["Narration"] == "Additions [AS:1] v2" and now["Url"] == draft["Url"]
    refused = sb.one(sb.post(f"ManualJournals/{posted['ManualJournalID']}",
                             {"JournalLines": new_lines}), "ManualJournals")
    assert "posted manual journal cannot be edited" in messages(refused)[0]
    deleted = sb.one(sb.post(f"ManualJournals/{posted['ManualJournalID']}", {"Status": "DELETED"}),
                     "ManualJournals")
    assert messages(deleted)
    voided = sb.one(sb.post(f"ManualJournals/{posted['ManualJournalID']}", {"Status": "VOIDED"}),
                    "ManualJournals")
    assert voided["Status"] == "VOIDED"
    other = sb.create("ManualJournals", journal("Losses [AS:3]", day))
    assert sb.one(sb.post(f"ManualJournals/{other['ManualJournalID']}", {"Status": "DELETED"}),
                  "ManualJournals")["Status"] == "DELETED"
    assert [j["SourceType"] for j in sb.journals()] == ["MANJOURNAL"] * 3  # posted x2, reversal
    rows = sb.trial_balance(day)
    assert rows["1440"][2:] == ("99.50", "") and "1410" not in rows


def test_a_manual_journal_made_by_someone_else_in_xero(sb):
    day = sb.today
    made = sb.sb.record_manual_journal(day, [("1450", "250.00"), ("5000", "-250.00")],
                                       "Stocktake adjustment")
    assert sb.read("ManualJournals", made)["Status"] == "POSTED"
    assert sb.journals()[-1]["SourceID"] == made
    assert sb.trial_balance(day)["1450"][2] == "250.00"
    # or through the API by a second app connected to the same organisation
    other_client = sb.sb.issue_tokens()  # another grant: another person's app in Xero
    answer = requests.put(f"{sb.url}/api.xro/2.0/ManualJournals",
                          headers=sb.headers(token=other_client["access_token"]),
                          data=json.dumps({"ManualJournals": [journal("By hand", day,
                                                                      Status="POSTED")]}),
                          timeout=10)
    assert answer.json()["ManualJournals"][0]["StatusAttributeString"] == "OK"
    assert len(sb.journals()) == 2
    # and from another process, through the test hook
    hooked = requests.post(f"{sb.url}/_manual_journals", json={
        "date": day.isoformat(), "lines": [["1440", "12.00"], ["1420", "-12.00"]]}, timeout=10)
    assert sb.read("ManualJournals", hooked.json()["ManualJournalID"])["Status"] == "POSTED"
    bad = requests.post(f"{sb.url}/_manual_journals", json={
        "date": day.isoformat(), "lines": [["1440", "12.00"], ["1420", "-11.00"]]}, timeout=10)
    assert bad.status_code == 400 and "must equal" in bad.json()["error"]


# ------------------------------------------------------------------ reading what changed


def test_if_modified_since_pages_invoices_credit_notes_and_journals(sb):
    day = sb.today
    sb.put("Invoices", {"Invoices": [invoice(n, day) for n in range(1, 151)]})
    sb.create("CreditNotes", credit_note(1, day))
    sb.create("ManualJournals", journal("Before", day))
    sb.clock.advance(60)
    mark = datetime.fromtimestamp(sb.clock(), UTC)
    sb.clock.advance(1)
    first = sb.get("Invoices?page=1&pageSize=100&order=UpdatedDateUTC ASC")
    assert len(first.json()["Invoices"]) == 100 and first.json()["pagination"]["pageCount"] == 2
    ids = [i["InvoiceID"] for i in first.json()["Invoices"]]
    sb.post(f"Invoices/{ids[7]}", {"Reference": "changed in Xero"})
    sb.clock.advance(1)
    sb.post(f"Invoices/{ids[3]}", {"Status": "VOIDED"})
    since = {"If-Modified-Since": mark.strftime("%Y-%m-%dT%H:%M:%S")}
    changed = requests.get(f"{sb.url}/api.xro/2.0/Invoices", params={"order": "UpdatedDateUTC ASC"},
                           headers=sb.headers(**since), timeout=10).json()
    assert [i["InvoiceID"] for i in changed["Invoices"]] == [ids[7], ids[3]]
    assert changed["Invoices"][1]["Status"] == "VOIDED" and changed["pagination"]["itemCount"] == 2
    for plural in ("CreditNotes", "ManualJournals"):
        later = requests.get(f"{sb.url}/api.xro/2.0/{plural}", headers=sb.headers(**since),
                             timeout=10).json()
        assert later[plural] == []
    everything = requests.get(f"{sb.url}/api.xro/2.0/Invoices", params={"page": 2},
                              headers=sb.headers(**{"If-Modified-Since": "2000-01-01T00:00:00Z"}),
                              timeout=10).json()
    assert len(everything["Invoices"]) == 50
    bad = sb.send("GET", "Invoices", **{"If-Modified-Since": "yesterday"})
    assert bad.status_code == 400


def test_search_term_ids_and_single_reads(sb):
    day = sb.today
    sb.put("Invoices", {"Invoices": [invoice(n, day) for n in range(1, 6)]})
    found = sb.get("Invoices", params={"searchTerm": "so-0000"}).json()["Invoices"]
    assert len(found) == 5
    by_reference = sb.get("Invoices", params={"searchTerm": "ERP:SALES:3"}).json()["Invoices"]
    assert [i["InvoiceNumber"] for i in by_reference] == ["SO-00003"]
    ids = [i["InvoiceID"] for i in found[:2]]
    listed = sb.get("Invoices", params={"IDs": ",".join(ids)}).json()["Invoices"]
    assert [i["InvoiceID"] for i in listed] == ids and listed[0]["LineItems"]
    credits = [sb.create("CreditNotes", credit_note(n, day)) for n in (1, 2)]
    # no IDs= on /CreditNotes in Xero's spec: like any unknown parameter it filters nothing
    assert len(sb.get("CreditNotes", params={"IDs": credits[0]["CreditNoteID"]}).json()[
        "CreditNotes"]) == 2
    where = f'CreditNoteID==Guid("{credits[1]["CreditNoteID"]}")'
    assert [c["CreditNoteNumber"] for c in sb.get("CreditNotes", params={"where": where}).json()[
        "CreditNotes"]] == ["RF-00002"]
    account = sb.get("Accounts").json()["Accounts"][0]
    assert sb.read("Accounts", account["AccountID"])["Code"] == account["Code"]
    assert sb.get("Accounts/11111111-2222-3333-4444-555555555555").status_code == 404
    assert sb.read("CreditNotes", credits[0]["CreditNoteID"])["CreditNoteNumber"] == "RF-00001"


def test_unsupported_methods_answer_json(sb):
    for method, path in (("DELETE", "Invoices"), ("PATCH", "Invoices/x"),
                         ("PUT", "Invoices/11111111-2222-3333-4444-555555555555"),
                         ("GET", "CreditNotes/x/Allocations"), ("POST", "Journals"),
                         ("PUT", "Accounts"), ("DELETE", "Reports/TrialBalance")):
        answer = sb.send(method, path, {})
        assert answer.status_code == 405, (method, path)
        assert answer.headers["Content-Type"].startswith("application/json")
        assert answer.json()["Title"] == "Method Not Allowed"
    missing = sb.send("GET", "Nothing")
    assert missing.status_code == 404 and missing.json()["Status"] == 404


# ------------------------------------------------------------------ the ledger


def test_the_trial_balance_balances_after_a_mixed_set_and_has_xeros_shape(sb):
    day = sb.today
    inv = sb.create("Invoices", invoice(1, day))  # 241.10 + 24.11
    sb.create("Invoices", invoice(2, day, Type="ACCPAY", LineItems=[{
        "Description": "Oak", "Quantity": 1, "UnitAmount": 1000, "AccountCode": "1430",
        "TaxType": "INPUT"}]))
    credit = sb.create("CreditNotes", credit_note(1, day, amount=50))
    allocate(sb, credit["CreditNoteID"], inv["InvoiceID"], 55, day)
    pay(sb, inv["InvoiceID"], 100, day)
    sb.create("ManualJournals", journal("Crush [AS:x]", day, Status="POSTED"))
    sb.create("ManualJournals", journal("Draft [AS:y]", day))
    sb.create("Invoices", invoice(3, day, Status="DRAFT"))
    voided = sb.create("Invoices", invoice(4, day))
    sb.post(f"Invoices/{voided['InvoiceID']}", {"Status": "VOIDED"})

    answer = sb.get("Reports/TrialBalance", params={"date": day.isoformat()})
    report = answer.json()
    assert_valid("ReportWithRows", report, strict=False)
    rows = report["Reports"][0]["Rows"]
    assert rows[0]["RowType"] == "Header"
    assert [c["Value"] for c in rows[0]["Cells"]] == ["Account", "Debit", "Credit", "YTD Debit",
                                                      "YTD Credit"]
    assert [r["Title"] for r in rows[1:]] == ["Revenue", "Expenses", "Assets", "Liabilities",
                                              "Equity", ""]
    some_row = rows[3]["Rows"][0]
    assert all(c["Attributes"][0]["Id"] == "account" for c in some_row["Cells"])
    total = rows[-1]["Rows"][0]
    assert total["RowType"] == "SummaryRow" and total["Cells"][3]["Value"] == total["Cells"][4]["Value"]
    tb = sb.trial_balance(day)
    assert tb["4000"][2:] == ("", "191.10")  # 241.10 sold - 50.00 credited
    assert tb["610"][2:] == ("110.21", "")  # 265.21 - 55.00 credited - 100.00 paid
    assert tb["090"][2:] == ("100.00", "")
    assert tb["1430"][2:] == ("1000.00", "") and tb["800"][2:] == ("", "1100.00")
    assert tb["820"][2:] == ("80.89", "")  # 100.00 on the bill - 24.11 + 5.00
    assert tb["1440"][2:] == ("1234.56", "") and tb["1410"][2:] == ("", "1234.56")
    debits = sum(Decimal(v[2] or 0) for v in tb.values())
    credits = sum(Decimal(v[3] or 0) for v in tb.values())
    assert debits == credits
    assert sb.trial_balance(day - timedelta(days=1)) == {}


def test_profit_and_loss_of_earlier_years_sits_in_retained_earnings(sb):
    day = sb.today
    year_end = date(day.year if day.month > 6 else day.year - 1, 6, 30)
    sb.sb.set_lock_dates(AU, period_lock_date=None)
    sb.create("Invoices", invoice(1, year_end))
    sb.create("Invoices", invoice(2, year_end + timedelta(days=1)))
    tb = sb.trial_balance(year_end + timedelta(days=1))
    assert tb["4000"][2:] == ("", "241.10")  # this year only
    assert tb["960"][2:] == ("", "241.10")  # last year's revenue
    assert tb["610"][2:] == ("530.42", "")  # balance-sheet accounts carry every year
    assert tb["610"][:2] == ("265.21", "")  # the month column: 1 July only
    report = sb.get("Reports/TrialBalance", params={"date": (year_end + timedelta(days=1)).isoformat()})
    equity = next(r for r in report.json()["Reports"][0]["Rows"] if r.get("Title") == "Equity")
    assert equity["Rows"][0]["Cells"][0]["Value"] == "Retained Earnings (960)"


def test_journals_page_by_offset_with_source_types(sb):
    day = sb.today
    sb.put("Invoices", {"Invoices": [invoice(n, day) for n in range(1, 51)]})
    sb.put("Invoices", {"Invoices": [invoice(n, day) for n in range(51, 101)]})
    bills = sb.put("Invoices", {"Invoices": [invoice(n, day, Type="ACCPAY") for n in range(101, 131)]})
    bill = bills.json()["Invoices"][0]
    sb.put("Payments", {"Payments": [{"Invoice": {"InvoiceID": bill["InvoiceID"]},
                                      "Account": {"Code": "090"}, "Amount": 10}]})
    first = sb.get("Journals").json()
    assert_valid("Journals", first, strict=False)
    numbers = [j["JournalNumber"] for j in first["Journals"]]
    assert numbers == list(range(1, 101))
    rest = sb.journals(numbers[-1])
    assert [j["JournalNumber"] for j in rest] == list(range(101, 132))
    assert {j["SourceType"] for j in first["Journals"] + rest} == {"ACCREC", "ACCPAY",
                                                                   "ACCPAYPAYMENT"}
    for entry in first["Journals"] + rest:
        assert sum(Decimal(str(line["NetAmount"])) for line in entry["JournalLines"]) == 0
    sale_lines = first["Journals"][0]["JournalLines"]
    revenue = next(line for line in sale_lines if line["AccountCode"] == "4000")
    assert (revenue["NetAmount"], revenue["TaxAmount"], revenue["GrossAmount"]) == (
        -241.1, -24.11, -265.21)
    assert revenue["TrackingCategories"][0]["Name"] == "Vintage"
    assert sb.journals(131) == []
    later = datetime.fromtimestamp(sb.clock() + 1, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert requests.get(f"{sb.url}/api.xro/2.0/Journals",
                        headers=sb.headers(**{"If-Modified-Since": later}),
                        timeout=10).json()["Journals"] == []


def test_the_ledger_survives_a_restart_from_the_state_file(tmp_path):
    state = tmp_path / "xero.json"
    clock = FakeClock()
    app = create_app({"CLOCK": clock, "STATE_FILE": str(state), "RATE_LIMIT_PER_MINUTE": 0})
    with run_in_thread(app) as (url, _stop):
        sb = Books(url, app, clock)
        made = sb.create("Invoices", invoice(1, sb.today))
        pay(sb, made["InvoiceID"], 10, sb.today)
        before = sb.journals()
    again = create_app({"CLOCK": clock, "STATE_FILE": str(state), "RATE_LIMIT_PER_MINUTE": 0})
    with run_in_thread(again) as (url, _stop):
        sb = Books(url, again, clock)
        assert sb.journals() == before
        sb.post(f"Invoices/{made['InvoiceID']}", {"Reference": "x"})  # paid: refused still
        assert sb.read("Invoices", made["InvoiceID"])["AmountPaid"] == 10.0
