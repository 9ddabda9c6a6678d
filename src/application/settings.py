"""GetSettings / SaveMapping: the account mapping, checked against the connected Xero chart."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..domain.costs import Stage
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import MappingRefused, Problem
from ..domain.mapping import AccountMapping
from .common import read_chart
from .ports import AccountingGateway, ChartOfAccounts, UnitOfWorkFactory

# Which Xero account types make sense where (Xero's Account.Type values).
BALANCE_SHEET = {"INVENTORY", "CURRENT", "NONCURRENT", "FIXED", "CURRLIAB", "TERMLIAB", "EQUITY"}
COSTS = {"DIRECTCOSTS", "EXPENSE", "OVERHEADS"}
INCOME = {"REVENUE", "SALES", "OTHERINCOME"}

STAGE_TYPES: dict[Stage, set[str]] = {
    Stage.FRUIT: BALANCE_SHEET,
    Stage.ADDITIVES: BALANCE_SHEET,
    Stage.DRY_GOODS: BALANCE_SHEET,
    Stage.BULK_WINE: BALANCE_SHEET,
    Stage.FINISHED_GOODS: BALANCE_SHEET,
    Stage.COGS: COSTS,
    Stage.LOSSES: COSTS,
    Stage.OVERHEAD: COSTS | INCOME,
}
TRADE_TYPES: dict[Kind, set[str]] = {
    Kind.SALES_ORDERS: INCOME,
    Kind.PURCHASE_ORDERS: BALANCE_SHEET | COSTS,
    Kind.REFUNDS: INCOME,
}


@dataclass(frozen=True)
class SettingsView:
    mapping: AccountMapping
    chart: ChartOfAccounts | None
    warnings: tuple[Problem, ...]


class GetSettings:
    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway) -> None:
        self.uow = uow
        self.gateway = gateway

    def execute(self) -> SettingsView:
        chart, unchecked = chart_with_tracking(self.gateway)
        with self.uow() as uow:
            mapping = uow.settings.mapping()
        return SettingsView(mapping, chart, (unchecked,) if unchecked else ())


class SaveMapping:
    """Refuses the whole mapping, with every reason at once, if any account would not work."""

    def __init__(self, uow: UnitOfWorkFactory, gateway: AccountingGateway) -> None:
        self.uow = uow
        self.gateway = gateway

    def execute(self, mapping: AccountMapping, changed_by: str) -> AccountMapping:
        chart, _ = chart_with_tracking(self.gateway)
        problems = mapping_problems(mapping, chart)
        if problems:
            raise MappingRefused(problems)
        with self.uow() as uow:
            uow.settings.save_mapping(mapping)
            uow.settings.set_preference("mapping_changed_by", changed_by)
            uow.commit()
        return mapping


def chart_with_tracking(gateway: AccountingGateway) -> tuple[ChartOfAccounts | None, Problem | None]:
    chart, unchecked = read_chart(gateway)
    if chart is not None:
        chart = replace(chart, tracking=gateway.tracking_categories())
    return chart, unchecked


def mapping_problems(mapping: AccountMapping, chart: ChartOfAccounts | None) -> list[Problem]:
    problems: list[Problem] = []
    if not mapping.rounding_account:
        problems.append(Problem("no_rounding_account",
                                "Choose a rounding account: journals need one for cent residues.",
                                "rounding"))
    if chart is None:
        return problems

    def check(code: str, allowed: set[str] | None, what: str) -> None:
        if not code:
            return
        account = chart.account(code)
        if account is None:
            problems.append(Problem("unknown_account",
                                    f"{what}: account {code} does not exist in Xero.", code))
        elif not account.is_active:
            problems.append(Problem("archived_account",
                                    f"{what}: account {code} ({account.name}) is archived in "
                                    f"Xero; choose an active account.", code))
        elif allowed is not None and account.type not in allowed:
            problems.append(Problem("wrong_account_type",
                                    f"{what}: account {code} ({account.name}) is a "
                                    f"{account.type.lower()} account, which cannot hold this; "
                                    f"choose a {' or '.join(sorted(t.lower() for t in allowed))} "
                                    f"account.", code))

    for stage, code in mapping.stage_accounts.items():
        check(code, STAGE_TYPES[stage], stage.label)
    for (stage, category), code in mapping.category_overrides.items():
        check(code, STAGE_TYPES[stage], f"{category.label} through {stage.label.lower()}")
    check(mapping.rounding_account, None, "Rounding")
    taxes = {t.tax_type for t in chart.tax_rates}
    for kind in TRADE_KINDS:
        defaults = mapping.defaults_for(kind)
        check(defaults.account_code, TRADE_TYPES[kind], f"Default account for {kind.label.lower()}")
        if defaults.tax_type and taxes and defaults.tax_type not in taxes:
            problems.append(Problem("unknown_tax_type",
                                    f"Tax type {defaults.tax_type} for {kind.label.lower()} does "
                                    f"not exist in Xero.", defaults.tax_type))
    categories = {c.name for c in chart.tracking}
    for tracking in mapping.tracking:
        if categories and tracking.category not in categories:
            problems.append(Problem("unknown_tracking",
                                    f"Tracking category '{tracking.category}' does not exist in "
                                    f"Xero; create it there or choose another.", tracking.category))
    return problems
