"""GetJournalDetail: the Detailed Account Journals Preview of one journal (or, once it is in
Xero, what was sent and how)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.costs import CostFlow
from ..domain.documents import Kind
from ..domain.errors import JournalNotFound, Problem
from ..domain.journals import AccountJournal, build_journals, parse_journal_key
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
        build = build_journals((CostFlow.of(e) for e in entries), mapping)
        journal = next((j for j in build.journals if j.key == request.journal_key), None)
        if journal is None:
            raise JournalNotFound(request.journal_key)
        sent = record is not None and record.state is SyncState.SYNCED
        chart, unchecked = read_chart(self.gateway)
        names = {a.code: a.name for a in chart.accounts} if chart else {}
        problems = build.problems + ((unchecked,) if unchecked else ())
        if not sent:
            problems += tuple(Checks(chart, mapping).journal_problems([journal]))
        url = self.gateway.web_url(Kind.JOURNALS, record.xero_id) if sent and record.xero_id else ""
        return JournalDetail(journal, names, problems, record, run.mode if run else None, url)
