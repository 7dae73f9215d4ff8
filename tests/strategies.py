"""Hypothesis strategies shared by subkit's tests.

Import them as ``from strategies import anchors, money, timezones`` (pytest puts ``tests/`` on
``sys.path``). Anchors lean on the dates that break naive month arithmetic: the 28th-31st and
Feb 29. Timezones mix DST-free zones (Asia/Jakarta, Asia/Kolkata), UTC, and zones with DST or
odd offsets (America/New_York, Pacific/Chatham at +12:45/+13:45, Asia/Kathmandu at +05:45).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from subkit.cycles import Interval
from subkit.money import Money

TIMEZONE_NAMES = (
    "Asia/Jakarta",
    "UTC",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "Europe/London",
)

#: Zones as ``ZoneInfo`` objects.
timezones: st.SearchStrategy[ZoneInfo] = st.sampled_from(TIMEZONE_NAMES).map(ZoneInfo)

#: Amounts in a currency's unit, negative ones included (refunds, credits).
amounts: st.SearchStrategy[int] = st.integers(min_value=-(10**12), max_value=10**12)

#: Non-negative amounts, as prices are.
prices: st.SearchStrategy[int] = st.integers(min_value=0, max_value=10**10)

#: Billing intervals.
intervals: st.SearchStrategy[Interval] = st.sampled_from(Interval)

#: Add-on quantities within the default ``max_quantity`` (100), 0 included.
quantities: st.SearchStrategy[int] = st.integers(min_value=0, max_value=100)


def money(
    currency: str = "IDR", *, min_value: int = -(10**12), max_value: int = 10**12
) -> st.SearchStrategy[Money]:
    """``Money`` in ``currency`` with an amount in ``[min_value, max_value]``."""
    return st.integers(min_value=min_value, max_value=max_value).map(
        lambda amount: Money(amount, currency)
    )


def _leap_years(low: int, high: int) -> list[int]:
    return [year for year in range(low, high + 1) if calendar.isleap(year)]


@st.composite
def local_dates(
    draw: st.DrawFn, min_year: int = 2000, max_year: int = 2060
) -> tuple[int, int, int]:
    """A ``(year, month, day)`` biased to month ends (28th-31st) and Feb 29."""
    kind = draw(st.sampled_from(["month_end", "feb29", "any", "month_end"]))
    if kind == "feb29":
        return draw(st.sampled_from(_leap_years(min_year, max_year))), 2, 29
    year = draw(st.integers(min_year, max_year))
    month = draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = draw(st.integers(28, last)) if kind == "month_end" else draw(st.integers(1, last))
    return year, month, day


@st.composite
def anchors(
    draw: st.DrawFn, tz: tzinfo | None = None, min_year: int = 2000, max_year: int = 2060
) -> datetime:
    """An aware anchor datetime in ``tz`` (drawn from ``timezones`` when ``None``).

    The wall time is built locally and then normalised through UTC, so the result is a real
    instant even where a DST gap would make the wall time not exist.
    """
    zone = tz if tz is not None else draw(timezones)
    year, month, day = draw(local_dates(min_year, max_year))
    hour = draw(st.sampled_from([0, 0, 23]) | st.integers(0, 23))
    minute = draw(st.sampled_from([0, 59]) | st.integers(0, 59))
    second = draw(st.integers(0, 59))
    local = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone)


@st.composite
def moments(
    draw: st.DrawFn, tz: tzinfo | None = None, min_year: int = 2000, max_year: int = 2062
) -> datetime:
    """Any aware instant between ``min_year`` and ``max_year``, shown in ``tz``."""
    zone = tz if tz is not None else draw(timezones)
    start = datetime(min_year, 1, 1, tzinfo=UTC)
    span = int((datetime(max_year, 12, 31, tzinfo=UTC) - start).total_seconds())
    return (start + timedelta(seconds=draw(st.integers(0, span)))).astimezone(zone)


__all__ = [
    "TIMEZONE_NAMES",
    "amounts",
    "anchors",
    "intervals",
    "local_dates",
    "moments",
    "money",
    "prices",
    "quantities",
    "timezones",
]
