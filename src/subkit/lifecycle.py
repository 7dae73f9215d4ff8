"""Plan purchases and changes, renewals, add-ons, unsubscribe: quoting and applying (R-SUB, R-ADD).

Pure decisions over an :class:`~subkit.account.Account`. A quote is the :class:`Purchase` a
checkout would invoice at the same instant (one code path, so the Order Summary is the bill);
:func:`apply_order` is what paying that invoice does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from subkit import subscription as subs
from subkit.cycles import (
    Interval,
    Period,
    period_at,
    period_containing,
    period_index,
    prorate,
    zone,
)
from subkit.errors import (
    AddOnNotAvailable,
    AddOnNotHeld,
    AlreadyPaidAhead,
    ChangeAlreadyPaid,
    ChangeScheduled,
    IntervalNotOffered,
    InvalidQuantity,
    LimitExceeded,
    NotCancelling,
    NothingToCancel,
    NotRenewable,
    SamePlan,
)
from subkit.events import (
    AddOnBought,
    DomainEvent,
    SubscriptionCancelling,
    SubscriptionChangeCancelled,
    SubscriptionChanged,
    SubscriptionChangeScheduled,
    SubscriptionRenewed,
    make_event,
)
from subkit.invoice import InvoiceLine, InvoiceType, Order, compute_totals
from subkit.money import Money
from subkit.plans import Catalogue, ChangeTiming, Direction, Limits, Reduction, Usage
from subkit.subscription import (
    AddOnEvent,
    AddOnEventKind,
    AddOnStop,
    ScheduledChange,
    Subscription,
    SubscriptionStatus,
)

if TYPE_CHECKING:
    from subkit.account import Account
    from subkit.orders import Applied, Purchase


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


@attrs.frozen
class OrderSummary:
    """The Order Summary a customer confirms: the same lines the invoice will carry."""

    lines: tuple[InvoiceLine, ...]
    subtotal: Money
    tax: Money
    total: Money
    direction: Direction | None
    effective_at: datetime
    reductions: tuple[Reduction, ...] = ()
    dropped_addons: tuple[str, ...] = ()


def basis(sub: Subscription) -> str:
    """What an order is priced on; a payment applies only while this still holds."""
    return f"{sub.plan}|{sub.interval}|{sub.paid_through.isoformat()}|{sub.status}"


def _purchase(
    catalogue: Catalogue,
    type: InvoiceType,
    package: str,
    lines: list[InvoiceLine],
    order: Order,
) -> Purchase:
    from subkit.orders import Purchase

    totals = compute_totals(lines, catalogue.policy.tax, catalogue.currency)
    return Purchase(type, package, tuple(lines), totals, order)


def summary(
    purchase: Purchase,
    direction: Direction | None,
    effective_at: datetime,
    reductions: tuple[Reduction, ...] = (),
    dropped: tuple[str, ...] = (),
) -> OrderSummary:
    totals = purchase.totals
    return OrderSummary(
        purchase.lines,
        totals.subtotal,
        totals.tax,
        totals.total,
        direction,
        effective_at,
        reductions,
        dropped,
    )


def _check_quantities(
    catalogue: Catalogue, plan: str, quantities: Mapping[str, int], *, minimum: int
) -> dict[str, int]:
    """Validate an order's add-on quantities for ``plan`` (R-ADD-1, R-ADD-2)."""
    checked: dict[str, int] = {}
    for code, quantity in quantities.items():
        addon = catalogue.addon(code)
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise InvalidQuantity(f"quantity of {code!r} must be an int", addon=code)
        if not minimum <= quantity <= addon.max_quantity:
            raise InvalidQuantity(
                f"quantity of {addon.name} must be between {minimum} and {addon.max_quantity},"
                f" got {quantity}",
                addon=code,
                quantity=quantity,
                maximum=addon.max_quantity,
            )
        if quantity and not addon.sold_on(plan):
            raise AddOnNotAvailable(
                f"{addon.name} is not sold on plan {plan!r}", addon=code, plan=plan
            )
        if quantity:
            checked[code] = quantity
    return checked


def _period_lines(
    catalogue: Catalogue,
    plan: str,
    interval: Interval,
    addons: Mapping[str, int],
    period: Period,
) -> list[InvoiceLine]:
    """One line for the plan and one per add-on, for one full period."""
    chosen = catalogue.plan(plan)
    price = chosen.price(interval)
    lines = [InvoiceLine(chosen.label(interval), 1, price, price, period)]
    for code, quantity in addons.items():
        addon = catalogue.addon(code)
        unit = addon.price(interval)
        lines.append(InvoiceLine(addon.name, quantity, unit, unit * quantity, period))
    return lines


def next_period(sub: Subscription) -> Period:
    """The period that starts at ``paid_through`` on the current plan and interval."""
    if sub.status is SubscriptionStatus.PAST_DUE:
        return sub.current_period
    # Continue the anchored calendar so month-end anchors do not drift (R-CYC-1).
    return period_containing(sub.anchor, sub.interval, sub.paid_through, zone(sub.timezone))


# -- plan changes ---------------------------------------------------------------------------


@attrs.frozen
class ChangeQuote:
    purchase: Purchase
    summary: OrderSummary


def quote_change(
    account: Account,
    catalogue: Catalogue,
    plan: str,
    interval: Interval | str | None,
    addons: Mapping[str, int] | None,
    at: datetime,
    usage: Usage | None = None,
) -> ChangeQuote:
    """Price a plan change as the Order Summary shows it (R-SUB-2, R-SUB-3)."""
    sub = account.subscription
    target = catalogue.plan(plan)
    if interval is None:
        chosen = sub.interval if target.offers(sub.interval) else Interval.MONTHLY
    else:
        chosen = Interval(interval)
    if not target.offers(chosen):
        raise IntervalNotOffered(f"plan {plan!r} is not sold {chosen}", plan=plan, interval=chosen)
    if plan == sub.plan and chosen == sub.interval:
        raise SamePlan(f"the account is already on {target.label(chosen)}", plan=plan)
    if sub.status is SubscriptionStatus.CANCELLING:
        raise NotRenewable("the subscription is cancelling: resume it before changing plan")
    change = sub.scheduled_change
    if change is not None and change.paid and change.invoice_code is not None:
        raise ChangeAlreadyPaid("a paid plan change is already scheduled", plan=change.plan)
    if addons is None:
        wanted = {
            c: q for c, q in sub.renewing_addons().items() if catalogue.addon(c).sold_on(plan)
        }
    else:
        wanted = _check_quantities(catalogue, plan, addons, minimum=0)
    current = catalogue.plan(sub.plan)
    comparison = catalogue.compare(sub.plan, sub.interval, sub.addons, plan, chosen, wanted, usage)
    tz = zone(sub.timezone)
    base = basis(sub)
    if sub.status is SubscriptionStatus.PAST_DUE:
        # Bought in the grace: the period starts at the old boundary, no gap, no credit.
        start = sub.current_period.start
        period = (
            period_at(start, chosen, 0, tz)
            if chosen != sub.interval
            else Period(start, sub.current_period.end)
        )
        order = Order(
            plan=plan,
            interval=chosen,
            addons=wanted,
            start=start,
            end=period.end,
            immediate=True,
            basis=base,
        )
        lines = _period_lines(catalogue, plan, chosen, wanted, period)
        purchase = _purchase(catalogue, InvoiceType.PLAN_CHANGE, target.label(chosen), lines, order)
        return ChangeQuote(
            purchase,
            summary(
                purchase, comparison.direction, at, comparison.reductions, comparison.dropped_addons
            ),
        )
    immediate_from_free = current.is_free and catalogue.policy.from_free is ChangeTiming.IMMEDIATE
    if immediate_from_free and not target.is_free:
        period = period_at(at, chosen, 0, tz)
        order = Order(
            plan=plan,
            interval=chosen,
            addons=wanted,
            start=None,
            end=None,
            immediate=True,
            # Priced on the plan alone: Free rolling into its next month before the payment
            # does not change what is bought.
            basis=f"{sub.plan}|{sub.interval}",
        )
        lines = _period_lines(catalogue, plan, chosen, wanted, period)
        purchase = _purchase(
            catalogue, InvoiceType.PLAN_PURCHASE, target.label(chosen), lines, order
        )
        return ChangeQuote(
            purchase,
            summary(
                purchase, comparison.direction, at, comparison.reductions, comparison.dropped_addons
            ),
        )
    boundary = sub.paid_through
    if chosen == sub.interval:
        period = period_containing(sub.anchor, chosen, boundary, tz)
    else:
        period = period_at(boundary, chosen, 0, tz)
    lines = _period_lines(catalogue, plan, chosen, wanted, period)
    if (
        catalogue.policy.change_timing is ChangeTiming.IMMEDIATE
        and not current.is_free
        and not target.is_free
    ):
        credit = unused_credit(sub, catalogue, at)
        new_period = period_at(at, chosen, 0, tz)
        immediate_lines = _period_lines(catalogue, plan, chosen, wanted, new_period)
        charge = sum(line.amount.amount for line in immediate_lines)
        if credit.amount <= charge:
            if credit.amount:
                immediate_lines.append(
                    InvoiceLine(
                        f"Unused time on {current.label(sub.interval)}",
                        1,
                        -credit,
                        -credit,
                        Period(sub.current_period.start, sub.paid_through),
                    )
                )
            order = Order(plan=plan, interval=chosen, addons=wanted, immediate=True, basis=base)
            purchase = _purchase(
                catalogue, InvoiceType.PLAN_CHANGE, target.label(chosen), immediate_lines, order
            )
            return ChangeQuote(
                purchase,
                summary(
                    purchase,
                    comparison.direction,
                    at,
                    comparison.reductions,
                    comparison.dropped_addons,
                ),
            )
        # The credit would exceed the charge: schedule instead, so no credit is forfeited.
    order = Order(
        plan=plan, interval=chosen, addons=wanted, start=boundary, end=period.end, basis=base
    )
    if target.is_free:
        lines = []
    purchase = _purchase(catalogue, InvoiceType.PLAN_CHANGE, target.label(chosen), lines, order)
    return ChangeQuote(
        purchase,
        summary(
            purchase,
            comparison.direction,
            boundary,
            comparison.reductions,
            comparison.dropped_addons,
        ),
    )


def unused_credit(sub: Subscription, catalogue: Catalogue, at: datetime) -> Money:
    """Unused part of the current period's plan and add-ons, plus any period paid ahead."""
    tz = zone(sub.timezone)
    plan = catalogue.plan(sub.plan)
    per_period = plan.price(sub.interval)
    for code, quantity in sub.addons.items():
        per_period = per_period + catalogue.addon(code).price(sub.interval) * quantity
    credit = prorate(per_period, sub.current_period, at, tz)
    if sub.paid_ahead:
        renewing = plan.price(sub.interval)
        for code, quantity in sub.renewing_addons().items():
            renewing = renewing + catalogue.addon(code).price(sub.interval) * quantity
        credit = credit + renewing
    return credit


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


# -- renewal --------------------------------------------------------------------------------


def quote_renewal(account: Account, catalogue: Catalogue, at: datetime) -> ChangeQuote:
    """Price one more period of the current plan and interval (R-SUB-4)."""
    sub = account.subscription
    plan = catalogue.plan(sub.plan)
    if plan.is_free:
        raise NotRenewable(f"{plan.name} is free and renews itself")
    if sub.status is SubscriptionStatus.CANCELLING:
        raise NotRenewable("the subscription is cancelling: resume it to renew")
    if sub.scheduled_change is not None:
        raise ChangeScheduled("a plan change is scheduled: it already buys the next period")
    if sub.paid_ahead:
        raise AlreadyPaidAhead(
            f"the period until {sub.paid_through.isoformat()} is already paid",
            paid_through=sub.paid_through,
        )
    period = next_period(sub)
    addons = sub.renewing_addons()
    lines = _period_lines(catalogue, sub.plan, sub.interval, addons, period)
    order = Order(
        plan=sub.plan,
        interval=sub.interval,
        addons=addons,
        start=period.start,
        end=period.end,
        basis=basis(sub),
    )
    purchase = _purchase(catalogue, InvoiceType.RENEWAL, plan.label(sub.interval), lines, order)
    return ChangeQuote(purchase, summary(purchase, None, period.start))


# -- add-ons --------------------------------------------------------------------------------


def held_total(sub: Subscription, code: str) -> int:
    """Units held now, stopping ones included (they count toward the maximum, R-ADD-3)."""
    return sub.addons.get(code, 0)


def quote_addons(
    account: Account, catalogue: Catalogue, quantities: Mapping[str, int], at: datetime
) -> ChangeQuote:
    """Price add-on units for the rest of the period plus any period paid ahead (R-ADD-3)."""
    sub = account.subscription
    if not quantities:
        raise InvalidQuantity("order at least one add-on")
    wanted = _check_quantities(catalogue, sub.plan, quantities, minimum=1)
    change = sub.scheduled_change
    tz = zone(sub.timezone)
    lines: list[InvoiceLine] = []
    for code, quantity in wanted.items():
        addon = catalogue.addon(code)
        if held_total(sub, code) + quantity > addon.max_quantity:
            raise InvalidQuantity(
                f"{addon.name}: {held_total(sub, code)} held + {quantity} would exceed the "
                f"maximum {addon.max_quantity}",
                addon=code,
                maximum=addon.max_quantity,
            )
        if change is not None and change.paid and not addon.sold_on(change.plan):
            raise AddOnNotAvailable(
                f"{addon.name} is not sold on {change.plan!r}, the plan already bought next",
                addon=code,
                plan=change.plan,
            )
        full = addon.price(sub.interval) * quantity
        part = prorate(full, sub.current_period, at, tz)
        lines.append(
            InvoiceLine(
                addon.name,
                quantity,
                addon.price(sub.interval),
                part,
                Period(max(at, sub.current_period.start), sub.current_period.end)
                if at < sub.current_period.end
                else None,
            )
        )
        if change is not None and change.paid:
            # The next period is already bought through the change: price it at its plan's
            # interval (R-ADD-3); the units join the change's order when paid.
            unit = addon.price(change.interval)
            ahead = Period(change.effective_at, sub.paid_through)
            lines.append(InvoiceLine(addon.name, quantity, unit, unit * quantity, ahead))
        elif sub.paid_ahead:
            ahead = next_period(attrs.evolve(sub, paid_through=sub.current_period.end))
            unit = addon.price(sub.interval)
            lines.append(InvoiceLine(addon.name, quantity, unit, unit * quantity, ahead))
    order = Order(addons=wanted, basis=basis(sub))
    package = ", ".join(f"{catalogue.addon(c).name} x{q}" for c, q in wanted.items())
    purchase = _purchase(catalogue, InvoiceType.ADD_ON, package, lines, order)
    return ChangeQuote(purchase, summary(purchase, None, at))


def available_addons(sub: Subscription, catalogue: Catalogue) -> list[AvailableAddOn]:
    """The "Buy Add-On" list: what the plan sells, and how many more units fit (R-ADD-4)."""
    return [
        AvailableAddOn(
            code=addon.code,
            name=addon.name,
            unit_price=addon.price(sub.interval),
            adds=dict(addon.adds),
            can_buy=max(0, addon.max_quantity - held_total(sub, addon.code)),
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


def stop_addon(
    sub: Subscription, catalogue: Catalogue, code: str, quantity: int | None, at: datetime
) -> tuple[Subscription, AddOnEvent]:
    """Stop ``quantity`` units (all when ``None``) at the end of the paid time (R-ADD-4)."""
    addon = catalogue.addon(code)
    active = sub.addons.get(code, 0) - sub.stopping.get(code, 0)
    wanted = active if quantity is None else quantity
    if active == 0:
        raise AddOnNotHeld(
            f"{addon.name} is not held (or all of it is stopping)", addon=code, active=0
        )
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1 or wanted > active:
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
    if isinstance(wanted, bool) or not isinstance(wanted, int) or not 1 <= wanted <= resumable:
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


# -- unsubscribe ----------------------------------------------------------------------------


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


# -- checkout bookkeeping and payment -------------------------------------------------------


def placed(sub: Subscription, type: InvoiceType, order: Order, code: str) -> Subscription:
    """Record a just-created subscription invoice on the subscription."""
    if type is InvoiceType.RENEWAL:
        return attrs.evolve(sub, renewal_invoice=code)
    if type is InvoiceType.PLAN_CHANGE and not order.immediate:
        assert order.plan and order.interval and order.start
        change = ScheduledChange(
            order.plan,
            order.interval,
            dict(order.addons),
            order.start,
            code,
            paid=False,
            ordered=dict(order.addons),
        )
        return attrs.evolve(sub, scheduled_change=change, renewal_invoice=None)
    return sub


def superseded(sub: Subscription, type: InvoiceType, order: Order) -> tuple[str, ...]:
    """Open invoices a new order replaces (R-SUB-2: one next period, one change)."""
    codes: list[str | None] = []
    if type in (InvoiceType.PLAN_CHANGE, InvoiceType.PLAN_PURCHASE, InvoiceType.RENEWAL):
        codes.append(sub.renewal_invoice)
        if sub.scheduled_change is not None and not sub.scheduled_change.paid:
            codes.append(sub.scheduled_change.invoice_code)
    return tuple(code for code in codes if code)


def apply_order(
    account: Account,
    catalogue: Catalogue,
    type: InvoiceType,
    order: Order,
    invoice_code: str | None,
    at: datetime,
) -> Applied:
    """Apply a paid (or free) subscription order, when it still can be (R-INV-5, R-INV-6)."""
    from subkit.account import expire_included_now, grant_month
    from subkit.orders import Applied

    sub = account.subscription
    events: list[DomainEvent] = []
    if (
        order.basis is not None
        and not _still_holds(order.basis, sub)
        and not _is_own_change(sub, invoice_code)
    ):
        return Applied(
            account, applied=False, reason="the subscription changed since this order was placed"
        )
    assert order.plan is not None or type is InvoiceType.ADD_ON
    wallet = account.wallet
    entries = []
    addon_events = list(account.addon_events)
    if type is InvoiceType.ADD_ON:
        addons = dict(sub.addons)
        for code, quantity in order.addons.items():
            addons[code] = addons.get(code, 0) + quantity
            addon_events.append(AddOnEvent(at, code, AddOnEventKind.BOUGHT, quantity, invoice_code))
        change = sub.scheduled_change
        if change is not None and change.paid:
            merged = dict(change.addons)
            for code, quantity in order.addons.items():
                merged[code] = merged.get(code, 0) + quantity
            change = attrs.evolve(change, addons=merged)
        sub = attrs.evolve(sub, addons=addons, scheduled_change=change)
        events.extend(
            make_event(sub.account_id, at, AddOnBought(code, quantity, invoice_code))
            for code, quantity in order.addons.items()
            if quantity > 0
        )
    elif type is InvoiceType.RENEWAL:
        assert order.end is not None
        was_past_due = sub.status is SubscriptionStatus.PAST_DUE
        sub = attrs.evolve(
            sub,
            paid_through=order.end,
            renewal_invoice=None,
            status=SubscriptionStatus.ACTIVE,
            grace_until=None,
        )
        if was_past_due:
            granted = grant_month(wallet, catalogue, sub.plan, sub, at)
            wallet, entries = granted.wallet, list(granted.entries)
        events.append(make_event(sub.account_id, at, SubscriptionRenewed(order.end, invoice_code)))
    elif order.immediate:
        assert order.plan is not None and order.interval is not None
        previous_plan = sub.plan
        if order.start is not None and sub.status is SubscriptionStatus.PAST_DUE:
            if order.interval == sub.interval:
                sub = attrs.evolve(
                    sub,
                    plan=order.plan,
                    addons=dict(order.addons),
                    status=SubscriptionStatus.ACTIVE,
                    grace_until=None,
                    paid_through=sub.current_period.end,
                    stops=(),
                    scheduled_change=None,
                    renewal_invoice=None,
                )
            else:
                sub = subs.start_fresh(
                    sub, order.plan, order.interval, order.addons, order.start, paid=True
                )
                # Months already passed since the old boundary count in the new calendar.
                sub = attrs.evolve(
                    sub,
                    month_index=period_index(sub.anchor, Interval.MONTHLY, at, zone(sub.timezone)),
                )
        else:
            expired = expire_included_now(wallet, at)
            wallet, entries = expired.wallet, list(expired.entries)
            sub = subs.start_fresh(sub, order.plan, order.interval, order.addons, at, paid=True)
        granted = grant_month(wallet, catalogue, sub.plan, sub, at)
        wallet = granted.wallet
        entries.extend(granted.entries)
        for code, quantity in order.addons.items():
            addon_events.append(AddOnEvent(at, code, AddOnEventKind.BOUGHT, quantity, invoice_code))
        events.append(
            make_event(
                sub.account_id,
                at,
                SubscriptionChanged(order.plan, order.interval, previous_plan, invoice_code),
            )
        )
        events.extend(
            make_event(sub.account_id, at, AddOnBought(code, quantity, invoice_code))
            for code, quantity in order.addons.items()
            if quantity > 0
        )
    else:
        assert order.plan is not None and order.interval is not None and order.start is not None
        change = ScheduledChange(
            order.plan,
            order.interval,
            dict(order.addons),
            order.start,
            invoice_code,
            paid=True,
            ordered=dict(order.addons),
        )
        # Paying the change buys its first period: the time ahead is paid (R-SUB-2). A free
        # target has nothing to pay for and leaves the paid time as it is.
        paid_through = order.end if invoice_code is not None and order.end else sub.paid_through
        sub = attrs.evolve(
            sub,
            scheduled_change=change,
            renewal_invoice=None,
            paid_through=max(sub.paid_through, paid_through),
        )
        events.append(
            make_event(
                sub.account_id,
                at,
                SubscriptionChangeScheduled(order.plan, order.interval, order.start, invoice_code),
            )
        )
    return Applied(
        attrs.evolve(account, subscription=sub, wallet=wallet, addon_events=tuple(addon_events)),
        tuple(entries),
        tuple(events),
    )


def _still_holds(priced_on: str, sub: Subscription) -> bool:
    # An immediate order from a free plan is priced on the plan alone: the free period rolling
    # over between checkout and payment does not change what was bought.
    current = basis(sub)
    return current == priced_on or current.startswith(priced_on + "|")


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


def _is_own_change(sub: Subscription, invoice_code: str | None) -> bool:
    change = sub.scheduled_change
    return invoice_code is not None and (
        (change is not None and change.invoice_code == invoice_code)
        or sub.renewal_invoice == invoice_code
    )


__all__ = [
    "AvailableAddOn",
    "ChangeQuote",
    "HeldAddOn",
    "OrderSummary",
    "UsageOverview",
    "apply_order",
    "available_addons",
    "cancel_change",
    "check_limit",
    "held_addons",
    "overview",
    "quote_addons",
    "quote_change",
    "quote_renewal",
    "resume",
    "stop_addon",
    "unsubscribe",
    "unused_credit",
]
