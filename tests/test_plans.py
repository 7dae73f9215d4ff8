"""The catalogue: loading, validation with key paths, plan comparison (R-CAT, R-SUB-2/3)."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import default_catalogue_toml, idr
from strategies import quantities
from subkit.cycles import Interval
from subkit.errors import CatalogueError, IntervalNotOffered, UnknownAddOn, UnknownPlan
from subkit.plans import (
    Catalogue,
    ChangeTiming,
    Direction,
    Entitlement,
    Entitlements,
    Policy,
    Reduction,
    Tax,
    TaxMode,
    Usage,
)
from subkit.wallet import Balance

MONTHLY, ANNUAL = Interval.MONTHLY, Interval.ANNUAL


def default_data() -> dict[str, Any]:
    """The shipped default catalogue as a fresh dict, to mutate per test."""
    text = default_catalogue_toml()
    return tomllib.loads(text)


MINIMAL_TOML = """
default_plan = "free"

[plans.free]
name = "Free"
rank = 0
price = { monthly = 0 }
limits = { users = 1, contacts = 100, broadcast_quota = 0 }

[plans.team]
name = "Team"
rank = 1
price = { monthly = 100_000 }
limits = { users = 3, contacts = 1_000, broadcast_quota = 100 }

[addons.seat]
name = "Seat"
adds = { users = 1 }
price = { monthly = 20_000 }
plans = ["team"]
"""


def problems_of(mutate: Callable[[dict[str, Any]], object]) -> list[str]:
    """Apply ``mutate`` to the default catalogue's data and return the problems it causes."""
    data = default_data()
    mutate(data)
    with pytest.raises(CatalogueError) as caught:
        Catalogue.from_dict(data)
    return caught.value.problems


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.default()


class TestDefaultCatalogue:
    def test_plans(self, catalogue: Catalogue) -> None:
        """R-CAT-1, R-CAT-2: the default catalogue has Free, Growth and Pro with their limits."""
        assert list(catalogue.plans) == ["free", "growth", "pro"]
        assert catalogue.currency == "IDR"
        assert catalogue.default_plan == "free"
        growth = catalogue.plans["growth"]
        assert (growth.name, growth.rank) == ("Growth", 1)
        assert growth.price(MONTHLY) == idr(299_000)
        assert growth.price(ANNUAL) == idr(2_990_000)
        assert (growth.limits.users, growth.limits.contacts, growth.limits.broadcast_quota) == (
            5,
            5_000,
            1_000,
        )
        assert growth.included_amount(Balance.CONVERSATION) == idr(30_000)
        assert growth.included_amount(Balance.BROADCAST) == idr(0)
        pro = catalogue.plans["pro"]
        assert (pro.rank, pro.price(MONTHLY), pro.price(ANNUAL)) == (
            2,
            idr(599_000),
            idr(5_990_000),
        )
        assert (pro.limits.users, pro.limits.contacts, pro.limits.broadcast_quota) == (
            15,
            25_000,
            5_000,
        )
        assert pro.included_amount(Balance.CONVERSATION) == idr(60_000)

    def test_free_plan(self, catalogue: Catalogue) -> None:
        """R-CAT-2: Free costs 0, is sold monthly only, and includes Rp15.000 conversation."""
        free = catalogue.plans["free"]
        assert free.is_free
        assert free.intervals == (MONTHLY,)
        assert not free.offers(ANNUAL)
        assert free.included_amount(Balance.CONVERSATION) == idr(15_000)
        assert (free.limits.users, free.limits.contacts, free.limits.broadcast_quota) == (1, 500, 0)
        with pytest.raises(IntervalNotOffered):
            free.price(ANNUAL)
        assert not catalogue.plans["growth"].is_free

    def test_addons(self, catalogue: Catalogue) -> None:
        """R-CAT-3: two add-ons, sold on Growth and Pro, max 100 units by default."""
        assert list(catalogue.addons) == ["extra_user", "extra_contact"]
        user = catalogue.addons["extra_user"]
        assert (user.name, user.adds, user.max_quantity) == ("Additional User", {"users": 1}, 100)
        assert (user.price(MONTHLY), user.price(ANNUAL)) == (idr(50_000), idr(500_000))
        assert user.plans == ("growth", "pro")
        contact = catalogue.addons["extra_contact"]
        assert contact.adds == {"contacts": 1_000}
        assert (contact.price(MONTHLY), contact.price(ANNUAL)) == (idr(25_000), idr(250_000))
        assert not contact.sold_on("free") and contact.sold_on("pro")
        assert [a.code for a in catalogue.addons_for("growth")] == ["extra_user", "extra_contact"]
        assert catalogue.addons_for("free") == []

    def test_rates_and_topup_limits(self, catalogue: Catalogue) -> None:
        """R-CAT-4, R-CAT-5: rates 30/650; top-ups 10.000..1.000.000 and 10.000..5.000.000."""
        assert (catalogue.reply_rate, catalogue.broadcast_rate) == (idr(30), idr(650))
        conversation = catalogue.topup[Balance.CONVERSATION]
        broadcast = catalogue.topup[Balance.BROADCAST]
        assert (conversation.minimum, conversation.maximum) == (idr(10_000), idr(1_000_000))
        assert (broadcast.minimum, broadcast.maximum) == (idr(10_000), idr(5_000_000))

    def test_policy_defaults(self, catalogue: Catalogue) -> None:
        """R-CAT-6: without a [policy] table every policy value is its default."""
        assert catalogue.policy == Policy()
        policy = catalogue.policy
        assert policy.change_timing is ChangeTiming.NEXT_CYCLE
        assert policy.from_free is ChangeTiming.IMMEDIATE
        assert (policy.grace_days, policy.payment_window_hours) == (3, 24)
        assert policy.included_balance_expires and policy.require_billing_profile
        assert policy.overdraft == {Balance.CONVERSATION: 0, Balance.BROADCAST: 0}
        assert (policy.timezone, policy.locale) == ("Asia/Jakarta", "id_ID")
        assert policy.invoice_code == "INV-{year}{month:02d}-{seq:06d}"
        assert policy.tax.mode is TaxMode.NONE and policy.tax.effective_rate == 0

    def test_plans_by_rank_and_lookups(self, catalogue: Catalogue) -> None:
        """R-CAT-2: plans order by rank; unknown codes raise UnknownPlan / UnknownAddOn."""
        assert [p.code for p in catalogue.plans_by_rank()] == ["free", "growth", "pro"]
        assert catalogue.plan("pro") is catalogue.plans["pro"]
        with pytest.raises(UnknownPlan, match="enterprise") as plan_error:
            catalogue.plan("enterprise")
        assert plan_error.value.plan == "enterprise"
        with pytest.raises(UnknownAddOn) as addon_error:
            catalogue.addon("extra_bot")
        assert addon_error.value.addon == "extra_bot"

    def test_money_in_catalogue_currency(self, catalogue: Catalogue) -> None:
        """R-ERR: the catalogue turns an int into Money in its currency."""
        assert catalogue.money(5_000) == idr(5_000)

    def test_plan_label(self, catalogue: Catalogue) -> None:
        """R-CAT-2: a plan's package label names the interval, e.g. Growth (Annual)."""
        assert catalogue.plans["growth"].label(ANNUAL) == "Growth (Annual)"


class TestLoaders:
    def test_from_toml(self) -> None:
        """R-CAT-1, R-CAT-5: a TOML string loads; optional tables take their defaults."""
        catalogue = Catalogue.from_toml(MINIMAL_TOML)
        assert list(catalogue.plans) == ["free", "team"]
        assert (catalogue.reply_rate, catalogue.broadcast_rate) == (idr(30), idr(650))
        assert catalogue.topup[Balance.BROADCAST].maximum == idr(5_000_000)
        assert catalogue.plans["team"].included == {
            Balance.CONVERSATION: idr(0),
            Balance.BROADCAST: idr(0),
        }
        assert catalogue.policy == Policy()
        assert catalogue.seller.name is None

    def test_from_file(self, tmp_path: Path) -> None:
        """R-CAT-1: a TOML file loads, by str or Path."""
        path = tmp_path / "catalogue.toml"
        path.write_text(MINIMAL_TOML, encoding="utf-8")
        assert list(Catalogue.from_file(path).plans) == ["free", "team"]
        assert list(Catalogue.from_file(str(path)).addons) == ["seat"]

    def test_from_file_missing(self, tmp_path: Path) -> None:
        """R-CAT-1: an unreadable file is a CatalogueError naming the file."""
        with pytest.raises(CatalogueError, match="cannot read"):
            Catalogue.from_file(tmp_path / "nope.toml")

    def test_from_dict(self) -> None:
        """R-CAT-1: a dict of the TOML shape loads like the TOML does."""
        catalogue = Catalogue.from_dict(default_data())
        assert list(catalogue.plans) == list(Catalogue.default().plans)
        assert catalogue.plans["pro"] == Catalogue.default().plans["pro"]

    def test_bad_toml_syntax(self) -> None:
        """R-CAT-1: TOML that does not parse is a CatalogueError, not a TOMLDecodeError."""
        with pytest.raises(CatalogueError) as caught:
            Catalogue.from_toml("plans = [")
        assert caught.value.problems[0].startswith("<toml>: ")

    def test_addon_annual_price_defaults_to_twelve_monthly(self) -> None:
        """R-CAT-3: an add-on without an annual price costs 12 times the monthly one."""
        seat = Catalogue.from_toml(MINIMAL_TOML).addons["seat"]
        assert seat.price(MONTHLY) == idr(20_000)
        assert seat.price(ANNUAL) == idr(240_000)
        assert seat.max_quantity == 100

    def test_optional_tables_are_read(self) -> None:
        """R-CAT-4..7: rates, top-up limits, policy and seller values override the defaults."""
        data = default_data()
        data["rates"] = {"reply": 25, "broadcast": 700}
        data["topup"] = {"conversation": {"min": 5_000}}
        data["policy"] = {
            "change_timing": "immediate",
            "grace_days": 0,
            "overdraft": {"broadcast": 20_000},
            "timezone": "Asia/Makassar",
            "locale": "en",
            "invoice_code": "A-{seq}",
        }
        data["seller"] = {"name": "PT Contoh", "tax_number": "01.234"}
        data["addons"]["extra_user"]["max_quantity"] = 7
        catalogue = Catalogue.from_dict(data)
        assert (catalogue.reply_rate, catalogue.broadcast_rate) == (idr(25), idr(700))
        assert catalogue.topup[Balance.CONVERSATION].minimum == idr(5_000)
        assert catalogue.topup[Balance.CONVERSATION].maximum == idr(1_000_000)
        policy = catalogue.policy
        assert policy.change_timing is ChangeTiming.IMMEDIATE
        assert policy.grace_days == 0
        assert policy.overdraft == {Balance.CONVERSATION: 0, Balance.BROADCAST: 20_000}
        assert (policy.timezone, policy.locale, policy.invoice_code) == (
            "Asia/Makassar",
            "en",
            "A-{seq}",
        )
        assert (catalogue.seller.name, catalogue.seller.tax_number) == ("PT Contoh", "01.234")
        assert catalogue.addons["extra_user"].max_quantity == 7


class TestValidation:
    """R-CAT-1: every problem names its key path."""

    def test_unknown_top_level_key(self) -> None:
        """R-CAT-1: an unknown top-level key is reported by name."""
        assert problems_of(lambda d: d.update(colour="blue")) == ["colour: unknown key"]

    def test_unknown_plan_key(self) -> None:
        """R-CAT-1: an unknown key in a plan is reported with the plan's path."""
        problems = problems_of(lambda d: d["plans"]["growth"].update(seats=5))
        assert problems == ["plans.growth.seats: unknown key"]

    def test_unknown_addon_key(self) -> None:
        """R-CAT-1: an unknown key in an add-on is reported with the add-on's path."""
        problems = problems_of(lambda d: d["addons"]["extra_user"].update(colour="red"))
        assert problems == ["addons.extra_user.colour: unknown key"]

    def test_unknown_policy_key(self) -> None:
        """R-CAT-6: an unknown key in [policy] is reported."""
        problems = problems_of(lambda d: d.update(policy={"grace_hours": 3}))
        assert problems == ["policy.grace_hours: unknown key"]

    def test_unknown_tax_key(self) -> None:
        """R-CAT-6: an unknown key in policy.tax is reported."""
        problems = problems_of(lambda d: d.update(policy={"tax": {"mode": "none", "vat": 1}}))
        assert problems == ["policy.tax.vat: unknown key"]

    def test_unknown_seller_and_limit_keys(self) -> None:
        """R-CAT-7, R-CAT-2: unknown keys in [seller] and a plan's limits are reported."""
        assert problems_of(lambda d: d.update(seller={"vat_id": "x"})) == [
            "seller.vat_id: unknown key"
        ]
        problems = problems_of(lambda d: d["plans"]["pro"]["limits"].update(bots=1))
        assert problems == ["plans.pro.limits.bots: unknown key"]

    def test_missing_plans(self) -> None:
        """R-CAT-2: a catalogue without plans is refused."""
        problems = problems_of(lambda d: (d.pop("plans"), d.pop("addons")))
        assert "plans: at least one plan is required" in problems

    def test_empty_plans(self) -> None:
        """R-CAT-2: an empty [plans] table is refused too."""
        problems = problems_of(lambda d: (d.update(plans={}), d.pop("addons")))
        assert "plans: at least one plan is required" in problems

    def test_negative_annual_price(self) -> None:
        """R-CAT-1: plans.growth.price.annual: must be >= 0 (the spec's own example)."""
        problems = problems_of(lambda d: d["plans"]["growth"]["price"].update(annual=-1))
        assert problems == ["plans.growth.price.annual: must be >= 0"]

    def test_negative_monthly_price_is_reported_once(self) -> None:
        """R-CAT-1: a bad plan price is one problem; add-ons sold on the plan add no noise."""
        problems = problems_of(lambda d: d["plans"]["growth"]["price"].update(monthly=-299_000))
        assert problems == ["plans.growth.price.monthly: must be >= 0"]

    def test_negative_addon_price(self) -> None:
        """R-CAT-3: add-on prices must be >= 0 as well."""
        problems = problems_of(lambda d: d["addons"]["extra_contact"]["price"].update(monthly=-5))
        assert problems == ["addons.extra_contact.price.monthly: must be >= 0"]

    def test_float_price(self) -> None:
        """R-MON-1: a float price is refused, naming the type."""
        problems = problems_of(lambda d: d["plans"]["pro"]["price"].update(monthly=599.5))
        assert problems == ["plans.pro.price.monthly: must be an integer, not float"]

    def test_missing_monthly_price(self) -> None:
        """R-CAT-2: a plan's monthly price is required; annual is optional."""
        problems = problems_of(lambda d: d["plans"]["pro"].update(price={"annual": 5_990_000}))
        assert problems == ["plans.pro.price.monthly: is required"]

    def test_default_plan_must_be_free(self) -> None:
        """R-CAT-2: default_plan must name a free plan."""
        problems = problems_of(lambda d: d.update(default_plan="growth"))
        assert problems == ["default_plan: plan 'growth' must be free (price 0)"]

    def test_unknown_default_plan(self) -> None:
        """R-CAT-3: a default_plan naming an unknown plan is refused."""
        problems = problems_of(lambda d: d.update(default_plan="starter"))
        assert problems == ["default_plan: names unknown plan 'starter'"]

    def test_missing_default_plan(self) -> None:
        """R-CAT-2: default_plan is required."""
        assert problems_of(lambda d: d.pop("default_plan")) == ["default_plan: is required"]

    def test_addon_on_unknown_plan(self) -> None:
        """R-CAT-3: an add-on `plans` entry naming an unknown plan is refused, by index."""
        problems = problems_of(
            lambda d: d["addons"]["extra_user"].update(plans=["growth", "enterprise"])
        )
        assert problems == ["addons.extra_user.plans[1]: names unknown plan 'enterprise'"]

    def test_duplicate_ranks(self) -> None:
        """R-CAT-3: two plans with the same rank are refused."""
        problems = problems_of(lambda d: d["plans"]["pro"].update(rank=1))
        assert problems == ["plans.pro.rank: duplicates the rank of plan 'growth'"]

    def test_topup_min_above_max(self) -> None:
        """R-CAT-5: a top-up minimum above its maximum is refused."""
        problems = problems_of(lambda d: d["topup"]["broadcast"].update(min=6_000_000))
        assert problems == ["topup.broadcast: min (6000000) must be <= max (5000000)"]

    def test_bad_tax_mode(self) -> None:
        """R-CAT-6, R-INV-7: the tax mode is none, exclusive or inclusive."""
        problems = problems_of(lambda d: d.update(policy={"tax": {"mode": "vat"}}))
        assert problems == ["policy.tax.mode: must be one of 'none', 'exclusive', 'inclusive'"]

    def test_tax_rate_required_with_a_mode(self) -> None:
        """R-INV-7: an exclusive or inclusive tax needs a rate."""
        problems = problems_of(lambda d: d.update(policy={"tax": {"mode": "exclusive"}}))
        assert problems == ["policy.tax.rate: is required when mode is 'exclusive'"]

    def test_bad_tax_rate(self) -> None:
        """R-INV-7: a tax rate is a percentage, a fraction or an integer, never a float."""
        for rate in ("twelve", 0.12, "1/0"):
            problems = problems_of(
                lambda d, rate=rate: d.update(policy={"tax": {"mode": "exclusive", "rate": rate}})
            )
            assert problems[0].startswith("policy.tax.rate: must be a percentage")

    def test_bad_timezone(self) -> None:
        """R-CAT-6: policy.timezone must be an IANA zone."""
        problems = problems_of(lambda d: d.update(policy={"timezone": "Asia/Atlantis"}))
        assert problems == ["policy.timezone: unknown timezone 'Asia/Atlantis'"]

    def test_bad_change_timing(self) -> None:
        """R-CAT-6: change_timing is next_cycle or immediate."""
        problems = problems_of(lambda d: d.update(policy={"change_timing": "later"}))
        assert problems == ["policy.change_timing: must be one of 'next_cycle', 'immediate'"]

    @pytest.mark.parametrize(
        ("template", "message"),
        [
            ("INV-{year}-{nope}", "bad template ('nope'); use {year}, {month} and {seq}"),
            ("INV-{seq", "bad template"),
            ("INV-{seq.x}", "bad template"),
            ("INV-{seq[0]}", "bad template"),
            ("INV-{year}{month:02d}", "must contain {seq} so that codes are unique"),
            ("INV {seq}", "must give codes of letters, digits and '-', at most 50 characters"),
            ("X" * 50 + "{seq}", "must give codes of letters, digits and '-', at most 50"),
            (17, "must be a string"),
        ],
    )
    def test_bad_invoice_code_template(self, template: object, message: str) -> None:
        """R-CAT-6, R-INV: invoice_code must format with year/month/seq into a safe code."""
        problems = problems_of(lambda d: d.update(policy={"invoice_code": template}))
        assert len(problems) == 1
        assert problems[0].startswith(f"policy.invoice_code: {message}")

    def test_bad_currency(self) -> None:
        """R-MON-1: the catalogue currency is a 3-letter upper-case code."""
        problems = problems_of(lambda d: d.update(currency="rupiah"))
        assert problems == ["currency: must be a 3-letter upper-case ISO 4217 code"]

    def test_bool_is_not_an_integer(self) -> None:
        """R-CAT-2: a boolean where an integer belongs is refused."""
        problems = problems_of(lambda d: d["plans"]["growth"]["limits"].update(users=True))
        assert problems == ["plans.growth.limits.users: must be an integer, not bool"]

    def test_addon_needs_adds(self) -> None:
        """R-CAT-3: an add-on must say what one unit adds, and only users or contacts."""
        assert problems_of(lambda d: d["addons"]["extra_user"].pop("adds")) == [
            "addons.extra_user.adds: is required"
        ]
        problems = problems_of(lambda d: d["addons"]["extra_user"].update(adds={"bots": 1}))
        assert "addons.extra_user.adds.bots: unknown key" in problems

    def test_max_quantity_at_least_one(self) -> None:
        """R-CAT-3: max_quantity must be >= 1."""
        problems = problems_of(lambda d: d["addons"]["extra_user"].update(max_quantity=0))
        assert problems == ["addons.extra_user.max_quantity: must be >= 1"]

    def test_many_problems_reported_together(self) -> None:
        """R-CAT-5: one CatalogueError lists every problem, each with its key path."""

        def break_everything(data: dict[str, Any]) -> None:
            data["colour"] = "blue"
            data["default_plan"] = "growth"
            data["plans"]["growth"]["price"]["annual"] = -1
            data["plans"]["pro"]["rank"] = 1
            data["addons"]["extra_user"]["plans"] = ["enterprise"]
            data["topup"]["conversation"]["min"] = 2_000_000
            data["policy"] = {"timezone": "Nowhere/Land", "tax": {"mode": "vat"}}

        problems = problems_of(break_everything)
        assert sorted(problems) == sorted(
            [
                "colour: unknown key",
                "default_plan: plan 'growth' must be free (price 0)",
                "plans.growth.price.annual: must be >= 0",
                "plans.pro.rank: duplicates the rank of plan 'growth'",
                "addons.extra_user.plans[0]: names unknown plan 'enterprise'",
                "topup.conversation: min (2000000) must be <= max (1000000)",
                "policy.timezone: unknown timezone 'Nowhere/Land'",
                "policy.tax.mode: must be one of 'none', 'exclusive', 'inclusive'",
            ]
        )

    def test_error_message_lists_problems(self) -> None:
        """R-CAT-5, R-ERR: the CatalogueError message lists each problem on its own line."""
        with pytest.raises(CatalogueError) as caught:
            data = default_data()
            data["colour"] = 1
            data["plans"]["pro"]["rank"] = 1
            Catalogue.from_dict(data)
        message = str(caught.value)
        assert message.splitlines() == [
            "invalid catalogue:",
            "  colour: unknown key",
            "  plans.pro.rank: duplicates the rank of plan 'growth'",
        ]
        assert caught.value.code == "catalogue_invalid"

    def test_loading_does_not_mutate_input(self) -> None:
        """R-CAT-1: loading from a dict leaves the dict as it was."""
        data = default_data()
        before = copy.deepcopy(data)
        Catalogue.from_dict(data)
        assert data == before


class TestTax:
    def test_percentage_and_fraction(self) -> None:
        """R-INV-7: rate "12%" and base "11/12" parse to exact fractions; effective 11%."""
        data = default_data()
        data["policy"] = {"tax": {"mode": "exclusive", "rate": "12%", "base": "11/12"}}
        tax = Catalogue.from_dict(data).policy.tax
        assert tax == Tax(TaxMode.EXCLUSIVE, Fraction(12, 100), Fraction(11, 12), True)
        assert tax.effective_rate == Fraction(11, 100)

    def test_integer_and_plain_fraction_rates(self) -> None:
        """R-INV-7: a rate may also be written "11/100" or given as an integer."""
        data = default_data()
        data["policy"] = {"tax": {"mode": "inclusive", "rate": "11/100", "tax_top_ups": False}}
        tax = Catalogue.from_dict(data).policy.tax
        assert (tax.mode, tax.rate, tax.base, tax.tax_top_ups) == (
            TaxMode.INCLUSIVE,
            Fraction(11, 100),
            Fraction(1),
            False,
        )
        data["policy"] = {"tax": {"mode": "exclusive", "rate": 1}}
        assert Catalogue.from_dict(data).policy.tax.rate == 1

    def test_none_mode_has_no_effective_rate(self) -> None:
        """R-INV-7: with mode none the effective rate is 0 whatever the rate says."""
        assert Tax(TaxMode.NONE, Fraction(12, 100)).effective_rate == 0


class TestCompare:
    def test_upgrade(self, catalogue: Catalogue) -> None:
        """R-SUB-2: a higher rank is an upgrade; nothing is reduced."""
        result = catalogue.compare("growth", MONTHLY, {}, "pro", MONTHLY, {})
        assert result.direction is Direction.UPGRADE
        assert result.reductions == ()
        assert result.dropped_addons == ()

    def test_downgrade_lists_reductions_with_usage(self, catalogue: Catalogue) -> None:
        """R-SUB-3: Pro -> Growth reduces users, contacts, quota, included balance."""
        result = catalogue.compare(
            "pro", MONTHLY, {}, "growth", MONTHLY, {}, usage=Usage(users=8, contacts=12_000)
        )
        assert result.direction is Direction.DOWNGRADE
        assert result.reductions == (
            Reduction(Entitlement.USERS, 15, 5, 8),
            Reduction(Entitlement.CONTACTS, 25_000, 5_000, 12_000),
            Reduction(Entitlement.BROADCAST_QUOTA, 5_000, 1_000, None),
            Reduction(Entitlement.CONVERSATION, 60_000, 30_000, None),
        )

    def test_downgrade_without_usage(self, catalogue: Catalogue) -> None:
        """R-SUB-3: without a UsageSource, in_use is None."""
        result = catalogue.compare("growth", MONTHLY, {}, "free", MONTHLY, {})
        assert [r.entitlement for r in result.reductions] == list(Entitlement)
        assert all(r.in_use is None for r in result.reductions)

    def test_interval_switch(self, catalogue: Catalogue) -> None:
        """R-SUB-2: the same plan on another interval is an interval switch."""
        result = catalogue.compare("growth", MONTHLY, {"extra_user": 1}, "growth", ANNUAL, {})
        assert result.direction is Direction.INTERVAL_SWITCH
        assert result.reductions == (Reduction(Entitlement.USERS, 6, 5, None),)

    def test_addons_kept_offset_reductions(self, catalogue: Catalogue) -> None:
        """R-ADD-5: add-ons carried to the target count towards its entitlements."""
        result = catalogue.compare(
            "pro", MONTHLY, {}, "growth", MONTHLY, {"extra_user": 10, "extra_contact": 20}
        )
        reduced = {r.entitlement for r in result.reductions}
        assert Entitlement.USERS not in reduced  # 5 + 10 == 15
        assert Entitlement.CONTACTS not in reduced  # 5000 + 20 * 1000 == 25000

    def test_dropped_addons(self, catalogue: Catalogue) -> None:
        """R-SUB-3: add-ons not sold on the target plan are dropped; zero holdings are not."""
        result = catalogue.compare(
            "growth", MONTHLY, {"extra_user": 2, "extra_contact": 0}, "free", MONTHLY, {}
        )
        assert result.dropped_addons == ("extra_user",)
        assert result.before.users == 7
        assert result.after.users == 1

    def test_entitlements_are_plan_plus_addons(self, catalogue: Catalogue) -> None:
        """R-ADD-5: entitlements = plan limits + quantity * what each add-on adds."""
        assert catalogue.entitlements("growth", {"extra_user": 2, "extra_contact": 3}) == (
            Entitlements(users=7, contacts=8_000, broadcast_quota=1_000, conversation=30_000)
        )
        assert catalogue.entitlements("free", {}) == Entitlements(1, 500, 0, 15_000)
        assert catalogue.entitlements("pro", {}).get("contacts") == 25_000
        assert catalogue.entitlements("pro", {}).get(Entitlement.USERS) == 15

    @given(quantities, quantities)
    def test_entitlements_grow_linearly(self, users: int, contacts: int) -> None:
        """R-ADD-5: each unit adds exactly its `adds` to the plan's limits."""
        catalogue = Catalogue.default()
        got = catalogue.entitlements("pro", {"extra_user": users, "extra_contact": contacts})
        assert got.users == 15 + users
        assert got.contacts == 25_000 + 1_000 * contacts
        assert got.broadcast_quota == 5_000

    @given(st.sampled_from(["free", "growth", "pro"]), st.sampled_from(["free", "growth", "pro"]))
    def test_direction_follows_rank(self, current: str, target: str) -> None:
        """R-SUB-2: direction is decided by rank alone."""
        catalogue = Catalogue.default()
        result = catalogue.compare(current, MONTHLY, {}, target, MONTHLY, {})
        rank = {"free": 0, "growth": 1, "pro": 2}
        expected = (
            Direction.UPGRADE
            if rank[target] > rank[current]
            else Direction.DOWNGRADE
            if rank[target] < rank[current]
            else Direction.INTERVAL_SWITCH
        )
        assert result.direction is expected
        assert all(r.after < r.before for r in result.reductions)

    def test_compare_unknown_plan(self, catalogue: Catalogue) -> None:
        """R-ERR: comparing with an unknown plan raises UnknownPlan."""
        with pytest.raises(UnknownPlan):
            catalogue.compare("growth", MONTHLY, {}, "enterprise", MONTHLY, {})
