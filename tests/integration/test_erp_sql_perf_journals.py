"""The preview's fast paths change nothing it shows.

- JournalMemo (what PreviewUnsynced builds journals with) always gives what build_journals
  gives, whatever is reused from the previous build;
- on the demo winery, every journal the preview lists has the debit total, line count and
  entry count its Detailed Account Journals Preview computes from the single entries, with
  the SQL adapter's flow cache on, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts_sync.adapters.erp_sql import sqlalchemy_documents
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import _FlowCache
from accounts_sync.adapters.erp_sql.sqlalchemy_settings import SqlSettingsStore
from accounts_sync.adapters.offline_gateway import OfflineGateway
from accounts_sync.adapters.system_clock import SystemClock
from accounts_sync.application.journal_detail import GetJournalDetail, JournalDetailRequest
from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced
from accounts_sync.demo.seed import seed
from accounts_sync.demo.setup import DEMO_MAPPING
from accounts_sync.domain.costs import CostFlow, MovementType, Stage
from accounts_sync.domain.journals import JournalMemo, build_journals
from tests.builders import ACCOUNTS, entry, mapping

# ------------------------------------------------------------------ JournalMemo ≡ build_journals

amounts = st.decimals(min_value=Decimal("-50"), max_value=Decimal("5000"), places=4)
stages = st.sampled_from([Stage.ADDITIVES, Stage.DRY_GOODS, Stage.FRUIT, Stage.OVERHEAD,
                          Stage.LOSSES, Stage.BULK_WINE])
movements = st.sampled_from([MovementType.ADDITION, MovementType.BOTTLING, MovementType.TRANSFER,
                             MovementType.LOSS])
flows_lists = st.lists(
    st.builds(
        lambda m, a, d, v, b, s: CostFlow.of(entry(m, str(a), date(2026, 11, 1) + timedelta(days=d),
                                                   vintage=v, brand=b, from_stage=s)),
        movements, amounts, st.integers(0, 4), st.sampled_from(["2024", "2025"]),
        st.sampled_from(["Estate", "Reserve"]), stages,
    ),
    max_size=40,
)
mappings = st.sampled_from([
    mapping(),
    mapping(tracking=False),
    mapping(rounding=""),
    mapping(stage_accounts={k: v for k, v in ACCOUNTS.items() if k not in (Stage.LOSSES, Stage.FRUIT)}),
])


def by_day(flows: list[CostFlow]) -> list[CostFlow]:
    """In (day, movement) order, as a DocumentSource gives them."""
    return sorted(flows, key=lambda f: (f.date, f.movement_type))


@settings(max_examples=200, deadline=None)
@given(flows_lists, flows_lists, mappings, mappings, st.randoms(use_true_random=False))
def test_the_memo_builds_what_build_journals_builds(first, second, mapping_a, mapping_b, rnd):
    memo = JournalMemo()
    first = by_day(first)
    assert memo.build(first, mapping_a) == build_journals(first, mapping_a)
    assert memo.build(first, mapping_a) == build_journals(first, mapping_a)  # all reused
    # Some days as before (the very same objects), some replaced, some new, some gone.
    kept = [f for f in first if rnd.random() < 0.6]
    changed = by_day(kept + [replace(f, amount=f.amount + Decimal("0.0051")) for f in second[:5]]
                     + second[5:])
    assert memo.build(changed, mapping_a) == build_journals(changed, mapping_a)
    assert memo.build(changed, mapping_b) == build_journals(changed, mapping_b)
    # Flows that interleave days are built whole, problems in the order they were met.
    shuffled = list(changed)
    rnd.shuffle(shuffled)
    assert memo.build(shuffled, mapping_b) == build_journals(shuffled, mapping_b)


def test_unchanged_days_keep_their_journals_and_changed_ones_are_rebuilt():
    flows = by_day([CostFlow.of(entry(MovementType.ADDITION, "10.00", day=date(2026, 11, d)))
                    for d in (2, 3, 4)])
    memo = JournalMemo()
    first = memo.build(flows, mapping()).journals
    edited = flows[:1] + [replace(flows[1], amount=Decimal("11.00"))] + flows[2:]
    second = memo.build(edited, mapping()).journals
    assert second[0] is first[0] and second[2] is first[2]
    assert second[1] is not first[1] and second[1].debit_total == Decimal("11.00")
    other = memo.build(edited, mapping(tracking=False)).journals
    assert all(a is not b for a, b in zip(other, second, strict=True))


def test_problems_come_in_the_order_build_journals_gives_them():
    """Every unmapped account first (in the order met), then what balancing found, by day."""
    partial = {k: v for k, v in ACCOUNTS.items() if k not in (Stage.ADDITIVES, Stage.LOSSES)}
    thirds = [CostFlow.of(entry(MovementType.ADDITION, amount, day=date(2026, 11, 2), from_stage=stage))
              for amount, stage in (("0.3333", Stage.DRY_GOODS), ("0.3333", Stage.FRUIT),
                                    ("0.3334", Stage.OVERHEAD))]
    flows = by_day(thirds + [
        CostFlow.of(entry(MovementType.LOSS, "1.00", day=date(2026, 11, 3))),
        CostFlow.of(entry(MovementType.ADDITION, "1.00", day=date(2026, 11, 4))),
    ])
    m = mapping(stage_accounts=partial, rounding="")
    expected = build_journals(flows, m)
    assert [p.subject for p in expected.problems] == ["bulk_wine@losses", "additive@additives",
                                                      "rounding"]
    memo = JournalMemo()
    assert memo.build(flows, m) == expected
    assert memo.build(flows, m) == expected


# ------------------------------------------------------------------ the preview on the demo winery


@pytest.fixture
def winery(clean_db, session_factory, monkeypatch):
    monkeypatch.setattr(sqlalchemy_documents, "FLOW_CACHE_MIN_ENTRIES", 0)
    _FlowCache._caches.clear()
    today = date.today() - timedelta(days=1)
    seed(clean_db, seed=11, documents=400, cost_entries=4000, today=today)
    with session_factory() as session:
        SqlSettingsStore(session).save_mapping(DEMO_MAPPING)
        session.commit()
    return today


def test_every_listed_journal_shows_what_its_detail_view_computes(winery, uow_factory):
    preview = PreviewUnsynced(uow_factory, OfflineGateway(), SystemClock())
    detail = GetJournalDetail(uow_factory, OfflineGateway())
    listed = preview.execute(PreviewRequest(winery))
    assert listed.journals == preview.execute(PreviewRequest(winery)).journals  # cached
    assert len(listed.journals) > 50
    for summary in listed.journals:
        journal = detail.execute(JournalDetailRequest(summary.key, winery)).journal
        assert journal.is_balanced
        assert (summary.debit_total, summary.line_count, summary.entry_count, summary.narration) == (
            journal.debit_total, len(journal.lines), journal.entry_count, journal.narration)


def test_the_cached_preview_is_the_uncached_preview(winery, uow_factory, monkeypatch):
    preview = PreviewUnsynced(uow_factory, OfflineGateway(), SystemClock())
    closing = winery - timedelta(days=random.Random(3).randint(0, 200))
    cached = [preview.execute(PreviewRequest(d)) for d in (winery, closing)]
    monkeypatch.setattr(sqlalchemy_documents, "FLOW_CACHE_MIN_ENTRIES", 10**9)
    assert [preview.execute(PreviewRequest(d)) for d in (winery, closing)] == cached
