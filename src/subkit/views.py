"""Read models: the Usage Overview, the add-on lists, the limit check and the usage totals
(R-USE, R-ADD-4, R-VOL-3).

Pure views over an :class:`~subkit.account.Account`; they change nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import attrs

from subkit.account import Account
from subkit.cycles import Interval, Period, zone
from subkit.errors import InvalidArgument, InvalidQuantity, LimitExceeded
from subkit.money import Money
from subkit.plans import AddOn, Catalogue, Limits, Plan, Usage
from subkit.subscription import ScheduledChange, Subscription, SubscriptionStatus
from subkit.wallet import Balance, EntryKind, LedgerEntry, TopUpLimit


@attrs.frozen
class AvailableAddOn:
    """An add-on the current plan sells, with how many more units can be bought."""

    code: str
    name: str
    unit_price: Money
    adds: dict[str, int]
    can_buy: int


@attrs.frozen
class HeldAddOn:
    """An add-on held now; ``stops`` lists ``(quantity, ends_at)`` of the units stopping."""

    code: str
    name: str
    quantity: int
    stopping: int
    stops: tuple[tuple[int, datetime], ...]


@attrs.frozen
class UsageOverview:
    """The Usage Overview panel (R-USE-1)."""

    plan: str
    interval: Interval
    status: SubscriptionStatus
    current_period: Period
    days_left: int
    paid_through: datetime
    scheduled_change: ScheduledChange | None
    limits: Limits
    users_in_use: int | None
    contacts_in_use: int | None
    broadcast_used: int
    balances: dict[str, Money]
    addons: dict[str, int]
    stopping: dict[str, int]
    #: Broadcast quota and balance reserved by open holds (R-VOL-2): ``broadcast_held``
    #: messages of this month's quota, ``held`` per balance.
    broadcast_held: int = 0
    held: dict[str, Money] = attrs.field(factory=dict)


@attrs.frozen
class Offers:
    """What the upgrade page lists: the plans by rank (prices per interval, limits, included
    balances), the add-ons sold and on which plans, each balance's top-up range, and the plan
    and interval the account is on now."""

    plans: tuple[Plan, ...]
    addons: tuple[AddOn, ...]
    top_up: dict[Balance, TopUpLimit]
    current_plan: str
    current_interval: Interval


def offers(sub: Subscription, catalogue: Catalogue) -> Offers:
    return Offers(
        plans=tuple(catalogue.plans_by_rank()),
        addons=tuple(catalogue.addons.values()),
        top_up=dict(catalogue.wallet_rules.topup),
        current_plan=sub.plan,
        current_interval=sub.interval,
    )


def available_addons(sub: Subscription, catalogue: Catalogue) -> list[AvailableAddOn]:
    """The "Buy Add-On" list: what the plan sells, and how many more units fit (R-ADD-4)."""
    return [
        AvailableAddOn(
            code=addon.code,
            name=addon.name,
            unit_price=addon.price(sub.interval),
            adds=dict(addon.adds),
            can_buy=max(0, addon.max_quantity - sub.addons.get(addon.code, 0)),
        )
        for addon in catalogue.addons_for(sub.plan)
    ]


def held_addons(sub: Subscription, catalogue: Catalogue) -> list[HeldAddOn]:
    """The "Manage Add-Ons" list: units held, and the stopping ones with their end."""
    held = []
    for code, quantity in sub.addons.items():
        stops = tuple((stop.quantity, stop.ends_at) for stop in sub.stops if stop.code == code)
        held.append(
            HeldAddOn(
                code=code,
                name=catalogue.addon(code).name,
                quantity=quantity,
                stopping=sum(q for q, _ in stops),
                stops=stops,
            )
        )
    return held


def overview(
    account: Account, catalogue: Catalogue, at: datetime, usage: Usage | None
) -> UsageOverview:
    """Build the usage overview of an account at ``at`` (R-USE-1)."""
    sub = account.subscription
    tz = zone(sub.timezone)
    rights = catalogue.entitlements(sub.plan, sub.addons)
    days_left = max(
        0, (sub.current_period.end.astimezone(tz).date() - at.astimezone(tz).date()).days
    )
    return UsageOverview(
        plan=sub.plan,
        interval=sub.interval,
        status=sub.status,
        current_period=sub.current_period,
        days_left=days_left,
        paid_through=sub.paid_through,
        scheduled_change=sub.scheduled_change,
        limits=Limits(rights.users, rights.contacts, rights.broadcast_quota),
        users_in_use=usage.users if usage else None,
        contacts_in_use=usage.contacts if usage else None,
        broadcast_used=account.wallet.broadcast_used,
        balances={str(b): m for b, m in account.wallet.balances().items()},
        addons=dict(sub.addons),
        stopping=sub.stopping,
        broadcast_held=account.wallet.quota_held(),
        held={str(b): account.wallet.held(b) for b in Balance},
    )


def check_limit(catalogue: Catalogue, sub: Subscription, resource: str, wanted_total: int) -> None:
    """Refuse going over the users or contacts limit (R-USE-2)."""
    if resource not in ("users", "contacts"):
        raise InvalidArgument(
            f"resource must be 'users' or 'contacts', not {resource!r}",
            argument="resource",
            value=resource,
        )
    if isinstance(wanted_total, bool) or not isinstance(wanted_total, int) or wanted_total < 0:
        raise InvalidQuantity(f"wanted_total must be an int >= 0, got {wanted_total!r}")
    limit = catalogue.entitlements(sub.plan, sub.addons).get(resource)
    if wanted_total > limit:
        raise LimitExceeded(
            f"{wanted_total} {resource} is over the limit of {limit}",
            limit=limit,
            resource=resource,
            wanted=wanted_total,
        )


@attrs.frozen
class DayTotal:
    """What one account's entries of one ``balance`` and ``kind`` add up to on one ``day`` in
    the account's timezone: the totals a store keeps with the entries (R-VOL-3)."""

    day: date
    balance: Balance
    kind: EntryKind
    count: int
    amount: Money


@attrs.frozen
class UsageTotal:
    """One line of ``billing.usage_summary``: the entries of ``balance`` and ``kind`` in the
    day or month that begins at ``start`` (midnight in the account's timezone)."""

    start: datetime
    balance: Balance
    kind: EntryKind
    count: int
    amount: Money


class SummaryBy(enum.StrEnum):
    """How ``usage_summary`` groups its totals."""

    DAY = "day"
    MONTH = "month"


def day_totals(entries: Iterable[LedgerEntry], timezone: str) -> list[DayTotal]:
    """Sum ``entries`` per day (in ``timezone``), balance and kind, in that order."""
    tz = zone(timezone)
    sums: dict[tuple[date, Balance, EntryKind], tuple[int, int]] = {}
    currency = ""
    for entry in entries:
        where = (entry.at.astimezone(tz).date(), entry.balance, entry.kind)
        count, amount = sums.get(where, (0, 0))
        sums[where] = (count + entry.count, amount + entry.amount.amount)
        currency = entry.amount.currency
    return [
        DayTotal(day, balance, kind, count, Money(amount, currency))
        for (day, balance, kind), (count, amount) in sorted(sums.items())
    ]


def summary_days(
    since: datetime, until: datetime, by: SummaryBy, timezone: str
) -> tuple[date, date]:
    """The days ``[first, end)`` whose totals a summary of ``[since, until)`` reads: every
    day (or, by month, every month) the range touches, whole."""
    tz = zone(timezone)
    first = since.astimezone(tz).date()
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    if by is SummaryBy.MONTH:
        first = first.replace(day=1)
        last = (last.replace(day=1) + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    return first, last + timedelta(days=1)


def summarise(totals: Iterable[DayTotal], by: SummaryBy, timezone: str) -> list[UsageTotal]:
    """Group day totals by day or month; each line starts at local midnight, oldest first,
    then by balance and kind. Lines that add up to nothing are left out."""
    tz = zone(timezone)
    sums: dict[tuple[date, Balance, EntryKind], tuple[int, Money]] = {}
    for total in totals:
        start = total.day.replace(day=1) if by is SummaryBy.MONTH else total.day
        where = (start, total.balance, total.kind)
        if where in sums:
            count, amount = sums[where]
            sums[where] = (count + total.count, amount + total.amount)
        else:
            sums[where] = (total.count, total.amount)
    return [
        UsageTotal(datetime.combine(start, time(), tz), balance, kind, count, amount)
        for (start, balance, kind), (count, amount) in sorted(sums.items())
        if count or amount.amount
    ]


__all__ = [
    "AvailableAddOn",
    "DayTotal",
    "HeldAddOn",
    "Offers",
    "SummaryBy",
    "UsageOverview",
    "UsageTotal",
    "available_addons",
    "check_limit",
    "day_totals",
    "held_addons",
    "offers",
    "overview",
    "summarise",
    "summary_days",
]
