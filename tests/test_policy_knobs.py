"""The catalogue's [policy] knobs change behaviour through the facade (R-CAT-6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from helpers import JAKARTA, PROFILE, START, default_catalogue_toml, idr, pay
from subkit.invoice import InvoiceStatus
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.subscription import SubscriptionStatus
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import Balance, EntryKind


def with_policy(policy: str) -> tuple[Billing, FixedClock]:
    toml = default_catalogue_toml()
    catalogue = Catalogue.from_toml(toml + "\n[policy]\n" + policy + "\n")
    clock = FixedClock(START)
    billing = Billing(catalogue, InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    return billing, clock


def test_included_balance_that_does_not_expire_accumulates() -> None:
    """R-BAL-1: with included_balance_expires = false, each month's grant adds up."""
    billing, clock = with_policy("included_balance_expires = false")
    clock.advance(relativedelta(months=2, hours=1))
    billing.advance()
    assert billing.balances("acme").conversation == idr(45_000)
    assert billing.usage_history("acme", kind=EntryKind.EXPIRY).items == ()


def test_an_overdraft_lets_replies_go_out_on_credit_and_a_top_up_repays_it() -> None:
    """R-BAL-4: overdraft conversation = 3000: the balance may reach -Rp3.000; the next
    top-up pays the debt first."""
    billing, _ = with_policy("overdraft = { conversation = 3_000, broadcast = 0 }")
    billing.charge_replies("acme", 600, key="burst")  # Rp18.000 of Rp15.000
    assert billing.balances("acme").conversation == idr(-3_000)
    pay(billing, billing.top_up("acme", Balance.CONVERSATION, 10_000))
    assert billing.balances("acme").conversation == idr(7_000)


def test_a_longer_grace_keeps_the_plan_longer() -> None:
    """R-SUB-5: grace_days = 7: still past due on day 6, lapsed at day 7."""
    billing, clock = with_policy("grace_days = 7")
    pay(billing, billing.change_plan("acme", "growth"))
    boundary = datetime(2026, 2, 10, 9, tzinfo=JAKARTA)
    clock.set(boundary + timedelta(days=6))
    assert billing.subscription("acme").status is SubscriptionStatus.PAST_DUE
    clock.set(boundary + timedelta(days=7))
    sub = billing.subscription("acme")
    assert (sub.plan, sub.anchor) == ("free", boundary + timedelta(days=7))


def test_a_shorter_payment_window_expires_invoices_sooner() -> None:
    """R-INV-3: payment_window_hours = 2."""
    billing, clock = with_policy("payment_window_hours = 2")
    checkout = billing.top_up("acme", "conversation", 10_000)
    assert checkout.invoice is not None
    assert checkout.invoice.expires_at == START + timedelta(hours=2)
    clock.advance(timedelta(hours=2))
    assert billing.invoice("acme", checkout.invoice.code).status is InvoiceStatus.EXPIRED


def test_from_free_next_cycle_waits_for_the_free_period_to_end() -> None:
    """R-SUB-2: from_free = "next_cycle": a purchase from Free is scheduled, not immediate."""
    billing, clock = with_policy('from_free = "next_cycle"')
    quote = billing.quote_change("acme", "growth")
    boundary = datetime(2026, 2, 10, 9, tzinfo=JAKARTA)
    assert quote.effective_at == boundary
    pay(billing, billing.change_plan("acme", "growth"))
    assert billing.subscription("acme").plan == "free"
    clock.set(boundary + timedelta(minutes=1))
    sub = billing.subscription("acme")
    assert (sub.plan, sub.current_period.start) == ("growth", boundary)
    assert billing.balances("acme").conversation == idr(30_000)
