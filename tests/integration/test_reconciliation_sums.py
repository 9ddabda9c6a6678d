"""Reconciliation's sums kept as the books change are exactly the sums taken afresh from what
they sum, whatever happened since they were kept (SQLite and PostgreSQL).

Xero's ledger: the lines read from GET /Journals are summed per day and per month in the
transaction that writes or claims them (accounts_sync_xero_line_sums); here they are compared
with the lines themselves after every change, at closing dates and financial years that cut
months in two.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from accounts_sync.adapters.erp_sql import sqlalchemy_reconciliation
from accounts_sync.adapters.erp_sql.plugin_tables import XeroJournalLineRow, XeroLineSumRow
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import unscaled
from accounts_sync.adapters.erp_sql.sqlalchemy_reconciliation import (
    _tracking,
    rebuild_xero_line_sums,
)
from accounts_sync.application.ports import XeroJournal, XeroJournalLine
from accounts_sync.domain.corrections import SentLine, SentState
from accounts_sync.domain.documents import Kind, TrackingRef
from accounts_sync.domain.reconciliation import XeroLineSum
from accounts_sync.domain.sync import SyncRecord

D = Decimal
AT = datetime(2026, 4, 1, 9, 30, tzinfo=UTC)
FIRST_DAY = date(2025, 5, 20)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(0, 420, 7)]
ACCOUNTS = ("200", "310", "610", "800", "820", "1440")
OPTIONS = ((), (TrackingRef("Brand", "Estate"),),
           (TrackingRef("Brand", "Reserve"), TrackingRef("Vintage", "2024")))
# (closing date, first day of its financial year): month ends, mid-month closings, a year that
# starts in the middle of a month, a closing before every line and one after them all.
CUTS = [(date(2026, 6, 30), date(2025, 7, 1)), (date(2026, 3, 14), date(2025, 7, 1)),
        (date(2025, 12, 31), date(2025, 7, 1)), (date(2026, 2, 10), date(2025, 10, 16)),
        (date(2025, 9, 3), date(2025, 8, 16)), (date(2025, 1, 31), date(2024, 7, 1)),
        (date(2027, 1, 1), date(2026, 7, 1))]


def lines_summed(session, closing: date, period_start: date) -> list[XeroLineSum]:
    """The sums straight from every line read (what the kept sums must always give)."""
    x = XeroJournalLineRow
    earlier = case((x.journal_date < period_start, 1), else_=0)
    ours = case((x.record_erp_id.is_(None), 0), else_=1)
    stmt = (select(x.account_code, earlier, ours, x.contact, func.max(x.contact_name),
                   x.tracking, func.sum(x.amount))
            .where(x.journal_date <= closing)
            .group_by(x.account_code, earlier, ours, x.contact, x.tracking))
    cache: dict = {}
    return [XeroLineSum(code, bool(early), bool(mine), unscaled(cents, 2), contact, name,
                        _tracking(tracking, cache))
            for code, early, mine, contact, name, tracking, cents in session.execute(stmt) if cents]


def assert_ledger_exact(uow_factory) -> None:
    with uow_factory() as uow:
        for closing, start in CUTS:
            kept = sorted(uow.ledger.xero_line_sums(closing, start), key=repr)
            assert kept == sorted(lines_summed(uow.session, closing, start), key=repr), \
                (closing, start)


def journal(rnd: random.Random, number: int, source_type: str, source_id: str) -> XeroJournal:
    amounts = [D(rnd.randint(-50000, 50000)) / 100 for _ in range(rnd.randint(1, 3))]
    lines = [XeroJournalLine(rnd.choice(ACCOUNTS), a, tracking=rnd.choice(OPTIONS))
             for a in amounts]
    lines.append(XeroJournalLine(rnd.choice(ACCOUNTS), -sum(amounts, D(0))))
    return XeroJournal(f"j{number}", number, rnd.choice(DAYS), source_type, source_id,
                       f"ref {number}", tuple(lines))


def record(n: int, contact: str, name: str) -> SyncRecord:
    sent = SentState(DAYS[n % len(DAYS)], (SentLine("200", D("10.00"), D("1.00")),),
                     contact=contact, contact_name=name, document_type="ACCREC")
    return SyncRecord(Kind.SALES_ORDERS, str(n), f"SO-{n}", "f" * 64).start(
        None, "f" * 64, sent, AT).succeed(f"inv-{n}", AT, "AUTHORISED")


def test_the_kept_ledger_sums_are_the_lines_summed_whatever_was_read_and_claimed(uow_factory):
    rnd = random.Random(7)
    number = 0
    saved: list[XeroJournal] = []
    records = 0
    for step in range(40):
        action = rnd.choice(["page", "page", "again", "records", "claim"])
        with uow_factory() as uow:
            if action == "page":
                page = []
                for _ in range(rnd.randint(1, 12)):
                    number += 1
                    # Ours (a record knows the invoice already, or will), a payment, or a
                    # manual journal someone made in Xero.
                    source = rnd.choice([("ACCREC", f"inv-{rnd.randint(1, 30)}"),
                                         ("ACCRECPAYMENT", f"pay-{number}"),
                                         ("MANJOURNAL", f"mj-{number}")])
                    page.append(journal(rnd, number, *source))
                uow.ledger.save_xero_journals(page)
                saved.extend(page)
            elif action == "again" and saved:  # a page read twice adds nothing
                uow.ledger.save_xero_journals(rnd.sample(saved, min(len(saved), 5)))
            elif action == "records":
                for _ in range(rnd.randint(1, 4)):
                    records += 1
                    customer = rnd.randint(1, 3)
                    uow.ledger.save_records([record(records, f"customer:{customer}",
                                                    rnd.choice(["Harbour", "Harbour Wines"]))])
            else:
                uow.ledger.claim_xero_journals()
            uow.commit()
        assert_ledger_exact(uow_factory), (step, action)
    with uow_factory() as uow:
        uow.ledger.claim_xero_journals()
        uow.commit()
    assert_ledger_exact(uow_factory)
    with uow_factory() as uow:  # the sums were really claimed and kept, not all left unclaimed
        kinds = {(s.ours, bool(s.contact)) for s in uow.ledger.xero_line_sums(date(2027, 1, 1),
                                                                               date(2026, 7, 1))}
        assert {(True, True), (False, False)} <= kinds


def test_a_rolled_back_page_or_claim_leaves_no_sum_behind(uow_factory):
    rnd = random.Random(8)
    with uow_factory() as uow:
        uow.ledger.save_xero_journals([journal(rnd, 1, "ACCREC", "inv-1")])
        uow.commit()
    with uow_factory() as uow:
        uow.ledger.save_xero_journals([journal(rnd, 2, "MANJOURNAL", "mj-2")])
        uow.ledger.save_records([record(1, "customer:1", "Harbour")])
        uow.ledger.claim_xero_journals()  # and no commit: rolled back
    assert_ledger_exact(uow_factory)
    with uow_factory() as uow:
        assert all(not s.ours for s in uow.ledger.xero_line_sums(date(2027, 1, 1),
                                                                 date(2026, 7, 1)))


def test_two_reconciliations_claiming_at_once_move_each_line_once(uow_factory, monkeypatch):
    """The second finds the lines unclaimed, then waits for the first's claim to commit
    (PostgreSQL; SQLite runs one unit of work at a time): it must move none of them again."""
    rnd = random.Random(9)
    with uow_factory() as uow:
        uow.ledger.save_xero_journals([journal(rnd, n, "ACCREC", f"inv-{n}") for n in (1, 2, 3)])
        uow.commit()
    with uow_factory() as uow:
        uow.ledger.save_records([record(n, "customer:1", "Harbour") for n in (1, 2, 3)])
        uow.commit()
    first = uow_factory()
    first.__enter__()
    assert first.ledger.claim_xero_journals() == 3
    done, looked = threading.Event(), threading.Event()
    owners = sqlalchemy_reconciliation._owners

    def owners_then_signal(session, source_ids):
        found = owners(session, source_ids)
        if threading.current_thread() is thread:
            looked.set()
        return found

    monkeypatch.setattr(sqlalchemy_reconciliation, "_owners", owners_then_signal)

    def second() -> None:
        with uow_factory() as uow:
            uow.ledger.claim_xero_journals()  # waits for the first, then moves nothing again
            uow.commit()
        done.set()

    thread = threading.Thread(target=second)
    thread.start()
    looked.wait(3)  # on SQLite it waits to begin instead
    first.commit()
    first.__exit__(None, None, None)
    thread.join(30)
    assert done.is_set()
    assert_ledger_exact(uow_factory)


def test_the_sums_can_be_taken_afresh_from_the_lines(uow_factory):
    rnd = random.Random(10)
    with uow_factory() as uow:
        uow.ledger.save_xero_journals([journal(rnd, n, "MANJOURNAL", f"mj-{n}")
                                       for n in range(1, 30)])
        uow.commit()
    with uow_factory() as uow:
        kept = uow.session.execute(select(XeroLineSumRow.grain, XeroLineSumRow.period,
                                          XeroLineSumRow.account_code, XeroLineSumRow.lines,
                                          XeroLineSumRow.amount)).all()
        rebuild_xero_line_sums(uow.session)
        uow.commit()
    with uow_factory() as uow:
        again = uow.session.execute(select(XeroLineSumRow.grain, XeroLineSumRow.period,
                                           XeroLineSumRow.account_code, XeroLineSumRow.lines,
                                           XeroLineSumRow.amount)).all()
    assert sorted(kept) == sorted(again) and kept
    assert_ledger_exact(uow_factory)
