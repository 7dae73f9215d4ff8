"""SPEC 19: the page's extra calls: billing_profile, pay_invoice, cancel_invoice, resume_addon
(and lifecycle.resume_addon, the pure rule behind the last)."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import PROFILE, START
from stores import ALL_STORES
from subkit import lifecycle
from subkit.errors import (
    AccountNotFound,
    AddOnNotHeld,
    InvalidQuantity,
    InvalidTransition,
    InvoiceNotFound,
    UnknownAddOn,
)
from subkit.events import AddOnResumed
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.plans import Catalogue
from subkit.service import Billing, Checkout, PaymentEvent
from subkit.subscription import AddOnEventKind, AddOnStop, Subscription
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink

pytestmark = ALL_STORES


def pay(billing: Billing, checkout: Checkout) -> str:
    assert checkout.invoice is not None
    invoice = checkout.invoice
    billing.apply_payment(PaymentEvent(invoice.code, PaymentStatus.PAID, "ref", invoice.total))
    return invoice.code


def snapshot(billing: Billing, account: str) -> tuple[object, ...]:
    return (
        billing.subscription(account),
        billing.addon_history(account),
        billing.invoices(account).items,
        billing.balances(account),
    )


# -- billing_profile --------------------------------------------------------------------------


def test_billing_profile_is_none_until_set_then_the_profile(billing: Billing) -> None:
    billing.open_account("acme")
    assert billing.billing_profile("acme") is None
    billing.set_billing_profile("acme", PROFILE)
    assert billing.billing_profile("acme") == PROFILE


def test_billing_profile_of_an_unknown_account_is_refused(billing: Billing) -> None:
    with pytest.raises(AccountNotFound):
        billing.billing_profile("nobody")


# -- pay_invoice ------------------------------------------------------------------------------


def test_pay_invoice_opens_one_session_and_reuses_it_while_valid(
    billing: Billing, account: str, gateway: FakeGateway
) -> None:
    checkout = billing.change_plan(account, "growth", idempotency_key="order-1")
    assert checkout.invoice is not None and checkout.payment is not None
    again = billing.pay_invoice(account, checkout.invoice.code)
    twice = billing.pay_invoice(account, checkout.invoice.code)
    assert again.payment == twice.payment == checkout.payment  # the invoice keeps it (R-GW-4)
    assert again.invoice == billing.invoice(account, checkout.invoice.code)
    assert len(gateway.requests) == 1


def test_pay_invoice_reuses_its_own_session(
    billing: Billing, account: str, gateway: FakeGateway
) -> None:
    """A checkout without a key: its session is kept on the invoice and handed out again."""
    checkout = billing.top_up(account, "conversation", 50_000)
    assert checkout.invoice is not None
    first = billing.pay_invoice(account, checkout.invoice.code)
    assert first.payment == checkout.payment
    assert billing.pay_invoice(account, checkout.invoice.code).payment == first.payment
    assert len(gateway.requests) == 1


def test_pay_invoice_opens_a_session_when_the_checkout_got_none(
    billing: Billing, account: str, gateway: FakeGateway
) -> None:
    gateway.fail_next = RuntimeError("gateway down")
    with pytest.raises(RuntimeError):
        billing.top_up(account, "conversation", 50_000)
    pending = billing.invoices(account, status="pending").items
    assert len(pending) == 1
    checkout = billing.pay_invoice(account, pending[0].code)
    assert checkout.payment is not None
    assert gateway.requests[-1].invoice_code == pending[0].code
    assert gateway.requests[-1].amount == pending[0].total
    assert billing.pay_invoice(account, pending[0].code).payment == checkout.payment
    assert len(gateway.requests) == 1


def test_pay_invoice_makes_a_new_session_after_the_old_one_expired(
    catalogue: Catalogue, store: InMemoryStore, clock: FixedClock, sink: RecordingSink
) -> None:
    class ShortSessions(FakeGateway):
        def create_payment(self, request):  # type: ignore[no-untyped-def]
            session = super().create_payment(request)
            return attrs.evolve(session, expires_at=clock.now() + timedelta(minutes=30))

    gateway = ShortSessions()
    billing = Billing(catalogue, store, gateway, clock=clock, events=sink)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    first = billing.top_up("acme", "conversation", 50_000)
    assert first.invoice is not None and first.payment is not None
    clock.advance(timedelta(minutes=31))
    second = billing.pay_invoice("acme", first.invoice.code)
    assert second.payment is not None and second.payment != first.payment
    assert len(gateway.requests) == 2


@pytest.mark.parametrize("outcome", [PaymentStatus.PAID, PaymentStatus.FAILED])
def test_pay_invoice_refuses_an_invoice_that_is_not_pending(
    billing: Billing, account: str, gateway: FakeGateway, outcome: PaymentStatus
) -> None:
    checkout = billing.top_up(account, "conversation", 50_000)
    assert checkout.invoice is not None
    billing.apply_payment(
        PaymentEvent(checkout.invoice.code, outcome, "ref", checkout.invoice.total)
    )
    before = snapshot(billing, account)
    with pytest.raises(InvalidTransition) as refused:
        billing.pay_invoice(account, checkout.invoice.code)
    assert refused.value.code == "invalid_transition"
    assert refused.value.current == InvoiceStatus(str(outcome))  # type: ignore[attr-defined]
    assert snapshot(billing, account) == before
    assert len(gateway.requests) == 1


def test_pay_invoice_of_another_account_is_not_found(
    billing: Billing, account: str, gateway: FakeGateway
) -> None:
    billing.open_account("other")
    checkout = billing.top_up(account, "conversation", 50_000)
    assert checkout.invoice is not None
    with pytest.raises(InvoiceNotFound):
        billing.pay_invoice("other", checkout.invoice.code)
    with pytest.raises(InvoiceNotFound):
        billing.pay_invoice(account, "INV-NOPE")
    assert len(gateway.requests) == 1


# -- cancel_invoice ---------------------------------------------------------------------------


def test_cancel_invoice_cancels_and_drops_a_scheduled_change(
    billing: Billing, account: str, sink: RecordingSink
) -> None:
    pay(billing, billing.change_plan(account, "growth"))
    change = billing.change_plan(account, "pro", interval="annual")
    assert change.invoice is not None
    code = change.invoice.code
    scheduled = billing.subscription(account).scheduled_change
    assert scheduled is not None and scheduled.invoice_code == code
    cancelled = billing.cancel_invoice(account, code)
    assert cancelled.status is InvoiceStatus.CANCELLED
    assert billing.invoice(account, code).status is InvoiceStatus.CANCELLED
    assert billing.subscription(account).scheduled_change is None
    assert billing.subscription(account).plan == "growth"
    assert sink.names()[-1] == "invoice.cancelled"


def test_cancel_invoice_drops_a_renewal_so_it_can_be_bought_again(
    billing: Billing, account: str
) -> None:
    pay(billing, billing.change_plan(account, "growth"))
    renewal = billing.renew(account)
    assert renewal.invoice is not None
    assert billing.subscription(account).renewal_invoice == renewal.invoice.code
    billing.cancel_invoice(account, renewal.invoice.code)
    assert billing.subscription(account).renewal_invoice is None
    again = billing.renew(account)
    assert again.invoice is not None and again.invoice.code != renewal.invoice.code


def test_cancel_invoice_twice_is_the_same_cancelled_invoice(
    billing: Billing, account: str, sink: RecordingSink, gateway: FakeGateway
) -> None:
    checkout = billing.top_up(account, "conversation", 50_000)
    assert checkout.invoice is not None
    first = billing.cancel_invoice(account, checkout.invoice.code)
    assert checkout.payment is not None  # the gateway is asked to cancel it (R-GW-4)
    assert gateway.cancelled == [(checkout.invoice.code, checkout.payment.reference)]
    events = len(sink.events)
    second = billing.cancel_invoice(account, checkout.invoice.code)
    assert first == second
    assert len(sink.events) == events
    assert len(gateway.cancelled) == 1


def test_a_late_payment_for_a_cancelled_top_up_still_applies(
    billing: Billing, account: str
) -> None:
    """R-INV-5: money received is never lost, even after the customer cancelled."""
    checkout = billing.top_up(account, "conversation", 50_000)
    assert checkout.invoice is not None
    billing.cancel_invoice(account, checkout.invoice.code)
    before = billing.balances(account).conversation
    paid = billing.apply_payment(
        PaymentEvent(checkout.invoice.code, PaymentStatus.PAID, "late", checkout.invoice.total)
    )
    assert paid.status is InvoiceStatus.PAID
    assert billing.balances(account).conversation.amount == before.amount + 50_000


def test_cancel_invoice_refuses_a_paid_invoice_and_another_accounts(
    billing: Billing, account: str
) -> None:
    billing.open_account("other")
    code = pay(billing, billing.top_up(account, "conversation", 50_000))
    before = snapshot(billing, account)
    with pytest.raises(InvalidTransition):
        billing.cancel_invoice(account, code)
    with pytest.raises(InvoiceNotFound):
        billing.cancel_invoice("other", code)
    assert snapshot(billing, account) == before
    assert billing.invoice(account, code).status is InvoiceStatus.PAID


# -- resume_addon -----------------------------------------------------------------------------


@pytest.fixture
def stopped(billing: Billing, account: str) -> str:
    """acme on Growth with 3 extra users, 2 of them stopping."""
    pay(billing, billing.change_plan(account, "growth", addons={"extra_user": 3}))
    billing.stop_addon(account, "extra_user", quantity=2)
    return account


def test_resume_addon_holds_and_renews_the_units_again(
    billing: Billing, stopped: str, sink: RecordingSink
) -> None:
    held = billing.resume_addon(stopped, "extra_user", quantity=1)
    assert (held.quantity, held.stopping) == (3, 1)
    assert billing.subscription(stopped).renewing_addons() == {"extra_user": 2}
    history = billing.addon_history(stopped)
    assert (history[-1].kind, history[-1].quantity) == (AddOnEventKind.RESUMED, 1)
    assert sink.names()[-1] == "addon.resumed"
    assert sink.events[-1].typed_facts() == AddOnResumed("extra_user", 1)
    held = billing.resume_addon(stopped, "extra_user")
    assert (held.quantity, held.stopping, held.stops) == (3, 0, ())
    quote = billing.quote_renewal(stopped)
    assert [line.quantity for line in quote.lines if "user" in line.description.lower()] == [3]


def test_resumed_units_do_not_end_at_the_period_end(
    billing: Billing, stopped: str, clock: FixedClock
) -> None:
    billing.resume_addon(stopped, "extra_user")
    pay(billing, billing.renew(stopped))
    clock.set(START + timedelta(days=45))
    billing.advance()
    assert billing.subscription(stopped).addons == {"extra_user": 3}


def test_resume_addon_drops_a_renewal_priced_without_the_units(
    billing: Billing, stopped: str
) -> None:
    renewal = billing.renew(stopped)
    assert renewal.invoice is not None
    billing.resume_addon(stopped, "extra_user")
    assert billing.invoice(stopped, renewal.invoice.code).status is InvoiceStatus.CANCELLED
    assert billing.subscription(stopped).renewal_invoice is None


@pytest.mark.parametrize(
    ("addon", "quantity", "error"),
    [
        ("extra_user", 3, AddOnNotHeld),  # only 2 stopping
        ("extra_user", 0, InvalidQuantity),  # not a count: bad input, whatever is stopping
        ("extra_user", -1, InvalidQuantity),
        ("extra_user", True, InvalidQuantity),
        ("extra_contact", None, AddOnNotHeld),  # nothing of it stopping
        ("no_such_addon", None, UnknownAddOn),
    ],
)
def test_resume_addon_refusals_change_nothing(
    billing: Billing, stopped: str, addon: str, quantity: int | None, error: type[Exception]
) -> None:
    before = snapshot(billing, stopped)
    with pytest.raises(error):
        billing.resume_addon(stopped, addon, quantity=quantity)
    assert snapshot(billing, stopped) == before


def test_resume_addon_with_nothing_stopping_is_refused(billing: Billing, account: str) -> None:
    pay(billing, billing.change_plan(account, "growth", addons={"extra_user": 1}))
    with pytest.raises(AddOnNotHeld) as refused:
        billing.resume_addon(account, "extra_user")
    assert refused.value.code == "addon_not_held"


# -- the pure rule ----------------------------------------------------------------------------


@given(
    stops=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4),
    data=st.data(),
)
def test_resume_then_stop_totals_are_conserved(stops: list[int], data: st.DataObject) -> None:
    """Resuming k units lowers what is stopping by exactly k and never the units held; units
    stopping at an earlier end (already left out of a paid period) are never resumed."""
    catalogue = Catalogue.default()
    sub = _growth(catalogue, held=sum(stops) + 1)
    end = sub.paid_through
    earlier = AddOnStop("extra_user", 1, end - timedelta(days=30))
    sub = attrs.evolve(sub, stops=(earlier, *(AddOnStop("extra_user", q, end) for q in stops)))
    wanted = data.draw(st.integers(min_value=1, max_value=sum(stops)))
    after, event = lifecycle.resume_addon(sub, catalogue, "extra_user", wanted, START)
    assert after.addons == sub.addons
    assert after.stopping["extra_user"] == sub.stopping["extra_user"] - wanted
    assert earlier in after.stops
    assert (event.kind, event.quantity, event.at) == (AddOnEventKind.RESUMED, wanted, START)
    with pytest.raises(AddOnNotHeld):
        lifecycle.resume_addon(sub, catalogue, "extra_user", sum(stops) + 1, START)


def test_resume_undoes_the_latest_stop_first() -> None:
    catalogue = Catalogue.default()
    sub = _growth(catalogue, held=5)
    end = sub.paid_through
    first, second = AddOnStop("extra_user", 2, end), AddOnStop("extra_user", 2, end)
    sub = attrs.evolve(sub, stops=(first, second))
    after, _ = lifecycle.resume_addon(sub, catalogue, "extra_user", 3, START)
    assert after.stops == (AddOnStop("extra_user", 1, end),)


def _growth(catalogue: Catalogue, *, held: int) -> Subscription:
    store, clock = InMemoryStore(), FixedClock(START)
    billing = Billing(catalogue, store, FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    pay(billing, billing.change_plan("acme", "growth"))
    return attrs.evolve(billing.subscription("acme"), addons={"extra_user": held})
