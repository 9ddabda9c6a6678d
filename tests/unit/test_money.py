from decimal import Decimal

import pytest

from accounts_sync.domain.money import format_money, money, total


def test_rounds_half_up_to_the_cent():
    assert money(Decimal("2.675")) == Decimal("2.68")  # a float would give 2.67
    assert money(Decimal("-2.675")) == Decimal("-2.68")
    assert money("0.005") == Decimal("0.01")
    assert money(3) == Decimal("3.00")


@pytest.mark.parametrize("bad", [0.1, True])
def test_refuses_floats(bad):
    with pytest.raises(TypeError):
        money(bad)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity"])
def test_refuses_non_amounts(bad):
    with pytest.raises(ValueError):
        money(bad)


def test_total_and_text_form():
    assert total([Decimal("0.10")] * 3) == Decimal("0.30")
    assert format_money(Decimal("1234.5")) == "1234.50"
    assert format_money(Decimal("-0.004")) == "0.00"
