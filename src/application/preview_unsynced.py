"""PreviewUnsynced: what a sync up to a closing date would send, with every warning."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ..domain.corrections import LockPolicy, Period, carry_journal
from ..domain.costs import MovementType
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import Problem
from ..domain.journals import AccountJournal, JournalMemo
from ..domain.money import ZERO, total
from ..domain.sync import SyncWindow
from .checks import Checks
from .common import period_of, read_chart, with_currencies
from .plan_corrections import CorrectionsPlan, CorrectionsRequest, PlanCorrections
from .ports import AccountingGateway, Clock, KindTotals, UnitOfWork, UnitOfWorkFactory, XeroChange
from .xero_changes import LookAtXero, LookRequest

XERO_CHANGES_SHOWN = 50
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
    date: date  # the day it is posted on in Xero
    movement_type: MovementType
    narration: str
    debit_total: Decimal
    line_count: int
    entry_count: int
    carried_from: date | None = None  # its own day, inside Xero's locked period
    held: bool = False  # kept back until the lock date moves (a setting)


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
    corrections: CorrectionsPlan | None = None  # changes to what was already sent
    xero_changes: tuple[XeroChange, ...] = ()  # seen changed in Xero (ours or someone else's)
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
        return (not self.journals and all(t.count == 0 for t in self.kinds.values())
                and not (self.corrections and self.corrections.count))


class PreviewUnsynced:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway, clock: Clock,
                 default_currency: str = "AUD",
                 plan_corrections: PlanCorrections | None = None) -> None:
        self.uow = uow
        self.gateway = gateway
        self.clock = clock
        self.default_currency = default_currency
        self.plan_corrections = plan_corrections or PlanCorrections(uow, gateway, clock)
        self.look_at_xero = LookAtXero(uow, gateway, clock)

    def execute(self, request: PreviewRequest) -> Preview:
        chart, unchecked = read_chart(self.gateway)
        if chart is not None:
            # What people did in Xero since the last look, so the plan below knows of payments,
            # voids and edits there (at most once a minute; nothing is sent).
            self.look_at_xero.execute(LookRequest())
        lock = chart.organisation.lock_date if chart else None
        with self.uow() as uow:
            marks = {kind: uow.ledger.last_synced_up_to(kind) for kind in Kind}
            SyncWindow.open(request.closing_date, self.clock.today(), lock_date=lock)
            period = period_of(chart, uow.settings)
            kinds = {kind: uow.documents.summarize_unsynced(kind, request.closing_date)
                     for kind in TRADE_KINDS}
            mapping = uow.settings.mapping()
            checks = Checks(chart, mapping, period=period)
            build = _JOURNALS.build(uow.documents.cost_flows(request.closing_date), mapping)
            # What falls inside the locked period is carried to the first open day (or held):
            # checked as it will be sent, so a locked day never blocks the rest.
            carried = [carry_journal(j, period) for j in build.journals]
            problems = list(build.problems)
            # The journals as built (the same objects from one preview to the next, so what
            # the checks read of each is kept); checks.py judges a locked day by the day it is
            # carried to.
            problems += checks.journal_problems(
                [j for j in build.journals
                 if not (period.policy is LockPolicy.HOLD and period.is_locked(j.date))])
            problems += [p for p in checks.mapping_problems()
                         if p.subject not in {q.subject for q in problems}]
            warnings = _summarised(build.notes)
            if unchecked:
                warnings.append(unchecked)
            if lock is not None:
                warnings += _locked_warnings(uow, kinds, build.journals, period)
            # The sync's own checks over every document it would send (see checks.py).
            refused: dict[Kind, RefusedDocuments] = {}
            for kind in TRADE_KINDS:
                if not kinds[kind].count:
                    continue
                found, checks = self._refused(uow, kind, request.closing_date, checks)
                if found.count:
                    refused[kind] = found
                    problems.append(_refused_problem(kind, found))
            # In the same unit of work: the cost entries are brought up to date once.
            plan = self.plan_corrections.within(uow, CorrectionsRequest(request.closing_date), chart)
        warnings += _correction_warnings(plan)
        with self.uow() as uow:
            changes = tuple(uow.ledger.xero_changes(XERO_CHANGES_SHOWN))
        journals = tuple(
            JournalSummary(j.key, c.date, j.movement_type, c.narration, j.debit_total,
                           len(j.lines), j.entry_count,
                           carried_from=j.date if period.is_locked(j.date) else None,
                           held=period.is_locked(j.date) and period.policy is LockPolicy.HOLD)
            for j, c in zip(build.journals, carried, strict=True)
        )
        currency = chart.organisation.base_currency if chart else self.default_currency
        return Preview(request.closing_date, currency, kinds, journals, marks,
                       tuple(problems), tuple(warnings), plan, changes, refused, chart is not None,
                       chart.read_at if chart else None, lock)

    def _refused(self, uow: UnitOfWork, kind: Kind, closing_date: date,
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


def _locked_warnings(uow: UnitOfWork, kinds: dict[Kind, KindTotals],
                     journals: Sequence[AccountJournal], period: Period) -> list[Problem]:
    lock = period.lock_date
    assert lock is not None
    first_open = period.first_open_day
    held = period.policy is LockPolicy.HOLD
    what = ("are held back until the lock date moves (Settings)" if held
            else f"will be dated {first_open.isoformat()}, the first open day, with their own "
                 f"date noted" if first_open else "")
    warnings: list[Problem] = []
    for kind in TRADE_KINDS:
        if not kinds[kind].count or kinds[kind].earliest is None or kinds[kind].earliest > lock:
            continue
        locked = uow.documents.summarize_unsynced(kind, lock)
        if locked.count:
            warnings.append(Problem(
                "documents_locked",
                f"{locked.count} {kind.label.lower()} dated on or before Xero's lock date "
                f"{lock.isoformat()} {what}.",
                kind.value,
                blocking=False,
            ))
    locked_journals = [j for j in journals if j.date <= lock]
    if locked_journals:
        warnings.append(Problem(
            "journals_locked",
            f"{len(locked_journals)} journal{'s' if len(locked_journals) > 1 else ''} dated on or "
            f"before Xero's lock date {lock.isoformat()} {what}.",
            Kind.JOURNALS.value,
            blocking=False,
        ))
    return warnings


def _correction_warnings(plan: CorrectionsPlan) -> list[Problem]:
    warnings = []
    if plan.to_decide:
        numbers = ", ".join(c.number for c in plan.to_decide[:5])
        warnings.append(Problem(
            "corrections_to_decide",
            f"{len(plan.to_decide)} correction{'s need' if len(plan.to_decide) > 1 else ' needs'} "
            f"your decision before anything is sent for {'them' if len(plan.to_decide) > 1 else 'it'}"
            f" ({numbers}); open Corrections.",
            Kind.CORRECTIONS.value,
            blocking=False,
        ))
    if plan.unknown:
        warnings.append(Problem(
            "changed_after_sync",
            f"{len(plan.unknown)} synced documents or journals changed in the ERP, but were sent "
            f"before Accounts Sync kept what it sent ({', '.join(plan.unknown[:5])}); correct "
            f"them in Xero.",
            Kind.CORRECTIONS.value,
            blocking=False,
        ))
    return warnings


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
