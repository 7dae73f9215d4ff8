"""Lifecycle scenarios through the ``Billing`` facade (R-CYC, R-SUB, R-ADD, R-USE, R-TIME).

Each test reads like the help text: a customer does something, and we check every invoice line
(description, quantity, unit price, amount, period), the totals, and what the subscription
looks like afterwards. Time comes only from the ``FixedClock`` of ``conftest``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta

from helpers import PROFILE, START, at, idr, pay
from subkit.cycles import Interval, Period
from subkit.errors import (
    AddOnNotAvailable,
    AddOnNotHeld,
    AlreadyPaidAhead,
    ChangeAlreadyPaid,
    ChangeScheduled,
    IntervalNotOffered,
    InvalidQuantity,
    InvalidTime,
    LimitExceeded,
    NotCancelling,
    NothingToCancel,
    SamePlan,
)
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType
from subkit.plans import Catalogue, Reduction, Usage
from subkit.serialize import to_dict
from subkit.service import Billing
from subkit.subscription import AddOnEventKind, SubscriptionStatus
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, StaticUsage


def rows(lines) -> list[tuple]:
    """Every field of every line, for exact comparison."""
    return [
        (line.description, line.quantity, line.unit_price.amount, line.amount.amount, line.period)
        for line in lines
    ]


def buy(billing: Billing, account: str, plan: str, **kwargs) -> Invoice:
    """Quote, check out and pay a plan change; the quote must be the bill."""
    quote = billing.quote_change(account, plan, **kwargs)
    checkout = billing.change_plan(account, plan, **kwargs)
    assert checkout.invoice is not None
    assert checkout.invoice.total == quote.total
    assert rows(checkout.invoice.lines) == rows(quote.lines)
    return pay(billing, checkout)


def on_growth(billing: Billing, account: str, users: int = 2) -> Invoice:
    """The account buys Growth monthly at START (anchor Jan 10 09:00)."""
    addons = {"extra_user": users} if users else {}
    return buy(billing, account, "growth", addons=addons)


JAN10_FEB10 = Period(at(2026, 1, 10), at(2026, 2, 10))
FEB10_MAR10 = Period(at(2026, 2, 10), at(2026, 3, 10))
FEB10_FEB10 = Period(at(2026, 2, 10), at(2027, 2, 10))


# -- buying from Free ---------------------------------------------------------------------------


def test_from_free_buy_growth_monthly_with_two_extra_users_starts_at_once(billing, account, clock):
    """R-SUB-2 from_free=immediate: a plan_purchase; its payment starts a period (new anchor)."""
    clock.set(at(2026, 1, 12, 14))
    quote = billing.quote_change(account, "growth", addons={"extra_user": 2})
    period = Period(at(2026, 1, 12, 14), at(2026, 2, 12, 14))
    assert rows(quote.lines) == [
        ("Growth (Monthly)", 1, 299_000, 299_000, period),
        ("Additional User", 2, 50_000, 100_000, period),
    ]
    assert (quote.subtotal, quote.tax, quote.total) == (idr(399_000), idr(0), idr(399_000))
    assert str(quote.direction) == "upgrade"
    assert quote.effective_at == at(2026, 1, 12, 14)

    checkout = billing.change_plan(account, "growth", addons={"extra_user": 2})
    invoice = checkout.invoice
    assert invoice.type is InvoiceType.PLAN_PURCHASE
    assert invoice.total == quote.total and rows(invoice.lines) == rows(quote.lines)
    assert invoice.package == "Growth (Monthly)"
    assert billing.subscription(account).plan == "free"  # nothing happens before payment

    paid = pay(billing, checkout)
    assert paid.status is InvoiceStatus.PAID
    sub = billing.subscription(account)
    assert (sub.plan, sub.interval, sub.status) == ("growth", Interval.MONTHLY, "active")
    assert sub.anchor == at(2026, 1, 12, 14)
    assert sub.current_period == period
    assert sub.paid_through == at(2026, 2, 12, 14)
    assert sub.addons == {"extra_user": 2}
    # Free's unspent 15.000 expired with the cut-short period; Growth's 30.000 granted.
    assert billing.balances(account).conversation == idr(30_000)
    history = billing.addon_history(account)
    assert [(e.kind, e.code, e.quantity, e.invoice_code) for e in history] == [
        (AddOnEventKind.BOUGHT, "extra_user", 2, invoice.code)
    ]


# -- scheduled changes --------------------------------------------------------------------------


def test_upgrade_growth_to_pro_annual_is_scheduled_for_the_boundary(billing, account, clock):
    """R-SUB-2 next_cycle: the change invoice buys the first Pro period; it applies at Feb 10."""
    on_growth(billing, account)
    clock.set(at(2026, 1, 20))
    quote = billing.quote_change(account, "pro", interval="annual")
    assert rows(quote.lines) == [
        ("Pro (Annual)", 1, 5_990_000, 5_990_000, FEB10_FEB10),
        ("Additional User", 2, 500_000, 1_000_000, FEB10_FEB10),
    ]
    assert quote.total == idr(6_990_000) and quote.subtotal == idr(6_990_000)
    assert str(quote.direction) == "upgrade"
    assert quote.effective_at == at(2026, 2, 10)
    assert quote.reductions == () and quote.dropped_addons == ()

    checkout = billing.change_plan(account, "pro", interval="annual")
    assert checkout.invoice.type is InvoiceType.PLAN_CHANGE
    assert checkout.invoice.total == quote.total
    assert checkout.invoice.package == "Pro (Annual)"
    pay(billing, checkout)
    sub = billing.subscription(account)
    assert sub.plan == "growth"  # still Growth until the boundary
    change = sub.scheduled_change
    assert (change.plan, change.interval, change.addons, change.effective_at, change.paid) == (
        "pro",
        Interval.ANNUAL,
        {"extra_user": 2},
        at(2026, 2, 10),
        True,
    )

    clock.set(at(2026, 2, 10, 9, 30))
    report = billing.advance()
    assert report.counts.get("change_applied") == 1
    assert report.accounts == (account,)
    sub = billing.subscription(account)
    assert (sub.plan, sub.interval, sub.status) == ("pro", Interval.ANNUAL, "active")
    assert sub.anchor == at(2026, 2, 10)
    assert sub.current_period == FEB10_FEB10
    assert sub.paid_through == at(2027, 2, 10)
    assert sub.scheduled_change is None
    assert sub.addons == {"extra_user": 2}
    assert billing.balances(account).conversation == idr(60_000)  # Pro's included balance
    assert billing.usage_overview(account).limits.users == 17


def test_downgrade_pro_to_growth_lists_reductions_with_usage(catalogue, store, gateway, clock):
    """R-SUB-3: the downgrade notice names each shrinking entitlement with what is in use."""
    usage = StaticUsage({"acme": Usage(users=8, contacts=6_000)})
    billing = Billing(catalogue, store, gateway, clock=clock, usage=usage)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    buy(billing, "acme", "pro", addons={"extra_user": 2})
    quote = billing.quote_change("acme", "growth")
    assert str(quote.direction) == "downgrade"
    assert quote.effective_at == at(2026, 2, 10)
    assert rows(quote.lines) == [
        ("Growth (Monthly)", 1, 299_000, 299_000, FEB10_MAR10),
        ("Additional User", 2, 50_000, 100_000, FEB10_MAR10),
    ]
    assert quote.total == idr(399_000)
    by_name = {str(r.entitlement): r for r in quote.reductions}
    assert by_name["users"] == Reduction(by_name["users"].entitlement, 17, 7, 8)
    assert (by_name["contacts"].before, by_name["contacts"].after) == (25_000, 5_000)
    assert by_name["contacts"].in_use == 6_000
    assert (by_name["broadcast_quota"].before, by_name["broadcast_quota"].after) == (5_000, 1_000)
    assert (by_name["conversation"].before, by_name["conversation"].after) == (60_000, 30_000)
    assert set(by_name) == {"users", "contacts", "broadcast_quota", "conversation"}
    assert quote.dropped_addons == ()
    checkout = billing.change_plan("acme", "growth")
    assert checkout.invoice.total == quote.total


def test_downgrade_to_free_needs_no_payment_and_can_be_cancelled(billing, account):
    """R-SUB-2/3: a free target is scheduled at once, drops add-ons, and can still be cancelled."""
    on_growth(billing, account)
    quote = billing.quote_change(account, "free")
    assert quote.lines == () and quote.total == idr(0)
    assert quote.dropped_addons == ("extra_user",)
    assert str(quote.direction) == "downgrade"
    assert quote.effective_at == at(2026, 2, 10)
    users = [r for r in quote.reductions if str(r.entitlement) == "users"]
    assert users == [Reduction(users[0].entitlement, 7, 1, None)]

    checkout = billing.change_plan(account, "free")
    assert checkout.invoice is None and checkout.payment is None
    change = billing.subscription(account).scheduled_change
    assert (change.plan, change.effective_at, change.invoice_code) == (
        "free",
        at(2026, 2, 10),
        None,
    )
    sub = billing.cancel_change(account)
    assert sub.scheduled_change is None
    assert billing.subscription(account).scheduled_change is None
    with pytest.raises(NothingToCancel):
        billing.cancel_change(account)


def test_downgrade_to_free_applies_at_the_boundary(billing, account, clock):
    """R-SUB-5: a free target counts as paid at the boundary; add-ons end."""
    on_growth(billing, account)
    billing.change_plan(account, "free")
    clock.set(at(2026, 2, 10, 10))
    billing.advance()
    sub = billing.subscription(account)
    assert (sub.plan, sub.status, sub.addons) == ("free", "active", {})
    assert sub.current_period == FEB10_MAR10
    assert billing.balances(account).conversation == idr(15_000)


def test_switch_growth_to_annual_moves_the_anchor_at_the_boundary(billing, account, clock):
    """R-SUB-2 interval_switch: the anchor moves to the boundary when the interval changes."""
    on_growth(billing, account, users=0)
    clock.set(at(2026, 1, 25))
    quote = billing.quote_change(account, "growth", interval="annual")
    assert str(quote.direction) == "interval_switch"
    assert rows(quote.lines) == [("Growth (Annual)", 1, 2_990_000, 2_990_000, FEB10_FEB10)]
    assert quote.total == idr(2_990_000)
    checkout = billing.change_plan(account, "growth", interval="annual")
    assert checkout.invoice.total == quote.total
    pay(billing, checkout)
    clock.set(at(2026, 2, 11))
    billing.advance()
    sub = billing.subscription(account)
    assert (sub.plan, sub.interval) == ("growth", Interval.ANNUAL)
    assert sub.anchor == at(2026, 2, 10)
    assert sub.paid_through == at(2027, 2, 10)


def test_same_interval_change_keeps_the_anchor(clock, catalogue):
    """R-SUB-2: the anchor stays when the interval does not change (month ends do not drift)."""
    clock.set(at(2026, 1, 31))
    billing = Billing(catalogue, InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("eom")
    billing.set_billing_profile("eom", PROFILE)
    buy(billing, "eom", "growth")
    pay(billing, billing.change_plan("eom", "pro"))
    clock.set(at(2026, 2, 28, 10))
    billing.advance()
    sub = billing.subscription("eom")
    assert sub.plan == "pro"
    assert sub.anchor == at(2026, 1, 31)
    assert sub.current_period == Period(at(2026, 2, 28), at(2026, 3, 31))


# -- add-ons ------------------------------------------------------------------------------------


def test_addon_bought_on_day_two_is_prorated_30_of_31(billing, account, clock):
    """R-ADD-3 / R-CYC-4: 3 contacts packs on Jan 11 cost 75.000 * 30/31 = 72.580,6 -> 72.581."""
    on_growth(billing, account, users=0)
    clock.set(at(2026, 1, 11, 15))
    quote = billing.quote_addons(account, {"extra_contact": 3})
    assert rows(quote.lines) == [
        ("Additional Contact", 3, 25_000, 72_581, Period(at(2026, 1, 11, 15), at(2026, 2, 10)))
    ]
    assert quote.total == idr(72_581)
    checkout = billing.buy_addons(account, {"extra_contact": 3})
    assert checkout.invoice.type is InvoiceType.ADD_ON
    assert checkout.invoice.total == quote.total
    assert rows(checkout.invoice.lines) == rows(quote.lines)
    assert billing.usage_overview(account).limits.contacts == 5_000  # not before payment
    pay(billing, checkout)
    assert billing.usage_overview(account).limits.contacts == 8_000
    assert billing.subscription(account).addons == {"extra_contact": 3}


def test_addon_bought_on_the_first_day_costs_the_full_price(billing, account):
    """R-CYC-4: buying on the first day of a period costs the full price."""
    on_growth(billing, account, users=0)
    quote = billing.quote_addons(account, {"extra_user": 1})
    assert rows(quote.lines) == [("Additional User", 1, 50_000, 50_000, JAN10_FEB10)]


def test_renewal_leaves_out_stopped_units_which_end_at_the_boundary(billing, account, clock):
    """R-ADD-4 / R-SUB-4: stopped units are not renewed, stay until the boundary, then end."""
    first = on_growth(billing, account)
    clock.set(at(2026, 1, 15))
    held = billing.stop_addon(account, "extra_user", quantity=1)
    assert (held.quantity, held.stopping, held.stops) == (2, 1, ((1, at(2026, 2, 10)),))
    assert billing.usage_overview(account).limits.users == 7  # kept until the boundary
    quote = billing.quote_renewal(account)
    assert rows(quote.lines) == [
        ("Growth (Monthly)", 1, 299_000, 299_000, FEB10_MAR10),
        ("Additional User", 1, 50_000, 50_000, FEB10_MAR10),
    ]
    assert quote.total == idr(349_000)
    checkout = billing.renew(account)
    assert checkout.invoice.type is InvoiceType.RENEWAL
    assert checkout.invoice.total == quote.total
    pay(billing, checkout)
    assert billing.subscription(account).paid_through == at(2026, 3, 10)

    clock.set(at(2026, 2, 10, 12))
    billing.advance()
    sub = billing.subscription(account)
    assert sub.addons == {"extra_user": 1} and sub.stops == ()
    assert sub.current_period == FEB10_MAR10
    assert billing.usage_overview(account).limits.users == 6
    history = [(e.at, e.kind, e.quantity, e.invoice_code) for e in billing.addon_history(account)]
    assert history == [
        (at(2026, 1, 10), AddOnEventKind.BOUGHT, 2, first.code),
        (at(2026, 1, 15), AddOnEventKind.STOPPED, 1, None),
        (at(2026, 2, 10), AddOnEventKind.ENDED, 1, None),
    ]


def test_stopped_addon_can_be_bought_again(billing, account):
    """R-ADD-4: stopping units count toward the maximum until they end; buying again adds units."""
    on_growth(billing, account)
    billing.stop_addon(account, "extra_user")
    assert billing.available_addons(account)[0].can_buy == 98
    pay(billing, billing.buy_addons(account, {"extra_user": 1}))
    held = billing.addons(account)
    assert [(h.code, h.quantity, h.stopping) for h in held] == [("extra_user", 3, 2)]


def test_addon_quantities_are_checked(billing, account):
    """R-ADD-1: 1..max_quantity per line, and the total held never above max_quantity."""
    on_growth(billing, account)
    with pytest.raises(InvalidQuantity):
        billing.quote_addons(account, {"extra_user": 0})
    with pytest.raises(InvalidQuantity):
        billing.buy_addons(account, {"extra_user": 101})
    with pytest.raises(InvalidQuantity):
        billing.buy_addons(account, {"extra_user": 99})  # 2 held + 99 > 100
    with pytest.raises(InvalidQuantity):
        billing.quote_addons(account, {})
    assert billing.quote_addons(account, {"extra_user": 98}).total == idr(98 * 50_000)
    with pytest.raises(InvalidQuantity):
        billing.change_plan(account, "pro", addons={"extra_user": 101})


def test_addon_not_available_on_free(billing, account):
    """R-ADD-2: add-ons are sold only on the plans listed for them."""
    with pytest.raises(AddOnNotAvailable):
        billing.buy_addons(account, {"extra_user": 1})
    assert billing.available_addons(account) == []
    with pytest.raises(AddOnNotAvailable):
        billing.quote_addons(account, {"extra_contact": 1})


def test_stop_more_than_held_is_refused(billing, account):
    """R-ADD-4: AddOnNotHeld when there is not that much to stop."""
    with pytest.raises(AddOnNotHeld):
        billing.stop_addon(account, "extra_user")
    on_growth(billing, account)
    with pytest.raises(AddOnNotHeld):
        billing.stop_addon(account, "extra_user", quantity=3)
    with pytest.raises(AddOnNotHeld):
        billing.stop_addon(account, "extra_contact")
    billing.stop_addon(account, "extra_user", quantity=2)
    with pytest.raises(AddOnNotHeld):
        billing.stop_addon(account, "extra_user", quantity=1)


# -- renewals -----------------------------------------------------------------------------------


def test_renew_twice_is_refused_already_paid_ahead(billing, account):
    """R-SUB-4: the next period is bought once."""
    on_growth(billing, account)
    pay(billing, billing.renew(account))
    assert billing.subscription(account).paid_through == at(2026, 3, 10)
    with pytest.raises(AlreadyPaidAhead):
        billing.renew(account)
    with pytest.raises(AlreadyPaidAhead):
        billing.quote_renewal(account)


def test_renew_while_a_change_is_scheduled_is_refused(billing, account):
    """R-SUB-2: ChangeScheduled, paid or not, takes precedence over AlreadyPaidAhead."""
    on_growth(billing, account)
    checkout = billing.change_plan(account, "pro")
    with pytest.raises(ChangeScheduled):
        billing.renew(account)
    pay(billing, checkout)
    with pytest.raises(ChangeScheduled):
        billing.renew(account)


def test_change_while_renewal_unpaid_cancels_the_renewal_invoice(billing, account):
    """R-SUB-2: a change ordered while a renewal invoice is unpaid cancels that invoice."""
    on_growth(billing, account)
    renewal = billing.renew(account).invoice
    change = billing.change_plan(account, "pro")
    assert billing.invoice(account, renewal.code).status is InvoiceStatus.CANCELLED
    assert billing.invoice(account, change.invoice.code).status is InvoiceStatus.PENDING
    assert billing.subscription(account).renewal_invoice is None


def test_change_after_paid_renewal_waits_for_the_end_of_it(billing, account):
    """R-SUB-2: a change ordered while a renewal is paid is scheduled after that renewal."""
    on_growth(billing, account, users=0)
    pay(billing, billing.renew(account))
    quote = billing.quote_change(account, "pro")
    mar10_apr10 = Period(at(2026, 3, 10), at(2026, 4, 10))
    assert quote.effective_at == at(2026, 3, 10)
    assert rows(quote.lines) == [("Pro (Monthly)", 1, 599_000, 599_000, mar10_apr10)]


def test_same_plan_is_refused(billing, account):
    """R-SUB-2: a change to the same plan and interval is refused."""
    with pytest.raises(SamePlan):
        billing.quote_change(account, "free")
    on_growth(billing, account)
    with pytest.raises(SamePlan):
        billing.change_plan(account, "growth", interval="monthly")


def test_interval_not_offered(clock):
    """R-SUB-2: a target interval the plan does not offer is refused."""
    catalogue = Catalogue.from_dict(
        {
            "currency": "IDR",
            "default_plan": "free",
            "plans": {
                "free": {
                    "name": "Free",
                    "rank": 0,
                    "price": {"monthly": 0},
                    "limits": {"users": 1, "contacts": 100, "broadcast_quota": 0},
                },
                "basic": {
                    "name": "Basic",
                    "rank": 1,
                    "price": {"monthly": 100_000},
                    "limits": {"users": 2, "contacts": 1_000, "broadcast_quota": 0},
                },
            },
        }
    )
    billing = Billing(catalogue, InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("a")
    with pytest.raises(IntervalNotOffered):
        billing.quote_change("a", "basic", interval="annual")
    with pytest.raises(IntervalNotOffered):
        billing.change_plan("a", "basic", interval=Interval.ANNUAL)
    # interval=None keeps the current interval when offered: monthly.
    assert billing.quote_change("a", "basic").total == idr(100_000)


def test_paid_change_cannot_be_replaced_or_cancelled(billing, account):
    """R-SUB-2: ChangeAlreadyPaid."""
    on_growth(billing, account)
    pay(billing, billing.change_plan(account, "pro"))
    with pytest.raises(ChangeAlreadyPaid):
        billing.change_plan(account, "pro", interval="annual")
    with pytest.raises(ChangeAlreadyPaid):
        billing.cancel_change(account)


def test_unpaid_change_is_replaced_and_its_invoice_cancelled(billing, account):
    """R-SUB-2: an unpaid scheduled change can be replaced; its invoice becomes cancelled."""
    on_growth(billing, account)
    first = billing.change_plan(account, "pro").invoice
    second = billing.change_plan(account, "pro", interval="annual").invoice
    assert billing.invoice(account, first.code).status is InvoiceStatus.CANCELLED
    change = billing.subscription(account).scheduled_change
    assert (change.interval, change.invoice_code, change.paid) == (
        Interval.ANNUAL,
        second.code,
        False,
    )


def test_unpaid_change_is_dropped_at_the_boundary(billing, account, clock):
    """R-SUB-5: an unpaid scheduled change never applies; its invoice becomes cancelled."""
    on_growth(billing, account)
    pay(billing, billing.renew(account))
    clock.set(at(2026, 3, 9, 12))
    invoice = billing.change_plan(account, "pro").invoice
    clock.set(at(2026, 3, 10, 9, 1))  # inside the payment window
    billing.advance()
    sub = billing.subscription(account)
    assert (sub.plan, sub.scheduled_change) == ("growth", None)
    assert billing.invoice(account, invoice.code).status is InvoiceStatus.CANCELLED


# -- grace and lapse ----------------------------------------------------------------------------


def test_unpaid_boundary_is_past_due_then_lapses_at_grace_end(billing, account, clock):
    """R-SUB-5: past_due for grace_days (limits kept), then default plan anchored at grace end."""
    on_growth(billing, account)
    top = billing.top_up(account, "conversation", 10_000)
    pay(billing, top)
    clock.set(at(2026, 2, 10, 9, 30))
    billing.advance()
    sub = billing.subscription(account)
    assert sub.status is SubscriptionStatus.PAST_DUE
    assert sub.current_period == FEB10_MAR10
    assert sub.paid_through == at(2026, 2, 10)
    assert sub.addons == {"extra_user": 2}
    assert billing.usage_overview(account).limits.users == 7
    assert billing.balances(account).conversation == idr(10_000)  # no grant in grace

    clock.set(at(2026, 2, 12, 18))
    renewal = billing.renew(account).invoice  # left unpaid
    clock.set(at(2026, 2, 13, 10))
    report = billing.advance()
    assert report.counts.get("lapsed") == 1
    sub = billing.subscription(account)
    assert (sub.plan, sub.status, sub.addons) == ("free", "active", {})
    assert sub.anchor == at(2026, 2, 13)  # the grace end, not the run time
    assert sub.current_period == Period(at(2026, 2, 13), at(2026, 3, 13))
    assert billing.invoice(account, renewal.code).status is InvoiceStatus.CANCELLED
    assert billing.balances(account).conversation == idr(10_000 + 15_000)  # purchase kept


def test_renewal_paid_in_grace_continues_from_the_old_boundary(billing, account, clock):
    """R-SUB-5: no gap: paid_through = old boundary + 1 period; first month's balance granted."""
    on_growth(billing, account)
    clock.set(at(2026, 2, 11, 20))
    quote = billing.quote_renewal(account)
    assert rows(quote.lines) == [
        ("Growth (Monthly)", 1, 299_000, 299_000, FEB10_MAR10),
        ("Additional User", 2, 50_000, 100_000, FEB10_MAR10),
    ]
    checkout = billing.renew(account)
    assert checkout.invoice.total == quote.total == idr(399_000)
    pay(billing, checkout)
    sub = billing.subscription(account)
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.current_period == FEB10_MAR10
    assert sub.paid_through == at(2026, 3, 10)
    assert sub.anchor == at(2026, 1, 10)
    assert billing.balances(account).conversation == idr(30_000)
    clock.set(at(2026, 2, 20))
    assert billing.subscription(account).status is SubscriptionStatus.ACTIVE


def test_change_paid_in_grace_starts_at_the_old_boundary(billing, account, clock):
    """R-SUB-5: a plan change bought in the grace starts at the old boundary, no credit."""
    on_growth(billing, account, users=0)
    clock.set(at(2026, 2, 11))
    quote = billing.quote_change(account, "pro")
    assert rows(quote.lines) == [("Pro (Monthly)", 1, 599_000, 599_000, FEB10_MAR10)]
    pay(billing, billing.change_plan(account, "pro"))
    sub = billing.subscription(account)
    assert (sub.plan, sub.status) == ("pro", "active")
    assert sub.current_period == FEB10_MAR10 and sub.paid_through == at(2026, 3, 10)
    assert billing.balances(account).conversation == idr(60_000)


# -- unsubscribe --------------------------------------------------------------------------------


def test_unsubscribe_then_resume(billing, account, clock):
    """R-SUB-6: cancelling keeps entitlements; resume undoes it before the end."""
    on_growth(billing, account)
    renewal = billing.renew(account).invoice
    clock.set(at(2026, 1, 10, 12))
    sub = billing.unsubscribe(account)
    assert sub.status is SubscriptionStatus.CANCELLING
    assert billing.invoice(account, renewal.code).status is InvoiceStatus.CANCELLED
    assert billing.usage_overview(account).limits.users == 7
    with pytest.raises(Exception) as refused:
        billing.renew(account)
    assert refused.value.code == "not_renewable"
    sub = billing.resume(account)
    assert sub.status is SubscriptionStatus.ACTIVE
    with pytest.raises(NotCancelling):
        billing.resume(account)
    pay(billing, billing.renew(account))
    clock.set(at(2026, 2, 11))
    assert billing.subscription(account).plan == "growth"


def test_unsubscribe_falls_back_to_free_at_the_end_of_paid_time(billing, account, clock):
    """R-SUB-6: at the end of the paid time the account falls back to the default plan."""
    on_growth(billing, account)
    pay(billing, billing.renew(account))
    billing.unsubscribe(account)
    clock.set(at(2026, 2, 10, 10))
    billing.advance()
    assert billing.subscription(account).plan == "growth"  # paid ahead until Mar 10
    clock.set(at(2026, 3, 10, 10))
    report = billing.advance()
    assert report.counts.get("cancelled") == 1
    sub = billing.subscription(account)
    assert (sub.plan, sub.status, sub.addons) == ("free", "active", {})
    assert sub.anchor == at(2026, 3, 10)
    assert billing.balances(account).conversation == idr(15_000)


def test_nothing_to_cancel_on_free_and_not_cancelling(billing, account):
    """R-SUB-6: NothingToCancel on the default plan; NotCancelling when nothing to resume."""
    with pytest.raises(NothingToCancel):
        billing.unsubscribe(account)
    with pytest.raises(NotCancelling):
        billing.resume(account)


def test_unsubscribe_while_past_due_lapses_at_once(billing, account, clock):
    """R-SUB-5/6: unsubscribe in the grace lapses now."""
    on_growth(billing, account)
    clock.set(at(2026, 2, 11, 13))
    assert billing.subscription(account).status is SubscriptionStatus.PAST_DUE
    sub = billing.unsubscribe(account)
    assert (sub.plan, sub.status, sub.addons) == ("free", "active", {})
    assert sub.anchor == at(2026, 2, 11, 13)


# -- month ends ---------------------------------------------------------------------------------


def test_jan_31_anchor_boundaries_across_february(catalogue, clock):
    """R-CYC-1: a Jan 31 monthly customer has boundaries Feb 28, Mar 31, Apr 30."""
    clock.set(at(2026, 1, 31))
    billing = Billing(catalogue, InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("eom")
    billing.set_billing_profile("eom", PROFILE)
    buy(billing, "eom", "growth")
    ends = [at(2026, 2, 28), at(2026, 3, 31), at(2026, 4, 30), at(2026, 5, 31)]
    assert billing.subscription("eom").current_period == Period(at(2026, 1, 31), ends[0])
    for start, end in itertools.pairwise(ends):
        quote = billing.quote_renewal("eom")
        assert rows(quote.lines) == [("Growth (Monthly)", 1, 299_000, 299_000, Period(start, end))]
        pay(billing, billing.renew("eom"))
        clock.set(start + timedelta(hours=1))
        billing.advance()
        sub = billing.subscription("eom")
        assert sub.current_period == Period(start, end)
        assert sub.anchor == at(2026, 1, 31)


# -- usage --------------------------------------------------------------------------------------


def test_usage_overview_and_check_limit(catalogue, store, gateway, clock):
    """R-USE-1/2: overview fields; LimitExceeded carries the limit."""
    usage = StaticUsage({"acme": Usage(users=3, contacts=1_200)})
    billing = Billing(catalogue, store, gateway, clock=clock, usage=usage)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    on_growth(billing, "acme")
    billing.stop_addon("acme", "extra_user", quantity=1)
    billing.charge_broadcast("acme", 40, key="camp-1")
    clock.set(at(2026, 1, 20, 9))
    view = billing.usage_overview("acme")
    assert (view.plan, view.interval, view.status) == ("growth", Interval.MONTHLY, "active")
    assert view.current_period == JAN10_FEB10
    assert view.days_left == 21
    assert view.paid_through == at(2026, 2, 10)
    assert view.scheduled_change is None
    assert (view.limits.users, view.limits.contacts, view.limits.broadcast_quota) == (
        7,
        5_000,
        1_000,
    )
    assert (view.users_in_use, view.contacts_in_use) == (3, 1_200)
    assert view.broadcast_used == 40
    assert view.balances == {"conversation": idr(30_000), "broadcast": idr(0)}
    assert view.addons == {"extra_user": 2} and view.stopping == {"extra_user": 1}

    billing.check_limit("acme", "users", 7)
    with pytest.raises(LimitExceeded) as exceeded:
        billing.check_limit("acme", "users", 8)
    assert exceeded.value.limit == 7
    with pytest.raises(LimitExceeded) as exceeded:
        billing.check_limit("acme", "contacts", 5_001)
    assert exceeded.value.limit == 5_000


def test_usage_overview_without_usage_source(billing, account):
    """R-USE-1: usage is None without a UsageSource."""
    view = billing.usage_overview(account)
    assert (view.users_in_use, view.contacts_in_use) == (None, None)
    assert view.limits.users == 1 and view.days_left == 31


# -- the billing run ----------------------------------------------------------------------------


def test_advance_is_idempotent(billing, account, clock):
    """R-TIME: a second run does nothing more."""
    on_growth(billing, account)
    clock.set(at(2026, 2, 10, 9, 5))
    first = billing.advance()
    assert first.counts and first.accounts == (account,)
    second = billing.advance()
    assert second.counts == {} and second.accounts == ()
    with pytest.raises(InvalidTime):
        billing.advance(at(2026, 2, 10, 10))


def _annual_billing(clock: FixedClock) -> Billing:
    billing = Billing(Catalogue.default(), InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    pay(billing, billing.change_plan("acme", "growth", interval="annual"))
    billing.open_account("free")
    return billing


def test_catch_up_equals_step_by_step():
    """R-CYC-5: running monthly or once after five months gives the same state."""
    step_clock, late_clock = FixedClock(START), FixedClock(START)
    stepwise, late = _annual_billing(step_clock), _annual_billing(late_clock)
    for month in range(1, 6):
        step_clock.set(START + relativedelta(months=month) + timedelta(minutes=5))
        stepwise.advance()
    late_clock.set(step_clock.now())
    report = late.advance()
    assert report.counts["month"] == 5  # the annual account's months
    assert report.counts["period"] == 5  # the free account renews itself monthly
    for account in ("acme", "free"):
        assert to_dict(late.subscription(account)) == to_dict(stepwise.subscription(account))
        assert late.balances(account) == stepwise.balances(account)
    assert late.balances("acme").conversation == idr(30_000)


def test_addon_bought_while_paid_ahead_adds_the_full_next_period(billing, account, clock):
    """R-ADD-3: prorated rest of the period plus the full price of the period paid ahead."""
    on_growth(billing, account, users=0)
    pay(billing, billing.renew(account))
    clock.set(at(2026, 1, 20))
    quote = billing.quote_addons(account, {"extra_user": 1})
    assert rows(quote.lines) == [
        ("Additional User", 1, 50_000, 33_871, Period(at(2026, 1, 20), at(2026, 2, 10))),
        ("Additional User", 1, 50_000, 50_000, FEB10_MAR10),
    ]
    checkout = billing.buy_addons(account, {"extra_user": 1})
    assert checkout.invoice.total == quote.total == idr(83_871)


def test_addon_bought_while_a_paid_change_is_scheduled_joins_the_change(billing, account, clock):
    """R-ADD-3: the first period of the target plan is charged and the units join the order."""
    on_growth(billing, account, users=0)
    pay(billing, billing.change_plan(account, "pro", interval="annual"))
    clock.set(at(2026, 1, 20))
    quote = billing.quote_addons(account, {"extra_user": 1})
    assert rows(quote.lines) == [
        ("Additional User", 1, 50_000, 33_871, Period(at(2026, 1, 20), at(2026, 2, 10))),
        ("Additional User", 1, 500_000, 500_000, FEB10_FEB10),
    ]
    pay(billing, billing.buy_addons(account, {"extra_user": 1}))
    assert billing.subscription(account).scheduled_change.addons == {"extra_user": 1}
    clock.set(at(2026, 2, 10, 10))
    billing.advance()
    sub = billing.subscription(account)
    assert (sub.plan, sub.addons) == ("pro", {"extra_user": 1})
