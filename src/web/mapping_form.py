"""The settings form ↔ AccountMapping. Field names are plain so the page works without JS."""

from __future__ import annotations

from typing import Any

from ..domain.costs import CostCategory, Stage
from ..domain.documents import TRADE_KINDS
from ..domain.errors import Problem
from ..domain.mapping import AccountMapping, TrackingMapping, TradeDefaults

# Costs absorbed into wine may be credited to their own recovery accounts.
OVERRIDABLE = [(Stage.OVERHEAD, c) for c in (CostCategory.LABOUR, CostCategory.OVERHEAD,
                                             CostCategory.BARREL)]
TRACKING_ATTRIBUTES = {"vintage": "Vintage of the batch", "brand": "Brand of the batch"}
TRACKING_SLOTS = (1, 2)


def form_field(path: str) -> str:
    """A problem's field ('stage:bulk_wine', 'tracking_category:1') → the form's input name."""
    if path.startswith("tracking_category:"):
        return "tracking_category_" + path.split(":", 1)[1]
    return path.replace(":", "__")


def mapping_from_form(form: Any) -> tuple[AccountMapping, list[Problem]]:
    """The mapping the form describes, and what could not even be read (days that are not a
    number); checking it against Xero is SaveMapping's work."""
    problems: list[Problem] = []

    def text(name: str) -> str:
        return (form.get(name) or "").strip()

    def days(kind: Any) -> int | None:
        raw = text(f"payment_terms__{kind.value}")
        if not raw:
            return None
        if raw.isdigit() and len(raw) <= 4:
            return int(raw)
        problems.append(Problem("payment_terms",
                                f"Payment terms for {kind.label.lower()}: '{raw[:20]}' is not a "
                                f"number of days.", kind.value,
                                field=f"payment_terms:{kind.value}"))
        return None

    tracking = []
    for slot in TRACKING_SLOTS:
        attribute, category = text(f"tracking_attribute_{slot}"), text(f"tracking_category_{slot}")
        if attribute in TRACKING_ATTRIBUTES and category:
            tracking.append(TrackingMapping(attribute, category))
    mapping = AccountMapping(
        stage_accounts={s: code for s in Stage if (code := text(f"stage__{s.value}"))},
        category_overrides={
            (s, c): code for s, c in OVERRIDABLE if (code := text(f"override__{s.value}__{c.value}"))
        },
        tracking=tuple(tracking),
        rounding_account=text("rounding_account"),
        journal_tax_type=text("journal_tax_type"),
        trade_defaults={
            kind: TradeDefaults(text(f"default_account__{kind.value}"),
                                text(f"default_tax__{kind.value}"), days(kind))
            for kind in TRADE_KINDS
        },
    )
    return mapping, problems
