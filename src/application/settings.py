"""GetSettings / SaveMapping: the account mapping, checked against the connected Xero chart."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..domain.costs import Stage
from ..domain.documents import TRADE_KINDS, Kind
from ..domain.errors import MappingRefused, Problem
from ..domain.mapping import (
    MAX_ACCOUNT_CODE,
    MAX_PAYMENT_DAYS,
    MAX_TAX_TYPE,
    MAX_TRACKING_NAME,
    AccountMapping,
)
from .checks import Checks
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
    # The other side of the stock counted at go-live: equity, or a clearing account.
    Stage.OPENING_BALANCES: BALANCE_SHEET,
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

    def execute(self, mapping: AccountMapping, changed_by: str,
                unreadable: list[Problem] | None = None) -> AccountMapping:
        """`unreadable`: what the form could not even read (refused together with the rest)."""
        # Checked against Xero as it is now: someone may have just added the account there.
        self.gateway.forget_chart()
        chart, _ = chart_with_tracking(self.gateway)
        problems = list(unreadable or ()) + mapping_problems(mapping, chart)
        if problems:
            raise MappingRefused(problems)
        with self.uow() as uow:
            uow.settings.save_mapping(mapping)
            uow.settings.set_preference("mapping_changed_by", changed_by)
            uow.commit()
        return mapping


def chart_with_tracking(gateway: AccountingGateway) -> tuple[ChartOfAccounts | None, Problem | None]:
    """The chart, tracking categories included (the Xero gateway reads them with the chart)."""
    chart, unchecked = read_chart(gateway)
    if chart is not None and not chart.tracking:
        chart = replace(chart, tracking=gateway.tracking_categories())
    return chart, unchecked


def mapping_problems(mapping: AccountMapping, chart: ChartOfAccounts | None) -> list[Problem]:
    """Every field of the mapping against Xero's chart and what the plugin can store; each
    problem names its field (`Problem.field`) so the form can point at it."""
    problems: list[Problem] = []
    checks = Checks(chart, mapping)

    def too_long(value: str, limit: int, what: str, field: str) -> bool:
        if len(value) <= limit:
            return False
        shown = value[:20] + "…" if len(value) > 20 else value
        problems.append(Problem("too_long", f"{what}: '{shown}' is {len(value):,} characters long; "
                                f"it can be at most {limit}.", what, field=field))
        return True

    def check(code: str, allowed: set[str] | None, what: str, field: str) -> None:
        if not code or too_long(code, MAX_ACCOUNT_CODE, what, field) or chart is None:
            return
        account = chart.account(code)
        reason = checks.account(code)
        if reason:
            kind = "archived_account" if account and not account.is_active else (
                "unknown_account" if account is None else "reserved_account")
            problems.append(Problem(kind, f"{what}: {reason}", code, field=field))
        elif account and allowed is not None and account.type not in allowed:
            problems.append(Problem("wrong_account_type",
                                    f"{what}: account {code} ({account.name}) is a "
                                    f"{account.type.lower()} account, which cannot hold this; "
                                    f"choose a {' or '.join(sorted(t.lower() for t in allowed))} "
                                    f"account.", code, field=field))

    def check_tax(tax: str, what: str, field: str) -> None:
        if not tax or too_long(tax, MAX_TAX_TYPE, what, field):
            return
        reason = checks.tax_type(tax)
        if reason:
            problems.append(Problem("unknown_tax_type", f"{what}: {reason}", tax, field=field))

    if not mapping.rounding_account:
        problems.append(Problem("no_rounding_account",
                                "Choose a rounding account: journals need one for cent residues.",
                                "rounding", field="rounding_account"))
    for stage, code in mapping.stage_accounts.items():
        check(code, STAGE_TYPES[stage], stage.label, f"stage:{stage.value}")
    for (stage, category), code in mapping.category_overrides.items():
        check(code, STAGE_TYPES[stage], f"{category.label} through {stage.label.lower()}",
              f"override:{stage.value}:{category.value}")
    check(mapping.rounding_account, None, "Rounding", "rounding_account")
    check_tax(mapping.journal_tax_type, "Tax type on journal lines", "journal_tax_type")
    for kind in TRADE_KINDS:
        defaults = mapping.defaults_for(kind)
        check(defaults.account_code, TRADE_TYPES[kind], f"Default account for {kind.label.lower()}",
              f"default_account:{kind.value}")
        check_tax(defaults.tax_type, f"Default tax type for {kind.label.lower()}",
                  f"default_tax:{kind.value}")
        days = defaults.payment_days
        if days is not None and not 0 <= days <= MAX_PAYMENT_DAYS:
            problems.append(Problem("payment_terms",
                                    f"Payment terms for {kind.label.lower()}: {days} days is not "
                                    f"between 0 and {MAX_PAYMENT_DAYS}.", kind.value,
                                    field=f"payment_terms:{kind.value}"))
    categories = {c.name.casefold() for c in chart.tracking} if chart else set()
    for slot, tracking in enumerate(mapping.tracking, start=1):
        if too_long(tracking.category, MAX_TRACKING_NAME, f"Tracking category {slot}",
                    f"tracking_category:{slot}"):
            continue
        if chart is not None and tracking.category.casefold() not in categories:
            problems.append(Problem("unknown_tracking",
                                    f"Tracking category '{tracking.category}' does not exist in "
                                    f"Xero; create it there or choose another.", tracking.category,
                                    field=f"tracking_category:{slot}"))
    return problems
