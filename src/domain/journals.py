"""Production-cost journals: one per day and movement type, balanced to the cent."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from itertools import groupby
from operator import attrgetter, is_
from types import MappingProxyType
from typing import Any

from .costs import CostCategory, CostEntry, CostFlow, MovementType, Stage
from .documents import TrackingRef, fingerprint_of
from .errors import Problem, UnbalancedJournal
from .mapping import AccountMapping
from .money import CENT, ZERO, format_money, money


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


class _Fingerprint:
    """AccountJournal.fingerprint: the one it was given, or, for a journal made by the builder,
    the fingerprint of its key and lines, worked out the first time it is read. A preview lists
    every journal of the year and reads none of their fingerprints (a sync and the corrections
    do): a new process's first preview does not hash them all. Only __init__ sets it (the
    dataclass is frozen)."""

    def __get__(self, journal: AccountJournal | None, owner: type | None = None) -> str:
        if journal is None:
            return ""
        value = journal.__dict__["_fingerprint"]
        if type(value) is not str:  # _OF_LINES (or a copy of it)
            value = journal.__dict__["_fingerprint"] = fingerprint_of([journal.key, [
                [ln.account_code, format_money(ln.amount), [[t.category, t.option] for t in ln.tracking]]
                for ln in journal.lines
            ]])
        return value

    def __set__(self, journal: AccountJournal, value: Any) -> None:
        # Not given: the dataclass passes its default, this descriptor itself.
        journal.__dict__["_fingerprint"] = "" if value is self else value


class _OfLines:
    """The builder's fingerprint: the one of the journal's key and lines (see _Fingerprint)."""


_OF_LINES: Any = _OfLines()


@dataclass(frozen=True)
class AccountJournal:
    key: str
    date: date
    movement_type: MovementType
    narration: str
    lines: tuple[JournalLine, ...]
    entry_count: int
    fingerprint: str = field(default=_Fingerprint(), compare=False)  # type: ignore[assignment]
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

    @cached_property
    def account_codes(self) -> frozenset[str]:
        """The accounts its lines post to (checked against Xero's chart before every sync)."""
        return frozenset(line.account_code for line in self.lines)

    @cached_property
    def tracking_refs(self) -> frozenset[TrackingRef]:
        """The tracking options its lines carry; lines share their tuples, so each is read once."""
        tuples = {id(line.tracking): line.tracking for line in self.lines if line.tracking}
        return frozenset(ref for tracking in tuples.values() for ref in tracking)


@dataclass(frozen=True)
class JournalBuild:
    journals: tuple[AccountJournal, ...]
    problems: tuple[Problem, ...]  # blocking: unmapped accounts, no rounding account
    notes: tuple[Problem, ...]  # non-blocking: journals skipped because they net to zero


_GroupKey = tuple[date, MovementType]
# A journal's lines while its flows are summed: (account, tracking as (category, option)
# pairs) → [amount, entry count, categories as a bit mask, entries or None]. Plain lists, ints
# and tuples of strings: a year of journals sums tens of thousands of lines, and the first
# preview of a process builds them all. The keys sort as the lines do (by account, then
# tracking), so sorting them compares strings, not keys made per line.
_Lines = dict[tuple[str, tuple[tuple[str, str], ...]], list[Any]]
_MISSING: Any = object()
_CATEGORY_BITS = {category: 1 << i for i, category in enumerate(CostCategory)}


class _Lookups:
    """What one build (one mapping) looks up once: each stage and category's account, and each
    set of batch attributes' tracking options. A line is keyed by its tracking as plain
    (category, option) pairs: hashing a tuple of TrackingRef dataclasses would call their
    Python __hash__ per option, for every flow."""

    def __init__(self, mapping: AccountMapping) -> None:
        self.mapping = mapping
        self.accounts: dict[tuple[Stage, CostCategory], str | None] = {}
        # batch attributes → the tracking's (category, option) pairs, one tuple per tracking
        self.pairs: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
        self.tracking: dict[tuple[tuple[str, str], ...], tuple[TrackingRef, ...]] = {}

    def account(self, stage: Stage, category: CostCategory) -> str | None:
        found = self.accounts.get((stage, category), _MISSING)
        if found is _MISSING:
            found = self.accounts[(stage, category)] = self.mapping.account_for(stage, category)
        return found

    def tracking_pairs(self, attributes: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        refs = self.mapping.tracking_refs(attributes)
        pairs = tuple((t.category, t.option) for t in refs)
        # TrackingRef is (category, option): equal pairs, equal tracking; one of each is kept.
        self.tracking.setdefault(pairs, refs)
        self.pairs[attributes] = pairs
        return pairs


def build_journals(flows: Iterable[CostFlow], mapping: AccountMapping) -> JournalBuild:
    """Turn cost flows into balanced journals; problems are gathered, never raised one by one.

    Each flow debits the account of its to-stage and credits the account of its from-stage,
    so the unrounded lines of a journal always sum to zero; rounding each line to the cent
    leaves a residue of at most half a cent per line, which goes to the rounding account.
    """
    groups: dict[_GroupKey, _Lines] = {}
    counts: dict[_GroupKey, int] = defaultdict(int)
    problems: dict[str, Problem] = {}
    lookups = _Lookups(mapping)
    # Flows of one day and movement usually come together: each run of them is summed at once.
    # Unmapped stages are noted in the order the flows are met, whatever their day.
    for group_key, run in groupby(flows, key=_group_of):
        lines = groups.get(group_key)
        if lines is None:
            lines = {}
        counts[group_key] += _sum_lines(run, lookups, lines, problems)
        if lines:  # a day and movement whose flows all lack an account has no journal
            groups[group_key] = lines
    journals: list[AccountJournal] = []
    notes: list[Problem] = []
    for group_key, lines in sorted(groups.items(), key=lambda item: item[0]):
        built = _journal(group_key, lines, counts[group_key], lookups)
        for subject, problem in built.journal_problems.items():
            problems.setdefault(subject, problem)
        if built.note is not None:
            notes.append(built.note)
        if built.journal is not None:
            journals.append(built.journal)
    return JournalBuild(tuple(journals), tuple(problems.values()), tuple(notes))


_group_of = attrgetter("date", "movement_type")


def _sum_lines(flows: Iterable[CostFlow], lookups: _Lookups, lines: _Lines,
               problems: dict[str, Problem]) -> int:
    """Sum flows of one day and movement into its lines per account and tracking; returns their
    entry count (flows without an account included). Unmapped stages are noted in the order
    they are met. Accounts and tracking options are looked up once per stage and category,
    and per set of batch attributes: a year of flows repeats a few dozen."""
    accounts, known, bits = lookups.accounts, lookups.pairs, _CATEGORY_BITS
    entry_count = 0
    for flow in flows:
        count = flow.entry_count
        entry_count += count
        category, to_stage, from_stage = flow.category, flow.to_stage, flow.from_stage
        debit_account = accounts.get((to_stage, category), _MISSING)
        if debit_account is _MISSING:
            debit_account = lookups.account(to_stage, category)
        credit_account = accounts.get((from_stage, category), _MISSING)
        if credit_account is _MISSING:
            credit_account = lookups.account(from_stage, category)
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
        tracking = known.get(flow.tracking)
        if tracking is None:
            tracking = lookups.tracking_pairs(flow.tracking)
        bit, entries, amount = bits[category], flow.entries, flow.amount
        # A move within one stage (a transfer or blend between batches) is booked by the ERP as
        # signed pairs: cost out of the source batch (negative) and into the destination
        # (positive). Each posts only its own side; the pair balances the journal.
        sides = ((debit_account, amount),) if from_stage == to_stage else (
            (debit_account, amount), (credit_account, -amount))
        for account, signed in sides:
            line = lines.get((account, tracking))
            if line is None:
                lines[(account, tracking)] = [ZERO + signed, count, bit,
                                              list(entries) if entries else None]
                continue
            line[0] += signed
            line[1] += count
            line[2] |= bit
            if entries:
                if line[3] is None:
                    line[3] = list(entries)
                else:
                    line[3].extend(entries)
    return entry_count


@dataclass(frozen=True)
class _GroupBuild:
    """What the flows of one day and movement give. Flow problems (unmapped accounts) are met
    while reading flows, journal problems (unbalanced, no rounding account) while balancing;
    build_journals reports all flow problems first, and so does JournalMemo."""

    journal: AccountJournal | None
    journal_problems: Mapping[str, Problem]
    note: Problem | None
    flow_problems: Mapping[str, Problem] = field(default_factory=dict)


# What most groups have of either kind of problem: one object, not two empty dicts a group.
_NO_PROBLEMS: Mapping[str, Problem] = MappingProxyType({})


def _journal(group_key: _GroupKey, lines: _Lines, count: int, lookups: _Lookups,
             flow_problems: Mapping[str, Problem] = _NO_PROBLEMS) -> _GroupBuild:
    day, movement = group_key
    key = journal_key(day, movement)
    mapping = lookups.mapping
    problems: dict[str, Problem] = {}
    built = _balanced_lines(key, lines, lookups, problems)
    journal_problems = problems or _NO_PROBLEMS
    flow_problems = flow_problems or _NO_PROBLEMS
    if built is None:
        return _GroupBuild(None, journal_problems, None, flow_problems)
    if len(built) < 2:
        return _GroupBuild(None, journal_problems, Problem(
            "journal_nets_to_zero",
            f"{journal_label(key)} moves cost only between batches that "
            f"share an account{' and tracking options' if mapping.tracking else ''} in Xero, "
            f"so there is nothing to post"
            f"{'' if mapping.tracking else '; map a tracking category in Settings to send it'}.",
            key,
            blocking=False,
        ), flow_problems)
    return _GroupBuild(AccountJournal(
        key=key,
        date=day,
        movement_type=movement,
        narration=f"{movement.label} on {day.isoformat()}: {count} cost "
                  f"entr{'y' if count == 1 else 'ies'} {reference_marker(key)}",
        lines=tuple(built),
        entry_count=count,
        fingerprint=_OF_LINES,  # of its key and lines, when it is first read
    ), journal_problems, None, flow_problems)


def _build_group(group_key: _GroupKey, flows: list[CostFlow], lookups: _Lookups) -> _GroupBuild:
    lines: _Lines = {}
    flow_problems: dict[str, Problem] = {}
    count = _sum_lines(flows, lookups, lines, flow_problems)
    if not lines:  # no flow of it has both accounts mapped: no journal, only problems
        return _GroupBuild(None, _NO_PROBLEMS, None, flow_problems or _NO_PROBLEMS)
    return _journal(group_key, lines, count, lookups, flow_problems)


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
        lookups = _Lookups(mapping)  # one mapping for the whole build: shared by its groups
        for group_key, group in groups.items():  # in the order the flows came
            hit = state.groups.get(group_key)
            if hit is not None and _same_flows(hit[0], group):
                built[group_key] = (group, hit[1])  # these objects, next time: compared by identity
            else:
                built[group_key] = (group, _build_group(group_key, group, lookups))

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
    lines: _Lines,
    lookups: _Lookups,
    problems: dict[str, Problem],
) -> list[JournalLine] | None:
    """The journal's lines rounded to the cent, debits first, and the rounding line."""
    built: list[JournalLine] = []
    imbalance = rounded = ZERO
    tracking, descriptions = lookups.tracking, _DESCRIPTIONS
    # Debits first, then credits; within each, by account and tracking, so output is stable.
    ordered = sorted(lines.items())  # by (account, tracking pairs): the keys are all distinct
    for (account, pairs), (raw, count, categories, entries) in (
            [item for item in ordered if not item[1][0] < 0]
            + [item for item in ordered if item[1][0] < 0]):
        imbalance += raw
        # money(raw), without its checks for what a sum of Decimals cannot be (a float, a
        # string): a non-finite sum still goes through money, which refuses it.
        amount = raw.quantize(CENT, rounding=ROUND_HALF_UP) if raw.is_finite() else money(raw)
        if amount != ZERO:
            rounded += amount
            built.append(JournalLine(account, amount, tracking[pairs],
                                     descriptions.get(categories) or _description(categories),
                                     count, tuple(entries) if entries else ()))
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
    residue = -rounded  # what the rounded lines leave unbalanced
    if residue != ZERO:
        mapping = lookups.mapping
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


_DESCRIPTIONS: dict[int, str] = {}


def _description(categories: int) -> str:
    """'Bulk wine, Labour': the categories behind a line (a bit mask of _CATEGORY_BITS; a
    handful of sets recur)."""
    found = _DESCRIPTIONS.get(categories)
    if found is None:
        found = _DESCRIPTIONS[categories] = ", ".join(sorted(
            category.label for category, bit in _CATEGORY_BITS.items() if categories & bit))
    return found


def _check_balanced(key: str, lines: list[JournalLine]) -> None:
    """The last guard before a journal leaves the process: debits equal credits to the cent."""
    difference = sum((line.amount for line in lines), ZERO)
    if difference != ZERO:
        raise UnbalancedJournal(key, format_money(difference))
