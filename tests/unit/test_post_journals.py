from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.application.post_journals import PostJournalsRequest
from accounts_sync.domain.costs import MovementType, Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.sync import JournalMode, RunState, SyncState
from tests.builders import ACCOUNTS, entry, mapping
from tests.fakes import SimulatedCrash, default_chart

TODAY = date(2026, 11, 26)
J = Kind.JOURNALS


def req(mode=JournalMode.DRAFT, closing=TODAY):
    return PostJournalsRequest(closing, mode, "accountant")


def test_posts_one_balanced_journal_per_day_and_movement(store, gateway, post):
    store.cost_entries += [
        entry(MovementType.ADDITION, "12.3456", day=date(2026, 11, 2)),
        entry(MovementType.ADDITION, "7.0001", day=date(2026, 11, 2), vintage="2024"),
        entry(MovementType.BOTTLING, "1000", day=date(2026, 11, 3)),
        entry(MovementType.CRUSH, "84000", day=date(2026, 11, 27)),  # after the closing date
    ]
    run = post.execute(req(JournalMode.POSTED))
    assert run.state is RunState.SUCCEEDED and run.created == 2
    sent = gateway.created(J)
    assert [o.erp_id for o in sent] == ["2026-11-02-addition", "2026-11-03-bottling"]
    assert all(o.status == "POSTED" and o.payload.is_balanced for o in sent)
    assert sent[0].payload.url.endswith("/journals/2026-11-02-addition")
    assert store.state.preferences["journal_mode"] == "POSTED"
    assert store.record(J, "2026-11-02-addition").state is SyncState.SYNCED
    assert post.execute(req()).total == 0, "a synced journal is not posted twice"


def test_unmapped_journals_are_refused_with_a_clear_message_and_nothing_is_sent(
    store, gateway, post
):
    store.state.mapping = mapping(
        stage_accounts={k: v for k, v in ACCOUNTS.items() if k is not Stage.LOSSES}
    )
    store.cost_entries += [entry(MovementType.LOSS, "5"), entry(MovementType.ADDITION, "5")]
    run = post.execute(req())
    assert run.state is RunState.ABORTED
    assert run.message.startswith("Nothing was sent: Bulk wine cost moving through wine losses "
                                  "has no Xero account")
    assert gateway.push_calls == []


def test_unbalanced_transfers_are_refused_and_nothing_is_sent(store, gateway, post):
    store.cost_entries += [entry(MovementType.TRANSFER, "-100", vintage="2024"),
                           entry(MovementType.TRANSFER, "99.99", vintage="2025")]
    run = post.execute(req())
    assert run.state is RunState.ABORTED and "differs by -0.01" in run.message
    assert gateway.push_calls == []


def test_journals_needing_rounding_without_a_rounding_account_are_refused(store, gateway, post):
    store.state.mapping = mapping(rounding="")
    store.cost_entries += [entry(amount="0.3333", from_stage=s)
                           for s in (Stage.ADDITIVES, Stage.DRY_GOODS, Stage.FRUIT)]
    run = post.execute(req())
    assert run.state is RunState.ABORTED and "no rounding account" in run.message
    assert gateway.push_calls == []


def test_rounding_keeps_posted_journals_balanced_to_the_cent(store, gateway, post):
    store.cost_entries += [entry(amount="0.3333", from_stage=s)
                           for s in (Stage.ADDITIVES, Stage.DRY_GOODS, Stage.FRUIT)]
    post.execute(req())
    journal = gateway.created(J)[0].payload
    assert sum(line.amount for line in journal.lines) == Decimal("0")
    assert any(line.account_code == "860" for line in journal.lines)


def test_a_journal_inside_the_lock_period_is_carried_to_the_first_open_day_and_blocks_nothing(
    store, gateway, post
):
    gateway.chart_ = default_chart(lock_date=date(2026, 10, 31))
    store.cost_entries += [entry(MovementType.LOSS, "250", day=date(2026, 10, 18)),
                           entry(MovementType.LOSS, "40", day=date(2026, 11, 1))]
    run = post.execute(req())
    assert run.state is RunState.SUCCEEDED and run.created == 2
    carried, opened = sorted(gateway.created(J), key=lambda o: o.erp_id)
    assert carried.erp_id == "2026-10-18-loss" and carried.payload.date == date(2026, 11, 1)
    assert "dated 2026-10-18 in the ERP" in carried.payload.narration
    assert "[AS:2026-10-18-loss]" in carried.payload.narration, "still found again by its key"
    assert opened.payload.date == date(2026, 11, 1)
    assert store.record(J, "2026-10-18-loss").sent.date == date(2026, 11, 1)


def test_with_the_hold_setting_a_locked_journal_waits_and_the_rest_is_sent(store, gateway, post):
    gateway.chart_ = default_chart(lock_date=date(2026, 10, 31))
    store.state.preferences["locked_period_policy"] = "hold"
    store.cost_entries += [entry(MovementType.LOSS, "250", day=date(2026, 10, 18)),
                           entry(MovementType.LOSS, "40", day=date(2026, 11, 1))]
    run = post.execute(req())
    assert run.state is RunState.SUCCEEDED and run.created == 1
    assert [o.erp_id for o in gateway.created(J)] == ["2026-11-01-loss"]
    assert store.record(J, "2026-10-18-loss") is None


def test_archived_accounts_in_the_mapping_are_refused(store, gateway, post):
    accounts = dict(ACCOUNTS, **{Stage.ADDITIVES: "1460"})
    store.state.mapping = mapping(stage_accounts=accounts)
    store.cost_entries += [entry(MovementType.ADDITION)]
    run = post.execute(req())
    assert run.state is RunState.ABORTED and "1460" in run.message and "archived" in run.message


def test_a_crash_after_xero_committed_journals_never_duplicates_them(store, gateway, post, clock):
    store.cost_entries += [entry(day=date(2026, 1, 1 + i % 28)) for i in range(60)]
    store.cost_entries += [entry(day=date(2026, 2, 1 + i % 28)) for i in range(60)]
    store.cost_entries += [entry(day=date(2026, 3, 1 + i % 28)) for i in range(60)]
    gateway.crash_after_commit_on_push = 1
    with pytest.raises(SimulatedCrash):
        post.execute(req())
    dead = next(iter(store.state.runs.values()))
    store.state.runs[dead.id] = dead.abort("worker died", clock.now())
    gateway.crash_after_commit_on_push = None
    run = post.execute(req())
    keys = [o.erp_id for o in gateway.created(J)]
    assert len(keys) == len(set(keys)) == 84
    assert run.created == 34 and gateway.lookups == [(J, 50)]


def test_journal_lines_carry_the_mapped_tax_type(store, gateway, post):
    from dataclasses import replace

    store.state.mapping = replace(mapping(), journal_tax_type="BASEXCLUDED")
    store.cost_entries += [entry()]
    post.execute(req())
    assert gateway.created(J)[0].payload.tax_type == "BASEXCLUDED"
