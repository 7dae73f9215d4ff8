"""The Subscription aggregate: plan, interval, periods, paid time, add-ons, status (R-SUB).

Pure state transitions. Time enters as an argument; nothing here reads a clock or a store.
A subscription walks through its own calendar: *month boundaries* every month from the anchor
(allowances: included balance, broadcast quota) and *period boundaries* every interval (what
is paid). :func:`next_event` says when the next thing is due; :func:`cross_month` and
:func:`end_grace` apply it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs

from subkit.cycles import Interval, Period, period_at, shift_months, zone
from subkit.events import (
    AddOnBought,
    AddOnEnded,
    SubscriptionCancelled,
    SubscriptionChanged,
    SubscriptionChangeDropped,
    SubscriptionLapsed,
    SubscriptionPastDue,
)
from subkit.plans import Catalogue


class SubscriptionStatus(enum.StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELLING = "cancelling"


@attrs.frozen
class ScheduledChange:
    """A plan change waiting for its boundary (R-SUB-2)."""

    plan: str
    interval: Interval
    addons: dict[str, int]
    effective_at: datetime
    invoice_code: str | None
    paid: bool
    # The add-on units the change's own order bought (``addons`` also holds units bought
    # later that joined the order); the add-on history dates these at the change (R-ADD-6).
    ordered: dict[str, int] = attrs.field(factory=dict)


class AddOnEventKind(enum.StrEnum):
    BOUGHT = "bought"
    STOPPED = "stopped"
    RESUMED = "resumed"  # a stop undone before its units ended
    ENDED = "ended"


@attrs.frozen
class AddOnEvent:
    """One line of the add-on history (R-ADD-6)."""

    at: datetime
    code: str
    kind: AddOnEventKind
    quantity: int
    invoice_code: str | None = None


@attrs.frozen
class AddOnStop:
    """``quantity`` units of add-on ``code`` that end at ``ends_at`` (R-ADD-4)."""

    code: str
    quantity: int
    ends_at: datetime


@attrs.frozen
class Subscription:
    account_id: str
    plan: str
    interval: Interval
    status: SubscriptionStatus
    anchor: datetime
    current_period: Period
    paid_through: datetime
    timezone: str
    month_index: int = 0  # months since the anchor of the allowance month in force
    scheduled_change: ScheduledChange | None = None
    addons: dict[str, int] = attrs.field(factory=dict)
    stops: tuple[AddOnStop, ...] = ()
    grace_until: datetime | None = None
    renewal_invoice: str | None = None  # an unpaid renewal invoice, if one is open

    @property
    def stopping(self) -> dict[str, int]:
        """Units stopping per add-on code."""
        result: dict[str, int] = {}
        for stop in self.stops:
            result[stop.code] = result.get(stop.code, 0) + stop.quantity
        return result

    @property
    def next_month_at(self) -> datetime:
        return shift_months(self.anchor, self.month_index + 1, zone(self.timezone))

    @property
    def paid_ahead(self) -> bool:
        return self.paid_through > self.current_period.end

    def open_invoices(self) -> tuple[str, ...]:
        """Codes of the unpaid invoices that would buy this subscription's next period: an
        open renewal and an unpaid scheduled change (R-SUB-2: the next period is bought once)."""
        codes = [self.renewal_invoice]
        if self.scheduled_change is not None and not self.scheduled_change.paid:
            codes.append(self.scheduled_change.invoice_code)
        return tuple(code for code in codes if code)

    def renewing_addons(self) -> dict[str, int]:
        """Add-on quantities a renewal buys: those held, less the units stopping."""
        stopping = self.stopping
        kept = {code: qty - stopping.get(code, 0) for code, qty in self.addons.items()}
        return {code: qty for code, qty in kept.items() if qty > 0}


@attrs.frozen
class Step:
    """What crossing one boundary did, for the service to carry out and report.

    ``grant`` is the plan whose included balance to grant for the month starting at ``at``
    (``None``: no grant); ``cancel_invoices`` are open invoices this step made void.
    """

    subscription: Subscription
    at: datetime
    kinds: tuple[str, ...]
    grant: str | None = None
    new_month: bool = False
    cancel_invoices: tuple[str, ...] = ()
    events: tuple[object, ...] = ()  # facts objects of subkit.events


def open_subscription(
    account_id: str, catalogue: Catalogue, at: datetime, timezone: str
) -> Subscription:
    """A new account on the default plan, monthly, anchored at ``at`` (R-SUB-1)."""
    period = period_at(at, Interval.MONTHLY, 0, zone(timezone))
    return Subscription(
        account_id=account_id,
        plan=catalogue.default_plan,
        interval=Interval.MONTHLY,
        status=SubscriptionStatus.ACTIVE,
        anchor=period.start,
        current_period=period,
        paid_through=period.end,
        timezone=timezone,
    )


def start_fresh(
    sub: Subscription,
    plan: str,
    interval: Interval,
    addons: Mapping[str, int],
    at: datetime,
    *,
    paid: bool,
) -> Subscription:
    """Start a new period at ``at`` on ``plan`` (new anchor): a lapse, fallback or purchase."""
    period = period_at(at, interval, 0, zone(sub.timezone))
    return attrs.evolve(
        sub,
        plan=plan,
        interval=interval,
        status=SubscriptionStatus.ACTIVE,
        anchor=period.start,
        current_period=period,
        paid_through=period.end if paid else period.start,
        month_index=0,
        scheduled_change=None,
        addons={code: qty for code, qty in addons.items() if qty > 0},
        stops=(),
        grace_until=None,
        renewal_invoice=None,
    )


def next_event(sub: Subscription) -> datetime:
    """When the next boundary or grace end of ``sub`` is due."""
    if sub.status is SubscriptionStatus.PAST_DUE and sub.grace_until is not None:
        return min(sub.grace_until, sub.next_month_at)
    return sub.next_month_at


def fall_back(sub: Subscription, catalogue: Catalogue, at: datetime, kind: str) -> Step:
    """Move to the default plan at ``at`` (lapse or end of cancellation), voiding open invoices."""
    fresh = start_fresh(sub, catalogue.default_plan, Interval.MONTHLY, {}, at, paid=True)
    ended = tuple(
        AddOnEnded(code, quantity) for code, quantity in sub.addons.items() if quantity > 0
    )
    return Step(
        fresh,
        at,
        (kind,),
        grant=catalogue.default_plan,
        new_month=True,
        cancel_invoices=sub.open_invoices(),
        events=(
            (SubscriptionCancelled if kind == "cancelled" else SubscriptionLapsed)(
                catalogue.default_plan, sub.plan
            ),
            *ended,
        ),
    )


def cross_month(sub: Subscription, catalogue: Catalogue) -> Step:
    """Cross the next month boundary (and the period boundary when it is one) (R-SUB-5)."""
    at = sub.next_month_at
    if at != sub.current_period.end:
        # A month inside an annual period: the allowances renew, nothing is billed.
        moved = attrs.evolve(sub, month_index=sub.month_index + 1)
        grant = sub.plan if sub.status is not SubscriptionStatus.PAST_DUE else None
        return Step(moved, at, ("month",), grant=grant, new_month=True)
    if sub.status is SubscriptionStatus.CANCELLING and sub.paid_through <= at:
        return fall_back(sub, catalogue, at, "cancelled")
    return _cross_period(sub, catalogue, at)


def _cross_period(sub: Subscription, catalogue: Catalogue, at: datetime) -> Step:
    tz = zone(sub.timezone)
    change = sub.scheduled_change
    cancel: tuple[str, ...] = ()
    events: list[object] = []
    plan_is_free = catalogue.plan(sub.plan).is_free
    if change is not None and not change.paid and change.effective_at <= at:
        # An unpaid change never applies (R-SUB-5): drop it and void its invoice.
        cancel = (change.invoice_code,) if change.invoice_code else ()
        events.append(SubscriptionChangeDropped(change.plan))
        sub = attrs.evolve(sub, scheduled_change=None)
        change = None
    paid = sub.paid_through > at or plan_is_free
    if change is not None and change.paid and change.effective_at <= at:
        return _apply_change(sub, catalogue, change, at, cancel, events)
    if not paid:
        next_period = Period(
            at, shift_months(sub.anchor, sub.month_index + 1 + sub.interval.months, tz)
        )
        grace = at + timedelta(days=catalogue.policy.grace_days)
        past_due = attrs.evolve(
            sub,
            status=SubscriptionStatus.PAST_DUE,
            current_period=next_period,
            month_index=sub.month_index + 1,
            grace_until=grace,
        )
        events.append(SubscriptionPastDue(grace))
        return Step(
            past_due,
            at,
            ("past_due",),
            grant=None,
            new_month=True,
            cancel_invoices=cancel,
            events=tuple(events),
        )
    k = (sub.month_index + 1) // sub.interval.months
    next_period = period_at(sub.anchor, sub.interval, k, tz)
    ended = tuple(stop for stop in sub.stops if stop.ends_at <= at)
    addons = dict(sub.addons)
    for stop in ended:
        addons[stop.code] = addons.get(stop.code, 0) - stop.quantity
        events.append(AddOnEnded(stop.code, stop.quantity))
    renewed = attrs.evolve(
        sub,
        current_period=next_period,
        month_index=sub.month_index + 1,
        paid_through=max(sub.paid_through, next_period.end) if plan_is_free else sub.paid_through,
        addons={code: qty for code, qty in addons.items() if qty > 0},
        stops=tuple(stop for stop in sub.stops if stop.ends_at > at),
    )
    kinds = ("period",) + (("addon_ended",) if ended else ())
    return Step(
        renewed,
        at,
        kinds,
        grant=sub.plan,
        new_month=True,
        cancel_invoices=cancel,
        events=tuple(events),
    )


def _apply_change(
    sub: Subscription,
    catalogue: Catalogue,
    change: ScheduledChange,
    at: datetime,
    cancel: tuple[str, ...],
    events: list[object],
) -> Step:
    """A paid scheduled change takes effect at its boundary (R-SUB-2)."""
    tz = zone(sub.timezone)
    target_free = catalogue.plan(change.plan).is_free
    if change.interval != sub.interval:
        anchor, month_index = at, 0
    else:
        anchor, month_index = sub.anchor, sub.month_index + 1
    k = month_index // change.interval.months
    period = period_at(anchor, change.interval, k, tz)
    changed = attrs.evolve(
        sub,
        plan=change.plan,
        interval=change.interval,
        # A customer who unsubscribed after paying for a change keeps it until it ends.
        status=SubscriptionStatus.CANCELLING
        if sub.status is SubscriptionStatus.CANCELLING
        else SubscriptionStatus.ACTIVE,
        anchor=anchor,
        month_index=month_index,
        current_period=period,
        # The change's invoice bought exactly this period; a free target is paid by nature.
        paid_through=period.end if target_free or change.paid else at,
        scheduled_change=None,
        addons={code: qty for code, qty in change.addons.items() if qty > 0},
        stops=(),
        grace_until=None,
    )
    events.append(SubscriptionChanged(change.plan, change.interval, sub.plan, change.invoice_code))
    events.extend(
        AddOnBought(code, quantity, change.invoice_code)
        for code, quantity in change.ordered.items()
        if quantity > 0
    )
    return Step(
        changed,
        at,
        ("change_applied",),
        grant=change.plan,
        new_month=True,
        cancel_invoices=cancel,
        events=tuple(events),
    )


def end_grace(sub: Subscription, catalogue: Catalogue) -> Step:
    """The grace ended unpaid: lapse to the default plan, anchored at the grace end."""
    assert sub.grace_until is not None
    return fall_back(sub, catalogue, sub.grace_until, "lapsed")


def advance_one(sub: Subscription, catalogue: Catalogue) -> Step:
    """Apply the next due boundary or grace end of ``sub``."""
    if (
        sub.status is SubscriptionStatus.PAST_DUE
        and sub.grace_until is not None
        and sub.grace_until <= sub.next_month_at
    ):
        return end_grace(sub, catalogue)
    return cross_month(sub, catalogue)


__all__ = [
    "AddOnEvent",
    "AddOnEventKind",
    "AddOnStop",
    "ScheduledChange",
    "Step",
    "Subscription",
    "SubscriptionStatus",
    "advance_one",
    "cross_month",
    "end_grace",
    "fall_back",
    "next_event",
    "open_subscription",
    "start_fresh",
]
