"""Catalogue bounds (R-LIM-5, R-LIM-1, R-LIM-3): a catalogue that loads is usable on every
store; one that could not be is a CatalogueError naming each problem's key path."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import PROFILE, default_catalogue_toml, pay
from stores import ALL_STORES
from subkit.errors import CatalogueError, InvalidAmount
from subkit.invoice import format_code
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock

pytestmark = ALL_STORES
LIMIT = 10**15


def base() -> dict[str, Any]:
    return tomllib.loads(default_catalogue_toml())


def problems_of(change: Callable[[dict[str, Any]], object]) -> list[str]:
    data = base()
    change(data)
    with pytest.raises(CatalogueError) as caught:
        Catalogue.from_dict(data)
    return caught.value.problems


def loads(change: Callable[[dict[str, Any]], object]) -> Catalogue:
    data = base()
    change(data)
    return Catalogue.from_dict(data)


def _plan(data: dict[str, Any], code: object) -> None:
    data["plans"][code] = copy.deepcopy(data["plans"]["pro"]) | {"rank": 9}


class TestCodes:
    @pytest.mark.parametrize("code", [7, None, "", "Growth", "1st", "a-b", "a b", "é", "a" * 41])
    def test_a_plan_code_that_is_not_one_is_refused(self, code: object) -> None:
        """R-LIM-5: plan codes match [a-z][a-z0-9_]{0,39}; the issue's 7, None and ""."""
        problems = problems_of(lambda d: _plan(d, code))
        assert problems == [
            f"plans.{code}: code {code!r} must be a lower-case letter, then up to 39 lower-case"
            " letters, digits or '_'"
        ]

    @pytest.mark.parametrize("code", [7, "", "Extra", "x" * 41])
    def test_an_addon_code_that_is_not_one_is_refused(self, code: object) -> None:
        def change(d: dict[str, Any]) -> None:
            d["addons"][code] = d["addons"]["extra_user"]

        (problem,) = problems_of(change)
        assert problem.startswith(f"addons.{code}: code {code!r} must be")

    def test_the_longest_codes_load(self) -> None:
        code = "a" + "b_9" * 13
        assert len(code) == 40
        assert code in loads(lambda d: _plan(d, code)).plans


class TestNumbers:
    @pytest.mark.parametrize(
        ("key", "value", "message"),
        [("grace_days", 367, "must be <= 366"), ("payment_window_hours", 721, "must be <= 720")],
    )
    def test_policy_bounds(self, key: str, value: int, message: str) -> None:
        """R-LIM-5: grace_days <= 366, payment_window_hours <= 720."""
        (problem,) = problems_of(lambda d: d.setdefault("policy", {}).update({key: value}))
        assert problem == f"policy.{key}: {message}"

    def test_policy_edges_load(self) -> None:
        catalogue = loads(
            lambda d: d.setdefault("policy", {}).update(grace_days=366, payment_window_hours=720)
        )
        assert (catalogue.policy.grace_days, catalogue.policy.payment_window_hours) == (366, 720)

    @pytest.mark.parametrize(
        ("tax", "path"),
        [
            ({"mode": "exclusive", "rate": "101%"}, "policy.tax.rate"),
            ({"mode": "exclusive", "rate": "3/2"}, "policy.tax.rate"),
            ({"mode": "exclusive", "rate": "12%", "base": "13/12"}, "policy.tax.base"),
            ({"mode": "exclusive", "rate": "-1%"}, "policy.tax.rate"),
        ],
    )
    def test_a_tax_rate_is_within_0_to_100_percent(self, tax: dict[str, str], path: str) -> None:
        (problem,) = problems_of(lambda d: d.setdefault("policy", {}).update(tax=tax))
        assert problem == f"{path}: must be within 0..100%"

    def test_a_100_percent_tax_loads(self) -> None:
        catalogue = loads(
            lambda d: d.setdefault("policy", {}).update(tax={"mode": "exclusive", "rate": "100%"})
        )
        assert catalogue.policy.tax.effective_rate == 1

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            (
                lambda d: d["plans"]["pro"]["price"].update(monthly=LIMIT + 1),
                "plans.pro.price.monthly",
            ),
            (lambda d: d["plans"]["pro"]["price"].update(annual=10**28), "plans.pro.price.annual"),
            (
                lambda d: d["plans"]["pro"]["included"].update(conversation=2**63),
                "plans.pro.included.conversation",
            ),
            (lambda d: d["rates"].update(reply=10**28), "rates.reply"),
            (lambda d: d["topup"]["conversation"].update(max=2**63), "topup.conversation.max"),
            (lambda d: d["plans"]["pro"]["limits"].update(users=2**63), "plans.pro.limits.users"),
            (
                lambda d: d["addons"]["extra_user"].update(max_quantity=1_000_001),
                "addons.extra_user.max_quantity",
            ),
            (lambda d: d["plans"]["pro"].update(rank=-(2**63)), "plans.pro.rank"),
        ],
    )
    def test_extreme_numbers_are_refused(self, change: Callable[[Any], None], path: str) -> None:
        """R-LIM-1: no catalogue number passes 10**15 (the issue's extreme prices)."""
        problems = problems_of(change)
        assert any(problem.startswith(f"{path}: must be") for problem in problems), problems

    def test_an_addon_line_at_max_quantity_is_bounded(self) -> None:
        """An add-on's unit price times max_quantity, 12 monthly prices without an annual one,
        and exclusive tax on top, stay within 10**15."""

        def priced(
            monthly: int, max_quantity: int, tax: str | None = None
        ) -> Callable[[Any], None]:
            def change(d: dict[str, Any]) -> None:
                d["addons"]["extra_user"].update(
                    price={"monthly": monthly}, max_quantity=max_quantity
                )
                if tax is not None:
                    d.setdefault("policy", {}).update(tax={"mode": "exclusive", "rate": tax})

            return change

        edge = LIMIT // 12 // 100
        assert loads(priced(edge, 100)).addons["extra_user"].max_quantity == 100
        (problem,) = problems_of(priced(edge, 101))
        assert problem.startswith("addons.extra_user.price.annual: an order line of it")
        (problem,) = problems_of(priced(edge, 100, "1%"))
        assert problem.startswith("addons.extra_user.price.annual")

    def test_a_plan_priced_at_the_bound_is_usable_on_every_store(self, store: Any) -> None:
        """R-LIM-5: a catalogue that loads is usable on every store; a price of exactly
        10**15 is bought, paid and stored, and its invoice read back."""

        def dear(d: dict[str, Any]) -> None:
            d["plans"]["pro"]["price"] = {"monthly": LIMIT, "annual": LIMIT}
            d.setdefault("policy", {}).update(grace_days=366, payment_window_hours=720)
            d["policy"]["invoice_code"] = "{seq}"
            d["topup"] = {"conversation": {"min": 1, "max": LIMIT}}

        clock = FixedClock(datetime(2026, 1, 10, tzinfo=UTC))
        billing = Billing(loads(dear), store, FakeGateway(), clock=clock)
        billing.open_account("acme")
        billing.set_billing_profile("acme", PROFILE)
        checkout = billing.change_plan("acme", "pro")
        assert checkout.invoice is not None and checkout.invoice.total.amount == LIMIT
        pay(billing, checkout)
        assert billing.invoice("acme", checkout.invoice.code).total.amount == LIMIT
        held = billing.balances("acme").conversation.amount
        pay(billing, billing.top_up("acme", "conversation", LIMIT - held))
        assert billing.balances("acme").conversation.amount == LIMIT
        with pytest.raises(InvalidAmount):  # an adjustment beyond the bound is refused
            billing.adjust_balance("acme", "conversation", 1, key="more", reason="r")


class TestHostText:
    @pytest.mark.parametrize(
        ("change", "path"),
        [
            (lambda d: d["plans"]["pro"].update(name="Pro\nLUNAS"), "plans.pro.name"),
            (lambda d: d["plans"]["pro"].update(name="x" * 501), "plans.pro.name"),
            (
                lambda d: d["addons"]["extra_user"].update(name="\x1b[2JUser"),
                "addons.extra_user.name",
            ),
            (lambda d: d.update(seller={"name": "PT \x1b[31mX"}), "seller.name"),
            (lambda d: d.update(seller={"name": "PT X\nPAID"}), "seller.name"),
            (lambda d: d.update(seller={"address": "Jl. 1\x00"}), "seller.address"),
            (lambda d: d.update(seller={"email": "a@b.c\r\n"}), "seller.email"),
        ],
    )
    def test_names_and_seller_text_are_host_text(
        self, change: Callable[[Any], None], path: str
    ) -> None:
        """R-LIM-3: plan, add-on and seller text has no control characters and no line
        break (but a seller's address may break lines)."""
        (problem,) = problems_of(change)
        assert problem.startswith(f"{path}: ")

    def test_a_seller_address_may_break_lines(self) -> None:
        catalogue = loads(lambda d: d.update(seller={"name": "PT X", "address": "Jl. 1\nBandung"}))
        assert catalogue.seller.address == "Jl. 1\nBandung"


class TestInvoiceCodeTemplate:
    @pytest.mark.parametrize(
        ("template", "message"),
        [
            ("INV-{seq!s:.3}", "{seq} must be a plain number"),
            ("INV-{seq:e}", "{seq} must be a plain number"),
            ("INV-{seq:.2f}", "{seq} must be a plain number"),
            ("INV-{seq:x}", "{seq} must be a plain number"),
            ("INV-{seq:>8}", "{seq} must be a plain number"),
            ("INV-{month!r}-{seq}", "{month} must be a plain number"),
            ("INV-{month}{seq}", "{month} right before {seq} needs a separator"),
            ("INV-{month:1}{seq}", "{month} right before {seq} needs a separator"),
            ("INV-{seq}{year}", "{seq} needs a separator before {year}"),
            ("INV-{seq}0{month:02d}", "{seq} needs a separator before {month}"),
        ],
    )
    def test_a_template_that_could_repeat_a_code_is_refused(
        self, template: str, message: str
    ) -> None:
        """R-LIM-5: a precision, conversion or width that could cut the number, or a
        neighbour its digits could run into, is refused (the issue's colliding codes)."""
        (problem,) = problems_of(lambda d: d.setdefault("policy", {}).update(invoice_code=template))
        assert problem.startswith(f"policy.invoice_code: {message}")

    @pytest.mark.parametrize(
        "template",
        [
            "{seq}",
            "INV-{year}{month:02d}-{seq:06d}",
            "{year}{seq}",
            "{month:02d}{seq}",
            "A{month}B{seq}",
        ],
    )
    def test_templates_that_keep_codes_unique_load(self, template: str) -> None:
        policy = loads(lambda d: d.setdefault("policy", {}).update(invoice_code=template)).policy
        assert policy.invoice_code == template

    @given(
        st.lists(
            st.sampled_from(
                [
                    "",
                    "-",
                    "INV",
                    "A",
                    "0",
                    "7",
                    "{year}",
                    "{month}",
                    "{month:02d}",
                    "{month:2}",
                    "{seq}",
                    "{seq:06d}",
                    "{seq:3}",
                    "{seq!s:.3}",
                    "{seq:e}",
                    "{year:02}",
                ]
            ),
            min_size=1,
            max_size=5,
        ),
        st.lists(
            st.tuples(
                # Numbers whose digits can run into a neighbour's or be cut: 1/12 and 11/2,
                # 1000/1001 under a precision of 3, ...
                st.sampled_from([1, 2, 10, 11, 12, 20, 21, 112, 1000, 1001, 1121, 10**6 + 1])
                | st.integers(1, 10**9),
                st.integers(2000, 2099),
                st.integers(1, 12),
            ),
            min_size=2,
            max_size=12,
            unique_by=lambda t: t[0],
        ),
    )
    @settings(max_examples=300)
    def test_an_accepted_template_never_gives_two_sequences_one_code(
        self, pieces: list[str], issued: list[tuple[int, int, int]]
    ) -> None:
        """R-LIM-5 as a law: whenever the loader accepts a template, distinct sequence
        numbers give distinct codes, whatever their year and month."""
        template = "".join(pieces)
        data = base()
        data.setdefault("policy", {})["invoice_code"] = template
        try:
            Catalogue.from_dict(data)
        except CatalogueError:
            return
        codes = {
            format_code(template, seq, datetime(year, month, 15, tzinfo=UTC), UTC)
            for seq, year, month in issued
        }
        assert len(codes) == len(issued)
