"""Money: exact integer amounts in a currency's unit, one rounding, Babel display (R-MON).

An amount is an ``int`` counted in the currency's smallest unit *as subkit uses it*: whole
rupiah for IDR (subkit treats IDR as having no decimals, as Indonesian prices are quoted),
cents for USD and EUR, and so on. Fractional results (proration, tax) are computed with
:class:`fractions.Fraction` and rounded once through a named :class:`Rounding` mode.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from fractions import Fraction
from typing import Any

import attrs
from babel.numbers import format_currency, get_currency_precision

from subkit.bounds import MAX_AMOUNT
from subkit.errors import CurrencyMismatch, InvalidAmount

# Currencies that subkit counts in whole units although ISO 4217 gives them decimals.
_WHOLE_UNIT_CURRENCIES = frozenset({"IDR"})


class Rounding(enum.StrEnum):
    """How a fraction becomes a whole unit. Ties are exact halves."""

    HALF_UP = "half_up"  # ties away from zero: 0.5 -> 1, -0.5 -> -1
    HALF_EVEN = "half_even"  # banker's rounding
    DOWN = "down"  # toward zero
    UP = "up"  # away from zero
    FLOOR = "floor"
    CEILING = "ceiling"


def round_fraction(value: Fraction | int, mode: Rounding = Rounding.HALF_UP) -> int:
    """Round an exact fraction to an ``int`` with ``mode``; the one place subkit rounds."""
    value = Fraction(value)
    floor = value.numerator // value.denominator
    remainder = value - floor
    if remainder == 0:
        return floor
    match mode:
        case Rounding.FLOOR:
            return floor
        case Rounding.CEILING:
            return floor + 1
        case Rounding.DOWN:
            return floor if value > 0 else floor + 1
        case Rounding.UP:
            return floor + 1 if value > 0 else floor
        case Rounding.HALF_UP:
            if remainder == Fraction(1, 2):
                return floor + 1 if value > 0 else floor
            return floor + 1 if remainder > Fraction(1, 2) else floor
        case Rounding.HALF_EVEN:
            if remainder == Fraction(1, 2):
                return floor if floor % 2 == 0 else floor + 1
            return floor + 1 if remainder > Fraction(1, 2) else floor
    raise ValueError(f"unknown rounding mode {mode!r}")  # pragma: no cover


def _check_amount(instance: Money, attribute: attrs.Attribute[int], value: object) -> None:
    # bool is an int subclass; a float must never become money (R-MON-1).
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Money amount must be an int, not {type(value).__name__}")
    if not -MAX_AMOUNT <= value <= MAX_AMOUNT:
        # R-LIM-1: no amount beyond the bound exists, so every balance, total and stored
        # column stays far inside 64-bit integers and Babel's decimal precision.
        shown = str(value) if value.bit_length() < 128 else "a number that large"
        raise InvalidAmount(f"amount {shown} is beyond the limit of ±10**15 units")


#: Currency codes already checked: every Money is built through the validator, and
#: charges build several each, so a code is checked once per process (a set lookup after).
_CHECKED_CURRENCIES: set[str] = set()


def _check_currency(instance: Money, attribute: attrs.Attribute[str], value: object) -> None:
    if type(value) is str and value in _CHECKED_CURRENCIES:
        return
    if not (isinstance(value, str) and len(value) == 3 and value.isalpha() and value.isupper()):
        raise ValueError(f"currency must be a 3-letter ISO 4217 code, not {value!r}")
    if type(value) is str and len(_CHECKED_CURRENCIES) < 512:  # a str subclass may lie
        _CHECKED_CURRENCIES.add(value)


@attrs.frozen(order=False)
class Money:
    """An exact amount of one currency. Immutable; arithmetic never mixes currencies."""

    amount: int = attrs.field(validator=_check_amount)
    currency: str = attrs.field(validator=_check_currency)

    @classmethod
    def of(cls, value: Money | int, currency: str) -> Money:
        """Accept a ``Money`` (checked against ``currency``) or an ``int`` in ``currency``."""
        if isinstance(value, Money):
            if value.currency != currency:
                raise CurrencyMismatch(
                    f"expected an amount in {currency}, got {value.currency}",
                    expected=currency,
                    received=value.currency,
                )
            return value
        return cls(value, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise CurrencyMismatch(
                f"cannot combine {self.currency} with {other.currency}",
                expected=self.currency,
                received=other.currency,
            )
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int; use scale() for fractions")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def scale(self, factor: Fraction, rounding: Rounding = Rounding.HALF_UP) -> Money:
        """Multiply by an exact fraction and round once."""
        if not isinstance(factor, Fraction | int) or isinstance(factor, bool):
            raise TypeError("scale() takes a Fraction or an int, never a float")
        return Money(round_fraction(self.amount * Fraction(factor), rounding), self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return self.amount != 0

    @property
    def is_zero(self) -> bool:
        return self.amount == 0

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        return format_money(self)


def money_sum(items: Any, currency: str) -> Money:
    """Sum an iterable of ``Money`` in ``currency`` (zero when empty)."""
    total = Money.zero(currency)
    for item in items:
        total = total + item
    return total


def minor_digits(currency: str) -> int:
    """How many decimals one unit of ``currency`` has in subkit (0 for IDR)."""
    if currency in _WHOLE_UNIT_CURRENCIES:
        return 0
    return int(get_currency_precision(currency))


def format_money(money: Money, locale: str = "id_ID") -> str:
    """Format for display with Babel (R-MON-3).

    Indonesian shows the local symbol without a space (``Rp15.000``); every other locale
    shows the ISO code and a space (``IDR 15,000``), so an English reader never mistakes
    the currency. Negative amounts carry a leading minus.
    """
    digits = minor_digits(money.currency)
    number = Decimal(money.amount).scaleb(-digits)
    decimals = "." + "0" * digits if digits else ""
    indonesian = str(locale).replace("-", "_").split("_")[0] == "id"
    pattern = ("¤#,##0" if indonesian else "¤¤ #,##0") + decimals
    return str(
        format_currency(
            number, money.currency, format=pattern, locale=locale, currency_digits=False
        )
    )


__all__ = ["Money", "Rounding", "format_money", "minor_digits", "money_sum", "round_fraction"]
