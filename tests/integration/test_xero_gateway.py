"""XeroGateway over real HTTP against the sandbox: batches with per-element outcomes, contacts,
look-ups before a resend, and surviving 429s, 5xx, lost answers and the call-rate limit.
Runs on SQLite and PostgreSQL (the contact cache and the connection live in the database)."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from accounts_sync.adapters.erp_sql.plugin_tables import ConnectionRow, ContactRow
from accounts_sync.adapters.xero import payloads
from accounts_sync.adapters.xero.client import InProcessRateLimiter
from accounts_sync.demo.xero_sandbox import create_app
from accounts_sync.demo.xero_sandbox.server import run_in_thread
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import Kind, TrackingRef
from accounts_sync.domain.errors import GatewayUnavailable, NotConnected, RateLimited, ReauthorisationNeeded
from accounts_sync.domain.journals import AccountJournal, JournalLine
from accounts_sync.domain.sync import JournalMode, SyncRecord

from .test_xero_gateway_harness import (  # noqa: F401 - fixtures
    AU_TENANT_ID,
    FakeTime,
    Xero,
    api_calls,
    build_xero,
    connected_fixture,
    purchase,
    refund,
    sale,
    sandbox_fixture,
    sandbox_server_fixture,
    xero_fixture,
)


def docs_in_xero(sandbox, plural: str, doc_type: str | None = None) -> list[dict]:
    with sandbox.lock:
        org = sandbox.org(AU_TENANT_ID)
        kind = {"Invoices": "invoices", "CreditNotes": "creditnotes", "ManualJournals": "manualjournals",
                "Contacts": "contacts"}[plural]
        from accounts_sync.demo.xero_sandbox.state import KINDS

        docs = list(org.collection(KINDS[kind]).docs.values())
    return [d for d in docs if doc_type is None or d.get("Type") == doc_type]


def record(kind: Kind, erp_id: str, number: str) -> SyncRecord:
    return SyncRecord(kind, erp_id, number, "fingerprint")


def bottling(day: date, key_suffix: str = "") -> AccountJournal:
    key = f"{day.isoformat()}-bottling{key_suffix}"
    return AccountJournal(
        key=key, date=day, movement_type=MovementType.BOTTLING,
        narration=f"Bottling on {day.isoformat()}: 3 cost entries [AS:{key}]",
        lines=(
            JournalLine("1450", Decimal("1000.01"), (TrackingRef("Vintage", "2024"),), "Wine, Dry goods"),
            JournalLine("1440", Decimal("-700.00"), (TrackingRef("Vintage", "2024"),), "Wine"),
            JournalLine("1430", Decimal("-300.00"), (), "Dry goods"),
            JournalLine("860", Decimal("-0.01"), (), "Rounding", is_rounding=True),
        ),
        entry_count=3, url=f"http://erp.test/accounts/sync/journals/{key}",
    )


# ------------------------------------------------------------------ reads


def test_not_connected_is_a_plain_domain_error(xero: Xero):
    assert xero.gateway.connection() is None
    records = [record(Kind.SALES_ORDERS, "1", "SO-1")]
    for call in (xero.gateway.chart, lambda: xero.gateway.push_invoices([sale(1)], "k"),
                 lambda: xero.gateway.find_existing(Kind.SALES_ORDERS, records)):
        with pytest.raises(NotConnected):
            call()


def test_the_chart_is_read_once_and_cached(connected: Xero):
    chart = connected.gateway.chart()
    assert chart.organisation.name == "Barossa Ridge Wines Pty Ltd"
    assert chart.organisation.lock_date is not None
    assert chart.account("1460").status == "ARCHIVED"
    calls = len(api_calls(connected.sandbox))
    # Organisation, Accounts, TaxRates, TrackingCategories: every line's tracking is checked.
    assert calls == 4
    for _ in range(3):
        assert connected.gateway.chart() == chart
    assert len(api_calls(connected.sandbox)) == calls
    row_limits = connected.gateway.connection().rate_limit_remaining
    assert row_limits["minute"] <= 57 and row_limits["day"] <= 4997 and "app_minute" in row_limits


# ------------------------------------------------------------------ a batch of fifty


def test_a_batch_of_fifty_with_three_invalid_creates_forty_seven(connected: Xero):
    lock_date = connected.gateway.chart().organisation.lock_date
    docs = [sale(n, customer=n % 5) for n in range(1, 51)]
    docs[4] = sale(5, account="9999")
    docs[20] = sale(21, account="1460")  # archived
    docs[33] = sale(34, day=lock_date)  # inside the locked period
    put_key = "as-batch-0123456789abcdef"

    results = connected.gateway.push_invoices(docs, put_key)

    assert [r.erp_id for r in results] == [d.erp_id for d in docs]
    created = [r for r in results if r.created]
    failed = {r.erp_id: r.errors for r in results if not r.created}
    assert len(created) == 47 and set(failed) == {"5", "21", "34"}
    assert any("9999" in m for m in failed["5"])
    assert any("archived" in m.lower() for m in failed["21"])
    assert any("lock date" in m for m in failed["34"])
    assert len(docs_in_xero(connected.sandbox, "Invoices", "ACCREC")) == 47
    in_xero = docs_in_xero(connected.sandbox, "Invoices")
    assert {r.xero_id for r in created} == {d["InvoiceID"] for d in in_xero}

    puts = api_calls(connected.sandbox, "PUT", "/Invoices")
    assert len(puts) == 1 and puts[0]["elements"] == 50 and puts[0]["idempotencyKey"] == put_key
    assert "summarizeErrors=false" in puts[0]["query"] and "unitdp=4" in puts[0]["query"]
    xero_invoice = next(d for d in in_xero if d["InvoiceNumber"] == "SO-00001")
    assert xero_invoice["Url"] == "http://erp.test/sales_orders/1"
    assert xero_invoice["LineItems"][1]["UnitAmount"] == Decimal("0.3")  # 0.1 + 0.2, exactly


def test_contacts_are_matched_or_created_once_across_batches(connected: Xero):
    seeded = len(docs_in_xero(connected.sandbox, "Contacts"))
    first = connected.gateway.push_invoices([sale(n, customer=n % 3) for n in range(1, 7)], "batch-1")
    assert all(r.created for r in first)
    contact_calls = [c["method"] for c in api_calls(connected.sandbox, path_part="/Contacts")]
    assert contact_calls == ["GET", "PUT"]

    second = connected.gateway.push_invoices([sale(n, customer=n % 3) for n in range(7, 13)], "batch-2")
    bills = connected.gateway.push_invoices([purchase(1, supplier=1), purchase(2, supplier=1)], "batch-3")

    assert all(r.created for r in second + bills)
    contact_calls = [c["method"] for c in api_calls(connected.sandbox, path_part="/Contacts")]
    assert contact_calls == ["GET", "PUT", "GET", "PUT"]  # nothing for batch 2; one supplier in batch 3
    contacts = docs_in_xero(connected.sandbox, "Contacts")
    assert len(contacts) == seeded + 4
    assert Counter(c["Name"] for c in contacts).most_common(1)[0][1] == 1
    assert connected.sandbox.counters["contacts_created_by_name"] == 0
    with connected.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ContactRow)) == 4


def test_an_existing_xero_contact_is_matched_by_its_exact_name(connected: Xero):
    doc = sale(1)
    doc = type(doc)(**{**doc.__dict__, "contact": type(doc.contact)("customer:99", "Cellar Door Sales")})
    seeded = {c["Name"]: c["ContactID"] for c in docs_in_xero(connected.sandbox, "Contacts")}

    [result] = connected.gateway.push_invoices([doc], "batch-existing")

    assert result.created
    invoice = docs_in_xero(connected.sandbox, "Invoices")[0]
    assert invoice["Contact"]["ContactID"] == seeded["Cellar Door Sales"]
    assert len(docs_in_xero(connected.sandbox, "Contacts")) == len(seeded)


# ------------------------------------------------------------------ failures survived


def test_a_429_is_waited_out_for_its_retry_after(connected: Xero):
    connected.sandbox.inject("rate_limit_storm", count=2, retry_after=7)

    [result] = connected.gateway.push_invoices([sale(1)], "batch-429")

    assert result.created
    assert connected.time.slept.count(7) == 2
    assert connected.sandbox.counters["rate_limited"] == 2
    assert len(docs_in_xero(connected.sandbox, "Invoices")) == 1


def test_a_429_beyond_the_patience_stops_with_rate_limited(connected: Xero):
    connected.sandbox.inject("rate_limit_storm", count=1, retry_after=3600)
    with pytest.raises(RateLimited) as stopped:
        connected.gateway.push_invoices([sale(1)], "batch-day-limit")
    assert stopped.value.retry_after == 3600
    assert 3600 not in connected.time.slept


def warm_up(connected: Xero) -> None:
    """One document sent first, so the customer is cached and faults hit the next PUT."""
    [result] = connected.gateway.push_invoices([sale(999)], "warm-up")
    assert result.created


def test_503s_are_retried_with_backoff_then_succeed(connected: Xero):
    warm_up(connected)
    connected.sandbox.inject("fail", status=503, count=2)

    [result] = connected.gateway.push_invoices([sale(1)], "batch-503")

    assert result.created
    backoffs = connected.time.slept
    assert len(backoffs) == 2 and all(0 < s <= 4.5 for s in backoffs)
    puts = api_calls(connected.sandbox, "PUT", "/Invoices")[1:]
    assert [c["status"] for c in puts] == [503, 503, 200]
    assert {c["idempotencyKey"] for c in puts} == {"batch-503"}  # the same key on every try


def test_every_wait_on_xero_is_told_in_plain_words_and_the_end_of_it_too(connected: Xero):
    warm_up(connected)
    notes: list[str] = []
    connected.sandbox.inject("fail", status=503, count=1)
    connected.sandbox.inject("rate_limit_storm", count=1, retry_after=7)
    with connected.gateway.observe(notes.append):
        [result] = connected.gateway.push_invoices([sale(1)], "batch-told")
    [late] = connected.gateway.push_invoices([sale(2)], "batch-untold")  # outside: not told
    assert result.created and late.created
    assert notes[0].startswith("Waiting for Xero: it did not answer (HTTP 503); trying again in")
    assert "(try 2 of 3)" in notes[0]
    assert notes[1] == ("Waiting for Xero: its per-minute call limit is reached; continuing in "
                        "7 seconds.")
    assert notes[2:] == [""]  # answered again: the run's note is cleared


def test_a_connection_revoked_in_xero_is_marked_for_reauthorisation(connected: Xero):
    connected.sandbox.inject("revoke_connections")  # the app removed in Xero's settings
    with pytest.raises(ReauthorisationNeeded):
        connected.gateway.push_invoices([sale(1)], "k-revoked")
    assert connected.gateway.connection().needs_reauthorisation  # the console says so


def test_xero_down_for_good_ends_with_a_plain_message_and_nothing_created(connected: Xero):
    warm_up(connected)
    connected.sandbox.inject("fail", status=503, count=10)

    with pytest.raises(GatewayUnavailable) as stopped:
        connected.gateway.push_invoices([sale(1)], "batch-down")

    assert stopped.value.message == ("Xero did not answer after 3 tries; nothing was lost, retry the "
                                     "sync later.")
    assert len(docs_in_xero(connected.sandbox, "Invoices")) == 1  # the warm-up's only


def test_an_answer_lost_after_commit_is_replayed_under_the_same_key(connected: Xero):
    warm_up(connected)
    connected.sandbox.inject("commit_then_drop", count=1)

    results = connected.gateway.push_invoices([sale(1), sale(2)], "batch-lost-answer")

    assert all(r.created for r in results)
    invoices = [d for d in docs_in_xero(connected.sandbox, "Invoices") if d["InvoiceNumber"] != "SO-00999"]
    assert len(invoices) == 2  # created once, not twice
    assert {r.xero_id for r in results} == {d["InvoiceID"] for d in invoices}
    assert connected.sandbox.counters["idempotent_replays"] == 1
    puts = api_calls(connected.sandbox, "PUT", "/Invoices")[1:]
    assert len(puts) == 2 and {c["idempotencyKey"] for c in puts} == {"batch-lost-answer"}


def test_a_contact_creation_whose_answer_was_lost_creates_one_contact(connected: Xero):
    seeded = len(docs_in_xero(connected.sandbox, "Contacts"))
    connected.sandbox.inject("commit_then_drop", count=1)  # hits PUT /Contacts, the first write

    [result] = connected.gateway.push_invoices([sale(1)], "batch-lost-contact")

    assert result.created
    assert len(docs_in_xero(connected.sandbox, "Contacts")) == seeded + 1
    assert connected.sandbox.counters["idempotent_replays"] == 1


# ------------------------------------------------------------------ every kind, and looking up


def test_each_kind_is_sent_and_found_again_before_a_resend(connected: Xero):
    gateway = connected.gateway
    sales = gateway.push_invoices([sale(1), sale(2)], "k-sales")
    bills = gateway.push_invoices([purchase(1), purchase(2)], "k-bills")
    notes = gateway.push_credit_notes([refund(1)], "k-refunds")
    yesterday = date.today() - timedelta(days=1)
    draft = gateway.push_manual_journals([bottling(yesterday)], JournalMode.DRAFT, "k-journal-draft")
    posted = gateway.push_manual_journals([bottling(yesterday, "-b")], JournalMode.POSTED, "k-journal-posted")
    assert all(r.created for r in sales + bills + notes + draft + posted)

    assert {d["Type"] for d in docs_in_xero(connected.sandbox, "Invoices")} == {"ACCREC", "ACCPAY"}
    bill = next(d for d in docs_in_xero(connected.sandbox, "Invoices", "ACCPAY")
                if d["Reference"] == "PO-00001")
    assert bill["InvoiceNumber"] == "18822"  # the supplier's number, shared by both bills
    note = docs_in_xero(connected.sandbox, "CreditNotes")[0]
    assert note["Type"] == "ACCRECCREDIT" and note["CreditNoteNumber"] == "RF-00001"
    journals = {j["Narration"]: j for j in docs_in_xero(connected.sandbox, "ManualJournals")}
    assert [j["Status"] for j in journals.values()] == ["DRAFT", "POSTED"]
    assert all(j["LineAmountTypes"] == "NoTax" for j in journals.values())

    find = gateway.find_existing
    assert find(Kind.SALES_ORDERS, [record(Kind.SALES_ORDERS, "1", "SO-00001"),
                                    record(Kind.SALES_ORDERS, "2", "SO-00002"),
                                    record(Kind.SALES_ORDERS, "3", "SO-00003")]) == \
        {"1": sales[0].xero_id, "2": sales[1].xero_id}
    assert find(Kind.PURCHASE_ORDERS, [record(Kind.PURCHASE_ORDERS, "2", "PO-00002"),
                                       record(Kind.PURCHASE_ORDERS, "9", "PO-00009"),
                                       record(Kind.PURCHASE_ORDERS, "1", "SO-00001")]) == \
        {"2": bills[1].xero_id}  # an ACCREC with that number is no bill
    refunds = [record(Kind.REFUNDS, "1", "RF-00001"), record(Kind.REFUNDS, "2", "RF-00002")]
    assert find(Kind.REFUNDS, refunds) == {"1": notes[0].xero_id}
    keys = [bottling(yesterday).key, bottling(yesterday, "-b").key, bottling(yesterday, "-c").key]
    assert find(Kind.JOURNALS, [record(Kind.JOURNALS, k, k) for k in keys]) == \
        {keys[0]: draft[0].xero_id, keys[1]: posted[0].xero_id}
    assert find(Kind.SALES_ORDERS, []) == {}


def test_find_existing_asks_once_per_fifty_records(connected: Xero):
    connected.gateway.push_invoices([sale(n) for n in range(1, 51)], "k-50")
    records = [record(Kind.SALES_ORDERS, str(n), f"SO-{n:05d}") for n in range(1, 51)]
    before = len(api_calls(connected.sandbox, "GET", "/Invoices"))

    found = connected.gateway.find_existing(Kind.SALES_ORDERS, records)

    assert len(found) == 50
    assert len(api_calls(connected.sandbox, "GET", "/Invoices")) == before + 1


# ------------------------------------------------------------------ pacing


def test_the_limiter_never_lets_more_calls_through_than_configured(sandbox_server, clean_db, session_factory):
    """A sandbox with a 5-calls-a-minute limit on the same fake clock as the client's limiter:
    twelve calls from three threads finish with no 429 and never more than five a minute.

    One call in flight at a time: a fake clock jumps when a waiting thread sleeps, which would
    age a call still travelling to the sandbox (real time never jumps); concurrency has its
    own test below."""
    clock = FakeTime()
    app = create_app({"RATE_LIMIT_PER_MINUTE": 5, "CLOCK": clock.time})
    with run_in_thread(app) as server:
        xero = build_xero(server.base_url, app.sandbox, session_factory, fake_time=clock,
                          calls_per_minute=5, concurrency=1)
        xero.connect()
        starts: list[float] = []
        acquire = xero.client.limiter.acquire

        def counting_acquire(key):
            manager = acquire(key)

            class Wrapped:
                def __enter__(self):
                    manager.__enter__()
                    starts.append(clock.time())

                def __exit__(self, *exc):
                    return manager.__exit__(*exc)

            return Wrapped()

        xero.client.limiter.acquire = counting_acquire  # type: ignore[method-assign]

        def worker():
            for _ in range(4):
                xero.client.get(AU_TENANT_ID, "Organisation")

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        xero.client.close()

    assert len(starts) == 12
    assert app.sandbox.counters["rate_limited"] == 0
    starts.sort()
    for index, start in enumerate(starts):
        assert sum(1 for s in starts[index:] if s - start < 60) <= 5
    assert starts[-1] - starts[0] >= 120  # twelve calls at five a minute take over two minutes


def test_the_limiter_keeps_calls_in_flight_within_the_concurrency():
    limiter = InProcessRateLimiter(calls_per_minute=1000, concurrency=2)
    in_flight, peak = 0, 0
    guard = threading.Lock()
    release = threading.Event()

    def worker():
        nonlocal in_flight, peak
        with limiter.acquire("org"):
            with guard:
                in_flight += 1
                peak = max(peak, in_flight)
            release.wait(timeout=5)
            with guard:
                in_flight -= 1

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    threading.Timer(0.2, release.set).start()
    for thread in threads:
        thread.join(timeout=10)
    assert peak == 2


def test_rate_limit_counters_are_kept_on_the_connection(connected: Xero):
    connected.gateway.chart()
    with connected.sessions() as session:
        stored = session.scalars(select(ConnectionRow)).one().rate_limit_remaining
    assert set(stored) == {"minute", "day", "app_minute"}
    assert connected.client.rate_limits(AU_TENANT_ID)["minute"] <= stored["minute"]


def test_a_batch_over_the_byte_limit_is_split_in_order_with_distinct_keys(connected: Xero):
    docs = [sale(n) for n in range(1, 7)]
    warm_up(connected)
    one = len(payloads.encode_json(payloads.invoice_payload(docs[0], "AUTHORISED", "x" * 36)))
    connected.gateway.settings = replace(connected.settings, max_request_bytes=one * 2 + 200)

    results = connected.gateway.push_invoices(docs, "batch-split")

    assert [r.erp_id for r in results] == [d.erp_id for d in docs] and all(r.created for r in results)
    puts = api_calls(connected.sandbox, "PUT", "/Invoices")[1:]
    assert [c["elements"] for c in puts] == [2, 2, 2]
    assert [c["idempotencyKey"] for c in puts] == ["batch-split-1", "batch-split-2", "batch-split-3"]
    by_number = {d["InvoiceNumber"]: d["InvoiceID"] for d in docs_in_xero(connected.sandbox, "Invoices")}
    assert [r.xero_id for r in results] == [by_number[d.number] for d in docs]


def test_an_organisation_disconnected_in_xero_asks_for_reauthorisation(connected: Xero):
    with connected.sandbox.lock:
        connected.sandbox.oauth.connections["accounts-sync-demo"].pop(AU_TENANT_ID)
    with pytest.raises(ReauthorisationNeeded, match="Barossa Ridge Wines Pty Ltd"):
        connected.gateway.chart()


def test_a_concurrency_429_is_waited_out_too(connected: Xero):
    warm_up(connected)
    limits = connected.sandbox.limits
    with connected.sandbox.lock:
        limits.concurrency, limits.in_flight[AU_TENANT_ID] = 1, 1  # another worker's call in flight
    sleep = connected.client._sleep

    def other_call_ends_while_we_wait(seconds: float) -> None:
        with connected.sandbox.lock:
            limits.release(AU_TENANT_ID)
        sleep(seconds)

    connected.client._sleep = other_call_ends_while_we_wait
    try:
        [result] = connected.gateway.push_invoices([sale(1)], "batch-concurrent")
    finally:
        limits.concurrency = 5
    assert result.created
    assert connected.sandbox.counters["rate_limited_by_problem"] == {"concurrent": 1}
    assert connected.time.slept == [1.0]
