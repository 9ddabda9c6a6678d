"""Books over time: what was sent to Xero, line by line, and how a later ERP change is corrected.

DESIGN.md ("Books over time"): the plugin keeps, per synced record, the lines it sent, so the
difference between what Xero holds from us and what the ERP says now is computed per
(account, tracking, tax type) without asking Xero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .documents import TrackingRef
from .money import ZERO


@dataclass(frozen=True)
class SentLine:
    """One line as Accounts Sync sent it to Xero.

    `amount` is the line's net amount: exclusive of tax for trade documents, signed for
    journals (debit positive, credit negative, as Xero's LineAmount). `tax_amount` is the tax
    the ERP computed for the line (trade documents only).
    """

    account_code: str
    amount: Decimal
    tax_amount: Decimal = ZERO
    tax_type: str = ""
    tracking: tuple[TrackingRef, ...] = ()
    description: str = ""

    @property
    def key(self) -> tuple[str, tuple[TrackingRef, ...], str]:
        """What a difference is computed per: account, tracking and tax type."""
        return (self.account_code, self.tracking, self.tax_type)
