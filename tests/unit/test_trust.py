"""What makes an accountant trust the screen (issue 11), proven on fakes: the sync's checks and
who refused what, a chart read afresh when it matters, runs that say what they wait for, and
records never left 'being checked' without a reason and an action."""

from dataclasses import replace
from datetime import date

import pytest

from accounts_sync.application.checks import Checks
from accounts_sync.application.ports import Account, TaxRate
from accounts_sync.application.post_journals import PostJournalsRequest
from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced
from accounts_sync.application.settings import SaveMapping, mapping_problems
from accounts_sync.application.status import GetStatus
from accounts_sync.application.sync_documents import SyncDocumentsRequest
from accounts_sync.domain.corrections import LockPolicy, Period
from accounts_sync.domain.documents import Contact, Kind, TrackingRef
from accounts_sync.domain.errors import MappingRefused, ReauthorisationNeeded
from accounts_sync.domain.mapping import TradeDefaults
from accounts_sync.domain.sync import (
    UNCONFIRMED_PREFIX,
    JournalMode,
    RefusedBy,
    RunState,
    SyncRun,
    SyncState,
)
from tests.builders import document, documents, entry, mapping
from tests.fakes import default_chart

TODAY = date(2026, 11, 26)
SO = Kind.SALES_ORDERS


def req(kind=SO):
    return SyncDocumentsRequest(kind, TODAY, "accountant")


# ------------------------------------------------------------------ the checks, value by value


def test_each_rule_says_what_xero_would_refuse_and_what_to_do():
    chart = default_chart(lock_date=date(2026, 3, 31))
    chart = replace(chart,
                    accounts=chart.accounts + (Account("610", "Accounts Receivable", "CURRENT",
                                                       system_account="DEBTORS"),),
                    tax_rates=chart.tax_rates + (TaxRate("OLDGST", "Old GST", status="DELETED"),))
    checks = Checks(chart, mapping(), frozenset({"AUD", "USD"}))
    assert checks.account("4000") is None
    assert "archived" in checks.account("1460") and "restore it in Xero" in checks.account("1460")
    assert "does not exist" in checks.account("9999")
    assert "kept by Xero itself" in checks.account("610")
    assert "no account" in checks.account("")
    assert checks.tax_type("OUTPUT") is None and checks.tax_type("") is None
    assert "OLDGST" in checks.tax_type("OLDGST") and "GSTX" in checks.tax_type("GSTX")
    assert checks.tracking(TrackingRef("Vintage", "2024")) is None
    assert checks.tracking(TrackingRef("vintage", "2024")) is None  # Xero matches names loosely
    assert "no option 1999" in checks.tracking(TrackingRef("Vintage", "1999"))
    assert "no tracking category Region" in checks.tracking(TrackingRef("Region", "Barossa"))
    assert checks.currency("AUD") is None and checks.currency("USD") is None
    assert "JPY" in checks.currency("JPY")
    assert "31 Mar 2026" in checks.locked(date(2026, 3, 31)) and checks.locked(date(2026, 4, 1)) is None


def test_a_document_gets_every_reason_at_once_and_the_defaults_and_terms_fill_it_first():
    lock = date(2026, 3, 31)
    held = Checks(default_chart(lock_date=lock), mapping(), None, Period(lock, LockPolicy.HOLD))
    bad = replace(document(day=date(2026, 3, 1), account="1460", tax_type="GSTX"), due_date=None,
                  contact=Contact("c1", "  "))
    reasons = held.document_problems(held.prepare(bad))
    assert len(reasons) == 5, reasons  # contact, held in the lock, due date, account, tax type
    assert "held back, as Settings ask" in reasons[1]
    # Carried (the default), it is dated the first open day and the lock refuses nothing.
    carried = Checks(default_chart(lock_date=lock), mapping())
    ready = carried.prepare(bad)
    assert ready.date == date(2026, 4, 1) and len(carried.document_problems(ready)) == 4
    filled = replace(document(account="", tax_type=""), due_date=None)
    with_terms = Checks(default_chart(), replace(mapping(), trade_defaults={
        SO: TradeDefaults("4000", "OUTPUT", payment_days=14)}))
    ready = with_terms.prepare(filled)
    assert ready.lines[0].account_code == "4000" and ready.lines[0].tax_type == "OUTPUT"
    assert ready.due_date == filled.date.replace(day=filled.date.day + 14)
    assert with_terms.document_problems(ready) == []
    # A refund needs no due date; an invoice without one (and no terms) is refused.
    assert Checks(default_chart(), mapping()).document_problems(
        replace(document(Kind.REFUNDS), due_date=None)) == []
    assert "due date" in Checks(default_chart(), mapping()).document_problems(filled)[0]


def test_journals_are_refused_for_an_unknown_journal_tax_type_or_tracking_option(store, gateway, post,
                                                                                 uow, clock):
    store.state.mapping = mapping(journal_tax_type="X" * 10_000)
    store.cost_entries += [entry(vintage="1999")]
    result = PreviewUnsynced(uow, gateway, clock).execute(PreviewRequest(TODAY))
    codes = {p.code for p in result.problems}
    assert {"unknown_tax_type", "unknown_tracking"} <= codes
    field = next(p.field for p in result.problems if p.code == "unknown_tax_type")
    assert field == "journal_tax_type"
    run = post.execute(PostJournalsRequest(TODAY, JournalMode.DRAFT, "accountant"))
    assert run.state is RunState.ABORTED and "does not exist in Xero" in run.message
    assert gateway.push_calls == []  # nothing reached Xero


# ------------------------------------------------------------------ who refused it


def test_refusals_say_whether_accounts_sync_or_xero_refused(store, gateway, sync):
    docs = documents(4)
    docs[1] = replace(docs[1], lines=tuple(replace(ln, account_code="1460") for ln in docs[1].lines))
    store.add(*docs)
    gateway.fail_elements[docs[2].erp_id] = "Invoice # must be unique."
    run = sync.execute(req())
    by = {f.number: f.by for f in run.failures}
    assert by == {docs[1].number: "accounts_sync", docs[2].number: "xero"}
    assert run.refused_locally == 1 and run.message == "2 of 4 sent, 2 failed."
    assert store.record(SO, docs[1].erp_id).refused_by is RefusedBy.ACCOUNTS_SYNC
    assert store.record(SO, docs[2].erp_id).refused_by is RefusedBy.XERO
    # The refused one never cost Xero anything: not pushed, its contact not even prepared.
    assert sum(n for _, n, _ in gateway.push_calls) == 3 and gateway.prepared == [3]


# ------------------------------------------------------------------ a chart read afresh


def test_every_run_reads_xeros_chart_afresh_and_a_refusal_by_xero_drops_it_again(store, gateway,
                                                                                 sync):
    store.add(*documents(2))
    sync.execute(req())
    assert gateway.forgotten == 1  # at the start of the run: a Retry sees a restored account
    store.add(document())
    gateway.fail_elements[store.documents[SO][-1].erp_id] = "Account code '4000' has been archived"
    sync.execute(req())
    assert gateway.forgotten == 3  # at the start, and after Xero refused what we had checked


def test_saving_the_settings_reads_xeros_chart_afresh(uow, gateway):
    SaveMapping(uow, gateway).execute(mapping(), "accountant")
    assert gateway.forgotten == 1


def test_the_console_can_refresh_the_chart_and_shows_when_it_was_read(uow, gateway):
    status = GetStatus(uow, gateway).execute(refresh=True)
    assert gateway.forgotten == 1 and status.chart is gateway.chart_


# ------------------------------------------------------------------ runs say what they wait for


def test_a_run_says_when_it_waits_on_xero_and_the_note_goes_once_it_moves_on(store, gateway, sync):
    store.add(*documents(3))
    gateway.waits_on_push = ["Waiting for Xero: its per-minute call limit is reached; "
                             "continuing in 42 seconds."]
    run = sync.execute(req())
    notes = [note for _, note in store.state.notes]
    assert "Reading Xero's chart of accounts and lock dates…" in notes
    assert any("per-minute call limit" in note for note in notes)
    assert run.note == "" and store.state.runs[run.id].note == ""


def test_a_run_stopped_by_xero_leaves_no_record_being_checked_without_why_and_what_to_do(
        store, uow, gateway, sync, clock):
    docs = documents(3)
    store.add(*docs)
    gateway.fail_elements[docs[0].erp_id] = "The contact Harbour Wines has been archived."
    sync.execute(req())
    gateway.fail_elements.clear()
    gateway.raise_on_push = [ReauthorisationNeeded("Barossa Ridge Wines")]
    clock.advance(minutes=5)
    run = sync.execute(req())
    assert run.state is RunState.ABORTED and "Connect" in run.message
    record = store.record(SO, docs[0].erp_id)
    assert record.state is SyncState.IN_FLIGHT  # never marked failed: Xero may have it
    assert record.last_error.startswith(UNCONFIRMED_PREFIX)
    assert "no longer accepts the connection" in record.last_error
    assert "Press Retry" in record.last_error
    assert "has been archived" in record.last_error  # the earlier reason is kept
    status = GetStatus(uow, gateway).execute()
    assert status.unconfirmed(SO) == 1 and status.last_runs[SO].id == run.id
    # Connected again, the retry finds in Xero what it can and says so.
    gateway.objects["x-kept"] = type(next(iter(gateway.objects.values())))(
        SO, docs[0].erp_id, docs[0].number, "x-kept", docs[0])
    again = sync.execute(req())
    assert again.message.startswith("1 confirmed in Xero (an earlier sync sent it before it stopped)")
    assert store.record(SO, docs[0].erp_id).state is SyncState.SYNCED


# ------------------------------------------------------------------ honest words


@pytest.mark.parametrize("created,failed,total,message", [
    (179, 1, 180, "179 of 180 sent, 1 failed."),
    (1208, 0, 1208, "1,208 sent to Xero."),
    (0, 0, 0, "Nothing to send: every journal up to 26 Nov 2026 is already in Xero."),
    (12, 0, 14, "12 sent to Xero (2 already there)."),
])
def test_a_run_reads_as_what_it_did(created, failed, total, message):
    run = SyncRun(1, Kind.JOURNALS, TODAY, "accountant").start(total, None)
    if total:
        run = run.progress(created + failed, created, failed, [], None)
    assert run.finish(None).message == message


def test_settings_refuse_what_xero_or_the_database_cannot_take_and_name_the_field():
    chart = default_chart()
    bad = replace(mapping(journal_tax_type="X" * 10_000, rounding=""),
                  trade_defaults={SO: TradeDefaults("4000" * 5, "GSTX", payment_days=400)})
    problems = {p.field: p.message for p in mapping_problems(bad, chart)}
    assert "10,000 characters" in problems["journal_tax_type"]
    assert "at most 10" in problems["default_account:sales_orders"]
    assert "GSTX" in problems["default_tax:sales_orders"]
    assert "400 days" in problems["payment_terms:sales_orders"]
    assert "rounding" in problems["rounding_account"].lower()
    # Without Xero, what the database cannot hold is still refused.
    offline = {p.field for p in mapping_problems(bad, None)}
    assert {"journal_tax_type", "default_account:sales_orders", "rounding_account"} <= offline


def test_save_mapping_refuses_a_tax_type_xero_does_not_have(uow, gateway):
    with pytest.raises(MappingRefused) as refused:
        SaveMapping(uow, gateway).execute(mapping(journal_tax_type="NOPE"), "accountant")
    assert refused.value.problems[0].field == "journal_tax_type"
