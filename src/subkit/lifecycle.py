"""Subscription steps a customer takes between payments: stop an add-on, cancel a scheduled
change, unsubscribe and resume (R-ADD-4, R-SUB-2, R-SUB-6).

Pure decisions over a :class:`~subkit.subscription.Subscription`. Quotes live in
:mod:`subkit.quotes`, what paying an order does in :mod:`subkit.fulfilment`, and the read
models in :mod:`subkit.views`.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from subkit import bounds
from subkit import subscription as subs
from subkit.errors import (
    AddOnNotHeld,
    ChangeAlreadyPaid,
    NotCancelling,
    NothingToCancel,
)
from subkit.events import SubscriptionCancelling, SubscriptionChangeCancelled
from subkit.plans import Catalogue
from subkit.subscription import (
    AddOnEvent,
    AddOnEventKind,
    AddOnStop,
    Subscription,
    SubscriptionStatus,
)


def cancel_change(sub: Subscription, at: datetime) -> subs.Step:
    """Cancel an unpaid (or free-target) scheduled change; its invoice is cancelled."""
    change = sub.scheduled_change
    if change is None:
        raise NothingToCancel("no plan change is scheduled")
    if change.paid and change.invoice_code is not None:
        raise ChangeAlreadyPaid("a paid plan change cannot be cancelled", plan=change.plan)
    return subs.Step(
        attrs.evolve(sub, scheduled_change=None),
        at,
        ("change_cancelled",),
        cancel_invoices=(change.invoice_code,) if change.invoice_code else (),
        events=(SubscriptionChangeCancelled(change.plan),),
    )


def _quantity(code: str, quantity: object) -> None:
    # A quantity that is no count at all (True, 0, -1, 1.5) is bad input whatever is held:
    # InvalidQuantity before the holdings are looked at, never AddOnNotHeld (R-LIM-1).
    if quantity is not None:
        bounds.quantities({code: quantity}, "quantity")


def stop_addon(
    sub: Subscription, catalogue: Catalogue, code: str, quantity: int | None, at: datetime
) -> tuple[Subscription, AddOnEvent]:
    """Stop ``quantity`` units (all when ``None``) at the end of the paid time (R-ADD-4)."""
    _quantity(code, quantity)
    addon = catalogue.addon(code)
    active = sub.addons.get(code, 0) - sub.stopping.get(code, 0)
    wanted = active if quantity is None else quantity
    if active == 0:
        raise AddOnNotHeld(
            f"{addon.name} is not held (or all of it is stopping)", addon=code, active=0
        )
    if wanted > active:
        raise AddOnNotHeld(
            f"cannot stop {wanted} of {addon.name}: {active} active", addon=code, active=active
        )
    stop = AddOnStop(code, wanted, sub.paid_through)
    event = AddOnEvent(at, code, AddOnEventKind.STOPPED, wanted, None)
    return attrs.evolve(sub, stops=(*sub.stops, stop)), event


def resume_addon(
    sub: Subscription, catalogue: Catalogue, code: str, quantity: int | None, at: datetime
) -> tuple[Subscription, AddOnEvent]:
    """Undo a stop: ``quantity`` stopping units (all when ``None``) are held and renewed again.

    Only units stopping at the end of the current paid time can be resumed: a unit whose stop
    ends earlier was left out of a period already paid for, so keeping it would be unpaid use.
    The most recent stops are undone first. A pending renewal was priced without the units;
    the service drops it (the customer renews again with them priced in).
    """
    _quantity(code, quantity)
    addon = catalogue.addon(code)
    resumable = sum(
        stop.quantity
        for stop in sub.stops
        if stop.code == code and stop.ends_at == sub.paid_through
    )
    wanted = resumable if quantity is None else quantity
    if resumable == 0:
        raise AddOnNotHeld(
            f"no units of {addon.name} are stopping at the end of the paid time",
            addon=code,
            active=sub.addons.get(code, 0) - sub.stopping.get(code, 0),
            stopping=0,
        )
    if wanted > resumable:
        raise AddOnNotHeld(
            f"cannot resume {wanted} of {addon.name}: {resumable} stopping",
            addon=code,
            active=sub.addons.get(code, 0) - sub.stopping.get(code, 0),
            stopping=resumable,
        )
    left = wanted
    kept: list[AddOnStop] = []
    for stop in reversed(sub.stops):
        if left and stop.code == code and stop.ends_at == sub.paid_through:
            taken = min(left, stop.quantity)
            left -= taken
            if stop.quantity > taken:
                kept.append(attrs.evolve(stop, quantity=stop.quantity - taken))
            continue
        kept.append(stop)
    event = AddOnEvent(at, code, AddOnEventKind.RESUMED, wanted, None)
    return attrs.evolve(sub, stops=tuple(reversed(kept))), event


def unsubscribe(sub: Subscription, catalogue: Catalogue, at: datetime) -> subs.Step:
    """Cancel at the end of the paid time, voiding open renewal/change invoices; a past-due
    subscription has no paid time left and lapses at once (R-SUB-5, R-SUB-6)."""
    if sub.plan == catalogue.default_plan:
        raise NothingToCancel(f"the account is on the default plan {sub.plan!r}")
    if sub.status is SubscriptionStatus.CANCELLING:
        raise NothingToCancel("the subscription is already cancelling")
    if sub.status is SubscriptionStatus.PAST_DUE:
        return subs.fall_back(sub, catalogue, at, "lapsed")
    codes = [sub.renewal_invoice]
    change = sub.scheduled_change
    if change is not None and not (change.paid and change.invoice_code):
        codes.append(change.invoice_code)
        change = None
    cancelled = attrs.evolve(
        sub, status=SubscriptionStatus.CANCELLING, renewal_invoice=None, scheduled_change=change
    )
    return subs.Step(
        cancelled,
        at,
        ("cancelling",),
        cancel_invoices=tuple(code for code in codes if code),
        events=(SubscriptionCancelling(sub.paid_through),),
    )


def resume(sub: Subscription) -> Subscription:
    if sub.status is not SubscriptionStatus.CANCELLING:
        raise NotCancelling("the subscription is not cancelling")
    return attrs.evolve(sub, status=SubscriptionStatus.ACTIVE)


__all__ = ["cancel_change", "resume", "resume_addon", "stop_addon", "unsubscribe"]
