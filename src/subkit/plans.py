"""The catalogue: plans, add-ons, rates, top-up limits, policy and seller (R-CAT).

A catalogue is data. It is loaded from TOML or a dict and validated once; every problem is
reported together, each with its key path (``plans.growth.price.annual: must be >= 0``).
This module also compares two plans for the Order Summary: direction and reductions
(R-SUB-2, R-SUB-3) and effective entitlements (R-ADD-5).

Why it is long: the catalogue's schema and its validation are one unit, each field's
check (with the key path its error names) next to the field it checks.
"""

from __future__ import annotations

import enum
import re
import string
import tomllib
from collections.abc import Collection, Mapping
from fractions import Fraction
from importlib import resources
from pathlib import Path
from typing import Any, Final

import attrs

from subkit import bounds
from subkit.cycles import Interval, zone
from subkit.errors import (
    CatalogueError,
    IntervalNotOffered,
    InvalidArgument,
    InvalidTime,
    UnknownAddOn,
    UnknownPlan,
)
from subkit.money import Money
from subkit.wallet import Balance, TopUpLimit, WalletRules

RESOURCES = ("users", "contacts")
DEFAULT_MAX_QUANTITY = 100


class ChangeTiming(enum.StrEnum):
    NEXT_CYCLE = "next_cycle"
    IMMEDIATE = "immediate"


class TaxMode(enum.StrEnum):
    NONE = "none"
    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"


class Direction(enum.StrEnum):
    """Which way a plan change goes, by ``rank`` (R-SUB-2)."""

    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    INTERVAL_SWITCH = "interval_switch"


class Entitlement(enum.StrEnum):
    """What a plan change can reduce (R-SUB-3)."""

    USERS = "users"
    CONTACTS = "contacts"
    BROADCAST_QUOTA = "broadcast_quota"
    CONVERSATION = "conversation"


@attrs.frozen
class Limits:
    users: int
    contacts: int
    broadcast_quota: int


@attrs.frozen
class Plan:
    code: str
    name: str
    rank: int
    prices: dict[Interval, Money]
    limits: Limits
    included: dict[Balance, Money]

    @property
    def is_free(self) -> bool:
        return all(price.is_zero for price in self.prices.values())

    @property
    def intervals(self) -> tuple[Interval, ...]:
        return tuple(interval for interval in Interval if interval in self.prices)

    def offers(self, interval: Interval) -> bool:
        return interval in self.prices

    def price(self, interval: Interval) -> Money:
        """The plan's price for one period of ``interval``."""
        if interval not in self.prices:
            raise IntervalNotOffered(
                f"plan {self.code!r} is not sold {interval}", plan=self.code, interval=interval
            )
        return self.prices[interval]

    def included_amount(self, balance: Balance) -> Money:
        return self.included[balance]

    def label(self, interval: Interval) -> str:
        """The package name on an invoice, e.g. ``Growth (Annual)``."""
        return f"{self.name} ({interval.value.capitalize()})"


@attrs.frozen
class AddOn:
    code: str
    name: str
    adds: dict[str, int]
    prices: dict[Interval, Money]
    max_quantity: int
    plans: tuple[str, ...]

    def price(self, interval: Interval) -> Money:
        """Unit price per period; without an annual price it is 12 monthly ones (R-CAT-3)."""
        if interval in self.prices:
            return self.prices[interval]
        return self.prices[Interval.MONTHLY] * interval.months

    def sold_on(self, plan: str) -> bool:
        return plan in self.plans


@attrs.frozen
class Tax:
    """Tax setting (R-INV-7): ``rate`` and ``base`` are exact fractions (12% on 11/12)."""

    mode: TaxMode = TaxMode.NONE
    rate: Fraction = Fraction(0)
    base: Fraction = Fraction(1)
    tax_top_ups: bool = True

    @property
    def effective_rate(self) -> Fraction:
        return self.rate * self.base if self.mode is not TaxMode.NONE else Fraction(0)


@attrs.frozen
class Policy:
    change_timing: ChangeTiming = ChangeTiming.NEXT_CYCLE
    from_free: ChangeTiming = ChangeTiming.IMMEDIATE
    grace_days: int = 3
    payment_window_hours: int = 24
    included_balance_expires: bool = True
    overdraft: dict[Balance, int] = attrs.field(factory=lambda: {b: 0 for b in Balance})
    require_billing_profile: bool = True
    timezone: str = "Asia/Jakarta"
    locale: str = "id_ID"
    invoice_code: str = "INV-{year}{month:02d}-{seq:06d}"
    tax: Tax = attrs.field(factory=Tax)
    #: How far a server's clock may lag an account's last change (made by another server)
    #: before a call is refused with ``InvalidTime``; within it the call is dated at the
    #: account's last change (R-CON-1).
    max_clock_skew_seconds: int = 300  # DEFAULT_CLOCK_SKEW_SECONDS
    #: Notices (R-VOL-4): ``balance.low`` when a charge takes a balance below its threshold
    #: (0: off); ``subscription.expiring`` this many days before ``paid_through``; the
    #: renewal invoice opened by the billing run this many days ahead (0: off).
    low_balance: dict[Balance, int] = attrs.field(factory=lambda: {b: 0 for b in Balance})
    remind_before_days: tuple[int, ...] = (7, 3, 1)
    renewal_invoice_days_before: int = 0


@attrs.frozen
class Seller:
    name: str | None = None
    address: str | None = None
    email: str | None = None
    tax_number: str | None = None
    logo: str | None = None


@attrs.frozen
class Entitlements:
    """What an account may use: plan limits plus active add-ons (R-ADD-5)."""

    users: int
    contacts: int
    broadcast_quota: int
    conversation: int  # included conversation balance granted each month

    def get(self, entitlement: Entitlement | str) -> int:
        return int(getattr(self, str(entitlement)))


@attrs.frozen
class Usage:
    """Users and contacts in use, as the host's ``UsageSource`` reports them."""

    users: int
    contacts: int


@attrs.frozen
class Reduction:
    """One entitlement a change would shrink, with current usage when known (R-SUB-3)."""

    entitlement: Entitlement
    before: int
    after: int
    in_use: int | None = None


@attrs.frozen
class Comparison:
    """The pure part of an Order Summary for a plan change."""

    direction: Direction
    reductions: tuple[Reduction, ...]
    dropped_addons: tuple[str, ...]
    before: Entitlements
    after: Entitlements


@attrs.frozen(eq=False)
class Catalogue:
    """A validated catalogue. Build it with one of the ``from_*`` loaders."""

    currency: str
    default_plan: str
    plans: Mapping[str, Plan]
    addons: Mapping[str, AddOn]
    reply_rate: Money
    broadcast_rate: Money
    topup: dict[Balance, TopUpLimit]
    policy: Policy
    seller: Seller
    _wallet_rules: WalletRules | None = attrs.field(default=None, init=False, repr=False)

    # -- loaders ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Catalogue:
        """Validate ``data`` (the shape of the TOML file) and build a catalogue."""
        return _Loader(data).load()

    @classmethod
    def from_toml(cls, text: str) -> Catalogue:
        """Load from a string of TOML."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise CatalogueError([f"<toml>: {error}"]) from error
        return cls.from_dict(data)

    @classmethod
    def from_file(cls, path: str | Path) -> Catalogue:
        """Load from a TOML file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise CatalogueError([f"<file>: cannot read {path}: {error.strerror}"]) from error
        return cls.from_toml(text)

    @classmethod
    def default(cls) -> Catalogue:
        """The example catalogue of the spec, shipped inside the package."""
        text = resources.files("subkit.data").joinpath("default_catalogue.toml").read_text("utf-8")
        return cls.from_toml(text)

    # -- lookups ---------------------------------------------------------------------------

    def money(self, value: Money | int) -> Money:
        """An amount in the catalogue's currency (``int`` accepted, R-ERR)."""
        return Money.of(value, self.currency)

    def plan(self, code: str) -> Plan:
        try:
            return self.plans[code]
        except KeyError:
            raise UnknownPlan(
                f"unknown plan {code!r}; the catalogue has {', '.join(self.plans)}", plan=code
            ) from None

    def addon(self, code: str) -> AddOn:
        try:
            return self.addons[code]
        except KeyError:
            known = ", ".join(self.addons) or "none"
            raise UnknownAddOn(
                f"unknown add-on {code!r}; the catalogue has {known}", addon=code
            ) from None

    def plans_by_rank(self) -> list[Plan]:
        return sorted(self.plans.values(), key=lambda plan: plan.rank)

    def addons_for(self, plan: str) -> list[AddOn]:
        """The add-ons sold on ``plan``, in catalogue order."""
        return [addon for addon in self.addons.values() if addon.sold_on(plan)]

    @property
    def wallet_rules(self) -> WalletRules:
        """Rates, top-up limits, overdraft and expiry for wallets (built once)."""
        cached = self._wallet_rules
        if cached is None:
            cached = self._build_wallet_rules()
            object.__setattr__(self, "_wallet_rules", cached)
        return cached

    def _build_wallet_rules(self) -> WalletRules:
        return WalletRules(
            currency=self.currency,
            reply_rate=self.reply_rate,
            broadcast_rate=self.broadcast_rate,
            topup=dict(self.topup),
            overdraft={b: self.money(v) for b, v in self.policy.overdraft.items()},
            included_balance_expires=self.policy.included_balance_expires,
        )

    # -- entitlements and comparison -------------------------------------------------------

    def entitlements(self, plan: str, addons: Mapping[str, int]) -> Entitlements:
        """Plan limits plus ``quantity * adds`` of each add-on held (R-ADD-5)."""
        chosen = self.plan(plan)
        extra = dict.fromkeys(RESOURCES, 0)
        for code, quantity in addons.items():
            for resource, per_unit in self.addon(code).adds.items():
                extra[resource] += per_unit * quantity
        return Entitlements(
            users=chosen.limits.users + extra["users"],
            contacts=chosen.limits.contacts + extra["contacts"],
            broadcast_quota=chosen.limits.broadcast_quota,
            conversation=chosen.included[Balance.CONVERSATION].amount,
        )

    def compare(
        self,
        current_plan: str,
        current_interval: Interval,
        current_addons: Mapping[str, int],
        target_plan: str,
        target_interval: Interval,
        target_addons: Mapping[str, int],
        usage: Usage | None = None,
    ) -> Comparison:
        """Direction, reductions and dropped add-ons of a change (R-SUB-2, R-SUB-3)."""
        current, target = self.plan(current_plan), self.plan(target_plan)
        if target.rank > current.rank:
            direction = Direction.UPGRADE
        elif target.rank < current.rank:
            direction = Direction.DOWNGRADE
        else:
            direction = Direction.INTERVAL_SWITCH
        dropped = tuple(
            code
            for code, quantity in current_addons.items()
            if quantity > 0 and not self.addon(code).sold_on(target_plan)
        )
        before = self.entitlements(current_plan, current_addons)
        after = self.entitlements(target_plan, target_addons)
        in_use = {
            Entitlement.USERS: usage.users if usage else None,
            Entitlement.CONTACTS: usage.contacts if usage else None,
        }
        reductions = tuple(
            Reduction(
                entitlement,
                before.get(entitlement),
                after.get(entitlement),
                in_use.get(entitlement),
            )
            for entitlement in Entitlement
            if after.get(entitlement) < before.get(entitlement)
        )
        return Comparison(direction, reductions, dropped, before, after)


# -- loading and validation -------------------------------------------------------------------

#: The largest ``policy.max_clock_skew_seconds`` a catalogue may set: clocks further apart
#: than an hour are a misconfiguration to fix, not to absorb.
MAX_CLOCK_SKEW_SECONDS: Final = 3600
DEFAULT_CLOCK_SKEW_SECONDS: Final = 300

_TOP_KEYS = {"currency", "default_plan", "rates", "topup", "plans", "addons", "policy", "seller"}
_PLAN_KEYS = {"name", "rank", "price", "limits", "included"}
_ADDON_KEYS = {"name", "adds", "price", "max_quantity", "plans"}
_POLICY_KEYS = {
    "low_balance",
    "remind_before_days",
    "renewal_invoice_days_before",
    "change_timing",
    "from_free",
    "grace_days",
    "payment_window_hours",
    "included_balance_expires",
    "overdraft",
    "require_billing_profile",
    "timezone",
    "locale",
    "invoice_code",
    "tax",
    "max_clock_skew_seconds",
}
_TAX_KEYS = {"mode", "rate", "base", "tax_top_ups"}
_SELLER_KEYS = {"name", "address", "email", "tax_number", "logo"}
_LIMIT_KEYS = ("users", "contacts", "broadcast_quota")
_DEFAULT_TOPUP = {Balance.CONVERSATION: (10_000, 1_000_000), Balance.BROADCAST: (10_000, 5_000_000)}


_CODE: Final = re.compile(bounds.CODE_PATTERN)
# A field of the invoice code template as a plain decimal: optional zero padding and width.
_PLAIN: Final = re.compile(r"(0?[0-9]*)d?")


def _separates(literal: str) -> bool:
    """Whether text between two fields keeps their digits apart."""
    return any(not char.isdigit() for char in literal)


class _Loader:
    """Reads a catalogue dict, collecting every problem with its key path."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.problems: list[str] = []
        self.currency = "IDR"

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def table(self, value: Any, path: str, allowed: set[str] | None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.fail(path, "must be a table")
            return {}
        if allowed is not None:
            for key in sorted(set(value) - allowed):
                self.fail(f"{path}.{key}" if path else key, "unknown key")
        return value

    def integer(
        self,
        value: Any,
        path: str,
        *,
        minimum: int | None = 0,
        maximum: int = bounds.MAX_AMOUNT,
    ) -> int | None:
        """An int in ``minimum..maximum``; every catalogue number is within 10**15 (R-LIM-1)."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"must be an integer, not {type(value).__name__}")
            return None
        if minimum is not None and value < minimum:
            self.fail(path, f"must be >= {minimum}")
            return None
        if abs(value) > maximum:
            shown = "10**15" if maximum == bounds.MAX_AMOUNT else f"{maximum:_}"
            self.fail(path, f"must be <= {shown}" if value > 0 else f"must be >= -{shown}")
            return None
        return value

    def code(self, code: object, section: str) -> bool:
        """Whether a plan or add-on code is one (R-LIM-5): ``[a-z][a-z0-9_]{0,39}``."""
        if isinstance(code, str) and _CODE.fullmatch(code):
            return True
        self.fail(
            f"{section}.{code}",
            f"code {code!r} must be a lower-case letter, then up to 39 lower-case letters,"
            " digits or '_'",
        )
        return False

    def host_text(
        self, value: Any, path: str, *, maximum: int = bounds.MAX_TEXT, lines: bool = False
    ) -> str | None:
        """Host text as R-LIM-3 allows it (``None`` stays ``None``)."""
        if value is None:
            return None
        try:
            return bounds.text(value, path, maximum=maximum, lines=lines)
        except InvalidArgument as error:
            self.fail(path, str(error).removeprefix(f"{path} "))
            return None

    def text(self, value: Any, path: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(path, "must be a non-empty string")
            return None
        return self.host_text(value, path)

    def flag(self, value: Any, path: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return default
        return value

    def choice(self, value: Any, path: str, kind: type[enum.StrEnum], default: Any) -> Any:
        if value is None:
            return default
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in kind)
            self.fail(path, f"must be one of {allowed}")
            return default

    def money(self, value: Any, path: str) -> Money | None:
        amount = self.integer(value, path)
        return None if amount is None else Money(amount, self.currency)

    def fraction(self, value: Any, path: str) -> Fraction | None:
        try:
            if isinstance(value, bool | float):
                raise ValueError
            if isinstance(value, str) and value.strip().endswith("%"):
                result = Fraction(value.strip()[:-1]) / 100
            else:
                result = Fraction(value)
        except (ValueError, TypeError, ZeroDivisionError):
            self.fail(path, 'must be a percentage ("12%"), a fraction ("11/12") or an integer')
            return None
        if not 0 <= result <= 1:
            self.fail(path, "must be within 0..100%")
            return None
        return result

    # -- sections ------------------------------------------------------------------------

    def load(self) -> Catalogue:
        root = self.table(self.data, "", _TOP_KEYS)
        currency = root.get("currency", "IDR")
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isalpha()
            and currency.isupper()
        ):
            self.fail("currency", "must be a 3-letter upper-case ISO 4217 code")
        else:
            self.currency = currency
        rates = self.table(root.get("rates"), "rates", {"reply", "broadcast"})
        reply = self.money(rates.get("reply", 30), "rates.reply")
        broadcast = self.money(rates.get("broadcast", 650), "rates.broadcast")
        topup = self.topup(root.get("topup"))
        plans = self.plans(root.get("plans"))
        # Check references against every declared plan code, not only the plans that loaded
        # cleanly: one bad price must not make each add-on and default_plan report it again.
        raw_plans = root.get("plans")
        declared = set(raw_plans) if isinstance(raw_plans, Mapping) else set()
        addons = self.addons(root.get("addons"), declared)
        policy = self.policy(root.get("policy"))
        self.lines_bounded(plans, addons, policy.tax)
        seller = self.seller(root.get("seller"))
        default_plan = root.get("default_plan")
        if default_plan is None:
            self.fail("default_plan", "is required")
        elif not isinstance(default_plan, str) or default_plan not in declared:
            self.fail("default_plan", f"names unknown plan {default_plan!r}")
        elif default_plan in plans and not plans[default_plan].is_free:
            self.fail("default_plan", f"plan {default_plan!r} must be free (price 0)")
        if self.problems:
            raise CatalogueError(self.problems)
        assert reply is not None and broadcast is not None and isinstance(default_plan, str)
        return Catalogue(
            currency=self.currency,
            default_plan=default_plan,
            plans=plans,
            addons=addons,
            reply_rate=reply,
            broadcast_rate=broadcast,
            topup=topup,
            policy=policy,
            seller=seller,
        )

    def topup(self, value: Any) -> dict[Balance, TopUpLimit]:
        table = self.table(value, "topup", {b.value for b in Balance})
        limits: dict[Balance, TopUpLimit] = {}
        for balance in Balance:
            path = f"topup.{balance}"
            entry = self.table(table.get(balance.value), path, {"min", "max"})
            low_default, high_default = _DEFAULT_TOPUP[balance]
            low = self.integer(entry.get("min", low_default), f"{path}.min")
            high = self.integer(entry.get("max", high_default), f"{path}.max")
            if low is None or high is None:
                continue
            if low > high:
                self.fail(path, f"min ({low}) must be <= max ({high})")
                continue
            limits[balance] = TopUpLimit(Money(low, self.currency), Money(high, self.currency))
        return limits

    def prices(self, value: Any, path: str) -> dict[Interval, Money]:
        table = self.table(value, path, {i.value for i in Interval})
        prices: dict[Interval, Money] = {}
        if value is not None and Interval.MONTHLY.value not in table:
            self.fail(f"{path}.monthly", "is required")
        if value is None:
            self.fail(path, "is required")
        for interval in Interval:
            if interval.value in table:
                price = self.money(table[interval.value], f"{path}.{interval}")
                if price is not None:
                    prices[interval] = price
        return prices

    def plans(self, value: Any) -> dict[str, Plan]:
        table = self.table(value, "plans", None)
        if not table:
            self.fail("plans", "at least one plan is required")
        plans: dict[str, Plan] = {}
        ranks: dict[int, str] = {}
        for code, raw in table.items():
            if not self.code(code, "plans"):
                continue
            path = f"plans.{code}"
            entry = self.table(raw, path, _PLAN_KEYS)
            name = self.text(entry.get("name", code), f"{path}.name")
            rank = self.integer(entry.get("rank"), f"{path}.rank", minimum=None)
            if rank is not None:
                if rank in ranks:
                    self.fail(f"{path}.rank", f"duplicates the rank of plan {ranks[rank]!r}")
                ranks.setdefault(rank, code)
            prices = self.prices(entry.get("price"), f"{path}.price")
            limits_raw = self.table(entry.get("limits"), f"{path}.limits", set(_LIMIT_KEYS))
            if "limits" not in entry:
                self.fail(f"{path}.limits", "is required")
            limits = {
                key: self.integer(limits_raw.get(key, 0), f"{path}.limits.{key}")
                for key in _LIMIT_KEYS
            }
            included_raw = self.table(
                entry.get("included"), f"{path}.included", {b.value for b in Balance}
            )
            included = {
                b: self.money(included_raw.get(b.value, 0), f"{path}.included.{b}") for b in Balance
            }
            if name is None or rank is None or Interval.MONTHLY not in prices:
                continue
            if any(v is None for v in limits.values()) or any(v is None for v in included.values()):
                continue
            plans[code] = Plan(
                code=code,
                name=name,
                rank=rank,
                prices=prices,
                limits=Limits(**{k: int(v or 0) for k, v in limits.items()}),
                included={b: m for b, m in included.items() if m is not None},
            )
        return plans

    def addons(self, value: Any, plans: Collection[str]) -> dict[str, AddOn]:
        table = self.table(value, "addons", None)
        addons: dict[str, AddOn] = {}
        for code, raw in table.items():
            if not self.code(code, "addons"):
                continue
            path = f"addons.{code}"
            entry = self.table(raw, path, _ADDON_KEYS)
            name = self.text(entry.get("name", code), f"{path}.name")
            adds_raw = self.table(entry.get("adds"), f"{path}.adds", set(RESOURCES))
            adds = {k: self.integer(v, f"{path}.adds.{k}") for k, v in adds_raw.items()}
            if not adds_raw and "adds" in entry:
                self.fail(f"{path}.adds", "must add users or contacts")
            if "adds" not in entry:
                self.fail(f"{path}.adds", "is required")
            prices = self.prices(entry.get("price"), f"{path}.price")
            max_quantity = self.integer(
                entry.get("max_quantity", DEFAULT_MAX_QUANTITY),
                f"{path}.max_quantity",
                minimum=1,
                maximum=bounds.MAX_COUNT,
            )
            sold_on = entry.get("plans", [])
            if not isinstance(sold_on, list) or not all(isinstance(p, str) for p in sold_on):
                self.fail(f"{path}.plans", "must be a list of plan codes")
                sold_on = []
            for index, plan in enumerate(sold_on):
                if plan not in plans:
                    self.fail(f"{path}.plans[{index}]", f"names unknown plan {plan!r}")
            if name is None or max_quantity is None or Interval.MONTHLY not in prices:
                continue
            if any(v is None for v in adds.values()):
                continue
            addons[code] = AddOn(
                code=code,
                name=name,
                adds={k: int(v or 0) for k, v in adds.items()},
                prices=prices,
                max_quantity=max_quantity,
                plans=tuple(sold_on),
            )
        return addons

    def lines_bounded(
        self, plans: Mapping[str, Plan], addons: Mapping[str, AddOn], tax: Tax
    ) -> None:
        """Refuse prices whose dearest order line, with tax, passes 10**15 (R-LIM-1): a plan's
        price, an add-on's unit price (an annual one 12 times the monthly without its own)
        times ``max_quantity``. An order of several lines beyond it is refused when quoted."""
        factor = 1 + tax.effective_rate if tax.mode is TaxMode.EXCLUSIVE else Fraction(1)
        dearest: list[tuple[str, int]] = []
        for code, plan in plans.items():
            for interval, price in plan.prices.items():
                dearest.append((f"plans.{code}.price.{interval}", price.amount))
        for code, addon in addons.items():
            for interval in Interval:  # ints, not Money: the product may be beyond the bound
                given = addon.prices.get(interval)
                unit = given.amount if given else addon.prices[Interval.MONTHLY].amount * 12
                dearest.append((f"addons.{code}.price.{interval}", unit * addon.max_quantity))
        for path, amount in dearest:
            total = amount * factor
            if total > bounds.MAX_AMOUNT:
                self.fail(
                    path,
                    f"an order line of it (at max_quantity, with tax) comes to {int(total):_},"
                    " beyond 10**15",
                )

    def policy(self, value: Any) -> Policy:
        table = self.table(value, "policy", _POLICY_KEYS)
        defaults = Policy()
        overdraft_raw = self.table(
            table.get("overdraft"), "policy.overdraft", {b.value for b in Balance}
        )
        overdraft = {
            b: self.integer(overdraft_raw.get(b.value, 0), f"policy.overdraft.{b}") or 0
            for b in Balance
        }
        timezone = table.get("timezone", defaults.timezone)
        try:
            if not isinstance(timezone, str):
                raise InvalidTime(f"{timezone!r} is not a name")
            zone(timezone)
        except InvalidTime:
            self.fail("policy.timezone", f"unknown timezone {timezone!r}")
        invoice_code = table.get("invoice_code", defaults.invoice_code)
        self.check_invoice_code(invoice_code)
        return Policy(
            change_timing=self.choice(
                table.get("change_timing"),
                "policy.change_timing",
                ChangeTiming,
                defaults.change_timing,
            ),
            from_free=self.choice(
                table.get("from_free"), "policy.from_free", ChangeTiming, defaults.from_free
            ),
            grace_days=self.integer(
                table.get("grace_days", 3), "policy.grace_days", maximum=bounds.MAX_GRACE_DAYS
            )
            or 0,
            payment_window_hours=self.integer(
                table.get("payment_window_hours", 24),
                "policy.payment_window_hours",
                minimum=1,
                maximum=bounds.MAX_PAYMENT_WINDOW_HOURS,
            )
            or 24,
            included_balance_expires=self.flag(
                table.get("included_balance_expires"), "policy.included_balance_expires", True
            ),
            overdraft=overdraft,
            require_billing_profile=self.flag(
                table.get("require_billing_profile"), "policy.require_billing_profile", True
            ),
            timezone=str(timezone),
            locale=self.text(table.get("locale", defaults.locale), "policy.locale")
            or defaults.locale,
            invoice_code=str(invoice_code),
            tax=self.tax(table.get("tax")),
            max_clock_skew_seconds=self.clock_skew(table.get("max_clock_skew_seconds")),
            low_balance=self.low_balance(table.get("low_balance")),
            remind_before_days=self.reminders(table.get("remind_before_days")),
            renewal_invoice_days_before=self.days(
                table.get("renewal_invoice_days_before", 0), "policy.renewal_invoice_days_before"
            ),
        )

    def low_balance(self, value: Any) -> dict[Balance, int]:
        raw = self.table(value, "policy.low_balance", {b.value for b in Balance})
        found = {}
        for b in Balance:
            path = f"policy.low_balance.{b}"
            amount = self.integer(raw.get(b.value, 0), path) or 0
            if amount > 10**15:  # R-LIM-1
                self.fail(path, "must be <= 10**15")
            found[b] = amount
        return found

    def days(self, value: Any, path: str, *, minimum: int = 0) -> int:
        days = self.integer(value, path, minimum=minimum)
        if days is not None and days > 366:
            self.fail(path, "must be <= 366")
        return days or 0

    def reminders(self, value: Any) -> tuple[int, ...]:
        path = "policy.remind_before_days"
        if value is None:
            return Policy().remind_before_days
        if not isinstance(value, list):
            self.fail(path, "must be a list of days, e.g. [7, 3, 1]")
            return ()
        days = [self.days(day, f"{path}[{n}]", minimum=1) for n, day in enumerate(value)]
        if len(set(days)) != len(days):
            self.fail(path, "must not repeat a day")
        return tuple(sorted(set(days), reverse=True))

    def clock_skew(self, value: Any) -> int:
        path = "policy.max_clock_skew_seconds"
        if value is None:
            return DEFAULT_CLOCK_SKEW_SECONDS
        seconds = self.integer(value, path)
        if seconds is None:
            return DEFAULT_CLOCK_SKEW_SECONDS
        if seconds > MAX_CLOCK_SKEW_SECONDS:
            self.fail(path, f"must be <= {MAX_CLOCK_SKEW_SECONDS} (an hour)")
            return DEFAULT_CLOCK_SKEW_SECONDS
        return seconds

    def check_invoice_code(self, template: Any) -> None:
        path = "policy.invoice_code"
        if not isinstance(template, str):
            self.fail(path, "must be a string")
            return
        try:
            sample = template.format(year=2026, month=12, seq=999_999_999)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as error:
            # "{seq.x}" and "{seq[0]}" fail with AttributeError / TypeError, not ValueError.
            self.fail(path, f"bad template ({error}); use {{year}}, {{month}} and {{seq}}")
            return
        if not self.seq_keeps_codes_unique(template, path):
            return
        if (
            not sample
            or len(sample) > 50
            or not all(c.isascii() and (c.isalnum() or c == "-") for c in sample)
        ):
            self.fail(path, "must give codes of letters, digits and '-', at most 50 characters")

    def seq_keeps_codes_unique(self, template: str, path: str) -> bool:
        """Whether ``{seq}`` is in the template in a form that keeps every code unique
        (R-LIM-5): each field a plain number (no precision, conversion or other format that
        could cut or round it), and no digit of ``{seq}`` that could run into a neighbour's:
        a field right before it has a fixed width, none comes right after it."""
        pieces = list(string.Formatter().parse(template))
        fields = [field for _, field, _, _ in pieces if field is not None]
        if "seq" not in fields:
            self.fail(path, "must contain {seq} so that codes are unique")
            return False
        for _, field, spec, conversion in pieces:
            if field is not None and (conversion is not None or not _PLAIN.fullmatch(spec or "")):
                self.fail(
                    path,
                    f"{{{field}}} must be a plain number ({{{field}}} or {{{field}:06d}}): a"
                    " conversion, precision or other format could cut it, and codes collide",
                )
                return False
        for index, (literal, field, _, _) in enumerate(pieces):
            if field != "seq":
                continue
            if index > 0 and not _separates(literal):
                before, spec = pieces[index - 1][1], pieces[index - 1][2] or ""
                fixed = before == "year" or (before == "month" and spec.startswith("02"))
                if before is not None and not fixed:
                    self.fail(path, f"{{{before}}} right before {{seq}} needs a separator")
                    return False
            after = pieces[index + 1] if index + 1 < len(pieces) else None
            if after is not None and after[1] is not None and not _separates(after[0]):
                self.fail(path, f"{{seq}} needs a separator before {{{after[1]}}}")
                return False
        return True

    def tax(self, value: Any) -> Tax:
        table = self.table(value, "policy.tax", _TAX_KEYS)
        mode = self.choice(table.get("mode"), "policy.tax.mode", TaxMode, TaxMode.NONE)
        rate = self.fraction(table.get("rate", 0), "policy.tax.rate")
        base = self.fraction(table.get("base", 1), "policy.tax.base")
        if mode is not TaxMode.NONE and rate == 0:
            self.fail("policy.tax.rate", f"is required when mode is {mode.value!r}")
        return Tax(
            mode=mode,
            rate=rate if rate is not None else Fraction(0),
            base=base if base is not None else Fraction(1),
            tax_top_ups=self.flag(table.get("tax_top_ups"), "policy.tax.tax_top_ups", True),
        )

    def seller(self, value: Any) -> Seller:
        table = self.table(value, "seller", _SELLER_KEYS)
        fields: dict[str, str | None] = {}
        for key in sorted(_SELLER_KEYS):
            raw = table.get(key)
            if raw is not None and not isinstance(raw, str):
                self.fail(f"seller.{key}", "must be a string")
                raw = None
            # Host text (R-LIM-3); an address and a logo's path may be longer, and only an
            # address may break lines.
            long = key in ("address", "logo")
            fields[key] = self.host_text(
                raw,
                f"seller.{key}",
                maximum=bounds.MAX_ADDRESS if long else bounds.MAX_TEXT,
                lines=key == "address",
            )
        return Seller(**fields)


__all__ = [
    "AddOn",
    "Catalogue",
    "ChangeTiming",
    "Comparison",
    "Direction",
    "Entitlement",
    "Entitlements",
    "Limits",
    "Plan",
    "Policy",
    "Reduction",
    "Seller",
    "Tax",
    "TaxMode",
    "Usage",
]
