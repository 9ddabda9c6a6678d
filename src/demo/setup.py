"""Prepare the demo database: host tables, the plugin's migrations, the winery, the mapping.

Idempotent: `make demo` runs it on every start and it only fills what is missing.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, inspect

from ..adapters.erp_sql.engine import make_session_factory
from ..adapters.erp_sql.host_schema import host_metadata
from ..adapters.erp_sql.migrate import upgrade
from ..adapters.erp_sql.sqlalchemy_settings import SqlSettingsStore
from ..domain.costs import CostCategory, Stage
from ..domain.documents import Kind
from ..domain.mapping import AccountMapping, TrackingMapping, TradeDefaults
from .seed import seed_if_empty

DEMO_MAPPING = AccountMapping(
    stage_accounts={
        Stage.FRUIT: "1410",
        Stage.ADDITIVES: "1420",
        Stage.DRY_GOODS: "1430",
        Stage.BULK_WINE: "1440",
        Stage.FINISHED_GOODS: "1450",
        Stage.COGS: "5000",
        Stage.LOSSES: "5100",
        Stage.OVERHEAD: "5900",
        Stage.OPENING_BALANCES: "3000",
    },
    category_overrides={(Stage.OVERHEAD, CostCategory.BARREL): "5900"},
    tracking=(TrackingMapping("vintage", "Vintage"), TrackingMapping("brand", "Brand")),
    rounding_account="860",
    journal_tax_type="BASEXCLUDED",
    trade_defaults={
        Kind.SALES_ORDERS: TradeDefaults("4000", "OUTPUT"),
        Kind.PURCHASE_ORDERS: TradeDefaults("1430", "INPUT"),
        Kind.REFUNDS: TradeDefaults("4000", "OUTPUT"),
    },
)


class OutdatedDemo(RuntimeError):
    """The demo database was seeded by an older demo winery than this code reads."""


def prepare_demo(engine: Engine, today: date | None = None, scale: float = 1.0) -> None:
    _refuse_outdated(engine)
    host_metadata.create_all(engine)
    upgrade(engine)
    seed_if_empty(engine, today=today, scale=scale)
    session_factory = make_session_factory(engine)
    with session_factory() as session:
        settings = SqlSettingsStore(session)
        if not settings.mapping().stage_accounts:
            settings.save_mapping(DEMO_MAPPING)
            # The demo's bookkeeper gets the alerts (in the local mail catcher: /mail).
            settings.set_preference("alert_addresses", "accounts@barossa-ridge.example")
            session.commit()


def _refuse_outdated(engine: Engine) -> None:
    inspector = inspect(engine)
    if not inspector.has_table("erp_cost_entries"):
        return
    columns = {c["name"] for c in inspector.get_columns("erp_cost_entries")}
    if not {"litres", "cases", "product_id"} <= columns:
        raise OutdatedDemo(
            "The demo database was made by an older version of the demo winery (its cost "
            "entries have no litres or cases). Delete the demo's instance directory (its "
            "database and xero-sandbox.json) and start the demo again: it seeds a new winery."
        )
