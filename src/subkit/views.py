"""Read models: the Usage Overview, the add-on lists, and the limit check (R-USE, R-ADD-4).

Pure views over an :class:`~subkit.account.Account`; they change nothing.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from subkit.account import Account
from subkit.cycles import Interval, Period, zone
from subkit.errors import InvalidQuantity, LimitExceeded
from subkit.money import Money
from subkit.plans import Catalogue, Limits, Usage
from subkit.subscription import ScheduledChange, Subscription, SubscriptionStatus
from subkit.wallet import Balance


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
        raise InvalidQuantity(f"resource must be 'users' or 'contacts', not {resource!r}")
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


__all__ = [
    "AvailableAddOn",
    "HeldAddOn",
    "UsageOverview",
    "available_addons",
    "check_limit",
    "held_addons",
    "overview",
]
