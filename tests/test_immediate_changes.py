"""change_timing = "immediate": the unused-time credit line, and scheduling when it would go
below zero (R-SUB-2)."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers import JAKARTA, PROFILE, default_catalogue_toml, pay
from subkit.cycles import Interval, Period
from subkit.invoice import InvoiceLine, InvoiceType, LineKind
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import Balance, EntryKind

IDR = "IDR"


def immediate_catalogue() -> Catalogue:
    """The default catalogue with ``change_timing = "immediate"``."""
    toml = default_catalogue_toml()
    return Catalogue.from_toml(toml + '\n[policy]\nchange_timing = "immediate"\n')


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=JAKARTA)


def setup() -> tuple[Billing, FixedClock]:
    clock = FixedClock(at(10))
    billing = Billing(immediate_catalogue(), InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    return billing, clock


def test_upgrade_credits_the_unused_days_on_the_same_invoice() -> None:
    """R-SUB-2: Growth bought Jan 10, Pro ordered Jan 20: 21 of 31 days are credited."""
    billing, clock = setup()
    pay(billing, billing.change_plan("acme", "growth"))
    clock.set(at(20))
    quote = billing.quote_change("acme", "pro")
    new_period = Period(at(20), datetime(2026, 2, 20, 9, tzinfo=JAKARTA))
    unused = Period(at(20), datetime(2026, 2, 10, 9, tzinfo=JAKARTA))  # [at, paid_through)
    credit = Money(202_548, IDR)  # 299.000 * 21 / 31 = 202.548,39 -> rounded once
    assert quote.lines == (
        InvoiceLine(
            LineKind.PLAN,
            "Pro",
            1,
            Money(599_000, IDR),
            Money(599_000, IDR),
            new_period,
            "pro",
            Interval.MONTHLY,
        ),
        InvoiceLine(
            LineKind.CREDIT, "Growth", 1, -credit, -credit, unused, "growth", Interval.MONTHLY
        ),
    )
    assert quote.total == Money(599_000 - 202_548, IDR)
    assert quote.effective_at == at(20)
    checkout = billing.change_plan("acme", "pro")
    assert checkout.invoice is not None
    assert checkout.invoice.type is InvoiceType.PLAN_CHANGE
    assert checkout.invoice.total == quote.total
    pay(billing, checkout)
    sub = billing.subscription("acme")
    assert (sub.plan, sub.anchor, sub.current_period) == ("pro", at(20), new_period)
    # The cut-short period's included balance expired at the change; Pro's was granted.
    entries = billing.usage_history("acme", balance=Balance.CONVERSATION, limit=5).items
    assert [e.kind for e in entries[:2]] == [EntryKind.GRANT, EntryKind.EXPIRY]
    assert billing.balances("acme").conversation == Money(60_000, IDR)


def test_a_credit_above_the_new_charge_schedules_the_change_instead() -> None:
    """R-SUB-2: Pro bought Jan 10, Growth ordered Jan 11: the credit (Rp579.677) exceeds
    Growth's price, so the change waits for the boundary and no credit is forfeited."""
    billing, clock = setup()
    pay(billing, billing.change_plan("acme", "pro"))
    clock.set(at(11))
    quote = billing.quote_change("acme", "growth")
    boundary = datetime(2026, 2, 10, 9, tzinfo=JAKARTA)
    assert quote.effective_at == boundary
    assert all(line.amount.amount > 0 for line in quote.lines)
    assert quote.total == Money(299_000, IDR)
    pay(billing, billing.change_plan("acme", "growth"))
    sub = billing.subscription("acme")
    assert sub.plan == "pro"
    assert sub.scheduled_change is not None and sub.scheduled_change.effective_at == boundary
    clock.set(boundary + timedelta(minutes=1))
    billing.advance()
    assert billing.subscription("acme").plan == "growth"
