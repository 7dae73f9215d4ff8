"""Money: exact integer amounts, one rounding, Babel display (R-MON)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import amounts, money
from subkit.errors import CurrencyMismatch, SubkitError
from subkit.money import Money, Rounding, format_money, minor_digits, money_sum, round_fraction

IDR = "IDR"


class TestConstruction:
    def test_int_amount_is_kept_exactly(self) -> None:
        """R-MON-1: an int amount is stored as given, with its currency."""
        value = Money(15_000, IDR)
        assert (value.amount, value.currency) == (15_000, IDR)

    @pytest.mark.parametrize("amount", [1.0, 0.5, Decimal("1"), Fraction(1, 2), "15000", None])
    def test_non_int_amounts_are_refused(self, amount: object) -> None:
        """R-MON-1: floats (and any other non-int) are refused with TypeError."""
        with pytest.raises(TypeError):
            Money(amount, IDR)  # type: ignore[arg-type]

    @pytest.mark.parametrize("amount", [True, False])
    def test_bools_are_refused(self, amount: bool) -> None:
        """R-MON-1: a bool is an int subclass but never an amount."""
        with pytest.raises(TypeError):
            Money(amount, IDR)

    @pytest.mark.parametrize("currency", ["idr", "RUPIAH", "ID", "", 360, "I1R"])
    def test_bad_currency_codes_are_refused(self, currency: object) -> None:
        """R-MON-1: the currency is a 3-letter upper-case ISO 4217 code."""
        with pytest.raises(ValueError):
            Money(1, currency)  # type: ignore[arg-type]

    def test_money_is_immutable(self) -> None:
        """R-MON-1: Money is an immutable value."""
        value = Money(1, IDR)
        with pytest.raises(AttributeError):
            value.amount = 2  # type: ignore[misc]

    def test_of_accepts_int_and_matching_money(self) -> None:
        """R-ERR: amount arguments accept an int in the catalogue's currency, or Money."""
        assert Money.of(500, IDR) == Money(500, IDR)
        same = Money(500, IDR)
        assert Money.of(same, IDR) is same

    def test_of_refuses_other_currency(self) -> None:
        """R-MON-1: Money.of refuses Money in another currency with CurrencyMismatch."""
        with pytest.raises(CurrencyMismatch) as caught:
            Money.of(Money(5, "USD"), IDR)
        assert (caught.value.expected, caught.value.received) == (IDR, "USD")

    def test_zero(self) -> None:
        """R-MON-1: Money.zero is an amount of 0 in the currency."""
        assert Money.zero(IDR) == Money(0, IDR)
        assert Money.zero(IDR).is_zero and not Money.zero(IDR)


class TestArithmetic:
    @given(money(), money(), money())
    def test_addition_is_associative(self, a: Money, b: Money, c: Money) -> None:
        """R-MON-1: (a + b) + c == a + (b + c), exactly."""
        assert (a + b) + c == a + (b + c)

    @given(money(), money())
    def test_addition_is_commutative(self, a: Money, b: Money) -> None:
        """R-MON-1: a + b == b + a."""
        assert a + b == b + a

    @given(money())
    def test_zero_is_the_identity(self, a: Money) -> None:
        """R-MON-1: adding zero changes nothing."""
        assert a + Money.zero(IDR) == a == Money.zero(IDR) + a

    @given(money())
    def test_negation(self, a: Money) -> None:
        """R-MON-1: a + (-a) is zero, -(-a) is a, and a - b == a + (-b)."""
        assert a + (-a) == Money.zero(IDR)
        negated = -a
        assert -negated == a
        assert (-a).amount == -a.amount
        assert abs(-a) == abs(a)

    @given(money(), money())
    def test_subtraction_is_adding_the_negation(self, a: Money, b: Money) -> None:
        """R-MON-1: a - b == a + (-b), and (a - b) + b == a."""
        assert a - b == a + (-b)
        assert (a - b) + b == a

    @given(amounts, st.integers(-1000, 1000))
    def test_multiplication_by_int(self, amount: int, factor: int) -> None:
        """R-MON-1: Money * int (either side) multiplies the amount exactly."""
        assert Money(amount, IDR) * factor == Money(amount * factor, IDR)
        assert factor * Money(amount, IDR) == Money(amount * factor, IDR)

    @given(money(), money(currency="USD"))
    def test_no_currency_mixing(self, a: Money, b: Money) -> None:
        """R-MON-1: adding, subtracting or comparing two currencies raises CurrencyMismatch."""
        for operation in (
            lambda: a + b,
            lambda: a - b,
            lambda: a < b,
            lambda: a <= b,
            lambda: a > b,
            lambda: a >= b,
        ):
            with pytest.raises(CurrencyMismatch):
                operation()

    def test_currency_mismatch_is_a_type_error_and_subkit_error(self) -> None:
        """R-ERR: CurrencyMismatch is both a SubkitError and a TypeError."""
        with pytest.raises(SubkitError):
            Money(1, IDR) + Money(1, "USD")
        with pytest.raises(TypeError):
            Money(1, IDR) + Money(1, "USD")

    @pytest.mark.parametrize("other", [1, 1.5, Decimal(1), "1"])
    def test_adding_non_money_is_refused(self, other: object) -> None:
        """R-MON-1: Money only combines with Money."""
        with pytest.raises(TypeError):
            Money(1, IDR) + other  # type: ignore[operator]

    @pytest.mark.parametrize("factor", [1.5, 2.0, True, Fraction(1, 2), Decimal(2)])
    def test_multiplying_by_non_int_is_refused(self, factor: object) -> None:
        """R-MON-1, R-MON-2: floats, bools and fractions never multiply money; scale() does."""
        with pytest.raises(TypeError):
            Money(10, IDR) * factor  # type: ignore[operator]

    @given(money(), money())
    def test_ordering_follows_amounts(self, a: Money, b: Money) -> None:
        """R-MON-1: comparisons of one currency follow the amounts."""
        assert (a < b) == (a.amount < b.amount)
        assert (a <= b) == (a.amount <= b.amount)
        assert (a > b) == (a.amount > b.amount)
        assert (a >= b) == (a.amount >= b.amount)

    def test_money_sum(self) -> None:
        """R-MON-1: money_sum adds Money of one currency; zero when empty."""
        assert money_sum([], IDR) == Money(0, IDR)
        assert money_sum([Money(1, IDR), Money(2, IDR), Money(-5, IDR)], IDR) == Money(-2, IDR)
        with pytest.raises(CurrencyMismatch):
            money_sum([Money(1, "USD")], IDR)


# (value, HALF_UP, HALF_EVEN, DOWN, UP, FLOOR, CEILING)
ROUNDING_TABLE = [
    (Fraction(5, 2), 3, 2, 2, 3, 2, 3),
    (Fraction(7, 2), 4, 4, 3, 4, 3, 4),
    (Fraction(-5, 2), -3, -2, -2, -3, -3, -2),
    (Fraction(-7, 2), -4, -4, -3, -4, -4, -3),
    (Fraction(1, 2), 1, 0, 0, 1, 0, 1),
    (Fraction(-1, 2), -1, 0, 0, -1, -1, 0),
    (Fraction(12, 5), 2, 2, 2, 3, 2, 3),  # 2.4
    (Fraction(13, 5), 3, 3, 2, 3, 2, 3),  # 2.6
    (Fraction(-12, 5), -2, -2, -2, -3, -3, -2),  # -2.4
    (Fraction(-13, 5), -3, -3, -2, -3, -3, -2),  # -2.6
    (Fraction(1, 3), 0, 0, 0, 1, 0, 1),
    (Fraction(-1, 3), 0, 0, 0, -1, -1, 0),
    (Fraction(4), 4, 4, 4, 4, 4, 4),
    (Fraction(-4), -4, -4, -4, -4, -4, -4),
    (Fraction(0), 0, 0, 0, 0, 0, 0),
]
MODES = [
    Rounding.HALF_UP,
    Rounding.HALF_EVEN,
    Rounding.DOWN,
    Rounding.UP,
    Rounding.FLOOR,
    Rounding.CEILING,
]


class TestRounding:
    @pytest.mark.parametrize(
        ("value", "mode", "expected"),
        [(row[0], mode, row[1 + i]) for row in ROUNDING_TABLE for i, mode in enumerate(MODES)],
    )
    def test_every_mode_on_exact_samples(
        self, value: Fraction, mode: Rounding, expected: int
    ) -> None:
        """R-MON-2: each rounding mode, including negative ties, on exact sample values."""
        assert round_fraction(value, mode) == expected

    def test_default_mode_is_half_up(self) -> None:
        """R-MON-2: the default rounding is half-up to a whole unit (ties away from zero)."""
        assert round_fraction(Fraction(5, 2)) == 3
        assert round_fraction(Fraction(-5, 2)) == -3

    @given(st.fractions(max_denominator=1000).filter(lambda f: abs(f) < 10**9))
    def test_result_is_within_one_unit(self, value: Fraction) -> None:
        """R-MON-2: every mode lands on an integer less than one unit from the exact value."""
        for mode in Rounding:
            result = round_fraction(value, mode)
            assert isinstance(result, int)
            assert abs(result - value) < 1
        assert (
            round_fraction(value, Rounding.FLOOR)
            <= value
            <= round_fraction(value, Rounding.CEILING)
        )

    @given(st.fractions(max_denominator=1000).filter(lambda f: abs(f) < 10**9))
    def test_modes_against_decimal(self, value: Fraction) -> None:
        """R-MON-2: the modes agree with the decimal module's rounding of the same value."""
        import decimal

        names = {
            Rounding.HALF_UP: decimal.ROUND_HALF_UP,
            Rounding.HALF_EVEN: decimal.ROUND_HALF_EVEN,
            Rounding.DOWN: decimal.ROUND_DOWN,
            Rounding.UP: decimal.ROUND_UP,
            Rounding.FLOOR: decimal.ROUND_FLOOR,
            Rounding.CEILING: decimal.ROUND_CEILING,
        }
        context = decimal.Context(prec=60)
        exact = context.divide(Decimal(value.numerator), Decimal(value.denominator))
        for mode, name in names.items():
            # Thirds and the like are not exact in decimal, but 60 digits decide every case
            # except exact ties, which are exact in decimal too (denominator 2).
            expected = int(exact.quantize(Decimal(1), rounding=name, context=context))
            assert round_fraction(value, mode) == expected, mode


class TestScale:
    def test_proration_sample(self) -> None:
        """R-MON-2: 299000 * 21/31 = 202548.39 rounds half-up to 202548."""
        assert Money(299_000, IDR).scale(Fraction(21, 31)) == Money(202_548, IDR)

    def test_ties_follow_the_mode(self) -> None:
        """R-MON-2: 299001 / 2 = 149500.5 rounds to 149501 half-up, 149500 half-even."""
        value = Money(299_001, IDR)
        assert value.scale(Fraction(1, 2)) == Money(149_501, IDR)
        assert value.scale(Fraction(1, 2), Rounding.HALF_EVEN) == Money(149_500, IDR)
        assert value.scale(Fraction(1, 2), Rounding.DOWN) == Money(149_500, IDR)
        assert (-value).scale(Fraction(1, 2)) == Money(-149_501, IDR)

    def test_rounds_once_not_per_step(self) -> None:
        """R-MON-2: scale rounds the exact product once; rounding each step would drift."""
        price = Money(100, IDR)
        factor = Fraction(1, 3) * 3
        assert price.scale(factor) == Money(100, IDR)
        # Rounding after each third gives 33 * 3 = 99: the drift one rounding avoids.
        assert price.scale(Fraction(1, 3)) * 3 == Money(99, IDR)
        assert Money(5, IDR).scale(Fraction(3, 10)) == Money(2, IDR)  # 1.5 -> 2, once

    @given(amounts, st.fractions(min_value=-10, max_value=10, max_denominator=400))
    def test_scale_is_one_exact_rounding(self, amount: int, factor: Fraction) -> None:
        """R-MON-2: scale(f) == round_fraction(amount * f), for every mode."""
        for mode in Rounding:
            assert Money(amount, IDR).scale(factor, mode) == Money(
                round_fraction(amount * factor, mode), IDR
            )

    @pytest.mark.parametrize("factor", [0.5, True, Decimal("0.5"), "1/2"])
    def test_scale_refuses_floats(self, factor: object) -> None:
        """R-MON-2: floats never touch money, not even as a factor."""
        with pytest.raises(TypeError):
            Money(10, IDR).scale(factor)  # type: ignore[arg-type]


class TestFormat:
    def test_indonesian(self) -> None:
        """R-MON-3: Indonesian display is Rp15.000: no space, '.' thousands, no decimals."""
        assert format_money(Money(15_000, IDR)) == "Rp15.000"
        assert format_money(Money(15_000, IDR), locale="id_ID") == "Rp15.000"
        assert format_money(Money(1_234_567, IDR), locale="id") == "Rp1.234.567"
        assert format_money(Money(0, IDR)) == "Rp0"

    def test_indonesian_negative(self) -> None:
        """R-MON-3: negative amounts carry a leading minus: -Rp15.000."""
        assert format_money(Money(-15_000, IDR)) == "-Rp15.000"

    def test_english_idr(self) -> None:
        """R-MON-3: English display of IDR is the ISO code and a space: IDR 15,000."""
        assert format_money(Money(15_000, IDR), locale="en") == "IDR 15,000"
        assert format_money(Money(15_000, IDR), locale="en_US") == "IDR 15,000"
        assert format_money(Money(-15_000, IDR), locale="en") == "-IDR 15,000"

    def test_usd_has_cents(self) -> None:
        """R-MON-1, R-MON-3: USD amounts count cents and display two decimals."""
        assert format_money(Money(123_456, "USD"), locale="en") == "USD 1,234.56"
        assert format_money(Money(5, "USD"), locale="en") == "USD 0.05"
        assert format_money(Money(-100, "USD"), locale="en") == "-USD 1.00"

    def test_str_is_indonesian_display(self) -> None:
        """R-MON-3: str(Money) is the default (Indonesian) display."""
        assert str(Money(15_000, IDR)) == "Rp15.000"

    def test_minor_digits(self) -> None:
        """R-MON-1: IDR counts whole rupiah; USD counts cents; JPY whole yen."""
        assert minor_digits(IDR) == 0
        assert minor_digits("USD") == 2
        assert minor_digits("JPY") == 0

    @given(st.integers(min_value=0, max_value=10**12))
    def test_indonesian_digits_round_trip(self, amount: int) -> None:
        """R-MON-3: the Indonesian display is 'Rp' then the amount grouped with '.'."""
        shown = format_money(Money(amount, IDR))
        assert shown.startswith("Rp")
        assert int(shown[2:].replace(".", "")) == amount
        assert format_money(Money(-amount, IDR)) == (f"-{shown}" if amount else shown)
