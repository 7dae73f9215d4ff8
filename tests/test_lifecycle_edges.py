"""Lifecycle edges: annual allowances, late payments that can no longer apply, a paid change
under cancellation, the cut-short period of a purchase from Free."""

from __future__ import annotations

from datetime import timedelta

from dateutil.relativedelta import relativedelta

from helpers import at, pay
from stores import ALL_STORES
from subkit.invoice import Effect, InvoiceStatus
from subkit.money import Money
from subkit.service import Billing
from subkit.subscription import SubscriptionStatus
from subkit.testing import FixedClock, RecordingSink
from subkit.wallet import Balance, EntryKind

pytestmark = ALL_STORES


def test_an_annual_plan_grants_and_resets_its_allowances_every_month(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """R-CAT-2, R-SUB-5: Growth annual grants Rp30.000 and resets the 1.000 broadcast quota
    at each of the twelve month boundaries of the year, one grant per boundary."""
    pay(billing, billing.change_plan(account, "growth", interval="annual"))
    billing.charge_broadcast(account, 600, key="jan")
    clock.set(at(2027, 1, 10, 10))  # one year later, one hour past the anchor's time
    billing.advance()
    grants = [
        entry
        for entry in billing.usage_history(account, kind=EntryKind.GRANT, limit=50).items
        if entry.amount == Money(30_000, "IDR")
    ]
    # The grant at purchase (Jan 10) and Feb 10 ... Dec 10: twelve months, one each. The
    # Jan 10 2027 boundary grants nothing: the next year is not paid (past due).
    assert len(grants) == 12
    assert [g.at.month for g in sorted(grants, key=lambda g: g.at)] == list(range(1, 13))
    overview = billing.usage_overview(account)
    assert overview.broadcast_used == 0  # the quota was reset
    # The year was paid once: the period did not renew itself.
    assert billing.subscription(account).status is SubscriptionStatus.PAST_DUE


def test_a_late_payment_that_can_no_longer_apply_is_kept_and_reported(
    billing: Billing, account: str, clock: FixedClock, sink: RecordingSink
) -> None:
    """R-INV-5: a success for a cancelled change whose moment has passed is recorded as paid
    with its effect unapplied, and `invoice.unapplied` tells the host to refund."""
    pay(billing, billing.change_plan(account, "growth"))
    clock.set(at(2026, 1, 20))
    checkout = billing.change_plan(account, "pro")  # scheduled for Feb 10, unpaid
    assert checkout.invoice is not None
    billing.cancel_change(account)
    assert billing.invoice(account, checkout.invoice.code).status is InvoiceStatus.CANCELLED
    pay(billing, billing.renew(account))  # the next period is bought as Growth instead
    late = pay(billing, checkout, "late-ref")
    assert late.status is InvoiceStatus.PAID
    assert late.effect is Effect.UNAPPLIED
    assert billing.subscription(account).scheduled_change is None
    assert "invoice.unapplied" in sink.names()


def test_a_paid_change_survives_unsubscribe_and_the_account_falls_back_after_it(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """R-SUB-6: unsubscribing keeps what was paid: the paid Pro change applies at Feb 10,
    the subscription stays cancelling, and falls back to Free when Pro's period ends."""
    pay(billing, billing.change_plan(account, "growth"))
    clock.set(at(2026, 1, 20))
    pay(billing, billing.change_plan(account, "pro"))
    sub = billing.unsubscribe(account)
    assert sub.status is SubscriptionStatus.CANCELLING
    assert sub.paid_through == at(2026, 3, 10)
    clock.set(at(2026, 2, 10, 10))
    sub = billing.subscription(account)
    assert (sub.plan, sub.status) == ("pro", SubscriptionStatus.CANCELLING)
    clock.set(at(2026, 3, 10, 10))
    sub = billing.subscription(account)
    assert (sub.plan, sub.status, sub.anchor) == (
        "free",
        SubscriptionStatus.ACTIVE,
        at(2026, 3, 10),
    )


def test_buying_from_free_ends_the_free_month_at_once(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """R-SUB-2: a purchase from Free starts a new period at the payment; what is left of
    Free's included balance expires then and Growth's is granted."""
    billing.charge_replies(account, 100, key="before")  # Rp3.000 of Rp15.000 used
    clock.advance(timedelta(hours=2))
    pay(billing, billing.change_plan(account, "growth"))
    entries = billing.usage_history(account, balance=Balance.CONVERSATION, limit=3).items
    assert [(e.kind, e.amount.amount) for e in entries[:2]] == [
        (EntryKind.GRANT, 30_000),
        (EntryKind.EXPIRY, -12_000),
    ]
    assert billing.balances(account).conversation == Money(30_000, "IDR")
    sub = billing.subscription(account)
    assert sub.anchor == clock.now()
    assert sub.current_period.end == clock.now() + relativedelta(months=1)


def test_a_purchase_from_free_paid_after_the_free_month_rolled_still_applies(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """R-INV-5, R-SUB-2: Free renews itself at its boundary; a Growth purchase checked out
    just before it and paid just after is still a purchase from Free, and applies."""
    clock.set(at(2026, 2, 10, 8))  # one hour before Free's boundary (anchor Jan 10 09:00)
    checkout = billing.change_plan(account, "growth")
    clock.set(at(2026, 2, 10, 10))  # Free rolled into its next month meanwhile
    paid = pay(billing, checkout)
    assert paid.effect is Effect.APPLIED
    assert billing.subscription(account).plan == "growth"
