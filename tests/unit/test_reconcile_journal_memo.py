"""Reconcile reuses the cost journals it built, and their lines as sums, while the flows are the
very same objects (as the SQL adapter hands them back between calls); what it reuses must be
what building them afresh gives, whichever journals failed since and whatever the financial
year's start."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from accounts_sync.application import reconcile as reconcile_module
from accounts_sync.application.reconcile import Reconcile, journal_line_sums, summed_line_sums
from accounts_sync.domain.costs import CostFlow, MovementType
from accounts_sync.domain.documents import TrackingRef
from accounts_sync.domain.journals import build_journals
from accounts_sync.domain.reconciliation import (
    AccountInfo,
    Chart,
    ErpState,
    LineSum,
    ReconcileInput,
    reconcile,
)
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
    found: list[LineSum] = []
    for journal in build_journals(UNSYNCED, mapping()).journals:
        state = ErpState.FAILED if journal.key in failed else ErpState.NOT_SYNCED
        found.extend(journal_line_sums(journal, state, start))
    synced: list[LineSum] = []
    for journal in build_journals(SYNCED, mapping()).journals:
        synced.extend(journal_line_sums(journal, ErpState.SYNCED, start))
    return Counter(summed_line_sums(found) + summed_line_sums(synced))


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


def test_line_sums_added_up_reconcile_as_the_lines_one_by_one():
    """summed_line_sums: the reconciliation of the sums is the reconciliation of the lines,
    down to accounts whose lines net to nothing (still listed)."""
    chart = Chart(accounts={"4000": AccountInfo("4000", "Wine sales", "REVENUE"),
                            "1440": AccountInfo("1440", "Bulk wine WIP", "INVENTORY"),
                            "1420": AccountInfo("1420", "Additives", "INVENTORY"),
                            "820": AccountInfo("820", "GST", "CURRLIAB")},
                  tax="820", inventory=frozenset({"1440", "1420"}))
    rnd = random.Random(5)
    tracking = [(), (TrackingRef("Vintage", "2025"),), (TrackingRef("Brand", "Estate"),)]
    lines = [LineSum("", rnd.choice(["synced", "failed", "not_synced"]), rnd.random() < 0.3,
                     rnd.choice(["4000", "1440", "1420"]), rnd.choice(tracking),
                     Decimal(rnd.choice(["10.00", "-10.00", "3.33", "0.00"])))
             for _ in range(300)]
    # A group whose lines net to nothing, and one whose lines are all nothing.
    lines += [LineSum("", "synced", False, "1420", (), Decimal("5.00")),
              LineSum("", "synced", False, "1420", (), Decimal("-5.00")),
              LineSum("", "failed", True, "4000", (), Decimal("0.00")),
              LineSum("", "failed", True, "4000", (), Decimal("0.00"))]
    summed = summed_line_sums(lines)
    assert len(summed) < len(lines) // 3

    def reconciled(erp_lines):
        data = ReconcileInput(date(2026, 6, 30), date(2025, 7, 1), chart, trial_balance={},
                              notes=[], ledger_complete=True)
        data.erp_lines = list(erp_lines)
        return reconcile(data)

    assert reconciled(summed) == reconciled(lines)
    only_zero = [LineSum("", "synced", False, "1420", (), Decimal("5.00")),
                 LineSum("", "synced", False, "1420", (), Decimal("-5.00"))]
    assert [a.code for a in reconciled(summed_line_sums(only_zero)).accounts] == ["1420"]
