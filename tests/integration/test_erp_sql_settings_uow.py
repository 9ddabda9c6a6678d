"""SqlSettingsStore and SqlUnitOfWork against real SQLite and PostgreSQL databases."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from accounts_sync.adapters.erp_sql.engine import make_engine, make_session_factory
from accounts_sync.adapters.erp_sql.errors import DatabaseUnavailable
from accounts_sync.adapters.erp_sql.links import ErpLinks
from accounts_sync.adapters.erp_sql.sqlalchemy_uow import SqlUnitOfWork
from accounts_sync.domain.costs import CostCategory, Stage
from accounts_sync.domain.documents import Kind
from accounts_sync.domain.errors import AccountsSyncError
from accounts_sync.domain.mapping import AccountMapping, TrackingMapping, TradeDefaults

MAPPING = AccountMapping(
    stage_accounts={
        Stage.FRUIT: "1410", Stage.ADDITIVES: "1420", Stage.DRY_GOODS: "1430", Stage.BULK_WINE: "1440",
        Stage.FINISHED_GOODS: "1450", Stage.COGS: "5000", Stage.LOSSES: "5100", Stage.OVERHEAD: "5900",
    },
    category_overrides={(Stage.OVERHEAD, CostCategory.LABOUR): "5910",
                        (Stage.OVERHEAD, CostCategory.BARREL): "5920"},
    tracking=(TrackingMapping("vintage", "Vintage"), TrackingMapping("brand", "Brand")),
    rounding_account="8600",
    journal_tax_type="BASEXCLUDED",
    trade_defaults={Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT"),
                    Kind.PURCHASE_ORDERS: TradeDefaults("1430", "INPUT")},
)


def test_an_empty_database_has_an_empty_mapping(uow_factory):
    with uow_factory() as uow:
        assert uow.settings.mapping() == AccountMapping()


def test_mapping_round_trips_and_is_replaced_as_a_whole(uow_factory):
    with uow_factory() as uow:
        uow.settings.save_mapping(MAPPING)
        uow.commit()
    with uow_factory() as uow:
        assert uow.settings.mapping() == MAPPING
        smaller = AccountMapping(
            stage_accounts={Stage.COGS: "5000"},
            tracking=(TrackingMapping("brand", "Label"), TrackingMapping("vintage", "Year")),
        )
        uow.settings.save_mapping(smaller)
        uow.commit()
    with uow_factory() as uow:
        loaded = uow.settings.mapping()
    assert loaded == smaller
    assert [t.attribute for t in loaded.tracking] == ["brand", "vintage"]  # order kept


def test_preferences(uow_factory):
    with uow_factory() as uow:
        assert uow.settings.preference("journal_mode", "DRAFT") == "DRAFT"
        uow.settings.set_preference("journal_mode", "POSTED")
        uow.commit()
    with uow_factory() as uow:
        uow.settings.set_preference("journal_mode", "DRAFT")
        uow.settings.set_preference("page_size", "")
        uow.commit()
    with uow_factory() as uow:
        assert uow.settings.preference("journal_mode") == "DRAFT"
        assert uow.settings.preference("page_size", "50") == ""


def test_unit_of_work_rolls_back_unless_committed(uow_factory):
    with uow_factory() as uow:
        uow.ledger.set_last_synced_up_to(Kind.REFUNDS, date(2026, 3, 31))
        uow.settings.set_preference("journal_mode", "POSTED")
    with uow_factory() as uow:
        assert uow.ledger.last_synced_up_to(Kind.REFUNDS) is None
        assert uow.settings.preference("journal_mode") == ""


def test_unit_of_work_rolls_back_on_error_and_always_closes(uow_factory):
    with pytest.raises(RuntimeError), uow_factory() as uow:
        uow.settings.set_preference("journal_mode", "POSTED")
        session: Session = uow.session
        raise RuntimeError("boom")
    assert not session.in_transaction()
    with uow_factory() as uow:
        assert uow.settings.preference("journal_mode") == ""


def test_work_after_commit_is_rolled_back(uow_factory):
    with uow_factory() as uow:
        uow.settings.set_preference("a", "kept")
        uow.commit()
        uow.settings.set_preference("b", "dropped")
    with uow_factory() as uow:
        assert (uow.settings.preference("a"), uow.settings.preference("b")) == ("kept", "")


@pytest.mark.parametrize("url", [
    "sqlite:////nonexistent-dir/for/accounts_sync.sqlite3",
    "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2",
])
def test_an_unreachable_database_is_a_plain_error(url):
    engine = make_engine(url)
    try:
        with pytest.raises(DatabaseUnavailable) as unavailable:
            with SqlUnitOfWork(make_session_factory(engine), ErpLinks("http://erp.test")) as uow:
                uow.ledger.last_synced_up_to(Kind.SALES_ORDERS)
    finally:
        engine.dispose()
    assert isinstance(unavailable.value, AccountsSyncError)
    assert unavailable.value.code == "database_unavailable"
    assert "cannot be reached" in unavailable.value.message


def test_a_mistake_in_sql_is_not_reported_as_an_unreachable_database(uow_factory):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError) as mistake, uow_factory() as uow:
        uow.session.execute(text("SELECT no_such_column FROM accounts_sync_preferences"))
    assert not isinstance(mistake.value, DatabaseUnavailable)
