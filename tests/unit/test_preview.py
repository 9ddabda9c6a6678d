from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.application.journal_detail import GetJournalDetail, JournalDetailRequest
from accounts_sync.application.list_unsynced import ListRequest, ListUnsynced
from accounts_sync.application.preview_unsynced import PreviewRequest, PreviewUnsynced
from accounts_sync.application.sync_documents import SyncDocumentsRequest
from accounts_sync.domain.costs import MovementType, Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import ClosingDateInFuture, InvalidRequest, JournalNotFound
from tests.builders import ACCOUNTS, document, documents, entry, mapping
from tests.fakes import default_chart, edited

TODAY = date(2026, 11, 26)


@pytest.fixture
def preview(uow, gateway, clock):
    return PreviewUnsynced(uow, gateway, clock)


def test_counts_and_totals_per_kind_and_the_journal_list(store, preview):
    store.add(*documents(3, amount="100.00"))  # 110.00 each with GST
    store.add(document(Kind.PURCHASE_ORDERS, amount="40.00"))
    store.add(document(Kind.SALES_ORDERS, day=date(2026, 11, 27)))  # after the closing date
    store.cost_entries += [entry(MovementType.ADDITION, "10"), entry(MovementType.BOTTLING, "5")]
    result = preview.execute(PreviewRequest(TODAY))
    assert result.kinds[Kind.SALES_ORDERS].count == 3
    assert result.kinds[Kind.SALES_ORDERS].total == Decimal("330.00")
    assert result.kinds[Kind.PURCHASE_ORDERS].total == Decimal("44.00")
    assert result.kinds[Kind.REFUNDS].count == 0
    assert [j.key for j in result.journals] == ["2026-11-02-addition", "2026-11-02-bottling"]
    assert result.journal_total == Decimal("15.00")
    assert result.currency == "AUD" and result.problems == () and not result.is_empty


def test_all_problems_are_gathered_before_any_sync(store, gateway, preview, sync, clock):
    gateway.chart_ = default_chart(lock_date=date(2026, 3, 31))
    store.state.mapping = mapping(
        stage_accounts=dict(
            {k: v for k, v in ACCOUNTS.items() if k is not Stage.LOSSES},
            **{Stage.ADDITIVES: "1460"},
        )
    )
    synced = document(day=date(2026, 5, 1))
    store.add(synced)
    store.cost_entries += [entry(MovementType.LOSS), entry(MovementType.ADDITION)]
    sync.execute(SyncDocumentsRequest(Kind.SALES_ORDERS, TODAY, "accountant"))
    store.add(document(day=date(2026, 3, 1)))
    clock.advance(hours=1)
    edited(store, synced, clock.now())

    result = preview.execute(PreviewRequest(TODAY))
    codes = {p.code for p in result.problems}
    assert {"unmapped_account", "archived_account"} <= codes
    # A locked day never blocks the rest: it is carried, and the preview says so.
    assert [w.code for w in result.warnings] == ["documents_locked"]
    assert "will be dated 2026-04-01" in result.warnings[0].message
    assert [(c.number, c.action.value) for c in result.corrections.corrections] == [
        (synced.number, "update")]


def test_preview_works_without_xero_and_says_what_was_not_checked(store, gateway, preview):
    gateway.connected = False
    store.add(document())
    result = preview.execute(PreviewRequest(TODAY))
    assert result.kinds[Kind.SALES_ORDERS].count == 1
    assert "not connected" in result.warnings[0].message


def test_future_closing_dates_are_refused(preview):
    with pytest.raises(ClosingDateInFuture, match="is in the future"):
        preview.execute(PreviewRequest(date(2026, 11, 27)))


def test_lists_page_through_unsynced_documents_with_failures_shown(store, uow, gateway, sync):
    docs = documents(7)
    store.add(*docs)
    gateway.fail_elements[docs[0].erp_id] = "Invoice # must be unique."
    sync.execute(SyncDocumentsRequest(Kind.SALES_ORDERS, TODAY, "accountant"))
    store.add(*documents(5))
    lister = ListUnsynced(uow)
    first = lister.execute(ListRequest(Kind.SALES_ORDERS, TODAY, page_size=4))
    assert first.totals.count == 6 and len(first.page.items) == 4
    second = lister.execute(ListRequest(Kind.SALES_ORDERS, TODAY, first.page.next_cursor, 4))
    assert len(second.page.items) == 2 and second.page.next_cursor is None
    assert [r.last_error for r in first.failed] == ["Invoice # must be unique."]
    with pytest.raises(InvalidRequest):
        lister.execute(ListRequest(Kind.SALES_ORDERS, TODAY, page_size=0))


def test_journal_detail_shows_lines_and_the_costs_behind_them(store, uow, gateway):
    a, b = entry(amount="10.005"), entry(amount="2.50", vintage="2024")
    store.cost_entries += [a, b]
    detail = GetJournalDetail(uow, gateway).execute(
        JournalDetailRequest("2026-11-02-addition", TODAY))
    assert detail.journal.is_balanced
    assert detail.account_names["1440"] == "Bulk wine WIP"
    behind = [e for line in detail.journal.lines for e in line.entries]
    assert {e.erp_id for e in behind} == {a.erp_id, b.erp_id}
    assert all(e.operation.url for e in behind)
    for bad in ("nonsense", "2026-11-02-addition-x", "2026-12-01-addition"):
        with pytest.raises(JournalNotFound):
            GetJournalDetail(uow, gateway).execute(JournalDetailRequest(bad, TODAY))
