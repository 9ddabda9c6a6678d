"""The journal builder against a plain reference: the same journals, lines, fingerprints,
problems and notes, whatever the flows and the mapping.

build_journals and JournalMemo sum lines in plain lists keyed by tracking indexes, keep the
categories as a bit mask and round inline (a new process's first preview builds every journal
of the year). The reference below is the straightforward algorithm they replaced, written for
clarity: any difference in what a journal holds, in its line order, its descriptions, its
fingerprint (what corrections compare with what was sent), or in the problems and their order
fails here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts_sync.domain.costs import CostCategory, CostEntry, CostFlow, MovementType, Operation, Stage
from accounts_sync.domain.documents import TrackingRef, fingerprint_of
from accounts_sync.domain.errors import Problem
from accounts_sync.domain.journals import (
    AccountJournal,
    JournalLine,
    JournalMemo,
    build_journals,
    journal_key,
    journal_label,
    reference_marker,
)
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping
from accounts_sync.domain.money import ZERO, format_money, money


def reference_build(flows: list[CostFlow], mapping: AccountMapping):
    """(journals, problems, notes) as the builder must make them."""
    groups: dict = defaultdict(lambda: defaultdict(lambda: [ZERO, 0, set(), []]))
    counts: dict = defaultdict(int)
    problems: dict[str, Problem] = {}
    for flow in flows:
        group_key = (flow.date, flow.movement_type)
        counts[group_key] += flow.entry_count
        debit = mapping.account_for(flow.to_stage, flow.category)
        credit = mapping.account_for(flow.from_stage, flow.category)
        if not (debit and credit):
            for stage, account in ((flow.to_stage, debit), (flow.from_stage, credit)):
                if not account:
                    subject = f"{flow.category.value}@{stage.value}"
                    problems.setdefault(subject, Problem(
                        "unmapped_account",
                        f"{flow.category.label} cost moving through {stage.label.lower()} has "
                        f"no Xero account; map the stage in Settings.",
                        subject,
                    ))
            continue
        tracking = mapping.tracking_refs(flow.tracking)
        sides = [(debit, flow.amount)] if flow.from_stage == flow.to_stage else [
            (debit, flow.amount), (credit, -flow.amount)]
        for account, amount in sides:
            line = groups[group_key][(account, tracking)]
            line[0] += amount
            line[1] += flow.entry_count
            line[2].add(flow.category)
            line[3].extend(flow.entries)
    journals, notes = [], []
    for group_key in sorted(groups):
        day, movement = group_key
        key = journal_key(day, movement)
        ordered = sorted(groups[group_key].items(), key=lambda item: (
            item[1][0] < 0, item[0][0], [(t.category, t.option) for t in item[0][1]]))
        lines, imbalance = [], ZERO
        for (account, tracking), (amount, count, categories, entries) in ordered:
            imbalance += amount
            if money(amount) != ZERO:
                lines.append(JournalLine(account, money(amount), tracking,
                                         ", ".join(sorted(c.label for c in categories)),
                                         count, tuple(entries)))
        if imbalance != ZERO:
            problems.setdefault(key, Problem(
                "unbalanced_movements",
                f"The cost moved out of batches and into batches in {journal_label(key)} "
                f"differs by {imbalance:f}; correct the operations in the ERP.", key))
            continue
        residue = -sum((line.amount for line in lines), ZERO)
        if residue != ZERO:
            if not mapping.rounding_account:
                problems.setdefault("rounding", Problem(
                    "no_rounding_account",
                    "A journal needs a rounding adjustment but no rounding account is mapped; "
                    "choose one in Settings.", "rounding"))
                continue
            lines.append(JournalLine(mapping.rounding_account, residue, description="Rounding",
                                     is_rounding=True))
        if len(lines) < 2:
            notes.append(key)
            continue
        count = counts[group_key]
        journals.append(AccountJournal(
            key, day, movement,
            f"{movement.label} on {day.isoformat()}: {count} cost "
            f"entr{'y' if count == 1 else 'ies'} {reference_marker(key)}",
            tuple(lines), count,
            fingerprint=fingerprint_of([key, [
                [ln.account_code, format_money(ln.amount),
                 [[t.category, t.option] for t in ln.tracking]] for ln in lines]])))
    return journals, list(problems.values()), notes


STAGES = [Stage.FRUIT, Stage.ADDITIVES, Stage.BULK_WINE, Stage.FINISHED_GOODS, Stage.COGS]
DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
MOVEMENTS = [MovementType.TRANSFER, MovementType.ADDITION, MovementType.BOTTLING]
amounts = st.decimals(min_value=Decimal("-500"), max_value=Decimal("500"), places=4,
                      allow_nan=False, allow_infinity=False)
attributes = st.lists(st.sampled_from([("brand", "Reserve"), ("brand", "Estate"), ("brand", ""),
                                        ("vintage", "2024"), ("vintage", "2025")]),
                      max_size=2, unique_by=lambda pair: pair[0]).map(lambda x: tuple(sorted(x)))


@st.composite
def cost_flows(draw):
    day, movement = draw(st.sampled_from(DAYS)), draw(st.sampled_from(MOVEMENTS))
    category = draw(st.sampled_from(list(CostCategory)))
    from_stage = draw(st.sampled_from(STAGES))
    to_stage = from_stage if draw(st.booleans()) else draw(st.sampled_from(STAGES))
    amount, tracking = draw(amounts), draw(attributes)
    entries: tuple[CostEntry, ...] = ()
    if draw(st.booleans()):
        entries = (CostEntry(f"e{draw(st.integers(1, 99))}", Operation("op1", "OP-1", "op"), day,
                             movement, category, amount, from_stage, to_stage, tracking),)
    return CostFlow(day, movement, category, from_stage, to_stage, amount, tracking,
                    draw(st.integers(1, 5)), entries)


@st.composite
def mappings(draw):
    accounts = {stage: code for stage, code in zip(STAGES, ["1410", "1420", "1440", "1450", "5000"],
                                                   strict=True)
                if draw(st.integers(0, 9))}  # now and then a stage without an account
    overrides = {}
    if draw(st.booleans()):
        overrides[(Stage.BULK_WINE, CostCategory.LABOUR)] = "1445"
    tracking = draw(st.sampled_from([
        (), (TrackingMapping("vintage", "Vintage"),),
        (TrackingMapping("vintage", "Vintage"), TrackingMapping("brand", "Brand"))]))
    return AccountMapping(accounts, overrides, tracking,
                          rounding_account=draw(st.sampled_from(["", "9990"])))


def _as_built(journals):
    return [(j, j.fingerprint, j.lines, j.narration) for j in journals]


@settings(max_examples=300, deadline=None)
@given(st.lists(cost_flows(), max_size=30), mappings())
def test_the_builder_makes_what_the_reference_makes(flows, mapping):
    journals, problems, notes = reference_build(flows, mapping)
    built = build_journals(flows, mapping)
    assert _as_built(built.journals) == _as_built(journals)
    assert [repr(line) for j in built.journals for line in j.lines] == \
        [repr(line) for j in journals for line in j.lines]  # exponents too, not only values
    assert list(built.problems) == problems
    assert [note.subject for note in built.notes] == notes
    # The memo (a new process's first preview, then the next) builds the same.
    flows_by_day = sorted(flows, key=lambda f: (f.date, f.movement_type))
    memo = JournalMemo()
    for _ in range(2):
        again = memo.build(flows_by_day, mapping)
        assert _as_built(again.journals) == _as_built(reference_build(flows_by_day, mapping)[0])
        assert again == build_journals(flows_by_day, mapping)


def test_the_reference_catches_a_different_tracking_order():
    # Guard on the guard: two tracking options in one journal, in the order lines must keep.
    mapping = AccountMapping({Stage.FRUIT: "1410", Stage.BULK_WINE: "1440"}, {},
                             (TrackingMapping("vintage", "Vintage"),), "9990")
    day, movement = DAYS[0], MovementType.ADDITION
    flows = [CostFlow(day, movement, CostCategory.FRUIT, Stage.FRUIT, Stage.BULK_WINE,
                      Decimal(amount), (("vintage", vintage),))
             for amount, vintage in (("1.005", "2025"), ("2.0049", "2024"))]
    built = build_journals(flows, mapping).journals[0]
    assert [(ln.account_code, ln.tracking, ln.amount) for ln in built.lines] == [
        ("1440", (TrackingRef("Vintage", "2024"),), Decimal("2.00")),
        ("1440", (TrackingRef("Vintage", "2025"),), Decimal("1.01")),
        ("1410", (TrackingRef("Vintage", "2024"),), Decimal("-2.00")),
        ("1410", (TrackingRef("Vintage", "2025"),), Decimal("-1.01")),
    ]
    assert _as_built([built]) == _as_built(reference_build(flows, mapping)[0])


def test_a_built_journals_fingerprint_is_worked_out_when_read_and_a_given_one_kept():
    import copy
    import pickle
    from dataclasses import FrozenInstanceError, replace

    import pytest

    mapping = AccountMapping({Stage.FRUIT: "1410", Stage.BULK_WINE: "1440"}, {}, (), "9990")
    flow = CostFlow(DAYS[0], MovementType.ADDITION, CostCategory.FRUIT, Stage.FRUIT,
                    Stage.BULK_WINE, Decimal("12.345"))
    expected = reference_build([flow], mapping)[0][0].fingerprint
    assert len(expected) == 64
    for journal in (build_journals([flow], mapping).journals[0],
                    JournalMemo().build([flow], mapping).journals[0]):
        # Copied or pickled before it is read, it is still the fingerprint of its lines.
        assert pickle.loads(pickle.dumps(journal)).fingerprint == expected
        assert copy.copy(journal).fingerprint == expected
        assert journal.fingerprint == expected and journal.fingerprint == expected
        assert replace(journal, narration="x").fingerprint == expected
        with pytest.raises(FrozenInstanceError):
            journal.fingerprint = "changed"  # type: ignore[misc]
        assert journal.fingerprint == expected
    given = AccountJournal("k", DAYS[0], MovementType.ADDITION, "n", (), 0, fingerprint="abc")
    assert given.fingerprint == "abc" and replace(given, narration="m").fingerprint == "abc"
    bare = AccountJournal("k", DAYS[0], MovementType.ADDITION, "n", (), 0)
    assert bare.fingerprint == "" and bare == given  # not compared
    assert AccountJournal.fingerprint == ""
