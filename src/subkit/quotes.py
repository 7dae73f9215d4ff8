"""Quotes: the Order Summary of each checkout, and the purchase it invoices (R-SUB-2..4, R-ADD-3).

A quote and a checkout call the same function here at the same instant, so the Order Summary
a customer confirms is the invoice they pay. Each way a plan change can start has its own
small function; :func:`quote_change` picks one. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from fractions import Fraction

import attrs

from subkit.account import Account
from subkit.cycles import Interval, Period, period_at, period_containing, prorate, zone
from subkit.errors import (
    AddOnNotAvailable,
    AlreadyPaidAhead,
    ChangeAlreadyPaid,
    ChangeScheduled,
    IntervalNotOffered,
    InvalidQuantity,
    NotRenewable,
    SamePlan,
)
from subkit.invoice import InvoiceLine, InvoiceType, Totals, compute_totals
from subkit.money import Money, Rounding, round_fraction
from subkit.orders import (
    AddOnPurchase,
    ChangeStart,
    Order,
    PlanChange,
    PlanPurchase,
    PricedOn,
    Renewal,
    TopUp,
)
from subkit.plans import Catalogue, ChangeTiming, Comparison, Direction, Reduction, Usage
from subkit.subscription import Subscription, SubscriptionStatus
from subkit.wallet import Balance


@attrs.frozen
class Purchase:
    """An order ready to be invoiced: type, package, lines, totals and what it buys."""

    type: InvoiceType
    package: str
    lines: tuple[InvoiceLine, ...]
    totals: Totals
    order: Order

    @property
    def total(self) -> Money:
        return self.totals.total


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


@attrs.frozen
class Quote:
    """What a checkout would invoice, and the summary shown for it."""

    purchase: Purchase
    summary: OrderSummary


def _purchase(
    catalogue: Catalogue,
    type: InvoiceType,
    package: str,
    lines: Sequence[InvoiceLine],
    order: Order,
    *,
    taxable: bool = True,
) -> Purchase:
    totals = compute_totals(lines, catalogue.policy.tax, catalogue.currency, taxable=taxable)
    return Purchase(type, package, tuple(lines), totals, order)


def _quote(
    purchase: Purchase,
    direction: Direction | None,
    effective_at: datetime,
    comparison: Comparison | None = None,
) -> Quote:
    totals = purchase.totals
    summary = OrderSummary(
        purchase.lines,
        totals.subtotal,
        totals.tax,
        totals.total,
        direction,
        effective_at,
        comparison.reductions if comparison else (),
        comparison.dropped_addons if comparison else (),
    )
    return Quote(purchase, summary)


def check_quantities(
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


def period_lines(
    catalogue: Catalogue,
    plan: str,
    interval: Interval,
    addons: Mapping[str, int],
    period: Period,
) -> list[InvoiceLine]:
    """One line for the plan and one per add-on, for one full period."""
    lines = [InvoiceLine.for_plan(catalogue.plan(plan), interval, period)]
    for code, quantity in addons.items():
        lines.append(InvoiceLine.for_addon(catalogue.addon(code), interval, quantity, period))
    return lines


def next_period(sub: Subscription) -> Period:
    """The period that starts at ``paid_through`` on the current plan and interval."""
    if sub.status is SubscriptionStatus.PAST_DUE:
        return sub.current_period
    # Continue the anchored calendar so month-end anchors do not drift (R-CYC-1).
    return period_containing(sub.anchor, sub.interval, sub.paid_through, zone(sub.timezone))


# -- plan changes -----------------------------------------------------------------------------


@attrs.frozen
class _Target:
    """A validated change target: plan, interval, add-ons, and how it compares."""

    plan: str
    interval: Interval
    addons: dict[str, int]
    comparison: Comparison

    def package(self, catalogue: Catalogue) -> str:
        return catalogue.plan(self.plan).label(self.interval)


def _target(
    account: Account,
    catalogue: Catalogue,
    plan: str,
    interval: Interval | str | None,
    addons: Mapping[str, int] | None,
    usage: Usage | None,
) -> _Target:
    sub = account.subscription
    target = catalogue.plan(plan)
    chosen = (
        (sub.interval if target.offers(sub.interval) else Interval.MONTHLY)
        if interval is None
        else Interval(interval)
    )
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
        wanted = check_quantities(catalogue, plan, addons, minimum=0)
    comparison = catalogue.compare(sub.plan, sub.interval, sub.addons, plan, chosen, wanted, usage)
    return _Target(plan, chosen, wanted, comparison)


def _in_grace(account: Account, catalogue: Catalogue, target: _Target, at: datetime) -> Quote:
    """Bought in the grace: the period starts at the old boundary, no gap, no credit."""
    sub = account.subscription
    start = sub.current_period.start
    period = (
        period_at(start, target.interval, 0, zone(sub.timezone))
        if target.interval != sub.interval
        else Period(start, sub.current_period.end)
    )
    order = PlanChange(
        target.plan,
        target.interval,
        target.addons,
        ChangeStart.GRACE,
        PricedOn.of(sub),
        start=start,
        end=period.end,
    )
    lines = period_lines(catalogue, target.plan, target.interval, target.addons, period)
    purchase = _purchase(
        catalogue, InvoiceType.PLAN_CHANGE, target.package(catalogue), lines, order
    )
    return _quote(purchase, target.comparison.direction, at, target.comparison)


def _from_free(account: Account, catalogue: Catalogue, target: _Target, at: datetime) -> Quote:
    """A paid plan bought from a free one: it starts at payment (R-SUB-2, from_free)."""
    sub = account.subscription
    period = period_at(at, target.interval, 0, zone(sub.timezone))
    order = PlanPurchase(target.plan, target.interval, target.addons, PricedOn.plan_of(sub))
    lines = period_lines(catalogue, target.plan, target.interval, target.addons, period)
    purchase = _purchase(
        catalogue, InvoiceType.PLAN_PURCHASE, target.package(catalogue), lines, order
    )
    return _quote(purchase, target.comparison.direction, at, target.comparison)


def _at_payment(
    account: Account, catalogue: Catalogue, target: _Target, at: datetime
) -> Quote | None:
    """An immediate paid-to-paid change with the unused-time credit, or ``None`` when the
    credit would exceed the charge (then it is scheduled: no credit is forfeited)."""
    sub = account.subscription
    tz = zone(sub.timezone)
    credit = unused_credit(account, catalogue, at)
    new_period = period_at(at, target.interval, 0, tz)
    lines = period_lines(catalogue, target.plan, target.interval, target.addons, new_period)
    if credit.amount > sum(line.amount.amount for line in lines):
        return None
    if credit.amount:
        unused = Period(max(at, sub.current_period.start), sub.paid_through)
        lines.append(InvoiceLine.for_credit(catalogue.plan(sub.plan), sub.interval, credit, unused))
    order = PlanChange(
        target.plan, target.interval, target.addons, ChangeStart.PAYMENT, PricedOn.of(sub)
    )
    purchase = _purchase(
        catalogue, InvoiceType.PLAN_CHANGE, target.package(catalogue), lines, order
    )
    return _quote(purchase, target.comparison.direction, at, target.comparison)


def _at_boundary(account: Account, catalogue: Catalogue, target: _Target) -> Quote:
    """A change scheduled for the end of the paid time; its invoice buys the first period."""
    sub = account.subscription
    tz = zone(sub.timezone)
    boundary = sub.paid_through
    if target.interval == sub.interval:
        period = period_containing(sub.anchor, target.interval, boundary, tz)
    else:
        period = period_at(boundary, target.interval, 0, tz)
    order = PlanChange(
        target.plan,
        target.interval,
        target.addons,
        ChangeStart.BOUNDARY,
        PricedOn.of(sub),
        start=boundary,
        end=period.end,
    )
    free = catalogue.plan(target.plan).is_free
    lines = (
        [] if free else period_lines(catalogue, target.plan, target.interval, target.addons, period)
    )
    purchase = _purchase(
        catalogue, InvoiceType.PLAN_CHANGE, target.package(catalogue), lines, order
    )
    return _quote(purchase, target.comparison.direction, boundary, target.comparison)


def quote_change(
    account: Account,
    catalogue: Catalogue,
    plan: str,
    interval: Interval | str | None,
    addons: Mapping[str, int] | None,
    at: datetime,
    usage: Usage | None = None,
) -> Quote:
    """Price a plan change as the Order Summary shows it (R-SUB-2, R-SUB-3)."""
    target = _target(account, catalogue, plan, interval, addons, usage)
    sub = account.subscription
    if sub.status is SubscriptionStatus.PAST_DUE:
        return _in_grace(account, catalogue, target, at)
    current_free = catalogue.plan(sub.plan).is_free
    target_free = catalogue.plan(target.plan).is_free
    if current_free and not target_free and catalogue.policy.from_free is ChangeTiming.IMMEDIATE:
        return _from_free(account, catalogue, target, at)
    immediate = catalogue.policy.change_timing is ChangeTiming.IMMEDIATE
    if immediate and not current_free and not target_free:
        quote = _at_payment(account, catalogue, target, at)
        if quote is not None:
            return quote
    return _at_boundary(account, catalogue, target)


def unused_credit(account: Account, catalogue: Catalogue, at: datetime) -> Money:
    """What was paid for time after ``at``, at the prices paid (R-SUB-2, immediate changes).

    Each paid line's amount is prorated by whole days (R-CYC-4) over the part of its period
    after ``at``, and the sum is rounded once. An account without a record of what it paid
    (written by an older subkit) falls back to the catalogue's prices.
    """
    sub = account.subscription
    tz = zone(sub.timezone)
    if not account.paid_lines:
        return _credit_at_catalogue_prices(sub, catalogue, at)
    day = at.astimezone(tz).date()
    total = Fraction(0)
    for line in account.paid_lines:
        start, end = line.period.start.astimezone(tz).date(), line.period.end.astimezone(tz).date()
        days = (end - start).days
        unused = (end - max(start, day)).days
        if days > 0 and unused > 0:
            total += Fraction(line.amount.amount * min(unused, days), days)
    return Money(round_fraction(total, Rounding.HALF_UP), catalogue.currency)


def _credit_at_catalogue_prices(sub: Subscription, catalogue: Catalogue, at: datetime) -> Money:
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


# -- renewal ----------------------------------------------------------------------------------


def quote_renewal(account: Account, catalogue: Catalogue, at: datetime) -> Quote:
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
    lines = period_lines(catalogue, sub.plan, sub.interval, addons, period)
    order = Renewal(sub.plan, sub.interval, addons, period.start, period.end, PricedOn.of(sub))
    purchase = _purchase(catalogue, InvoiceType.RENEWAL, plan.label(sub.interval), lines, order)
    return _quote(purchase, None, period.start)


# -- add-ons ----------------------------------------------------------------------------------


def quote_addons(
    account: Account, catalogue: Catalogue, quantities: Mapping[str, int], at: datetime
) -> Quote:
    """Price add-on units for the rest of the period plus any period paid ahead (R-ADD-3)."""
    sub = account.subscription
    if not quantities:
        raise InvalidQuantity("order at least one add-on")
    wanted = check_quantities(catalogue, sub.plan, quantities, minimum=1)
    change = sub.scheduled_change
    tz = zone(sub.timezone)
    lines: list[InvoiceLine] = []
    for code, quantity in wanted.items():
        addon = catalogue.addon(code)
        held = sub.addons.get(code, 0)  # stopping units count toward the maximum (R-ADD-3)
        if held + quantity > addon.max_quantity:
            raise InvalidQuantity(
                f"{addon.name}: {held} held + {quantity} would exceed the "
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
        rest = (
            Period(max(at, sub.current_period.start), sub.current_period.end)
            if at < sub.current_period.end
            else None
        )
        lines.append(InvoiceLine.for_addon(addon, sub.interval, quantity, rest, amount=part))
        if change is not None and change.paid:
            # The next period is already bought through the change: price it at its plan's
            # interval (R-ADD-3); the units join the change's order when paid.
            ahead = Period(change.effective_at, sub.paid_through)
            lines.append(InvoiceLine.for_addon(addon, change.interval, quantity, ahead))
        elif sub.paid_ahead:
            ahead = next_period(attrs.evolve(sub, paid_through=sub.current_period.end))
            lines.append(InvoiceLine.for_addon(addon, sub.interval, quantity, ahead))
    order = AddOnPurchase(wanted, PricedOn.of(sub))
    package = ", ".join(f"{catalogue.addon(c).name} x{q}" for c, q in wanted.items())
    purchase = _purchase(catalogue, InvoiceType.ADD_ON, package, lines, order)
    return _quote(purchase, None, at)


# -- top-ups ----------------------------------------------------------------------------------


def quote_top_up(catalogue: Catalogue, balance: Balance, amount: Money) -> Purchase:
    """A top-up of ``amount``: tax on top or inside per the catalogue, never credited (R-BAL-6)."""
    lines = (InvoiceLine.for_top_up(balance, amount),)
    return _purchase(
        catalogue,
        InvoiceType.TOP_UP,
        lines[0].description,  # the package in English, for the gateway's description
        lines,
        TopUp(balance, amount),
        taxable=catalogue.policy.tax.tax_top_ups,
    )


__all__ = [
    "OrderSummary",
    "Purchase",
    "Quote",
    "check_quantities",
    "next_period",
    "period_lines",
    "quote_addons",
    "quote_change",
    "quote_renewal",
    "quote_top_up",
    "unused_credit",
]
