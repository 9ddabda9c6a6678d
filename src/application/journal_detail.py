"""GetJournalDetail: the Detailed Account Journals Preview of one journal (or, once it is in
Xero, what was sent and how)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..domain.corrections import SentLine, combine, line_difference, sent_state_of_journal
from ..domain.costs import CostFlow
from ..domain.documents import Kind
from ..domain.errors import JournalNotFound, Problem
from ..domain.journals import AccountJournal, JournalLine, build_journals, parse_journal_key
from ..domain.money import ZERO
from ..domain.sync import JournalMode, SyncRecord, SyncState
from .checks import Checks
from .common import read_chart
from .ports import AccountingGateway, UnitOfWorkFactory


@dataclass(frozen=True)
class JournalDetailRequest:
    journal_key: str
    closing_date: date


@dataclass(frozen=True)
class JournalDetail:
    journal: AccountJournal
    account_names: dict[str, str]
    problems: tuple[Problem, ...]
    record: SyncRecord | None = None  # what Accounts Sync knows of it in Xero
    sent_as: JournalMode | None = None  # Draft or Posted, as it was sent
    xero_url: str = ""
    # Once sent: what Xero holds from us (the journal and its adjustments), the difference per
    # (account, tracking) with what the ERP says now, and the corrections already made.
    sent_lines: tuple[SentLine, ...] = ()
    difference: tuple[SentLine, ...] = ()
    corrections: tuple[SyncRecord, ...] = ()

    @property
    def rows(self) -> list[tuple[str, tuple, Decimal, Decimal, Decimal]]:
        """(account, tracking, in Xero, ERP now, difference) per key, for the comparison."""
        sent = {line.key: line.amount for line in combine(self.sent_lines)}
        now = {line.key: line.amount for line in combine(sent_state_of_journal(self.journal).lines)}
        keys = sorted(set(sent) | set(now), key=lambda k: (k[0], [(t.category, t.option) for t in k[1]]))
        return [(k[0], k[1], sent.get(k, ZERO), now.get(k, ZERO), now.get(k, ZERO) - sent.get(k, ZERO))
                for k in keys]

    @property
    def lines_behind_difference(self) -> list[JournalLine]:
        """The journal's current lines whose account and tracking differ from what was sent,
        each with the cost entries behind it (entries removed since are no longer in the ERP)."""
        changed = {(d.account_code, d.tracking) for d in self.difference}
        return [line for line in self.journal.lines if (line.account_code, line.tracking) in changed]

    @property
    def is_sent(self) -> bool:
        return self.record is not None and self.record.state is SyncState.SYNCED

    @property
    def changed_since_sent(self) -> bool:
        """The costs behind it changed in the ERP after it was sent (Xero has the old figures)."""
        return self.is_sent and bool(self.record and self.record.fingerprint) \
            and self.record.fingerprint != self.journal.fingerprint


class GetJournalDetail:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway) -> None:
        self.uow = uow
        self.gateway = gateway

    def execute(self, request: JournalDetailRequest) -> JournalDetail:
        try:
            day, movement = parse_journal_key(request.journal_key)
        except ValueError:
            raise JournalNotFound(request.journal_key) from None
        if day > request.closing_date:
            raise JournalNotFound(request.journal_key)
        with self.uow() as uow:
            entries = uow.documents.cost_entries(day, movement)
            mapping = uow.settings.mapping()
            record = uow.ledger.records(Kind.JOURNALS, [request.journal_key]).get(request.journal_key)
            run = uow.ledger.get_run(record.run_id) if record and record.run_id else None
            corrections = uow.ledger.corrections_of([(Kind.JOURNALS, request.journal_key)]).get(
                (Kind.JOURNALS, request.journal_key), [])
        build = build_journals((CostFlow.of(e) for e in entries), mapping)
        journal = next((j for j in build.journals if j.key == request.journal_key), None)
        sent = record is not None and record.state is SyncState.SYNCED
        if journal is None and sent:
            # Every cost behind a journal already in Xero was removed: nothing left to show but
            # what Xero holds and the difference.
            journal = AccountJournal(request.journal_key, day, movement,
                                     f"{movement.label} on {day.isoformat()}: no cost entries left",
                                     (), 0)
        if journal is None:
            raise JournalNotFound(request.journal_key)
        chart, unchecked = read_chart(self.gateway)
        names = {a.code: a.name for a in chart.accounts} if chart else {}
        problems = build.problems + ((unchecked,) if unchecked else ())
        if not sent:
            problems += tuple(Checks(chart, mapping).journal_problems([journal]))
        url = self.gateway.web_url(Kind.JOURNALS, record.xero_id) if sent and record.xero_id else ""
        sent_lines: tuple[SentLine, ...] = ()
        difference: tuple[SentLine, ...] = ()
        if sent and record is not None and record.sent is not None:
            sent_lines = record.sent.lines
            difference = line_difference(sent_lines, sent_state_of_journal(journal).lines)
        return JournalDetail(journal, names, problems, record, run.mode if run else None, url,
                             sent_lines, difference, tuple(corrections))
