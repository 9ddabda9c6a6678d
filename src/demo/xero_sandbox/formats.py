"""Xero's wire formats: money as exact 2-dp JSON numbers, `/Date(ms+0000)/` dates, JSON I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")
FOUR_DP = Decimal("0.0001")
SIX_DP = Decimal("0.000001")
ZERO = Decimal("0.00")

_EPOCH = date(1970, 1, 1)


def money(value: Decimal) -> Decimal:
    """Round half-up to cents, as Xero does for line amounts, tax and totals."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: Any) -> Decimal:
    """A JSON number (parsed as Decimal or int) to Decimal; raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} is not a number") from exc
        if not result.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        return result
    raise ValueError(f"{value!r} is not a number")


# --- dates ---------------------------------------------------------------------------------

_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
                       r"(?:Z|[+-]\d{2}:?\d{2})?$")


def parse_xero_date(value: Any) -> date:
    """Dates arrive as `YYYY-MM-DD`, an ISO date-time, or Xero's `/Date(ms+0000)/`.

    Only the calendar date is kept: Xero stores document dates without a time zone, and
    shifting them through UTC is exactly the day-off bug the SDKs are known for.
    """
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(match[1]))).date()
    match = _ISO_DATE.match(text)
    if match:
        return date(int(match[1]), int(match[2]), int(match[3]))
    raise ValueError(f"'{value}' is not a valid date")


def parse_timestamp_ms(value: str) -> int:
    """An If-Modified-Since value (`2020-02-06T12:17:43.202-08:00`, `...Z`, naive = UTC, or
    `/Date(ms)/`) as epoch milliseconds."""
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        return int(match[1])
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:  # the HTTP form: Tue, 06 Feb 2020 12:17:43 GMT
            moment = datetime.strptime(text, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(f"'{value}' is not a date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def ms_date(iso_day: str) -> str:
    """`2019-01-01` -> `/Date(1546300800000+0000)/`."""
    days = (date.fromisoformat(iso_day) - _EPOCH).days
    return f"/Date({days * 86_400_000}+0000)/"


def date_string(iso_day: str) -> str:
    return f"{iso_day}T00:00:00"


def ms_timestamp(epoch_ms: int, offset: bool = True) -> str:
    return f"/Date({epoch_ms}+0000)/" if offset else f"/Date({epoch_ms})/"


def utc_iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def utc_day(epoch_seconds: float) -> date:
    return datetime.fromtimestamp(epoch_seconds, UTC).date()


def lock_date_text(iso_day: str) -> str:
    """The form Xero's lock-date messages use: `31-Jul-2013`."""
    return date.fromisoformat(iso_day).strftime("%d-%b-%Y")


# --- JSON ----------------------------------------------------------------------------------

# json cannot write a Decimal as a number with its trailing zeros (40.00), which is what Xero
# sends. Decimals are written as a marked string and the marks are then unquoted in one pass.
# NUL cannot reach a marked string from input: the JSON encoder escapes it as \u0000.
_MARK = "\x00D"
_MARKED = re.compile(r'"\\u0000D(-?[0-9]+(?:\.[0-9]+)?)"')


def _mark_decimals(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return _MARK + format(obj, "f")
    if isinstance(obj, dict):
        return {key: _mark_decimals(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_mark_decimals(value) for value in obj]
    return obj


def dumps(obj: Any, indent: int | None = None) -> str:
    text = json.dumps(_mark_decimals(obj), ensure_ascii=False, indent=indent)
    return _MARKED.sub(r"\1", text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping every fractional number exact."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
