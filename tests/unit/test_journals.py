from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.domain.costs import CostFlow, MovementType, Stage
from accounts_sync.domain.errors import UnbalancedJournal
from accounts_sync.domain.journals import build_journals, journal_key, parse_journal_key
from tests.builders import ACCOUNTS, entry, mapping

DAY = date(2026, 11, 2)


def flows(*entries):
    return [CostFlow.of(e) for e in entries]


def test_one_journal_per_day_and_movement_with_lines_by_account_and_tracking():
    build = build_journals(flows(
        entry(MovementType.ADDITION, "10.00"),
        entry(MovementType.ADDITION, "5.00"),
        entry(MovementType.ADDITION, "7.00", vintage="2024"),
        entry(MovementType.BOTTLING, "100.00"),
        entry(MovementType.ADDITION, "1.00", day=date(2026, 11, 3)),
    ), mapping())
    keys = [j.key for j in build.journals]
    assert keys == ["2026-11-02-addition", "2026-11-02-bottling", "2026-11-03-addition"]
    addition = build.journals[0]
    assert addition.is_balanced
    assert addition.debit_total == Decimal("22.00")
    by_line = {(ln.account_code, tuple((t.category, t.option) for t in ln.tracking)): ln.amount
               for ln in addition.lines}
    assert by_line == {
        ("1440", (("Vintage", "2025"), ("Brand", "Reserve"))): Decimal("15.00"),
        ("1440", (("Vintage", "2024"), ("Brand", "Reserve"))): Decimal("7.00"),
        ("1420", (("Vintage", "2025"), ("Brand", "Reserve"))): Decimal("-15.00"),
        ("1420", (("Vintage", "2024"), ("Brand", "Reserve"))): Decimal("-7.00"),
    }
    assert addition.entry_count == 3
    assert "[AS:2026-11-02-addition]" in addition.narration


def test_lines_keep_their_breakdown_of_cost_entries():
    a, b = entry(amount="1.10"), entry(amount="2.20")
    journal = build_journals(flows(a, b), mapping()).journals[0]
    debit = next(ln for ln in journal.lines if ln.amount > 0)
    assert debit.entries == (a, b)
    assert debit.entry_count == 2


def _thirds():
    # Three thirds of a dollar from three stages into one batch: the debit line rounds
    # 0.9999 to 1.00 while the three credit lines round to 0.33 each, so the journal is out
    # by a cent unless the residue is posted.
    return [entry(amount="0.3333", from_stage=stage)
            for stage in (Stage.ADDITIVES, Stage.DRY_GOODS, Stage.FRUIT)]


def test_rounding_residue_goes_to_the_rounding_account():
    journal = build_journals(flows(*_thirds()), mapping()).journals[0]
    assert journal.is_balanced
    rounding = [ln for ln in journal.lines if ln.is_rounding]
    assert [(ln.account_code, ln.amount) for ln in rounding] == [("860", Decimal("-0.01"))]
    assert journal.debit_total == journal.credit_total == Decimal("1.00")


def test_without_a_rounding_account_an_unbalanced_journal_is_a_problem_not_sent():
    build = build_journals(flows(*_thirds()), mapping(rounding=""))
    assert build.journals == ()
    assert [p.code for p in build.problems] == ["no_rounding_account"]
    assert "rounding account" in build.problems[0].message


def test_unmapped_stages_are_gathered_with_a_plain_message():
    partial = {k: v for k, v in ACCOUNTS.items() if k not in (Stage.ADDITIVES, Stage.LOSSES)}
    build = build_journals(flows(
        entry(MovementType.ADDITION), entry(MovementType.ADDITION), entry(MovementType.LOSS),
        entry(MovementType.BOTTLING),
    ), mapping(stage_accounts=partial))
    assert sorted(p.subject for p in build.problems) == ["additive@additives", "bulk_wine@losses"]
    assert all("map the stage in Settings" in p.message for p in build.problems)
    assert [j.movement_type for j in build.journals] == [MovementType.BOTTLING]


def test_category_override_wins_over_the_stage_account():
    from accounts_sync.domain.costs import CostCategory

    m = mapping(category_overrides={(Stage.OVERHEAD, CostCategory.LABOUR): "5910"})
    journal = build_journals(flows(entry(MovementType.LABOUR, "50")), m).journals[0]
    assert {ln.account_code for ln in journal.lines} == {"1440", "5910"}


def test_transfers_without_tracking_net_to_zero_and_are_skipped_with_a_note():
    out = entry(MovementType.TRANSFER, "-500", vintage="2024")
    into = entry(MovementType.TRANSFER, "500", vintage="2025")
    build = build_journals(flows(out, into), mapping(tracking=False))
    assert build.journals == ()
    assert build.notes[0].code == "journal_nets_to_zero" and not build.notes[0].blocking


def test_transfers_with_tracking_move_cost_between_options():
    # Cost leaves the 2024 batch (credit) and arrives in the 2025 blend (debit), same account.
    out = entry(MovementType.TRANSFER, "-500", vintage="2024")
    into = entry(MovementType.TRANSFER, "500", vintage="2025")
    journal = build_journals(flows(out, into), mapping()).journals[0]
    assert journal.is_balanced and {ln.account_code for ln in journal.lines} == {"1440"}
    assert journal.debit_total == Decimal("500.00")
    assert [ln.tracking[0].option for ln in journal.lines] == ["2025", "2024"]


def test_transfer_pairs_that_do_not_balance_are_refused_not_rounded_away():
    out = entry(MovementType.TRANSFER, "-500", vintage="2024")
    into = entry(MovementType.TRANSFER, "499", vintage="2025")
    build = build_journals(flows(out, into), mapping())
    assert build.journals == ()
    assert build.problems[0].code == "unbalanced_movements"
    assert "differs by -1.00;" in build.problems[0].message


def test_the_last_guard_refuses_a_journal_that_does_not_balance():
    import accounts_sync.domain.journals as journals

    with pytest.raises(UnbalancedJournal):
        # Lines that balance before rounding but whose residue was then lost.
        journals._balanced_lines.__wrapped__ if False else None
        lines = [journals.JournalLine("1440", Decimal("1.00")),
                 journals.JournalLine("1420", Decimal("-0.99"))]
        journals._check_balanced("k", lines)


def test_journal_keys_round_trip():
    key = journal_key(DAY, MovementType.BARREL_AGEING)
    assert key == "2026-11-02-barrel_ageing"
    assert parse_journal_key(key) == (DAY, MovementType.BARREL_AGEING)
    with pytest.raises(ValueError):
        parse_journal_key("2026-11-02-nonsense")
