"""ValueInventory: the stock at cost at a closing date, and the cost of goods sold in a period.

Read-only: it reads the ERP (what it holds, synced or not) and the mapping; it never commits
and never calls Xero. Reconciliation ties each account figure to Xero's trial balance.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from ..domain.errors import InvalidRequest
from ..domain.inventory import MATERIAL_STAGES, InventoryValuation, value_inventory
from .ports import UnitOfWorkFactory

# Settings preference: the last day of the financial year, MM-DD (Australia: 30 June).
FINANCIAL_YEAR_END = "financial_year_end"
DEFAULT_YEAR_END = "06-30"


@dataclass(frozen=True)
class ValuationRequest:
    closing_date: date
    # Cost of goods sold is reported from this day to the closing date; by default from the
    # first day of the financial year the closing date falls in (year to date).
    period_start: date | None = None


@dataclass(frozen=True)
class ValuationResult:
    valuation: InventoryValuation
    period_label: str  # "financial year to date" or "period asked for"


class ValueInventory:
    def __init__(self, uow: UnitOfWorkFactory, default_currency: str = "AUD") -> None:
        self.uow = uow
        self.default_currency = default_currency

    def execute(self, request: ValuationRequest) -> ValuationResult:
        with self.uow() as uow:
            mapping = uow.settings.mapping()
            start = request.period_start
            label = "period asked for"
            if start is None:
                start = financial_year_start(request.closing_date, uow.settings.preference(
                    FINANCIAL_YEAR_END, DEFAULT_YEAR_END))
                label = "financial year to date"
            if start > request.closing_date:
                raise InvalidRequest(
                    f"The period starts on {start.isoformat()}, after the closing date "
                    f"{request.closing_date.isoformat()}; choose a start on or before it.")
            stock = uow.documents.stock_balances(request.closing_date)
            period = uow.documents.stock_balances(request.closing_date, since=start)
            codes = sorted({code for stage in MATERIAL_STAGES
                            if (code := mapping.stage_accounts.get(stage))})
            purchases = uow.documents.purchases_by_account(codes, request.closing_date) if codes else []
        valuation = value_inventory(stock, period, purchases, mapping, request.closing_date, start,
                                    self.default_currency)
        return ValuationResult(valuation, label)


def financial_year_start(day: date, year_end: str) -> date:
    """The first day of the financial year `day` falls in, for a year ending on MM-DD."""
    try:
        month, last = (int(part) for part in year_end.strip().split("-"))
        date(2000, month, last)  # a leap year: 02-29 is a day of the year
    except ValueError:
        raise InvalidRequest(
            f"The financial year end '{year_end}' in Settings is not a day of the year (MM-DD)."
        ) from None

    def end_in(year: int) -> date:
        return date(year, month, min(last, calendar.monthrange(year, month)[1]))

    end = end_in(day.year)
    return (end if day > end else end_in(day.year - 1)) + timedelta(days=1)
