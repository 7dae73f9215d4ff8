"""Billing cycles: anchored periods and day-based proration (R-CYC).

Period *k* of a subscription starts at ``anchor + k intervals`` computed from the anchor in the
account's timezone, never by chaining one period onto the last: chaining would let a Jan 31
anchor drift to the 28th after February. Periods are half-open ``[start, end)``.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, tzinfo
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from dateutil.relativedelta import relativedelta

from subkit.errors import InvalidTime, NaiveDatetime
from subkit.kinds import Interval
from subkit.money import Money, Rounding


def ensure_aware(value: datetime, name: str = "datetime") -> datetime:
    """Return ``value`` when it is timezone-aware, else raise ``NaiveDatetime`` (R-CYC-3)."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetime(
            f"{name} must be timezone-aware, got naive {value.isoformat()}", argument=name
        )
    return value


def zone(name: str) -> ZoneInfo:
    """Look up an IANA timezone, raising ``InvalidTime`` for an unknown name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidTime(f"unknown timezone {name!r}") from error


def _check_period(instance: Period, attribute: attrs.Attribute[datetime], value: datetime) -> None:
    ensure_aware(value, f"period.{attribute.name}")


@attrs.frozen
class Period:
    """A half-open span of time ``[start, end)`` (R-CYC-2)."""

    start: datetime = attrs.field(validator=_check_period)
    end: datetime = attrs.field(validator=_check_period)

    def __attrs_post_init__(self) -> None:
        if not self.start < self.end:
            raise InvalidTime(f"period must end after it starts: {self.start} .. {self.end}")

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end

    def days(self, tz: tzinfo) -> int:
        """Whole calendar days the period spans in ``tz``."""
        return (self.end.astimezone(tz).date() - self.start.astimezone(tz).date()).days


def shift_months(anchor: datetime, months: int, tz: tzinfo) -> datetime:
    """``anchor`` moved by ``months`` calendar months in ``tz``, clamped to the month's end."""
    return _shift_months(ensure_aware(anchor, "anchor"), months, tz)


@functools.lru_cache(maxsize=4096)
def _shift_months(anchor: datetime, months: int, tz: tzinfo) -> datetime:
    # Pure and called on every facade call (the account's next boundary): worth caching.
    # Equal instants give equal results, as the anchor is first converted to ``tz``.
    return anchor.astimezone(tz) + relativedelta(months=months)


def boundary(anchor: datetime, interval: Interval, k: int, tz: tzinfo) -> datetime:
    """Start of period ``k`` (negative ``k`` counts back from the anchor)."""
    return shift_months(anchor, k * interval.months, tz)


def period_at(anchor: datetime, interval: Interval, k: int, tz: tzinfo) -> Period:
    """Period ``k`` of a subscription anchored at ``anchor``."""
    return Period(boundary(anchor, interval, k, tz), boundary(anchor, interval, k + 1, tz))


def period_index(anchor: datetime, interval: Interval, at: datetime, tz: tzinfo) -> int:
    """The ``k`` whose period contains ``at``."""
    ensure_aware(at, "at")
    local_anchor = ensure_aware(anchor, "anchor").astimezone(tz)
    local_at = at.astimezone(tz)
    months = (local_at.year - local_anchor.year) * 12 + (local_at.month - local_anchor.month)
    k = months // interval.months
    # The month arithmetic is only an estimate: clamped month ends and times of day can put
    # ``at`` one period either side of it.
    while boundary(anchor, interval, k, tz) > at:
        k -= 1
    while boundary(anchor, interval, k + 1, tz) <= at:
        k += 1
    return k


def period_containing(anchor: datetime, interval: Interval, at: datetime, tz: tzinfo) -> Period:
    """The period of the subscription that contains ``at``."""
    return period_at(anchor, interval, period_index(anchor, interval, at, tz), tz)


def proration_factor(period: Period, at: datetime, tz: tzinfo) -> Fraction:
    """Share of ``period`` left at ``at``, in whole days of ``tz`` (R-CYC-4), within [0, 1]."""
    ensure_aware(at, "at")
    end = period.end.astimezone(tz).date()
    start = period.start.astimezone(tz).date()
    day: date = min(max(at.astimezone(tz).date(), start), end)
    total = (end - start).days
    if total <= 0:
        return Fraction(0)
    return Fraction((end - day).days, total)


def prorate(
    amount: Money,
    period: Period,
    at: datetime,
    tz: tzinfo,
    rounding: Rounding = Rounding.HALF_UP,
) -> Money:
    """The part of a full-period ``amount`` for the rest of ``period`` after ``at``.

    ``amount * remaining_days / period_days`` rounded once. Buying on the first day costs the
    full price; the result never exceeds ``amount``, is never negative, and never grows as
    ``at`` moves later.
    """
    return amount.scale(proration_factor(period, at, tz), rounding)


__all__ = [
    "Interval",
    "Period",
    "boundary",
    "ensure_aware",
    "period_at",
    "period_containing",
    "period_index",
    "prorate",
    "proration_factor",
    "shift_months",
    "zone",
]
