"""Each kind of schedule fires at the right moments across DST changes in the host's zone.

Adelaide (the demo winery's books): clocks go from 02:00 ACST (+09:30) to 03:00 ACDT (+10:30)
on the first Sunday of October, and from 03:00 ACDT back to 02:00 ACST on the first Sunday of
April. New York and Santiago (whose clocks jump at midnight) check the rules elsewhere.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts_sync.domain.schedules import (
    Cadence,
    ClosingRule,
    Schedule,
    local_to_utc,
)

ADELAIDE = ZoneInfo("Australia/Adelaide")
NEW_YORK = ZoneInfo("America/New_York")
SANTIAGO = ZoneInfo("America/Santiago")
SPRING = date(2026, 10, 4)  # Adelaide: 02:00 → 03:00
AUTUMN = date(2026, 4, 5)  # Adelaide: 03:00 → 02:00


def local(zone, *args, fold=0):
    return datetime(*args, tzinfo=zone, fold=fold)


def wall(moments, zone):
    return [m.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for m in moments]


def day_of(zone, day):
    """(start, end] of a local day, as aware instants."""
    start = local_to_utc(day, time(0), zone) - timedelta(microseconds=1)
    return start, local_to_utc(day + timedelta(days=1), time(0), zone) - timedelta(microseconds=1)


# ------------------------------------------------------------------ daily


def test_daily_fires_once_a_day_at_the_local_time_across_both_changes():
    daily = Schedule("sales_orders", Cadence.DAILY, at=time(9, 0))
    start = local(ADELAIDE, 2026, 10, 2, 12, 0)
    fired = daily.firings(start, start + timedelta(days=4), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-10-03 09:00 ACST", "2026-10-04 09:00 ACDT",
                                     "2026-10-05 09:00 ACDT", "2026-10-06 09:00 ACDT"]
    # 24 real hours apart except across the change: 23.
    gaps = [(b - a).total_seconds() / 3600 for a, b in zip(fired, fired[1:], strict=False)]
    assert gaps == [23, 24, 24]

    start = local(ADELAIDE, 2026, 4, 3, 12, 0)
    fired = daily.firings(start, start + timedelta(days=3), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-04-04 09:00 ACDT", "2026-04-05 09:00 ACST",
                                     "2026-04-06 09:00 ACST"]
    assert (fired[1] - fired[0]) == timedelta(hours=25)


def test_a_time_the_clocks_jump_over_fires_when_they_jump():
    daily = Schedule("journals", Cadence.DAILY, at=time(2, 30))
    fired = daily.firings(*day_of(ADELAIDE, SPRING), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-10-04 03:00 ACDT"]
    assert fired == [datetime(2026, 10, 3, 16, 30, tzinfo=UTC)]  # 02:00 ACST, the jump


def test_a_time_that_happens_twice_fires_once_at_its_first_occurrence():
    daily = Schedule("journals", Cadence.DAILY, at=time(2, 30))
    fired = daily.firings(*day_of(ADELAIDE, AUTUMN), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-04-05 02:30 ACDT"]  # not again at 02:30 ACST
    assert fired == [local(ADELAIDE, 2026, 4, 5, 2, 30, fold=0).astimezone(UTC)]


def test_the_next_firing_after_one_that_happened_twice_is_the_next_day():
    daily = Schedule("journals", Cadence.DAILY, at=time(2, 30))
    first = local(ADELAIDE, 2026, 4, 5, 2, 30, fold=0)
    # Asked again during the repeated hour (a second process, or the same one a minute later):
    # the second 02:30 is not another firing.
    again = daily.next_after(local(ADELAIDE, 2026, 4, 5, 2, 40, fold=1), ADELAIDE)
    assert wall([daily.next_after(first, ADELAIDE), again], ADELAIDE) == [
        "2026-04-06 02:30 ACST", "2026-04-06 02:30 ACST"]


# ------------------------------------------------------------------ weekly


def test_weekly_fires_on_its_day_at_the_local_time_through_the_changes():
    sundays = Schedule("corrections", Cadence.WEEKLY, at=time(2, 30), weekday=6)
    start = local(ADELAIDE, 2026, 3, 25, 0, 0)
    fired = sundays.firings(start, local(ADELAIDE, 2026, 4, 20, 0, 0), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-03-29 02:30 ACDT", "2026-04-05 02:30 ACDT",
                                     "2026-04-12 02:30 ACST", "2026-04-19 02:30 ACST"]
    start = local(ADELAIDE, 2026, 9, 25, 0, 0)
    fired = sundays.firings(start, local(ADELAIDE, 2026, 10, 12, 0, 0), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-09-27 02:30 ACST", "2026-10-04 03:00 ACDT",
                                     "2026-10-11 02:30 ACDT"]


def test_weekly_on_monday_morning_in_new_york():
    mondays = Schedule("purchase_orders", Cadence.WEEKLY, at=time(7, 15), weekday=0)
    start = local(NEW_YORK, 2026, 3, 1, 0, 0)  # US DST starts 8 March 2026
    fired = mondays.firings(start, local(NEW_YORK, 2026, 3, 20, 0, 0), NEW_YORK)
    assert wall(fired, NEW_YORK) == ["2026-03-02 07:15 EST", "2026-03-09 07:15 EDT",
                                     "2026-03-16 07:15 EDT"]
    assert [f.hour for f in fired] == [12, 11, 11]  # UTC


# ------------------------------------------------------------------ every N minutes


def test_every_hour_on_local_hours_with_23_and_25_firings_on_the_change_days():
    hourly = Schedule("sales_orders", Cadence.EVERY, every_minutes=60)
    spring = hourly.firings(*day_of(ADELAIDE, SPRING), ADELAIDE)
    assert len(spring) == 23
    assert wall(spring[:4], ADELAIDE) == ["2026-10-04 00:00 ACST", "2026-10-04 01:00 ACST",
                                          "2026-10-04 03:00 ACDT", "2026-10-04 04:00 ACDT"]
    assert all(m.astimezone(ADELAIDE).minute == 0 for m in spring)
    assert {b - a for a, b in zip(spring, spring[1:], strict=False)} == {timedelta(hours=1)}

    autumn = hourly.firings(*day_of(ADELAIDE, AUTUMN), ADELAIDE)
    assert len(autumn) == 25
    assert wall(autumn[2:5], ADELAIDE) == ["2026-04-05 02:00 ACDT", "2026-04-05 02:00 ACST",
                                           "2026-04-05 03:00 ACST"]
    assert {b - a for a, b in zip(autumn, autumn[1:], strict=False)} == {timedelta(hours=1)}


def test_every_fifteen_minutes_stays_on_the_local_quarter_hours():
    quarter = Schedule("refunds", Cadence.EVERY, every_minutes=15)
    fired = quarter.firings(local(ADELAIDE, 2026, 10, 4, 1, 40), local(ADELAIDE, 2026, 10, 4, 3, 20),
                            ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-10-04 01:45 ACST", "2026-10-04 03:00 ACDT",
                                     "2026-10-04 03:15 ACDT"]
    day = quarter.firings(*day_of(ADELAIDE, AUTUMN), ADELAIDE)
    assert len(day) == 25 * 4


def test_every_n_minutes_that_do_not_divide_a_day_restart_at_midnight():
    odd = Schedule("refunds", Cadence.EVERY, every_minutes=420)  # 7 hours
    fired = odd.firings(*day_of(ADELAIDE, date(2026, 6, 1)), ADELAIDE)
    assert wall(fired, ADELAIDE) == ["2026-06-01 00:00 ACST", "2026-06-01 07:00 ACST",
                                     "2026-06-01 14:00 ACST", "2026-06-01 21:00 ACST"]
    assert wall([odd.next_after(fired[-1], ADELAIDE)], ADELAIDE) == ["2026-06-02 00:00 ACST"]


def test_where_midnight_does_not_exist_the_day_starts_when_the_clocks_jump():
    # Chile: on 6 September 2026 the clocks go from 00:00 to 01:00.
    hourly = Schedule("sales_orders", Cadence.EVERY, every_minutes=60)
    fired = hourly.firings(local(SANTIAGO, 2026, 9, 5, 22, 30), local(SANTIAGO, 2026, 9, 6, 2, 30),
                           SANTIAGO)
    assert wall(fired, SANTIAGO) == ["2026-09-05 23:00 -04", "2026-09-06 01:00 -03",
                                     "2026-09-06 02:00 -03"]
    daily = Schedule("journals", Cadence.DAILY, at=time(0, 0))
    assert wall([daily.next_after(local(SANTIAGO, 2026, 9, 5, 12, 0), SANTIAGO)], SANTIAGO) == [
        "2026-09-06 01:00 -03"]


def test_off_never_fires():
    assert Schedule("sales_orders").next_after(datetime.now(UTC), ADELAIDE) is None


def test_a_moment_without_a_zone_is_refused():
    with pytest.raises(ValueError, match="aware"):
        Schedule("sales_orders", Cadence.DAILY).next_after(datetime(2026, 1, 1), ADELAIDE)


@settings(max_examples=300, deadline=None)
@given(moment=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                           timezones=st.just(UTC)),
       cadence=st.sampled_from([Cadence.EVERY, Cadence.DAILY, Cadence.WEEKLY]),
       minutes=st.sampled_from([5, 15, 30, 45, 60, 90, 120, 720, 1440]),
       at=st.times(), weekday=st.integers(0, 6),
       zone=st.sampled_from([ADELAIDE, NEW_YORK, SANTIAGO, ZoneInfo("Europe/London"),
                             ZoneInfo("Australia/Lord_Howe")]))
def test_the_next_firing_is_strictly_later_and_never_skips_one(moment, cadence, minutes, at,
                                                              weekday, zone):
    schedule = Schedule("sales_orders", cadence, every_minutes=minutes,
                        at=at.replace(second=0, microsecond=0), weekday=weekday)
    nxt = schedule.next_after(moment, zone)
    assert nxt is not None and nxt > moment
    assert nxt - moment <= timedelta(days=8)
    # Nothing fires in between: asking from just before the answer gives the answer again.
    assert schedule.next_after(nxt - timedelta(seconds=1), zone) == nxt
    if cadence is not Cadence.EVERY:
        shown = nxt.astimezone(zone)
        # At the local time, or (when the clocks skipped it) the moment they jumped.
        assert (shown.hour, shown.minute) == (schedule.at.hour, schedule.at.minute) or \
            (shown - timedelta(seconds=1)).astimezone(zone).utcoffset() != shown.utcoffset()
        if cadence is Cadence.WEEKLY:
            assert shown.weekday() == weekday or shown.time() < schedule.at


# ------------------------------------------------------------------ closing dates


@pytest.mark.parametrize(("rule", "today", "expected"), [
    (ClosingRule.TODAY, date(2026, 3, 1), date(2026, 3, 1)),
    (ClosingRule.YESTERDAY, date(2026, 3, 1), date(2026, 2, 28)),
    (ClosingRule.END_OF_LAST_MONTH, date(2026, 3, 1), date(2026, 2, 28)),
    (ClosingRule.END_OF_LAST_MONTH, date(2028, 3, 31), date(2028, 2, 29)),
    (ClosingRule.END_OF_LAST_MONTH, date(2027, 1, 15), date(2026, 12, 31)),
])
def test_closing_date_rules(rule, today, expected):
    assert rule.closing_date(today) == expected


def test_descriptions_read_as_a_person_would_say_them():
    assert Schedule("x", Cadence.EVERY, every_minutes=15).describe() == "Every 15 minutes"
    assert Schedule("x", Cadence.EVERY, every_minutes=60).describe() == "Every hour"
    assert Schedule("x", Cadence.EVERY, every_minutes=120).describe() == "Every 2 hours"
    assert Schedule("x", Cadence.DAILY, at=time(6, 5)).describe() == "Daily at 06:05"
    assert Schedule("x", Cadence.WEEKLY, at=time(18, 0), weekday=4).describe() == \
        "Weekly on Friday at 18:00"
