"""Production-cost journals: one per day and movement type, balanced to the cent."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .costs import CostCategory, CostEntry, CostFlow, MovementType
from .documents import TrackingRef, fingerprint_of
from .errors import Problem, UnbalancedJournal
from .mapping import AccountMapping
from .money import ZERO, format_money, money


def journal_key(day: date, movement: MovementType) -> str:
    return f"{day.isoformat()}-{movement.value}"


def parse_journal_key(key: str) -> tuple[date, MovementType]:
    """'2026-03-04-bottling' → (date, movement); ValueError when it is not a journal key."""
    day, movement = date.fromisoformat(key[:10]), MovementType(key[11:])
    if key[10:11] != "-":
        raise ValueError(key)
    return day, movement


def reference_marker(key: str) -> str:
    """The marker put in the narration so a journal can be found in Xero before any resend."""
    return f"[AS:{key}]"


@dataclass(frozen=True)
class JournalLine:
    account_code: str
    amount: Decimal  # debit positive, credit negative, as Xero's LineAmount
    tracking: tuple[TrackingRef, ...] = ()
    description: str = ""
    entry_count: int = 0
    entries: tuple[CostEntry, ...] = ()
    is_rounding: bool = False

    @property
    def debit(self) -> Decimal:
        return self.amount if self.amount > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.amount if self.amount < 0 else ZERO


@dataclass(frozen=True)
class AccountJournal:
    key: str
    date: date
    movement_type: MovementType
    narration: str
    lines: tuple[JournalLine, ...]
    entry_count: int
    fingerprint: str = field(default="", compare=False)
    url: str = field(default="", compare=False)  # the ERP page Xero links back to
    tax_type: str = field(default="", compare=False)  # the mapping's tax type for journal lines

    @property
    def debit_total(self) -> Decimal:
        return money(sum((line.debit for line in self.lines), ZERO))

    @property
    def credit_total(self) -> Decimal:
        return money(sum((line.credit for line in self.lines), ZERO))

    @property
    def is_balanced(self) -> bool:
        return sum((line.amount for line in self.lines), ZERO) == ZERO


@dataclass(frozen=True)
class JournalBuild:
    journals: tuple[AccountJournal, ...]
    problems: tuple[Problem, ...]  # blocking: unmapped accounts, no rounding account
    notes: tuple[Problem, ...]  # non-blocking: journals skipped because they net to zero


@dataclass
class _LineSum:
    amount: Decimal = ZERO
    entry_count: int = 0
    categories: set[CostCategory] = field(default_factory=set)
    entries: list[CostEntry] = field(default_factory=list)


def build_journals(flows: Iterable[CostFlow], mapping: AccountMapping) -> JournalBuild:
    """Turn cost flows into balanced journals; problems are gathered, never raised one by one.

    Each flow debits the account of its to-stage and credits the account of its from-stage,
    so the unrounded lines of a journal always sum to zero; rounding each line to the cent
    leaves a residue of at most half a cent per line, which goes to the rounding account.
    """
    groups: dict[tuple[date, MovementType], dict[tuple[str, tuple[TrackingRef, ...]], _LineSum]]
    groups = defaultdict(lambda: defaultdict(_LineSum))
    counts: dict[tuple[date, MovementType], int] = defaultdict(int)
    problems: dict[str, Problem] = {}

    for flow in flows:
        group_key = (flow.date, flow.movement_type)
        counts[group_key] += flow.entry_count
        debit_account = mapping.account_for(flow.to_stage, flow.category)
        credit_account = mapping.account_for(flow.from_stage, flow.category)
        for stage, account in ((flow.to_stage, debit_account), (flow.from_stage, credit_account)):
            if not account:
                subject = f"{flow.category.value}@{stage.value}"
                problems.setdefault(subject, Problem(
                    "unmapped_account",
                    f"{flow.category.label} cost moving through {stage.label.lower()} has no "
                    f"Xero account; map the stage in Settings.",
                    subject,
                ))
        if not (debit_account and credit_account):
            continue
        tracking = mapping.tracking_refs(flow.tracking)
        # A move within one stage (a transfer or blend between batches) is booked by the ERP as
        # signed pairs: cost out of the source batch (negative) and into the destination
        # (positive). Each posts only its own side; the pair balances the journal.
        sides = ((debit_account, 1),) if flow.from_stage == flow.to_stage else (
            (debit_account, 1), (credit_account, -1))
        for account, sign in sides:
            line = groups[group_key][(account, tracking)]
            line.amount += sign * flow.amount
            line.entry_count += flow.entry_count
            line.categories.add(flow.category)
            line.entries.extend(flow.entries)

    journals: list[AccountJournal] = []
    notes: list[Problem] = []
    for (day, movement), lines in sorted(groups.items(), key=lambda item: item[0]):
        key = journal_key(day, movement)
        built = _balanced_lines(key, lines, mapping, problems)
        if built is None:
            continue
        if len(built) < 2:
            notes.append(Problem(
                "journal_nets_to_zero",
                f"{movement.label} on {day.isoformat()} moves cost only between batches that "
                f"share an account{' and tracking options' if mapping.tracking else ''} in Xero, "
                f"so there is nothing to post"
                f"{'' if mapping.tracking else '; map a tracking category in Settings to send it'}.",
                key,
                blocking=False,
            ))
            continue
        count = counts[(day, movement)]
        journals.append(AccountJournal(
            key=key,
            date=day,
            movement_type=movement,
            narration=f"{movement.label} on {day.isoformat()}: {count} cost "
                      f"entr{'y' if count == 1 else 'ies'} {reference_marker(key)}",
            lines=tuple(built),
            entry_count=count,
            fingerprint=fingerprint_of([key, [
                [ln.account_code, format_money(ln.amount), [[t.category, t.option] for t in ln.tracking]]
                for ln in built
            ]]),
        ))
    return JournalBuild(tuple(journals), tuple(problems.values()), tuple(notes))


def _balanced_lines(
    key: str,
    lines: dict[tuple[str, tuple[TrackingRef, ...]], _LineSum],
    mapping: AccountMapping,
    problems: dict[str, Problem],
) -> list[JournalLine] | None:
    built = [
        JournalLine(
            account_code=account,
            amount=money(line.amount),
            tracking=tracking,
            description=", ".join(sorted(c.label for c in line.categories)),
            entry_count=line.entry_count,
            entries=tuple(line.entries),
        )
        for (account, tracking), line in sorted(lines.items(), key=_line_order)
        if money(line.amount) != ZERO
    ]
    imbalance = sum((line.amount for line in lines.values()), ZERO)
    if imbalance != ZERO:
        # Only within-stage pairs can leave a journal out before rounding: ERP data to correct,
        # never something to hide in the rounding account.
        problems.setdefault(key, Problem(
            "unbalanced_movements",
            f"The cost moved out of batches and into batches on {key[:10]} ({key[11:]}) differs "
            f"by {imbalance:f}; correct the operations in the ERP.",
            key,
        ))
        return None
    residue = -sum((line.amount for line in built), ZERO)
    if residue != ZERO:
        if not mapping.rounding_account:
            problems.setdefault("rounding", Problem(
                "no_rounding_account",
                "A journal needs a rounding adjustment but no rounding account is mapped; "
                "choose one in Settings.",
                "rounding",
            ))
            return None
        built.append(JournalLine(mapping.rounding_account, residue, description="Rounding",
                                 is_rounding=True))
    _check_balanced(key, built)
    return built


def _check_balanced(key: str, lines: list[JournalLine]) -> None:
    """The last guard before a journal leaves the process: debits equal credits to the cent."""
    difference = sum((line.amount for line in lines), ZERO)
    if difference != ZERO:
        raise UnbalancedJournal(key, format_money(difference))


def _line_order(item: tuple[tuple[str, tuple[TrackingRef, ...]], _LineSum]) -> tuple:
    (account, tracking), line = item
    # Debits first, then credits; within each, by account and tracking, so output is stable.
    return (line.amount < 0, account, [(t.category, t.option) for t in tracking])
