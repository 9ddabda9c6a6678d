"""How ERP stages, cost categories and batch attributes become Xero accounts and tracking."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .costs import CostCategory, Stage
from .documents import Kind, TrackingRef

MAX_TRACKING_CATEGORIES = 2  # Xero allows at most two tracking categories per line
# The longest values the mapping keeps: Xero's own limits (Account.Code is at most 10
# characters, a tracking category name 100), and 40 for a tax type (Xero's are far shorter;
# the plugin's table holds 40).
MAX_ACCOUNT_CODE = 10
MAX_TAX_TYPE = 40
MAX_TRACKING_NAME = 100
MAX_PAYMENT_DAYS = 366


@dataclass(frozen=True)
class TrackingMapping:
    """Batch attribute (e.g. 'vintage') → Xero tracking category name (e.g. 'Vintage')."""

    attribute: str
    category: str


@dataclass(frozen=True)
class TradeDefaults:
    """Account and tax type for a trade document line that the ERP left without one, and the
    payment terms that date a document the ERP left without a due date."""

    account_code: str = ""
    tax_type: str = ""
    payment_days: int | None = None  # due this many days after the document's date


@dataclass(frozen=True)
class AccountMapping:
    stage_accounts: Mapping[Stage, str] = field(default_factory=dict)
    # A category moving through a stage can post to its own account, e.g. labour absorbed
    # credited to "Labour recovered" rather than the stage's general overhead account.
    category_overrides: Mapping[tuple[Stage, CostCategory], str] = field(default_factory=dict)
    tracking: tuple[TrackingMapping, ...] = ()
    rounding_account: str = ""
    journal_tax_type: str = ""
    trade_defaults: Mapping[Kind, TradeDefaults] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.tracking) > MAX_TRACKING_CATEGORIES:
            raise ValueError("Xero allows at most two tracking categories per line")

    def account_for(self, stage: Stage, category: CostCategory) -> str | None:
        return self.category_overrides.get((stage, category)) or self.stage_accounts.get(stage)

    def tracking_refs(self, attributes: tuple[tuple[str, str], ...]) -> tuple[TrackingRef, ...]:
        values = dict(attributes)
        return tuple(
            TrackingRef(t.category, values[t.attribute])
            for t in self.tracking
            if values.get(t.attribute)
        )

    def defaults_for(self, kind: Kind) -> TradeDefaults:
        return self.trade_defaults.get(kind, TradeDefaults())

    def account_codes(self) -> set[str]:
        """Every account code the mapping may send, for checking against Xero's chart."""
        codes = set(self.stage_accounts.values()) | set(self.category_overrides.values())
        codes |= {d.account_code for d in self.trade_defaults.values()}
        if self.rounding_account:
            codes.add(self.rounding_account)
        return {c for c in codes if c}
