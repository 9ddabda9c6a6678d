"""Money rules: Decimal only, two places, half-up.

Floats never enter the books: a float has already lost the cent we would be rounding.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal | int | str) -> Decimal:
    """Round an amount to the cent, half-up. Refuses floats and non-numbers."""
    if isinstance(value, float | bool):
        raise TypeError(f"money must be built from Decimal, int or str, not {type(value).__name__}")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"{value!r} is not an amount of money") from exc
    if not amount.is_finite():
        raise ValueError(f"{value!r} is not an amount of money")
    rounded = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return rounded if rounded else ZERO  # never "-0.00"


def total(amounts: Iterable[Decimal]) -> Decimal:
    """Sum amounts that are already money; the result is money too."""
    return money(sum(amounts, ZERO))


def format_money(amount: Decimal) -> str:
    """The canonical text form used in JSON and payloads: '-1234.50'."""
    return f"{money(amount):f}"
