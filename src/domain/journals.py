"""Production-cost journals: one per day and movement type, balanced to the cent."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import cached_property
from operator import is_
from typing import Any

from .costs import CostCategory, CostEntry, CostFlow, MovementType, Stage
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


def journal_label(key: str) -> str:
    """'2026-12-03-barrel_ageing' → 'Barrel fill / ageing on 3 Dec 2026': what people read."""
    try:
        day, movement = parse_journal_key(key)
    except ValueError:
        return key
    return f"{movement.label} on {day.strftime('%d %b %Y').lstrip('0')}"


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

    # Computed once per journal (lines never change): a preview lists thousands of journals,
    # most of them the same objects as in the previous preview (see JournalMemo).
    @cached_property
    def debit_total(self) -> Decimal:
        return money(sum((line.debit for line in self.lines), ZERO))

    @cached_property
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


_GroupKey = tuple[date, MovementType]
_Lines = dict[tuple[str, tuple[TrackingRef, ...]], _LineSum]
_MISSING: Any = object()


def build_journals(flows: Iterable[CostFlow], mapping: AccountMapping) -> JournalBuild:
    """Turn cost flows into balanced journals; problems are gathered, never raised one by one.

    Each flow debits the account of its to-stage and credits the account of its from-stage,
    so the unrounded lines of a journal always sum to zero; rounding each line to the cent
    leaves a residue of at most half a cent per line, which goes to the rounding account.
    """
    groups: dict[_GroupKey, _Lines] = defaultdict(lambda: defaultdict(_LineSum))
    counts: dict[_GroupKey, int] = defaultdict(int)
    problems: dict[str, Problem] = {}
    _accumulate(flows, mapping, groups, counts, problems)
    journals: list[AccountJournal] = []
    notes: list[Problem] = []
    for group_key, lines in sorted(groups.items(), key=lambda item: item[0]):
        built = _journal(group_key, lines, counts[group_key], mapping)
        for subject, problem in built.journal_problems.items():
            problems.setdefault(subject, problem)
        if built.note is not None:
            notes.append(built.note)
        if built.journal is not None:
            journals.append(built.journal)
    return JournalBuild(tuple(journals), tuple(problems.values()), tuple(notes))


def _accumulate(
    flows: Iterable[CostFlow],
    mapping: AccountMapping,
    groups: dict[_GroupKey, _Lines],
    counts: dict[_GroupKey, int],
    problems: dict[str, Problem],
) -> None:
    """Sum flows into lines per (day, movement) and (account, tracking); unmapped stages are
    noted in the order they are met. Accounts and tracking options are looked up once per
    stage and category, and per set of batch attributes: a year of flows repeats a few dozen."""
    accounts: dict[tuple[Stage, CostCategory], str | None] = {}
    refs: dict[tuple[tuple[str, str], ...], tuple[TrackingRef, ...]] = {}
    for flow in flows:
        group_key = (flow.date, flow.movement_type)
        counts[group_key] += flow.entry_count
        category, to_stage, from_stage = flow.category, flow.to_stage, flow.from_stage
        debit_account = accounts.get((to_stage, category), _MISSING)
        if debit_account is _MISSING:
            debit_account = accounts[(to_stage, category)] = mapping.account_for(to_stage, category)
        credit_account = accounts.get((from_stage, category), _MISSING)
        if credit_account is _MISSING:
            credit_account = accounts[(from_stage, category)] = mapping.account_for(from_stage, category)
        if not (debit_account and credit_account):
            for stage, account in ((to_stage, debit_account), (from_stage, credit_account)):
                if not account:
                    subject = f"{category.value}@{stage.value}"
                    problems.setdefault(subject, Problem(
                        "unmapped_account",
                        f"{category.label} cost moving through {stage.label.lower()} has no "
                        f"Xero account; map the stage in Settings.",
                        subject,
                    ))
            continue
        tracking = refs.get(flow.tracking)
        if tracking is None:
            tracking = refs[flow.tracking] = mapping.tracking_refs(flow.tracking)
        lines = groups[group_key]
        # A move within one stage (a transfer or blend between batches) is booked by the ERP as
        # signed pairs: cost out of the source batch (negative) and into the destination
        # (positive). Each posts only its own side; the pair balances the journal.
        sides = ((debit_account, flow.amount),) if from_stage == to_stage else (
            (debit_account, flow.amount), (credit_account, -flow.amount))
        for account, amount in sides:
            line = lines[(account, tracking)]
            line.amount += amount
            line.entry_count += flow.entry_count
            line.categories.add(category)
            if flow.entries:
                line.entries.extend(flow.entries)


@dataclass(frozen=True)
class _GroupBuild:
    """What the flows of one day and movement give. Flow problems (unmapped accounts) are met
    while reading flows, journal problems (unbalanced, no rounding account) while balancing;
    build_journals reports all flow problems first, and so does JournalMemo."""

    journal: AccountJournal | None
    journal_problems: dict[str, Problem]
    note: Problem | None
    flow_problems: dict[str, Problem] = field(default_factory=dict)


def _journal(group_key: _GroupKey, lines: _Lines, count: int, mapping: AccountMapping) -> _GroupBuild:
    day, movement = group_key
    key = journal_key(day, movement)
    journal_problems: dict[str, Problem] = {}
    built = _balanced_lines(key, lines, mapping, journal_problems)
    if built is None:
        return _GroupBuild(None, journal_problems, None)
    if len(built) < 2:
        return _GroupBuild(None, journal_problems, Problem(
            "journal_nets_to_zero",
            f"{journal_label(key)} moves cost only between batches that "
            f"share an account{' and tracking options' if mapping.tracking else ''} in Xero, "
            f"so there is nothing to post"
            f"{'' if mapping.tracking else '; map a tracking category in Settings to send it'}.",
            key,
            blocking=False,
        ))
    return _GroupBuild(AccountJournal(
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
    ), journal_problems, None)


def _build_group(group_key: _GroupKey, flows: list[CostFlow], mapping: AccountMapping) -> _GroupBuild:
    groups: dict[_GroupKey, _Lines] = defaultdict(lambda: defaultdict(_LineSum))
    counts: dict[_GroupKey, int] = defaultdict(int)
    flow_problems: dict[str, Problem] = {}
    _accumulate(flows, mapping, groups, counts, flow_problems)
    lines = groups.get(group_key)
    if lines is None:  # no flow of it has both accounts mapped: no journal, only problems
        return _GroupBuild(None, {}, None, flow_problems)
    return replace(_journal(group_key, lines, counts[group_key], mapping), flow_problems=flow_problems)


class JournalMemo:
    """Journals per day and movement, reused while their flows stay the very same.

    A journal depends only on its own day's and movement's flows and on the mapping, and
    build_journals is a pure function of them. A preview over a year of costs would rebuild
    thousands of journals whose flows did not change since the last preview; when a
    DocumentSource hands back the same immutable CostFlow objects (the SQL adapter keeps them
    between calls) their journals are taken from here; flows that are merely equal are reused
    too, a little less cheaply; anything else is built afresh. So
    `memo.build(flows, mapping) == build_journals(flows, mapping)`, always. Only the last build
    is kept, so memory stays bounded by one preview. Safe to share between threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: _MemoState | None = None

    def build(self, flows: Iterable[CostFlow], mapping: AccountMapping) -> JournalBuild:
        flows = list(flows)
        with self._lock:
            state = self._state
        if state is None or state.mapping != mapping:
            state = _MemoState(mapping, {}, [], JournalBuild((), (), ()))
        elif len(state.flows) == len(flows) and all(map(is_, state.flows, flows)):
            return state.build  # nothing changed since the last build: the usual case
        groups: dict[_GroupKey, list[CostFlow]] = {}
        last: _GroupKey | None = None
        for flow in flows:
            group_key = (flow.date, flow.movement_type)
            if group_key != last:
                if group_key in groups:
                    # Days interleaved: problems would come in another order; build it whole.
                    return build_journals(flows, mapping)
                groups[group_key] = []
                last = group_key
            groups[group_key].append(flow)
        built: dict[_GroupKey, tuple[list[CostFlow], _GroupBuild]] = {}
        for group_key, group in groups.items():  # in the order the flows came
            hit = state.groups.get(group_key)
            if hit is not None and _same_flows(hit[0], group):
                built[group_key] = (group, hit[1])  # these objects, next time: compared by identity
            else:
                built[group_key] = (group, _build_group(group_key, group, mapping))

        problems: dict[str, Problem] = {}
        for _, group_build in built.values():
            for subject, problem in group_build.flow_problems.items():
                problems.setdefault(subject, problem)
        journals: list[AccountJournal] = []
        notes: list[Problem] = []
        for group_key in sorted(built):
            group_build = built[group_key][1]
            for subject, problem in group_build.journal_problems.items():
                problems.setdefault(subject, problem)
            if group_build.note is not None:
                notes.append(group_build.note)
            if group_build.journal is not None:
                journals.append(group_build.journal)
        build = JournalBuild(tuple(journals), tuple(problems.values()), tuple(notes))
        with self._lock:
            self._state = _MemoState(mapping, built, flows, build)
        return build


@dataclass(frozen=True)
class _MemoState:
    """What one build saw and made, replaced whole so that threads never mix two builds."""

    mapping: AccountMapping
    groups: dict[_GroupKey, tuple[list[CostFlow], _GroupBuild]]
    flows: list[CostFlow]
    build: JournalBuild


def _same_flows(old: list[CostFlow], new: list[CostFlow]) -> bool:
    return len(old) == len(new) and all(a is b or a == b for a, b in zip(old, new, strict=True))


def _balanced_lines(
    key: str,
    lines: dict[tuple[str, tuple[TrackingRef, ...]], _LineSum],
    mapping: AccountMapping,
    problems: dict[str, Problem],
) -> list[JournalLine] | None:
    built: list[JournalLine] = []
    imbalance = ZERO
    for (account, tracking), line in sorted(lines.items(), key=_line_order):
        imbalance += line.amount
        amount = money(line.amount)
        if amount != ZERO:
            built.append(JournalLine(
                account_code=account,
                amount=amount,
                tracking=tracking,
                description=_description(line.categories),
                entry_count=line.entry_count,
                entries=tuple(line.entries),
            ))
    if imbalance != ZERO:
        # Only within-stage pairs can leave a journal out before rounding: ERP data to correct,
        # never something to hide in the rounding account.
        problems.setdefault(key, Problem(
            "unbalanced_movements",
            f"The cost moved out of batches and into batches in {journal_label(key)} differs "
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


_DESCRIPTIONS: dict[frozenset[CostCategory], str] = {}


def _description(categories: set[CostCategory]) -> str:
    """'Bulk wine, Labour': the categories behind a line (a handful of sets recur)."""
    key = frozenset(categories)
    found = _DESCRIPTIONS.get(key)
    if found is None:
        found = _DESCRIPTIONS[key] = ", ".join(sorted(c.label for c in categories))
    return found


def _check_balanced(key: str, lines: list[JournalLine]) -> None:
    """The last guard before a journal leaves the process: debits equal credits to the cent."""
    difference = sum((line.amount for line in lines), ZERO)
    if difference != ZERO:
        raise UnbalancedJournal(key, format_money(difference))


def _line_order(item: tuple[tuple[str, tuple[TrackingRef, ...]], _LineSum]) -> tuple:
    (account, tracking), line = item
    # Debits first, then credits; within each, by account and tracking, so output is stable.
    return (line.amount < 0, account, [(t.category, t.option) for t in tracking])
