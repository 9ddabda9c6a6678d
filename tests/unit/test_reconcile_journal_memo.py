"""Reconcile reuses the cost journals it built, and their lines as sums, while the flows are the
very same objects (as the SQL adapter hands them back between calls); what it reuses must be
what building them afresh gives, whichever journals failed since and whatever the financial
year's start."""

from __future__ import annotations

from collections import Counter
from datetime import date
from types import SimpleNamespace

from accounts_sync.application import reconcile as reconcile_module
from accounts_sync.application.reconcile import Reconcile, journal_line_sums
from accounts_sync.domain.costs import CostFlow, MovementType
from accounts_sync.domain.journals import build_journals
from accounts_sync.domain.reconciliation import ErpState
from tests.builders import entry, mapping

DAYS = [date(2026, 7, 2), date(2026, 9, 30), date(2026, 11, 2)]


def _flows(movement: MovementType) -> list[CostFlow]:
    return [CostFlow.of(entry(movement, amount, day=day))
            for day in DAYS for amount in ("10.00", "3.33")]


UNSYNCED = _flows(MovementType.ADDITION)
SYNCED = _flows(MovementType.BOTTLING)


def uow_with(failed: set[str]) -> SimpleNamespace:
    """A unit of work whose documents hand back the same flow objects on every call."""
    return SimpleNamespace(
        ledger=SimpleNamespace(failed=lambda kind, limit: [SimpleNamespace(erp_id=k) for k in failed]),
        documents=SimpleNamespace(cost_flows=lambda closing: UNSYNCED,
                                  synced_cost_flows=lambda closing: SYNCED))


def afresh(failed: set[str], start: date) -> Counter:
    found: Counter = Counter()
    for journal in build_journals(UNSYNCED, mapping()).journals:
        state = ErpState.FAILED if journal.key in failed else ErpState.NOT_SYNCED
        found.update(journal_line_sums(journal, state, start))
    for journal in build_journals(SYNCED, mapping()).journals:
        found.update(journal_line_sums(journal, ErpState.SYNCED, start))
    return found


def test_the_journal_sums_reused_are_those_built_afresh():
    reconcile = Reconcile(uow=None, gateway=None)  # type: ignore[arg-type]
    keys = [j.key for j in build_journals(UNSYNCED, mapping()).journals]
    steps = [(set(), date(2026, 7, 1)), (set(), date(2026, 7, 1)), ({keys[0]}, date(2026, 7, 1)),
             ({keys[0]}, date(2026, 10, 1)), ({keys[1], keys[2]}, date(2026, 10, 1)),
             (set(), date(2026, 10, 1)), (set(), date(2026, 7, 1))]
    builds = []
    for failed, start in steps:
        notes: list[str] = []
        found = Counter(reconcile._journal_lines(uow_with(failed), mapping(), DAYS[-1], start, notes))
        assert found == afresh(failed, start), (failed, start)
        assert {s.state for s in found} >= {"synced", "not_synced"}
        builds.append(reconcile_module._UNSYNCED_JOURNALS.build(UNSYNCED, mapping()))
    assert all(b is builds[0] for b in builds), "the same flows: the same build, reused"
