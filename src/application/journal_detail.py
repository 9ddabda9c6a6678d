"""GetJournalDetail: the Detailed Account Journals Preview of one journal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ..domain.costs import CostFlow
from ..domain.errors import JournalNotFound, Problem
from ..domain.journals import AccountJournal, build_journals, parse_journal_key
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
        build = build_journals((CostFlow.of(e) for e in entries), mapping)
        journal = next((j for j in build.journals if j.key == request.journal_key), None)
        if journal is None:
            raise JournalNotFound(request.journal_key)
        chart, unchecked = read_chart(self.gateway)
        names = {a.code: a.name for a in chart.accounts} if chart else {}
        problems = build.problems + ((unchecked,) if unchecked else ())
        return JournalDetail(journal, names, problems)
