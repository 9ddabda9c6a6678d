"""SettingsStore on the plugin's tables: the account mapping as rows, and preferences."""

from __future__ import annotations

import logging

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from ...domain.costs import CostCategory, Stage
from ...domain.documents import Kind
from ...domain.errors import InvalidRequest
from ...domain.mapping import AccountMapping, TrackingMapping, TradeDefaults
from .plugin_tables import AccountMappingRow, PreferenceRow

log = logging.getLogger(__name__)

STAGE = "stage"
CATEGORY_OVERRIDE = "category_override"
TRACKING = "tracking"
ROUNDING = "rounding"
JOURNAL_TAX = "journal_tax"
TRADE_DEFAULT = "trade_default"
PAYMENT_TERMS = "payment_terms"  # key: kind, position: days after the document's date
# What the columns hold (checked before writing, so PostgreSQL never refuses a value).
LIMITS = {"account_code": 20, "tax_type": 40, "xero_name": 100, "key": 40}


class SqlSettingsStore:
    """Built per unit of work on its session; never opens, commits or closes it."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def mapping(self) -> AccountMapping:
        rows = self.session.scalars(
            select(AccountMappingRow).order_by(AccountMappingRow.section, AccountMappingRow.position,
                                               AccountMappingRow.id)
        )
        stages: dict[Stage, str] = {}
        overrides: dict[tuple[Stage, CostCategory], str] = {}
        tracking: list[TrackingMapping] = []
        rounding = journal_tax = ""
        defaults: dict[Kind, TradeDefaults] = {}
        terms: dict[Kind, int] = {}
        for row in rows:
            try:
                if row.section == STAGE:
                    stages[Stage(row.key)] = row.account_code
                elif row.section == CATEGORY_OVERRIDE:
                    overrides[(Stage(row.key), CostCategory(row.category))] = row.account_code
                elif row.section == TRACKING:
                    tracking.append(TrackingMapping(row.key, row.xero_name))
                elif row.section == ROUNDING:
                    rounding = row.account_code
                elif row.section == JOURNAL_TAX:
                    journal_tax = row.tax_type
                elif row.section == TRADE_DEFAULT:
                    defaults[Kind(row.key)] = TradeDefaults(row.account_code, row.tax_type)
                elif row.section == PAYMENT_TERMS:
                    terms[Kind(row.key)] = row.position
                else:
                    raise ValueError(row.section)
            except ValueError:
                # A row written by an older or newer version; ignoring it beats refusing to
                # show the settings page at all.
                log.warning("ignoring account mapping row %s (%s/%s/%s)", row.id, row.section,
                            row.key, row.category)
        for kind, days in terms.items():
            found = defaults.get(kind, TradeDefaults())
            defaults[kind] = TradeDefaults(found.account_code, found.tax_type, days)
        return AccountMapping(
            stage_accounts=stages,
            category_overrides=overrides,
            tracking=tuple(tracking),
            rounding_account=rounding,
            journal_tax_type=journal_tax,
            trade_defaults=defaults,
        )

    def save_mapping(self, mapping: AccountMapping) -> None:
        """Replace the whole mapping (it is edited as one form)."""
        rows: list[dict[str, object]] = []
        for stage, account in mapping.stage_accounts.items():
            if account:
                rows.append({"section": STAGE, "key": Stage(stage).value, "account_code": account})
        for (stage, category), account in mapping.category_overrides.items():
            if account:
                rows.append({"section": CATEGORY_OVERRIDE, "key": Stage(stage).value,
                             "category": CostCategory(category).value, "account_code": account})
        for position, t in enumerate(mapping.tracking):
            rows.append({"section": TRACKING, "key": t.attribute, "xero_name": t.category,
                         "position": position})
        if mapping.rounding_account:
            rows.append({"section": ROUNDING, "account_code": mapping.rounding_account})
        if mapping.journal_tax_type:
            rows.append({"section": JOURNAL_TAX, "tax_type": mapping.journal_tax_type})
        for kind, defaults in mapping.trade_defaults.items():
            if defaults.account_code or defaults.tax_type:
                rows.append({"section": TRADE_DEFAULT, "key": Kind(kind).value,
                             "account_code": defaults.account_code, "tax_type": defaults.tax_type})
            if defaults.payment_days is not None:
                rows.append({"section": PAYMENT_TERMS, "key": Kind(kind).value,
                             "position": int(defaults.payment_days)})
        for row in rows:
            for column, limit in LIMITS.items():
                value = row.get(column)
                if isinstance(value, str) and len(value) > limit:
                    raise InvalidRequest(f"The mapping was not saved: '{value[:20]}…' is longer "
                                         f"than the {limit} characters Accounts Sync keeps.")
        blank = {"key": "", "category": "", "position": 0, "account_code": "", "tax_type": "",
                 "xero_name": ""}
        self.session.execute(delete(AccountMappingRow))
        if rows:
            self.session.execute(insert(AccountMappingRow), [blank | row for row in rows])

    def preference(self, name: str, default: str = "") -> str:
        value = self.session.scalar(select(PreferenceRow.value).where(PreferenceRow.name == name))
        return default if value is None else value

    def set_preference(self, name: str, value: str) -> None:
        row = self.session.get(PreferenceRow, name)
        if row is None:
            self.session.add(PreferenceRow(name=name, value=value))
        else:
            row.value = value
        self.session.flush()
