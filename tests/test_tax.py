"""Tax on invoices: exclusive, inclusive, PPN's 11/12 base, one rounding (R-INV-7, R-MON-2)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subkit.invoice import InvoiceLine, LineKind, compute_totals
from subkit.money import Money
from subkit.plans import Catalogue, Tax, TaxMode

PPN = Tax(mode=TaxMode.EXCLUSIVE, rate=Fraction(12, 100), base=Fraction(11, 12))

rates = st.integers(min_value=1, max_value=3000).map(lambda basis: Fraction(basis, 10_000))
bases = st.sampled_from([Fraction(1), Fraction(11, 12), Fraction(2, 3), Fraction(1, 7)])
modes = st.sampled_from([TaxMode.EXCLUSIVE, TaxMode.INCLUSIVE])
taxes = st.builds(Tax, mode=modes, rate=rates, base=bases)
all_taxes = taxes | st.just(Tax())


def line(amount: int, quantity: int = 1) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind.ADD_ON,
        name="item",
        quantity=quantity,
        unit_price=Money(amount, "IDR"),
        amount=Money(amount * quantity, "IDR"),
    )


#: Invoice lines priced like subscriptions (a credit line may be negative).
line_lists = st.lists(
    st.builds(line, st.integers(min_value=-5_000_000, max_value=10_000_000), st.integers(1, 5)),
    min_size=1,
    max_size=6,
)
positive_lines = st.lists(
    st.builds(line, st.integers(min_value=0, max_value=10_000_000), st.integers(1, 5)),
    min_size=1,
    max_size=6,
)


def subtotal_of(lines: list[InvoiceLine]) -> int:
    return sum(item.amount.amount for item in lines)


class TestExamples:
    def test_ppn_on_growth_monthly(self) -> None:
        """R-INV-7: Rp299.000 exclusive of PPN 12% × 11/12 -> tax Rp32.890, total Rp331.890."""
        totals = compute_totals([line(299_000)], PPN, "IDR")
        assert totals.subtotal == Money(299_000, "IDR")
        assert totals.tax == Money(32_890, "IDR")
        assert totals.total == Money(331_890, "IDR")

    def test_ppn_from_a_catalogue_setting(self) -> None:
        """The TOML spelling ``rate = "12%"``, ``base = "11/12"`` gives the same tax."""
        data = {
            "currency": "IDR",
            "default_plan": "free",
            "plans": {
                "free": {
                    "name": "Free",
                    "rank": 0,
                    "price": {"monthly": 0},
                    "limits": {"users": 1, "contacts": 500, "broadcast_quota": 0},
                }
            },
            "policy": {"tax": {"mode": "exclusive", "rate": "12%", "base": "11/12"}},
        }
        tax = Catalogue.from_dict(data).policy.tax
        assert tax.effective_rate == Fraction(11, 100)
        assert compute_totals([line(299_000)], tax, "IDR").total == Money(331_890, "IDR")

    def test_inclusive_ppn_keeps_the_price(self) -> None:
        """Inclusive: Rp299.000 holds 299000 × 0.11 / 1.11 = 29630.6... -> Rp29.631."""
        tax = Tax(mode=TaxMode.INCLUSIVE, rate=Fraction(12, 100), base=Fraction(11, 12))
        totals = compute_totals([line(299_000)], tax, "IDR")
        assert totals.tax == Money(29_631, "IDR")
        assert totals.total == Money(299_000, "IDR")

    def test_exact_half_rounds_up(self) -> None:
        """R-MON-2: the default rounding is half-up: 5 × 10% = 0.5 -> 1."""
        tax = Tax(mode=TaxMode.EXCLUSIVE, rate=Fraction(1, 10))
        assert compute_totals([line(5)], tax, "IDR").tax == Money(1, "IDR")
        assert compute_totals([line(4)], tax, "IDR").tax == Money(0, "IDR")

    def test_rounded_once_on_the_subtotal_not_per_line(self) -> None:
        """Three lines of Rp5 at 10% owe 1.5 -> 2, not 3 × round(0.5) = 3."""
        tax = Tax(mode=TaxMode.EXCLUSIVE, rate=Fraction(1, 10))
        assert compute_totals([line(5), line(5), line(5)], tax, "IDR").tax == Money(2, "IDR")


class TestProperties:
    @given(positive_lines)
    def test_inclusive_total_is_the_subtotal(self, lines: list[InvoiceLine]) -> None:
        """R-INV-7: inclusive prices already hold the tax."""
        tax = Tax(mode=TaxMode.INCLUSIVE, rate=Fraction(12, 100), base=Fraction(11, 12))
        totals = compute_totals(lines, tax, "IDR")
        assert totals.total == totals.subtotal
        assert totals.subtotal.amount == subtotal_of(lines)

    @given(line_lists, taxes)
    def test_total_is_subtotal_plus_tax_when_exclusive(
        self, lines: list[InvoiceLine], tax: Tax
    ) -> None:
        totals = compute_totals(lines, tax, "IDR")
        if tax.mode is TaxMode.EXCLUSIVE:
            assert totals.total == totals.subtotal + totals.tax
        else:
            assert totals.total == totals.subtotal

    @given(st.integers(min_value=0, max_value=10**12))
    def test_ppn_is_eleven_percent_within_one_rupiah(self, amount: int) -> None:
        """PPN 12% on a base of 11/12 is an effective 11%, rounded to the nearest rupiah."""
        tax = compute_totals([line(amount)], PPN, "IDR").tax.amount
        assert abs(tax - Fraction(amount * 11, 100)) <= Fraction(1, 2)

    @given(positive_lines, taxes)
    def test_tax_is_the_exact_fraction_rounded_once(
        self, lines: list[InvoiceLine], tax: Tax
    ) -> None:
        """R-MON-2: one rounding of the exact tax on the subtotal, never off by more than 1/2."""
        subtotal = subtotal_of(lines)
        rate = tax.rate * tax.base
        exact = subtotal * rate if tax.mode is TaxMode.EXCLUSIVE else subtotal * rate / (1 + rate)
        got = compute_totals(lines, tax, "IDR").tax.amount
        assert abs(got - exact) <= Fraction(1, 2)
        if abs(got - exact) == Fraction(1, 2):
            assert got > exact  # ties go up

    @given(line_lists, all_taxes)
    def test_tax_is_never_negative(self, lines: list[InvoiceLine], tax: Tax) -> None:
        totals = compute_totals(lines, tax, "IDR")
        assert totals.tax.amount >= 0
        assert totals.tax.currency == "IDR"

    @given(line_lists, taxes)
    def test_untaxable_invoice_has_no_tax(self, lines: list[InvoiceLine], tax: Tax) -> None:
        """``taxable=False`` (a top-up with ``tax_top_ups = false``) gives zero tax."""
        totals = compute_totals(lines, tax, "IDR", taxable=False)
        assert totals.tax == Money(0, "IDR")
        assert totals.total == totals.subtotal

    @given(line_lists, rates, bases)
    def test_mode_none_has_no_tax(
        self, lines: list[InvoiceLine], rate: Fraction, base: Fraction
    ) -> None:
        totals = compute_totals(lines, Tax(mode=TaxMode.NONE, rate=rate, base=base), "IDR")
        assert totals.tax == Money(0, "IDR")
        assert totals.total == totals.subtotal

    @pytest.mark.parametrize("mode", [TaxMode.EXCLUSIVE, TaxMode.INCLUSIVE])
    def test_empty_invoice_has_no_tax(self, mode: TaxMode) -> None:
        totals = compute_totals([], Tax(mode=mode, rate=Fraction(12, 100)), "IDR")
        assert totals == compute_totals([], Tax(), "IDR")
        assert totals.total == Money(0, "IDR")
