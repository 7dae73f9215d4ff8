"""The money path: checkout placement, payment settlement and order fulfilment, directly and
through the facade (R-INV-1, R-INV-4..6, R-SUB-2, R-ADD-1).

The stories at the top are the defects adversarial testing found; each fails on the code
before the core seam was rebuilt.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from helpers import PROFILE, START, idr, pay
from stores import ALL_STORES
from subkit.account import Account
from subkit.checkout import place
from subkit.cycles import Interval
from subkit.errors import BillingProfileRequired, PaymentAmountMismatch
from subkit.invoice import Effect, Invoice, InvoiceStatus, PaymentStatus
from subkit.orders import ChangeStart, PlanChange, PricedOn, Renewal, TopUp
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent
from subkit.quotes import quote_change, quote_renewal, quote_top_up
from subkit.service import Billing
from subkit.settlement import OutcomeKind, PaymentReport, settle
from subkit.subscription import SubscriptionStatus
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink
from subkit.wallet import Balance

pytestmark = ALL_STORES


def stored_account(store: InMemoryStore, account_id: str) -> Account:
    with store.transaction() as unit:
        account = unit.get_account(account_id)
    assert account is not None
    return account


def on_growth(billing: Billing, clock: FixedClock) -> None:
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    pay(billing, billing.change_plan("acme", "growth"), "ref-growth")
    clock.advance(timedelta(days=5))


class TestOnePeriodBoughtOnce:
    def test_a_renewal_cancelled_by_a_change_and_paid_late_is_unapplied(
        self, billing: Billing, clock: FixedClock, sink: RecordingSink
    ) -> None:
        """R-SUB-2: Growth renewed (unpaid), then Pro ordered for the next cycle, which
        cancels the renewal. The renewal is paid late anyway: it must not buy the period the
        change buys; the host is told to refund, and the change, paid, still applies."""
        on_growth(billing, clock)
        paid_through = billing.subscription("acme").paid_through
        renewal = billing.renew("acme")
        change = billing.change_plan("acme", "pro")
        assert billing.invoice("acme", renewal.invoice.code).status is InvoiceStatus.CANCELLED  # type: ignore[union-attr]
        late = pay(billing, renewal, "ref-renewal")
        assert late.status is InvoiceStatus.PAID
        assert late.effect is Effect.UNAPPLIED
        assert "invoice.unapplied" in sink.names()
        assert billing.subscription("acme").paid_through == paid_through
        paid = pay(billing, change, "ref-change")
        assert paid.effect is Effect.APPLIED
        sub = billing.subscription("acme")
        assert sub.scheduled_change is not None and sub.scheduled_change.paid
        assert sub.paid_through > paid_through  # bought once, by the change

    def test_a_replaced_change_paid_late_is_unapplied(
        self, billing: Billing, clock: FixedClock
    ) -> None:
        """R-SUB-2: a change to Pro replaced by a change to Pro annual, then paid late."""
        on_growth(billing, clock)
        first = billing.change_plan("acme", "pro")
        second = billing.change_plan("acme", "pro", interval="annual")
        assert pay(billing, first, "ref-1").effect is Effect.UNAPPLIED
        assert pay(billing, second, "ref-2").effect is Effect.APPLIED
        change = billing.subscription("acme").scheduled_change
        assert change is not None and change.interval is Interval.ANNUAL and change.paid


class TestEventIds:
    def test_an_event_id_seen_for_another_invoice_is_not_a_replay(
        self, billing: Billing, account: str
    ) -> None:
        """R-INV-4: gateways number events per transaction; the same id on two invoices
        is two events, and neither payment is dropped."""
        one = billing.top_up(account, "conversation", 10_000)
        two = billing.top_up(account, "broadcast", 20_000)
        pay(billing, one, "ref-1", event_id="evt-1")
        paid = pay(billing, two, "ref-2", event_id="evt-1")
        assert paid.status is InvoiceStatus.PAID
        assert billing.balances(account).broadcast == idr(20_000)

    def test_the_same_event_for_the_same_invoice_is_a_replay(
        self, billing: Billing, account: str, sink: RecordingSink
    ) -> None:
        checkout = billing.top_up(account, "conversation", 10_000)
        pay(billing, checkout, "ref-1", event_id="evt-1")
        before = len(sink.events)
        pay(billing, checkout, "ref-other", event_id="evt-1")
        assert len(sink.events) == before
        assert billing.invoice(account, checkout.invoice.code).extra_payments == ()  # type: ignore[union-attr]


class TestAddOnMaximum:
    def test_two_open_orders_cannot_take_the_total_over_max_quantity(
        self, billing: Billing, clock: FixedClock
    ) -> None:
        """R-ADD-1: 60 and 60 extra users ordered at once (maximum 100); the second paid is
        unapplied and the total held stays 60."""
        on_growth(billing, clock)
        first = billing.buy_addons("acme", {"extra_user": 60})
        second = billing.buy_addons("acme", {"extra_user": 60})
        assert pay(billing, first, "ref-1").effect is Effect.APPLIED
        assert pay(billing, second, "ref-2").effect is Effect.UNAPPLIED
        assert billing.subscription("acme").addons == {"extra_user": 60}


IMMEDIATE = """
[policy]
change_timing = "immediate"
"""


def catalogue_with(growth_price: int) -> Catalogue:
    from helpers import default_catalogue_toml

    text = default_catalogue_toml().replace("monthly = 299_000", f"monthly = {growth_price}")
    assert f"monthly = {growth_price}" in text
    return Catalogue.from_toml(text + IMMEDIATE)


class TestCreditAtPricesPaid:
    def test_a_price_rise_after_the_purchase_does_not_raise_the_credit(self) -> None:
        """R-SUB-2: Growth bought at Rp299.000; the host then raises it to Rp399.000. An
        immediate change to Pro 10 days later credits the unused days at Rp299.000, and the
        credit line covers [checkout, paid_through)."""
        store, clock = InMemoryStore(), FixedClock(START)
        old = Billing(catalogue_with(299_000), store, FakeGateway(), clock=clock)
        old.open_account("acme")
        old.set_billing_profile("acme", PROFILE)
        pay(old, old.change_plan("acme", "growth"))
        paid_through = old.subscription("acme").paid_through
        clock.advance(timedelta(days=10))
        new = Billing(catalogue_with(399_000), store, FakeGateway(), clock=clock)
        quote = new.quote_change("acme", "pro")
        credit = quote.lines[-1]
        assert credit.amount == idr(-202_548)  # 299.000 * 21 / 31, not 399.000 * 21 / 31
        assert credit.period is not None
        assert (credit.period.start, credit.period.end) == (clock.now(), paid_through)


# -- the pure calls, directly -----------------------------------------------------------------


@pytest.fixture
def growth(billing: Billing, clock: FixedClock, store: InMemoryStore) -> Account:
    on_growth(billing, clock)
    return stored_account(store, "acme")


def numbers() -> object:
    counter = iter(range(1, 1000))
    return lambda: next(counter)


class TestPlace:
    def test_a_paid_order_needs_a_billing_profile(self, catalogue: Catalogue) -> None:
        from subkit.account import open_account

        account, _ = open_account("acme", catalogue, START, "Asia/Jakarta")
        purchase = quote_top_up(catalogue, Balance.CONVERSATION, idr(10_000))
        with pytest.raises(BillingProfileRequired):
            place(account, catalogue, purchase, START, lambda: 1)

    def test_an_invoice_is_made_and_remembered_as_pending(
        self, catalogue: Catalogue, growth: Account, clock: FixedClock
    ) -> None:
        purchase = quote_renewal(growth, catalogue, clock.now()).purchase
        placed = place(growth, catalogue, purchase, clock.now(), lambda: 7)
        assert placed.invoice is not None
        assert placed.invoice.code.endswith("000007")
        assert placed.account.subscription.renewal_invoice == placed.invoice.code
        assert placed.account.pending[placed.invoice.code] == placed.invoice.expires_at
        assert [event.name for event in placed.events] == ["invoice.created"]

    def test_a_change_cancels_the_open_renewal(
        self, catalogue: Catalogue, growth: Account, clock: FixedClock
    ) -> None:
        now = clock.now()
        renewal = place(
            growth, catalogue, quote_renewal(growth, catalogue, now).purchase, now, lambda: 1
        )
        change = quote_change(renewal.account, catalogue, "pro", None, None, now).purchase
        placed = place(renewal.account, catalogue, change, now, lambda: 2)
        assert placed.cancelled == (renewal.invoice.code,)  # type: ignore[union-attr]
        assert placed.account.subscription.renewal_invoice is None
        assert renewal.invoice.code not in placed.account.pending  # type: ignore[union-attr]

    def test_nothing_to_pay_is_accepted_at_once(
        self, catalogue: Catalogue, growth: Account, clock: FixedClock
    ) -> None:
        purchase = quote_change(growth, catalogue, "free", None, None, clock.now()).purchase
        placed = place(growth, catalogue, purchase, clock.now(), lambda: pytest.fail("no number"))
        assert placed.invoice is None
        change = placed.account.subscription.scheduled_change
        assert change is not None and change.plan == "free" and change.invoice_code is None


def open_invoice(account: Account, catalogue: Catalogue, at: object) -> tuple[Account, Invoice]:
    purchase = quote_renewal(account, catalogue, at).purchase  # type: ignore[arg-type]
    placed = place(account, catalogue, purchase, at, lambda: 1)  # type: ignore[arg-type]
    assert placed.invoice is not None
    return placed.account, placed.invoice


class TestSettle:
    def report(self, invoice: Invoice, status: PaymentStatus, ref: str = "r1") -> PaymentReport:
        return PaymentReport(status, ref, invoice.total, invoice.requested_at)

    def test_outcome_kinds(self, catalogue: Catalogue, growth: Account, clock: FixedClock) -> None:
        now = clock.now()
        account, invoice = open_invoice(growth, catalogue, now)
        paid = settle(account, catalogue, invoice, self.report(invoice, PaymentStatus.PAID), now)
        assert paid.kind is OutcomeKind.APPLIED
        assert paid.invoice.status is InvoiceStatus.PAID and paid.invoice.paid_at == now
        assert paid.account.subscription.paid_through > growth.subscription.paid_through
        again = settle(
            paid.account, catalogue, paid.invoice, self.report(invoice, PaymentStatus.PAID), now
        )
        assert again.kind is OutcomeKind.IGNORED and again.invoice is paid.invoice
        other = settle(
            paid.account,
            catalogue,
            paid.invoice,
            self.report(invoice, PaymentStatus.PAID, "r2"),
            now,
        )
        assert other.kind is OutcomeKind.DUPLICATE
        assert other.invoice.extra_payments == ("r2",)
        assert other.account is paid.account
        late = settle(
            paid.account, catalogue, paid.invoice, self.report(invoice, PaymentStatus.EXPIRED), now
        )
        assert late.kind is OutcomeKind.IGNORED
        refund = settle(
            paid.account, catalogue, paid.invoice, self.report(invoice, PaymentStatus.REFUNDED), now
        )
        assert refund.kind is OutcomeKind.REFUNDED
        assert refund.invoice.status is InvoiceStatus.REFUNDED

    def test_a_failure_forgets_the_order(
        self, catalogue: Catalogue, growth: Account, clock: FixedClock
    ) -> None:
        now = clock.now()
        account, invoice = open_invoice(growth, catalogue, now)
        failed = settle(
            account, catalogue, invoice, self.report(invoice, PaymentStatus.FAILED), now
        )
        assert failed.kind is OutcomeKind.FAILED
        assert failed.account.subscription.renewal_invoice is None
        assert invoice.code not in failed.account.pending

    def test_a_wrong_amount_is_refused(
        self, catalogue: Catalogue, growth: Account, clock: FixedClock
    ) -> None:
        now = clock.now()
        account, invoice = open_invoice(growth, catalogue, now)
        short = PaymentReport(PaymentStatus.PAID, "r1", invoice.total - idr(1), now)
        with pytest.raises(PaymentAmountMismatch):
            settle(account, catalogue, invoice, short, now)


class TestPricedOn:
    def test_holds_while_plan_interval_paid_time_and_status_are_the_same(
        self, growth: Account
    ) -> None:
        sub = growth.subscription
        basis = PricedOn.of(sub)
        assert basis.holds_for(sub)
        assert not basis.holds_for(
            attrs.evolve(sub, paid_through=sub.paid_through + timedelta(days=1))
        )
        assert not basis.holds_for(attrs.evolve(sub, status=SubscriptionStatus.PAST_DUE))
        assert not basis.holds_for(attrs.evolve(sub, plan="pro"))
        plan_only = PricedOn.plan_of(sub)
        assert plan_only.holds_for(
            attrs.evolve(sub, paid_through=sub.paid_through + timedelta(days=1))
        )

    def test_a_change_builds_its_scheduled_change_once(self, growth: Account) -> None:
        sub = growth.subscription
        order = PlanChange(
            "pro",
            Interval.MONTHLY,
            {"extra_user": 1},
            ChangeStart.BOUNDARY,
            PricedOn.of(sub),
            start=sub.paid_through,
            end=sub.paid_through + timedelta(days=31),
        )
        change = order.scheduled("INV-1", paid=True)
        assert (change.plan, change.effective_at, change.invoice_code, change.paid) == (
            "pro",
            sub.paid_through,
            "INV-1",
            True,
        )
        assert change.ordered == {"extra_user": 1}
        immediate = attrs.evolve(order, starts=ChangeStart.PAYMENT, start=None, end=None)
        with pytest.raises(ValueError):
            immediate.scheduled(None, paid=False)


def test_orders_round_trip_as_a_tagged_union(growth: Account) -> None:
    from subkit.serialize import from_dict, to_dict

    sub = growth.subscription
    for order in (
        TopUp(Balance.BROADCAST, idr(10_000)),
        Renewal(
            "growth", Interval.MONTHLY, {}, sub.paid_through, sub.paid_through, PricedOn.of(sub)
        ),
    ):
        data = to_dict(order)
        assert data["kind"] == order.kind
        from subkit.orders import Order

        assert from_dict(Order, data) == order  # type: ignore[arg-type]


def test_apply_payment_of_a_paid_event_for_another_account_invoice_is_its_own(
    billing: Billing, account: str
) -> None:
    """A payment event names its invoice; the account comes from the invoice, never the event."""
    billing.open_account("other")
    billing.set_billing_profile("other", PROFILE)
    checkout = billing.top_up("other", "conversation", 10_000)
    assert checkout.invoice is not None
    billing.apply_payment(
        PaymentEvent(checkout.invoice.code, PaymentStatus.PAID, "r", checkout.invoice.total)
    )
    assert (
        billing.balances("other").conversation.amount
        > billing.balances(account).conversation.amount
    )
