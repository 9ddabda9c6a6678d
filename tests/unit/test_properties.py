"""Property-based checks of the two promises the books depend on."""

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from accounts_sync.application.execute_run import ExecuteRun
from accounts_sync.application.sync_documents import SyncDocuments, SyncDocumentsRequest
from accounts_sync.domain.costs import CostFlow, MovementType
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.journals import build_journals
from accounts_sync.domain.sync import SyncState
from tests.builders import documents, entry, mapping
from tests.fakes import FakeClock, FakeGateway, InMemoryStore, uow_factory

amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("99999"), places=4)
movements = st.sampled_from([MovementType.ADDITION, MovementType.BOTTLING, MovementType.CRUSH,
                             MovementType.LOSS, MovementType.LABOUR, MovementType.DISPATCH])
entries = st.lists(
    st.builds(
        lambda m, a, d, v, b: entry(m, str(a), date(2026, 11, 1) + timedelta(days=d), vintage=v,
                                    brand=b),
        movements, amounts, st.integers(0, 3), st.sampled_from(["2024", "2025"]),
        st.sampled_from(["Estate", "Reserve"]),
    ),
    min_size=1, max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(entries, st.booleans())
def test_any_cost_entries_build_journals_that_balance_to_the_cent(es, tracking):
    build = build_journals([CostFlow.of(e) for e in es], mapping(tracking=tracking))
    assert build.problems == ()
    for journal in build.journals:
        assert sum(line.amount for line in journal.lines) == 0
        assert all(line.amount == line.amount.quantize(Decimal("0.01")) for line in journal.lines)
        # The debit side equals the entries' total within half a cent per line.
        exact = sum(e.amount for e in es if (e.date, e.movement_type) ==
                    (journal.date, journal.movement_type))
        assert abs(journal.debit_total - exact) <= Decimal("0.005") * len(journal.lines)
        # Every entry is behind a line, except those of a batch whose cost rounds to 0.00
        # (no line can carry it).
        behind = {e.erp_id for line in journal.lines for e in line.entries}
        mine = [e for e in es if (e.date, e.movement_type) == (journal.date, journal.movement_type)]
        missing: dict[tuple, Decimal] = {}
        for e in mine:
            if e.erp_id not in behind:
                key = e.tracking if tracking else ()
                missing[key] = missing.get(key, Decimal(0)) + e.amount
        assert behind <= {e.erp_id for e in mine}
        assert all(abs(amount) < Decimal("0.005") for amount in missing.values())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.integers(0, 29), max_size=10), min_size=1, max_size=5))
def test_any_sequence_of_failures_and_retries_syncs_each_document_exactly_once(rounds):
    store = InMemoryStore()
    store.state.mapping = mapping()
    docs = documents(30)
    store.add(*docs)
    gateway, clock = FakeGateway(), FakeClock()
    uow = uow_factory(store)
    sync = SyncDocuments(uow, clock, ExecuteRun(uow, gateway, clock, batch_size=7))
    for failing in [*rounds, set()]:
        gateway.fail_elements = {docs[i].erp_id: "refused" for i in failing}
        sync.execute(SyncDocumentsRequest(Kind.SALES_ORDERS, clock.today(), "tester"))
    created = [o.erp_id for o in gateway.created(Kind.SALES_ORDERS)]
    assert sorted(created) == sorted(d.erp_id for d in docs)
    assert all(store.record(Kind.SALES_ORDERS, d.erp_id).state is SyncState.SYNCED for d in docs)
