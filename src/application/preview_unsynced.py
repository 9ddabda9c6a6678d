"""PreviewUnsynced: what a sync up to a closing date would send, with every warning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..domain.costs import MovementType
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import Problem
from ..domain.journals import JournalMemo
from ..domain.money import ZERO, total
from ..domain.sync import SyncWindow
from .checks import account_problems, journal_problems
from .common import read_chart
from .ports import AccountingGateway, Clock, KindTotals, UnitOfWorkFactory

CHANGED_SHOWN = 20

# Journals built by earlier previews, reused for the days whose flows are the very same objects
# (the SQL adapter keeps them between calls): a year of journals is rebuilt only where it changed.
_JOURNALS = JournalMemo()


@dataclass(frozen=True)
class PreviewRequest:
    closing_date: date


@dataclass(frozen=True)
class JournalSummary:
    key: str
    date: date
    movement_type: MovementType
    narration: str
    debit_total: Decimal
    line_count: int
    entry_count: int


@dataclass(frozen=True)
class Preview:
    closing_date: date
    currency: str
    kinds: dict[Kind, KindTotals]
    journals: tuple[JournalSummary, ...]
    last_synced_up_to: dict[Kind, date | None]
    problems: tuple[Problem, ...]  # blocking: a sync would be refused or documents fail
    warnings: tuple[Problem, ...]  # worth knowing, nothing refused

    @property
    def journal_total(self) -> Decimal:
        return total(j.debit_total for j in self.journals) if self.journals else ZERO

    @property
    def is_empty(self) -> bool:
        return not self.journals and all(t.count == 0 for t in self.kinds.values())


class PreviewUnsynced:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway, clock: Clock,
                 default_currency: str = "AUD") -> None:
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.default_currency = default_currency

    def execute(self, request: PreviewRequest) -> Preview:
        chart, unchecked = read_chart(self.gateway)
        lock = chart.organisation.lock_date if chart else None
        with self.uow() as uow:
            marks = {kind: uow.ledger.last_synced_up_to(kind) for kind in Kind}
            SyncWindow.open(request.closing_date, self.clock.today(), lock_date=lock)
            kinds = {kind: uow.documents.summarize_unsynced(kind, request.closing_date)
                     for kind in TRADE_KINDS}
            mapping = uow.settings.mapping()
            build = _JOURNALS.build(uow.documents.cost_flows(request.closing_date), mapping)
            problems = list(build.problems)
            problems += journal_problems(build.journals, chart)
            problems += [p for p in account_problems(mapping.account_codes(), chart)
                         if p.subject not in {q.subject for q in problems}]
            warnings = _summarised(build.notes)
            if unchecked:
                warnings.append(unchecked)
            if lock is not None:
                for kind in TRADE_KINDS:
                    locked = uow.documents.summarize_unsynced(kind, lock)
                    if locked.count:
                        problems.append(Problem(
                            "documents_locked",
                            f"{locked.count} {kind.label.lower()} dated on or before Xero's "
                            f"lock date {lock.isoformat()} will be refused by Xero.",
                            kind.value,
                        ))
            for kind in Kind:
                changed = uow.documents.changed_after_sync(kind, CHANGED_SHOWN)
                if changed:
                    numbers = ", ".join(c.number for c in changed[:5])
                    warnings.append(Problem(
                        "changed_after_sync",
                        f"{len(changed)}{'+' if len(changed) >= CHANGED_SHOWN else ''} "
                        f"{kind.label.lower()} changed in the ERP after they were synced "
                        f"({numbers}); correct them in Xero, they are not sent again.",
                        kind.value,
                        blocking=False,
                    ))
        journals = tuple(
            JournalSummary(j.key, j.date, j.movement_type, j.narration, j.debit_total,
                           len(j.lines), j.entry_count)
            for j in build.journals
        )
        currency = chart.organisation.base_currency if chart else self.default_currency
        return Preview(request.closing_date, currency, kinds, journals, marks,
                       tuple(problems), tuple(warnings))


def _summarised(notes: tuple[Problem, ...]) -> list[Problem]:
    """One warning per kind of note: a year of transfers should not bury the real warnings."""
    if len(notes) <= 1:
        return list(notes)
    first = notes[0]
    return [Problem(
        first.code,
        f"{len(notes)} journals have nothing to post, for example: {first.message}",
        first.subject,
        blocking=False,
    )]
