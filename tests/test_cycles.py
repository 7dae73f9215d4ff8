"""Billing cycles: anchored periods and day-based proration (R-CYC)."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import assume, given
from hypothesis import strategies as st

from helpers import JAKARTA, idr
from strategies import anchors, intervals, moments, prices, timezones
from subkit.cycles import (
    Interval,
    Period,
    boundary,
    ensure_aware,
    period_at,
    period_containing,
    period_index,
    prorate,
    proration_factor,
    zone,
)
from subkit.errors import InvalidTime, NaiveDatetime
from subkit.money import Rounding, round_fraction

MONTHLY, ANNUAL = Interval.MONTHLY, Interval.ANNUAL


def jkt(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=JAKARTA)


class TestInterval:
    def test_values_and_months(self) -> None:
        """R-CYC-1: intervals are string enums, monthly = 1 month, annual = 12."""
        assert MONTHLY == "monthly" and str(ANNUAL) == "annual"
        assert (MONTHLY.months, ANNUAL.months) == (1, 12)


class TestMonthEnd:
    def test_jan_31_anchor_in_a_leap_year(self) -> None:
        """R-CYC-1: a Jan 31 anchor gives Feb 29 (2024), Mar 31, Apr 30, May 31."""
        anchor = jkt(2024, 1, 31, 10, 30)
        starts = [boundary(anchor, MONTHLY, k, JAKARTA) for k in range(5)]
        assert starts == [
            jkt(2024, 1, 31, 10, 30),
            jkt(2024, 2, 29, 10, 30),
            jkt(2024, 3, 31, 10, 30),
            jkt(2024, 4, 30, 10, 30),
            jkt(2024, 5, 31, 10, 30),
        ]

    def test_jan_31_anchor_in_a_common_year(self) -> None:
        """R-CYC-1: a Jan 31 anchor gives Feb 28 in 2025, then back to Mar 31 (no drift)."""
        anchor = jkt(2025, 1, 31)
        assert boundary(anchor, MONTHLY, 1, JAKARTA) == jkt(2025, 2, 28)
        assert boundary(anchor, MONTHLY, 2, JAKARTA) == jkt(2025, 3, 31)
        assert boundary(anchor, MONTHLY, 3, JAKARTA) == jkt(2025, 4, 30)
        assert boundary(anchor, MONTHLY, 13, JAKARTA) == jkt(2026, 2, 28)

    def test_feb_29_annual_anchor(self) -> None:
        """R-CYC-1: an annual Feb 29 anchor gives Feb 28 in common years, Feb 29 in 2028."""
        anchor = jkt(2024, 2, 29, 9)
        starts = [boundary(anchor, ANNUAL, k, JAKARTA) for k in range(5)]
        assert starts == [
            jkt(2024, 2, 29, 9),
            jkt(2025, 2, 28, 9),
            jkt(2026, 2, 28, 9),
            jkt(2027, 2, 28, 9),
            jkt(2028, 2, 29, 9),
        ]

    def test_negative_k_counts_back(self) -> None:
        """R-CYC-1: period -1 of a Mar 31 anchor starts on Feb 29 (2024)."""
        assert boundary(jkt(2024, 3, 31), MONTHLY, -1, JAKARTA) == jkt(2024, 2, 29)

    def test_anchor_is_read_in_the_accounts_timezone(self) -> None:
        """R-CYC-1: 2024-01-31 20:00 UTC is Feb 1 03:00 in Jakarta, so periods start on the 1st."""
        anchor = datetime(2024, 1, 31, 20, tzinfo=UTC)
        assert boundary(anchor, MONTHLY, 1, JAKARTA) == jkt(2024, 3, 1, 3)
        assert boundary(anchor, MONTHLY, 1, ZoneInfo("UTC")) == datetime(
            2024, 2, 29, 20, tzinfo=UTC
        )


class TestPeriods:
    @given(st.data(), timezones, intervals, st.integers(-30, 30))
    def test_periods_are_contiguous(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval, k: int
    ) -> None:
        """R-CYC-2: the end of period k is the start of period k+1, and start < end."""
        anchor = data.draw(anchors(tz))
        this, following = period_at(anchor, interval, k, tz), period_at(anchor, interval, k + 1, tz)
        assert this.end == following.start
        assert this.start < this.end
        assert this.end not in this and this.end in following

    @given(st.data(), timezones, intervals, st.integers(-40, 40))
    def test_start_k_is_anchor_plus_k_intervals(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval, k: int
    ) -> None:
        """R-CYC-1: start of period k is anchor + k intervals from the anchor, not chained."""
        anchor = data.draw(anchors(tz))
        local = anchor.astimezone(tz)
        start = boundary(anchor, interval, k, tz)
        assert start == local + relativedelta(months=k * interval.months)
        # Independently of relativedelta: same wall time, month moved, day clamped.
        months = local.year * 12 + local.month - 1 + k * interval.months
        year, month = divmod(months, 12)
        month += 1
        day = min(local.day, calendar.monthrange(year, month)[1])
        wall = (start.year, start.month, start.day, start.hour, start.minute, start.second)
        assert wall == (year, month, day, local.hour, local.minute, local.second)

    @given(st.data(), timezones, st.integers(1, 40))
    def test_chaining_would_drift_but_anchoring_does_not(
        self, data: st.DataObject, tz: ZoneInfo, k: int
    ) -> None:
        """R-CYC-1: the day of month only leaves the anchor's day where the month is shorter."""
        anchor = data.draw(anchors(tz))
        start = boundary(anchor, MONTHLY, k, tz)
        local = anchor.astimezone(tz)
        if start.day != local.day:
            assert start.day == calendar.monthrange(start.year, start.month)[1] < local.day

    @given(st.data(), timezones, intervals)
    def test_period_containing_contains(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval
    ) -> None:
        """R-CYC-2: at is in period_containing(at), which is period_at(period_index(at))."""
        anchor = data.draw(anchors(tz))
        at = data.draw(moments())
        k = period_index(anchor, interval, at, tz)
        period = period_containing(anchor, interval, at, tz)
        assert at in period
        assert period == period_at(anchor, interval, k, tz)
        assert period.start <= at < period.end

    @given(st.data(), timezones, intervals, st.integers(-24, 24), st.fractions(0, 1))
    def test_index_of_a_moment_in_period_k_is_k(
        self,
        data: st.DataObject,
        tz: ZoneInfo,
        interval: Interval,
        k: int,
        share: Fraction,
    ) -> None:
        """R-CYC-2: any moment in [start_k, end_k) has index k; end_k has index k+1."""
        anchor = data.draw(anchors(tz))
        period = period_at(anchor, interval, k, tz)
        length = period.end - period.start
        at = period.start + timedelta(seconds=int(length.total_seconds() * share))
        assume(at < period.end)
        assert period_index(anchor, interval, at, tz) == k
        assert period_index(anchor, interval, period.start, tz) == k
        assert period_index(anchor, interval, period.end, tz) == k + 1
        assert period_index(anchor, interval, period.end - timedelta(microseconds=1), tz) == k

    @given(st.data(), timezones, intervals, st.integers(0, 30))
    def test_catch_up_boundary_by_boundary(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval, missed: int
    ) -> None:
        """R-CYC-5: walking the boundaries one by one reaches the same period as computing k."""
        anchor = data.draw(anchors(tz))
        period = period_containing(anchor, interval, anchor, tz)
        assert period.start == anchor
        for _ in range(missed):
            period = period_containing(anchor, interval, period.end, tz)
        assert period == period_at(anchor, interval, missed, tz)

    def test_period_is_half_open(self) -> None:
        """R-CYC-2: a period contains its start and not its end."""
        period = Period(jkt(2024, 3, 1), jkt(2024, 4, 1))
        assert jkt(2024, 3, 1) in period
        assert jkt(2024, 3, 31, 23, 59) in period
        assert jkt(2024, 4, 1) not in period
        assert jkt(2024, 2, 29, 23, 59) not in period

    def test_period_must_end_after_it_starts(self) -> None:
        """R-CYC-2: an empty or reversed period is refused with InvalidTime."""
        with pytest.raises(InvalidTime):
            Period(jkt(2024, 3, 1), jkt(2024, 3, 1))
        with pytest.raises(InvalidTime):
            Period(jkt(2024, 4, 1), jkt(2024, 3, 1))

    def test_period_days(self) -> None:
        """R-CYC-4: days counts calendar days in the given timezone."""
        assert Period(jkt(2024, 2, 1), jkt(2024, 3, 1)).days(JAKARTA) == 29
        assert Period(jkt(2025, 2, 1), jkt(2025, 3, 1)).days(JAKARTA) == 28
        assert Period(jkt(2024, 1, 1), jkt(2025, 1, 1)).days(JAKARTA) == 366


class TestAwareness:
    @pytest.mark.parametrize(
        "call",
        [
            lambda: boundary(datetime(2024, 1, 31), MONTHLY, 1, JAKARTA),
            lambda: period_at(datetime(2024, 1, 31), MONTHLY, 0, JAKARTA),
            lambda: period_index(jkt(2024, 1, 31), MONTHLY, datetime(2024, 3, 1), JAKARTA),
            lambda: period_containing(datetime(2024, 1, 31), MONTHLY, jkt(2024, 3, 1), JAKARTA),
            lambda: Period(datetime(2024, 1, 1), jkt(2024, 2, 1)),
            lambda: Period(jkt(2024, 1, 1), datetime(2024, 2, 1)),
            lambda: proration_factor(
                Period(jkt(2024, 1, 1), jkt(2024, 2, 1)), datetime(2024, 1, 5), JAKARTA
            ),
            lambda: ensure_aware(datetime(2024, 1, 1)),
        ],
    )
    def test_naive_datetimes_are_refused(self, call: object) -> None:
        """R-CYC-3: every datetime entering subkit must be aware; a naive one -> NaiveDatetime."""
        with pytest.raises(NaiveDatetime):
            call()  # type: ignore[operator]

    def test_naive_datetime_is_a_value_error(self) -> None:
        """R-ERR: NaiveDatetime mixes in ValueError."""
        with pytest.raises(ValueError, match="timezone-aware"):
            ensure_aware(datetime(2024, 1, 1), "at")

    def test_ensure_aware_returns_aware_values_unchanged(self) -> None:
        """R-CYC-3: an aware datetime passes through as it is."""
        value = jkt(2024, 1, 1)
        assert ensure_aware(value) is value

    def test_non_datetimes_are_a_type_error(self) -> None:
        """R-CYC-3: a date or a string is not a datetime."""
        with pytest.raises(TypeError):
            ensure_aware("2024-01-01")  # type: ignore[arg-type]

    def test_zone_lookup(self) -> None:
        """R-CYC-1: zone() finds IANA zones and refuses unknown names with InvalidTime."""
        assert zone("Asia/Jakarta") == JAKARTA
        with pytest.raises(InvalidTime):
            zone("Mars/Olympus_Mons")


MARCH_2024 = Period(jkt(2024, 3, 1), jkt(2024, 4, 1))  # 31 days
APRIL_2024 = Period(jkt(2024, 4, 1), jkt(2024, 5, 1))  # 30 days


class TestProration:
    def test_sample_on_a_31_day_period(self) -> None:
        """R-CYC-4: 299000 * 21/31 on Mar 11 (21 days left of 31) = 202548.39 -> 202548."""
        at = jkt(2024, 3, 11, 15)
        assert proration_factor(MARCH_2024, at, JAKARTA) == Fraction(21, 31)
        assert prorate(idr(299_000), MARCH_2024, at, JAKARTA) == idr(202_548)

    def test_sample_rounds_half_up(self) -> None:
        """R-CYC-4, R-MON-2: 299001 * 15/30 = 149500.5 rounds half-up to 149501."""
        at = jkt(2024, 4, 16)
        assert proration_factor(APRIL_2024, at, JAKARTA) == Fraction(15, 30)
        assert prorate(idr(299_001), APRIL_2024, at, JAKARTA) == idr(149_501)
        assert prorate(idr(299_001), APRIL_2024, at, JAKARTA, Rounding.HALF_EVEN) == idr(149_500)

    def test_sample_rounds_up_above_half(self) -> None:
        """R-CYC-4: 50000 * 20/31 = 32258.06 -> 32258; 599000 * 10/31 = 193225.8 -> 193226."""
        assert prorate(idr(50_000), MARCH_2024, jkt(2024, 3, 12), JAKARTA) == idr(32_258)
        assert prorate(idr(599_000), MARCH_2024, jkt(2024, 3, 22), JAKARTA) == idr(193_226)

    def test_full_on_day_one(self) -> None:
        """R-CYC-4: buying any time on the first day of a period costs the full price."""
        for hour in (0, 12, 23):
            assert prorate(idr(299_000), MARCH_2024, jkt(2024, 3, 1, hour), JAKARTA) == idr(299_000)

    def test_last_day_costs_one_day(self) -> None:
        """R-CYC-4: on the last day, one day of the period remains."""
        at = jkt(2024, 3, 31, 23, 59)
        assert proration_factor(MARCH_2024, at, JAKARTA) == Fraction(1, 31)
        assert prorate(idr(31_000), MARCH_2024, at, JAKARTA) == idr(1_000)

    def test_days_are_counted_in_the_accounts_timezone(self) -> None:
        """R-CYC-4: Mar 10 20:00 UTC is already Mar 11 in Jakarta: 21 days left, not 22."""
        at = datetime(2024, 3, 10, 20, tzinfo=UTC)
        assert proration_factor(MARCH_2024, at, JAKARTA) == Fraction(21, 31)

    def test_outside_the_period_is_clamped(self) -> None:
        """R-CYC-4: before the period the factor is 1, at or after its end it is 0."""
        assert proration_factor(MARCH_2024, jkt(2024, 2, 1), JAKARTA) == 1
        assert proration_factor(MARCH_2024, jkt(2024, 4, 1), JAKARTA) == 0
        assert prorate(idr(299_000), MARCH_2024, jkt(2024, 5, 1), JAKARTA) == idr(0)

    @given(st.data(), timezones, intervals, prices)
    def test_bounds_and_monotonicity(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval, amount: int
    ) -> None:
        """R-CYC-4: 0 <= prorated <= full, and it never grows as `at` moves later."""
        anchor = data.draw(anchors(tz))
        period = period_at(anchor, interval, data.draw(st.integers(-3, 3)), tz)
        span = int((period.end - period.start).total_seconds())
        offsets = sorted(data.draw(st.lists(st.integers(-86_400, span), min_size=2, max_size=5)))
        full = idr(amount)
        charged = [prorate(full, period, period.start + timedelta(seconds=o), tz) for o in offsets]
        for value in charged:
            assert idr(0) <= value <= full
        assert charged == sorted(charged, reverse=True)

    @given(st.data(), timezones, intervals, prices)
    def test_full_on_the_first_local_day(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval, amount: int
    ) -> None:
        """R-CYC-4: any moment on the period's first local day is charged the full price."""
        anchor = data.draw(anchors(tz))
        period = period_at(anchor, interval, 0, tz)
        first_day = period.start.astimezone(tz).date()
        seconds = data.draw(st.integers(0, 86_399))
        at = period.start + timedelta(seconds=seconds)
        assume(at.astimezone(tz).date() == first_day)
        assert prorate(idr(amount), period, at, tz) == idr(amount)

    @given(st.data(), timezones, intervals, prices, st.sampled_from(list(Rounding)))
    def test_one_exact_rounding_of_the_formula(
        self, data: st.DataObject, tz: ZoneInfo, interval: Interval, amount: int, mode: Rounding
    ) -> None:
        """R-CYC-4, R-MON-2: prorate == round(amount * remaining_days / period_days) once."""
        anchor = data.draw(anchors(tz))
        period = period_at(anchor, interval, 0, tz)
        span = int((period.end - period.start).total_seconds())
        at = (period.start + timedelta(seconds=data.draw(st.integers(0, span - 1)))).astimezone(
            data.draw(timezones)
        )
        remaining = (period.end.astimezone(tz).date() - at.astimezone(tz).date()).days
        total = (period.end.astimezone(tz).date() - period.start.astimezone(tz).date()).days
        expected = round_fraction(Fraction(amount * remaining, total), mode)
        assert prorate(idr(amount), period, at, tz, mode) == idr(expected)
