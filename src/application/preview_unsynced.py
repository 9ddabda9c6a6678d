"""PreviewUnsynced: what a sync up to a closing date would send, with every warning."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ..domain.costs import MovementType
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import Problem
from ..domain.journals import JournalMemo
from ..domain.money import ZERO, total
from ..domain.sync import SyncWindow
from .checks import Checks
from .common import read_chart, with_currencies
from .ports import AccountingGateway, Clock, KindTotals, UnitOfWorkFactory

CHANGED_SHOWN = 20
REFUSED_SHOWN = 200  # per kind: the documents Accounts Sync would refuse, listed with why

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
class RefusedDocument:
    """A document the sync would refuse without sending it, and why (with what to do)."""

    erp_id: str
    number: str
    date: date
    url: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RefusedDocuments:
    count: int = 0
    shown: tuple[RefusedDocument, ...] = ()  # the first REFUSED_SHOWN, in (date, id) order


@dataclass(frozen=True)
class Preview:
    closing_date: date
    currency: str
    kinds: dict[Kind, KindTotals]
    journals: tuple[JournalSummary, ...]
    last_synced_up_to: dict[Kind, date | None]
    problems: tuple[Problem, ...]  # blocking: a sync would be refused or documents fail
    warnings: tuple[Problem, ...]  # worth knowing, nothing refused
    # Per kind: the documents Accounts Sync itself would refuse (the sync's own checks).
    refused: dict[Kind, RefusedDocuments] = field(default_factory=dict)
    checked_against_xero: bool = True  # False: Xero could not be read, its rules not checked
    chart_read_at: datetime | None = None  # when the chart checked against was read from Xero
    lock_date: date | None = None

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
            checks = Checks(chart, mapping)
            build = _JOURNALS.build(uow.documents.cost_flows(request.closing_date), mapping)
            problems = list(build.problems)
            problems += checks.journal_problems(build.journals)
            problems += [p for p in checks.mapping_problems()
                         if p.subject not in {q.subject for q in problems}]
            warnings = _summarised(build.notes)
            if unchecked:
                warnings.append(unchecked)
            refused: dict[Kind, RefusedDocuments] = {}
            for kind in TRADE_KINDS:
                if not kinds[kind].count:
                    continue
                found, checks = self._refused(uow, kind, request.closing_date, checks)
                if found.count:
                    refused[kind] = found
                    problems.append(_refused_problem(kind, found))
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
                       tuple(problems), tuple(warnings), refused, chart is not None,
                       chart.read_at if chart else None, lock)

    def _refused(self, uow, kind: Kind, closing_date: date,
                 checks: Checks) -> tuple[RefusedDocuments, Checks]:
        """The sync's own checks over every unsynced document of the kind, in the database: the
        distinct values the documents carry are checked, then the documents carrying a refused
        one are counted and the first ones explained (see checks.py)."""
        facts = uow.documents.unsynced_facts(kind, closing_date)
        checks = with_currencies(checks, self.gateway, set(facts.currencies))
        refusal = checks.refusal(kind, facts)
        if refusal.is_empty:
            return RefusedDocuments(), checks
        count, documents = uow.documents.refused_unsynced(kind, closing_date, refusal, REFUSED_SHOWN)
        shown = []
        for document in documents:
            reasons = tuple(checks.document_problems(checks.prepare(document)))
            shown.append(RefusedDocument(document.erp_id, document.number, document.date,
                                         document.url, reasons))
        return RefusedDocuments(count, tuple(shown)), checks


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


def _refused_problem(kind: Kind, found: RefusedDocuments) -> Problem:
    what = kind.label.lower() if found.count > 1 else kind.label.lower()[:-1]
    first = found.shown[0] if found.shown else None
    example = f" ({first.number}: {first.reasons[0]})" if first and first.reasons else ""
    return Problem(
        "documents_refused",
        f"Accounts Sync will not send {found.count:,} {what}{example}; fix "
        f"{'them' if found.count > 1 else 'it'} first, or {'they stay' if found.count > 1 else 'it stays'} "
        f"unsent while the others go.",
        kind.value,
    )
