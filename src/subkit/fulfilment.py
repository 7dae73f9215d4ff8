"""Fulfilment: what a paid (or free) order gives the account, exactly once (R-INV-5, R-INV-6).

:func:`fulfil` applies an order of any kind when its effect still can be, and says why not
otherwise (the host then refunds). One period is bought once: a late payment of a renewal or
change whose period another order has bought, or will buy once paid, is not applied
(R-SUB-2). Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from subkit import subscription as subs
from subkit import wallet as wallets
from subkit.account import Account, expire_included_now, grant_month, paid_lines
from subkit.cycles import Interval, period_index, zone
from subkit.events import (
    AddOnBought,
    BalanceToppedUp,
    DomainEvent,
    SubscriptionChanged,
    SubscriptionChangeScheduled,
    SubscriptionRenewed,
    make_event,
)
from subkit.invoice import InvoiceLine
from subkit.orders import (
    AddOnPurchase,
    ChangeStart,
    Order,
    PlanChange,
    PlanPurchase,
    Renewal,
    TopUp,
)
from subkit.plans import Catalogue
from subkit.subscription import AddOnEvent, AddOnEventKind, Subscription, SubscriptionStatus
from subkit.wallet import LedgerEntry


@attrs.frozen
class Fulfilment:
    """The account after an order's effect, or the reason it could not be applied."""

    account: Account
    entries: tuple[LedgerEntry, ...] = ()
    events: tuple[DomainEvent, ...] = ()
    unapplied: str | None = None  # why the effect was not applied; None when it was

    @property
    def applied(self) -> bool:
        return self.unapplied is None


CHANGED = "the subscription changed since this order was placed"
BOUGHT_ELSEWHERE = "another order buys the same period"


def why_not(sub: Subscription, catalogue: Catalogue, order: Order, code: str | None) -> str | None:
    """Why ``order`` (paid as invoice ``code``) can no longer be applied, or ``None``."""
    if isinstance(order, TopUp):
        return None
    if isinstance(order, AddOnPurchase):
        if not order.priced_on.holds_for(sub):
            return CHANGED
        for addon, quantity in order.addons.items():
            maximum = catalogue.addon(addon).max_quantity
            if sub.addons.get(addon, 0) + quantity > maximum:
                return f"{addon}: {sub.addons.get(addon, 0)} held + {quantity} exceeds {maximum}"
        return None
    change = sub.scheduled_change
    own = code is not None and (
        sub.renewal_invoice == code or (change is not None and change.invoice_code == code)
    )
    if own:
        return None
    if not order.priced_on.holds_for(sub):
        return CHANGED
    buys_next_period = isinstance(order, Renewal) or (
        isinstance(order, PlanChange) and order.starts is ChangeStart.BOUNDARY
    )
    if buys_next_period and (change is not None or sub.renewal_invoice is not None):
        # A cancelled renewal or change paid late while another order holds the next period.
        return BOUGHT_ELSEWHERE
    return None


def fulfil(
    account: Account,
    catalogue: Catalogue,
    order: Order,
    lines: tuple[InvoiceLine, ...],
    invoice_code: str | None,
    at: datetime,
) -> Fulfilment:
    """Apply what ``order`` buys at ``at``, when it still can be (R-INV-5, R-INV-6).

    ``lines`` are the invoice's lines (what was paid for which time); ``invoice_code`` is
    ``None`` for an order accepted without payment.
    """
    reason = why_not(account.subscription, catalogue, order, invoice_code)
    if reason is not None:
        return Fulfilment(account, unapplied=reason)
    if isinstance(order, TopUp):
        return _top_up(account, order, invoice_code, at)
    paid = attrs.evolve(account, paid_lines=(*account.paid_lines, *paid_lines(lines)))
    if isinstance(order, AddOnPurchase):
        return _addons(paid, order, invoice_code, at)
    if isinstance(order, Renewal):
        return _renewal(paid, catalogue, order, invoice_code, at)
    if isinstance(order, PlanPurchase) or order.starts is not ChangeStart.BOUNDARY:
        return _change_now(account, catalogue, order, lines, invoice_code, at)
    return _schedule(paid, order, invoice_code, at)


def _top_up(account: Account, order: TopUp, code: str | None, at: datetime) -> Fulfilment:
    change = wallets.credit_top_up(
        account.wallet, order.balance, order.amount, at, invoice_code=code or ""
    )
    event = make_event(account.account_id, at, BalanceToppedUp(order.balance, order.amount, code))
    return Fulfilment(attrs.evolve(account, wallet=change.wallet), change.entries, (event,))


def _bought(addons: dict[str, int], code: str | None, at: datetime) -> list[AddOnEvent]:
    return [
        AddOnEvent(at, addon, AddOnEventKind.BOUGHT, qty, code) for addon, qty in addons.items()
    ]


def _bought_events(
    account_id: str, addons: dict[str, int], code: str | None, at: datetime
) -> tuple[DomainEvent, ...]:
    return tuple(
        make_event(account_id, at, AddOnBought(addon, quantity, code))
        for addon, quantity in addons.items()
        if quantity > 0
    )


def _addons(account: Account, order: AddOnPurchase, code: str | None, at: datetime) -> Fulfilment:
    sub = account.subscription
    addons = dict(sub.addons)
    for addon, quantity in order.addons.items():
        addons[addon] = addons.get(addon, 0) + quantity
    change = sub.scheduled_change
    if change is not None and change.paid:
        merged = dict(change.addons)
        for addon, quantity in order.addons.items():
            merged[addon] = merged.get(addon, 0) + quantity
        change = attrs.evolve(change, addons=merged)
    sub = attrs.evolve(sub, addons=addons, scheduled_change=change)
    events = _bought_events(sub.account_id, order.addons, code, at)
    history = (*account.addon_events, *_bought(order.addons, code, at))
    return Fulfilment(attrs.evolve(account, subscription=sub, addon_events=history), (), events)


def _renewal(
    account: Account, catalogue: Catalogue, order: Renewal, code: str | None, at: datetime
) -> Fulfilment:
    sub = account.subscription
    was_past_due = sub.status is SubscriptionStatus.PAST_DUE
    sub = attrs.evolve(
        sub,
        paid_through=order.end,
        renewal_invoice=None,
        status=SubscriptionStatus.ACTIVE,
        grace_until=None,
    )
    wallet, entries = account.wallet, tuple[LedgerEntry, ...]()
    if was_past_due:
        granted = grant_month(wallet, catalogue, sub.plan, sub, at)
        wallet, entries = granted.wallet, granted.entries
    event = make_event(sub.account_id, at, SubscriptionRenewed(order.end, code))
    return Fulfilment(attrs.evolve(account, subscription=sub, wallet=wallet), entries, (event,))


def _change_now(
    account: Account,
    catalogue: Catalogue,
    order: PlanPurchase | PlanChange,
    lines: tuple[InvoiceLine, ...],
    code: str | None,
    at: datetime,
) -> Fulfilment:
    """A purchase from free, an immediate change, or a change bought in the grace."""
    sub = account.subscription
    previous_plan = sub.plan
    wallet = account.wallet
    entries: list[LedgerEntry] = []
    if isinstance(order, PlanChange) and order.starts is ChangeStart.GRACE:
        assert order.start is not None
        sub = _restart_in_grace(sub, order, order.start, at)
        kept = account.paid_lines
    else:
        expired = expire_included_now(wallet, at)
        wallet, entries = expired.wallet, list(expired.entries)
        sub = subs.start_fresh(sub, order.plan, order.interval, order.addons, at, paid=True)
        kept = ()  # what was paid before is credited on this invoice
    granted = grant_month(wallet, catalogue, sub.plan, sub, at)
    entries.extend(granted.entries)
    changed = SubscriptionChanged(order.plan, order.interval, previous_plan, code)
    events = (
        make_event(sub.account_id, at, changed),
        *_bought_events(sub.account_id, order.addons, code, at),
    )
    updated = attrs.evolve(
        account,
        subscription=sub,
        wallet=granted.wallet,
        addon_events=(*account.addon_events, *_bought(order.addons, code, at)),
        paid_lines=(*kept, *paid_lines(lines)),
    )
    return Fulfilment(updated, tuple(entries), events)


def _restart_in_grace(
    sub: Subscription, order: PlanChange, start: datetime, at: datetime
) -> Subscription:
    if order.interval == sub.interval:
        return attrs.evolve(
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
    fresh = subs.start_fresh(sub, order.plan, order.interval, order.addons, start, paid=True)
    # Months already passed since the old boundary count in the new calendar.
    return attrs.evolve(
        fresh, month_index=period_index(fresh.anchor, Interval.MONTHLY, at, zone(sub.timezone))
    )


def _schedule(account: Account, order: PlanChange, code: str | None, at: datetime) -> Fulfilment:
    """A paid (or free-target) change waits for its boundary; paying it buys that period."""
    sub = account.subscription
    assert order.start is not None
    # A free target has nothing to pay for and leaves the paid time as it is.
    bought = order.end if code is not None and order.end else sub.paid_through
    sub = attrs.evolve(
        sub,
        scheduled_change=order.scheduled(code, paid=True),
        renewal_invoice=None,
        paid_through=max(sub.paid_through, bought),
    )
    scheduled = SubscriptionChangeScheduled(order.plan, order.interval, order.start, code)
    event = make_event(sub.account_id, at, scheduled)
    return Fulfilment(attrs.evolve(account, subscription=sub), (), (event,))


__all__ = ["Fulfilment", "fulfil", "why_not"]
