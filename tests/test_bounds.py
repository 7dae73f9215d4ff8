"""The limits of R-LIM at their edges, and the crashes issue 13 found, one regression each."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import PROFILE, idr
from stores import ALL_STORES
from subkit import bounds
from subkit.errors import (
    InsufficientBalance,
    InvalidAmount,
    InvalidArgument,
    InvalidQuantity,
    TopUpOutOfRange,
)
from subkit.invoice import BillingProfile
from subkit.money import Money, format_money
from subkit.ports import PaymentEvent
from subkit.service import Billing

LIMIT = 10**15
pytestmark = ALL_STORES


class TestMoneyBound:
    @given(st.integers(min_value=-LIMIT, max_value=LIMIT))
    def test_every_amount_within_the_bound_is_money(self, amount: int) -> None:
        """R-LIM-1: |amount| <= 10**15 is accepted, and displays."""
        money = Money(amount, "IDR")
        assert money.amount == amount
        assert format_money(money).startswith("-Rp" if amount < 0 else "Rp")

    @given(st.integers(min_value=LIMIT + 1) | st.integers(max_value=-LIMIT - 1))
    def test_every_amount_beyond_the_bound_is_invalid_amount(self, amount: int) -> None:
        """R-LIM-1: one unit beyond, or any number of units beyond, is InvalidAmount."""
        with pytest.raises(InvalidAmount) as caught:
            Money(amount, "USD")
        assert caught.value.code == "invalid_amount"

    def test_the_edges_exactly(self) -> None:
        assert Money(LIMIT, "IDR").amount == LIMIT
        assert Money(-LIMIT, "IDR").amount == -LIMIT
        for amount in (LIMIT + 1, -LIMIT - 1):
            with pytest.raises(InvalidAmount):
                Money(amount, "IDR")

    def test_arithmetic_cannot_leave_the_bound(self) -> None:
        """The bound holds for every balance and total: a sum beyond it is refused too."""
        with pytest.raises(InvalidAmount):
            Money(LIMIT, "IDR") + Money(1, "IDR")
        with pytest.raises(InvalidAmount):
            Money(LIMIT, "IDR") * 2

    def test_a_huge_amount_does_not_make_a_huge_message(self) -> None:
        """int->str conversion has a limit in Python; the refusal must not hit it."""
        with pytest.raises(InvalidAmount, match="beyond the limit"):
            Money(10**5000, "IDR")


class TestCounts:
    @given(st.integers(min_value=1, max_value=bounds.MAX_COUNT))
    def test_counts_in_range_are_accepted(self, value: int) -> None:
        assert bounds.count(value, "count") == value

    @given(
        st.integers(max_value=0)
        | st.integers(min_value=bounds.MAX_COUNT + 1)
        | st.floats()
        | st.booleans()
        | st.text()
        | st.none()
    )
    def test_everything_else_is_invalid_quantity(self, value: object) -> None:
        """R-LIM-1: counts are ints in 1..1,000,000, never bool, float or str."""
        with pytest.raises(InvalidQuantity):
            bounds.count(value, "count")


class TestIdentifiers:
    @given(
        st.text(
            st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=255
        ).filter(str.strip)
    )
    def test_printable_strings_up_to_255_are_identifiers(self, value: str) -> None:
        assert bounds.identifier(value, "account_id") == value

    @given(st.text(min_size=256, max_size=300))
    def test_longer_strings_are_refused(self, value: str) -> None:
        with pytest.raises(InvalidArgument) as caught:
            bounds.identifier(value, "key")
        assert caught.value.argument == "key"

    @given(
        st.text(max_size=20),
        st.characters(whitelist_categories=("Cc", "Cs")),
        st.text(max_size=20),
    )
    def test_a_control_character_or_lone_surrogate_anywhere_is_refused(
        self, head: str, bad: str, tail: str
    ) -> None:
        """R-LIM-2: valid Unicode, no control characters."""
        with pytest.raises(InvalidArgument) as caught:
            bounds.identifier(head + "x" + bad + tail, "event_id")
        assert caught.value.argument == "event_id"

    def test_the_length_edge_exactly(self) -> None:
        assert bounds.identifier("a" * 255, "account_id")
        with pytest.raises(InvalidArgument):
            bounds.identifier("a" * 256, "account_id")


class TestHostText:
    def test_only_an_address_may_break_lines_and_be_1000_long(self) -> None:
        """R-LIM-3 at its edges."""
        assert bounds.text("x" * 500, "name") == "x" * 500
        with pytest.raises(InvalidArgument):
            bounds.text("x" * 501, "name")
        address = "Jl. Melati 1\r\nBandung" + "x" * (1000 - 21)
        assert len(address) == 1000
        assert bounds.text(address, "address", maximum=1000, lines=True) == address
        with pytest.raises(InvalidArgument):
            bounds.text(address + "x", "address", maximum=1000, lines=True)
        with pytest.raises(InvalidArgument):
            bounds.text("Jl. Melati\nBandung", "name")
        with pytest.raises(InvalidArgument):  # a vertical tab is no line break an address keeps
            bounds.text("Jl. Melati\x0bBandung", "address", maximum=1000, lines=True)

    def test_a_profile_checks_its_text(self) -> None:
        assert BillingProfile("PT X", "x@example.com", "Jl. 1\nBandung").check()
        with pytest.raises(InvalidArgument) as caught:
            BillingProfile("PT X\nLUNAS / PAID", "x@example.com").check()
        assert caught.value.argument == "profile.name"


# -- the crashes issue 13 found ------------------------------------------------------------------


@pytest.fixture
def acme(billing: Billing, account: str) -> Billing:
    """The facade on each store (ALL_STORES), with the account "acme" and its profile."""
    return billing


class TestIssue13Crashes:
    """Each was a builtin error from deep inside (or a silent acceptance); now typed."""

    def test_an_amount_of_10_28_is_refused_not_a_decimal_crash(self, acme: Billing) -> None:
        with pytest.raises(InvalidAmount):
            acme.top_up("acme", "conversation", 10**28)
        with pytest.raises(InvalidAmount):
            acme.adjust_balance("acme", "conversation", 10**28, key="k", reason="r")
        assert acme.balances("acme").conversation == idr(15_000)

    def test_2_63_never_reaches_sqlite(self, acme: Billing) -> None:
        with pytest.raises(InvalidAmount):
            acme.adjust_balance("acme", "conversation", 2**63, key="k", reason="r")
        with pytest.raises(InvalidQuantity):
            acme.charge_replies("acme", 2**63, key="k")
        with pytest.raises(InvalidQuantity):
            acme.buy_addons("acme", {"extra_user": 2**63})

    def test_the_amount_bound_at_the_facade(self, acme: Billing) -> None:
        """10**15 is an amount (refused for what it is), 10**15 + 1 is not an amount."""
        with pytest.raises(TopUpOutOfRange):
            acme.top_up("acme", "conversation", LIMIT)
        with pytest.raises(InvalidAmount):
            acme.top_up("acme", "conversation", LIMIT + 1)
        with pytest.raises(InsufficientBalance):
            acme.adjust_balance("acme", "conversation", -LIMIT, key="k", reason="r")
        with pytest.raises(InvalidAmount):
            acme.adjust_balance("acme", "conversation", -LIMIT - 1, key="k", reason="r")

    def test_a_balance_cannot_be_adjusted_beyond_the_bound(self, acme: Billing) -> None:
        """R-LIM-1 "and so every balance": 15.000 + (10**15 - 15.000) is the most."""
        acme.adjust_balance("acme", "conversation", LIMIT - 15_000, key="k1", reason="r")
        assert acme.balances("acme").conversation == idr(LIMIT)
        with pytest.raises(InvalidAmount):
            acme.adjust_balance("acme", "conversation", 1, key="k2", reason="r")
        assert acme.balances("acme").conversation == idr(LIMIT)

    def test_the_count_bound_at_the_facade(self, acme: Billing) -> None:
        with pytest.raises(InsufficientBalance):  # a count, just too dear
            acme.charge_replies("acme", bounds.MAX_COUNT, key="k")
        with pytest.raises(InvalidQuantity):
            acme.charge_replies("acme", bounds.MAX_COUNT + 1, key="k")

    def test_float_quantities(self, acme: Billing) -> None:
        with pytest.raises(InvalidQuantity):
            acme.charge_replies("acme", 1.0, key="k")  # type: ignore[arg-type]
        with pytest.raises(InvalidQuantity):
            acme.charge_broadcast("acme", 2.5, key="k")  # type: ignore[arg-type]
        with pytest.raises(InvalidQuantity):
            acme.quote_change("acme", "growth", addons={"extra_user": 1.0})  # type: ignore[dict-item]

    def test_unknown_interval_strings(self, acme: Billing) -> None:
        with pytest.raises(InvalidArgument) as caught:
            acme.quote_change("acme", "growth", interval="weekly")
        assert caught.value.argument == "interval"

    def test_status_none(self, acme: Billing) -> None:
        checkout = acme.top_up("acme", "conversation", 10_000)
        assert checkout.invoice is not None
        event = PaymentEvent(checkout.invoice.code, None, "r", idr(10_000))  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument) as caught:
            acme.apply_payment(event)
        assert caught.value.argument == "event.status"

    @pytest.mark.parametrize("addons", ["extra_user", ["extra_user"]])
    def test_addons_as_a_string_or_a_list(self, acme: Billing, addons: object) -> None:
        with pytest.raises(InvalidArgument) as caught:
            acme.buy_addons("acme", addons)  # type: ignore[arg-type]
        assert caught.value.argument == "quantities"
        with pytest.raises(InvalidArgument) as caught:
            acme.change_plan("acme", "growth", addons=addons)  # type: ignore[arg-type]
        assert caught.value.argument == "addons"

    @pytest.mark.parametrize("account_id", [["acme"], "ac\ud800me", ("acme",)])
    def test_ids_that_are_lists_or_hold_lone_surrogates(
        self, acme: Billing, account_id: object
    ) -> None:
        with pytest.raises(InvalidArgument) as caught:
            acme.subscription(account_id)  # type: ignore[arg-type]
        assert caught.value.argument == "account_id"
        with pytest.raises(InvalidArgument):
            acme.open_account(account_id)  # type: ignore[arg-type]

    def test_empty_profile_name_non_string_name_and_empty_key(self, acme: Billing) -> None:
        with pytest.raises(InvalidArgument) as caught:
            acme.set_billing_profile("acme", BillingProfile("", "x@example.com"))
        assert caught.value.argument == "profile.name"
        with pytest.raises(InvalidArgument) as caught:
            BillingProfile(name=123, email="x@example.com")  # type: ignore[arg-type]
        assert caught.value.argument == "profile.name"
        with pytest.raises(InvalidArgument) as caught:
            acme.top_up("acme", "conversation", 10_000, idempotency_key="")
        assert caught.value.argument == "idempotency_key"
        assert acme.billing_profile("acme") == PROFILE

    def test_a_name_that_would_add_a_paid_line_is_refused(self, acme: Billing) -> None:
        """R-LIM-3: the line break never reaches an invoice."""
        with pytest.raises(InvalidArgument):
            acme.set_billing_profile("acme", BillingProfile("PT X\nLUNAS / PAID", "x@example.com"))
        with pytest.raises(InvalidArgument):
            acme.set_billing_profile("acme", BillingProfile("\x1b[2JPT X", "x@example.com"))
