"""Bad arguments are typed refusals that change nothing; retried checkouts stay honest."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stores import ALL_STORES
from subkit import serialize
from subkit.errors import InvalidArgument, SubkitError
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.money import Money
from subkit.service import Billing, PaymentEvent
from subkit.testing import FakeGateway, FixedClock

pytestmark = ALL_STORES


class TestEnumerationArguments:
    @pytest.mark.parametrize(
        ("call", "name"),
        [
            (lambda b, a: b.usage_history(a, kind="gift"), "kind"),
            (lambda b, a: b.invoices(a, type="donation"), "type"),
            (lambda b, a: b.invoices(a, status="lost"), "status"),
        ],
    )
    def test_unknown_filter_values_are_invalid_argument(
        self, billing: Billing, account: str, call: object, name: str
    ) -> None:
        """R-ERR: an unknown filter value is InvalidArgument naming the argument, a SubkitError."""
        with pytest.raises(InvalidArgument) as caught:
            call(billing, account)  # type: ignore[operator]
        assert caught.value.argument == name
        assert isinstance(caught.value, SubkitError) and isinstance(caught.value, ValueError)
        assert caught.value.code == "invalid_argument"

    def test_unknown_payment_status_changes_nothing(self, billing: Billing, account: str) -> None:
        """R-ERR: a payment event with an unknown status is refused; the invoice stays pending."""
        checkout = billing.top_up(account, "conversation", 10_000)
        assert checkout.invoice is not None
        event = PaymentEvent(checkout.invoice.code, "settled", "ref", Money(10_000, "IDR"))  # type: ignore[arg-type]
        before = serialize.to_dict(billing.invoice(account, checkout.invoice.code))
        with pytest.raises(InvalidArgument):
            billing.apply_payment(event)
        assert serialize.to_dict(billing.invoice(account, checkout.invoice.code)) == before


class TestRetriedCheckouts:
    def test_retry_after_expiry_does_not_open_a_payment_for_a_dead_invoice(
        self, billing: Billing, account: str, gateway: FakeGateway, clock: FixedClock
    ) -> None:
        """R-INV-1: the same key returns the same checkout, with its invoice as it is now;
        an expired invoice gets no new gateway session."""
        gateway.fail_next = RuntimeError("gateway down")
        with pytest.raises(RuntimeError):
            billing.top_up(account, "conversation", 10_000, idempotency_key="k1")
        clock.advance(timedelta(hours=25))
        retried = billing.top_up(account, "conversation", 10_000, idempotency_key="k1")
        assert retried.invoice is not None
        assert retried.invoice.status is InvoiceStatus.EXPIRED
        assert retried.payment is None
        assert gateway.requests == []

    def test_replay_after_payment_shows_the_paid_invoice(
        self, billing: Billing, account: str
    ) -> None:
        """R-INV-1: replaying a paid checkout's key shows the invoice paid, not pending."""
        first = billing.top_up(account, "conversation", 10_000, idempotency_key="k2")
        assert first.invoice is not None
        billing.apply_payment(
            PaymentEvent(first.invoice.code, PaymentStatus.PAID, "r", first.invoice.total)
        )
        again = billing.top_up(account, "conversation", 10_000, idempotency_key="k2")
        assert again.invoice is not None and again.invoice.status is InvoiceStatus.PAID
        assert again.payment == first.payment


class TestTimeOrder:
    def test_a_clock_behind_the_accounts_last_change_is_refused(
        self, billing: Billing, account: str, store: object, clock: FixedClock
    ) -> None:
        """R-TIME: time never runs backwards for an account; a lagging clock (another host,
        an operator's --now) gets InvalidTime and changes nothing."""
        from subkit.errors import InvalidTime
        from subkit.testing import FakeGateway as Gateway

        clock.advance(timedelta(days=40))
        billing.charge_replies(account, key="now")
        behind = FixedClock(clock.now() - timedelta(days=30))
        lagging = Billing(billing.catalogue, billing.store, Gateway(), clock=behind)
        before = serialize.to_dict(billing.subscription(account))
        with pytest.raises(InvalidTime):
            lagging.charge_replies(account, key="then")
        assert serialize.to_dict(billing.subscription(account)) == before
        assert len(billing.usage_history(account, kind="reply").items) == 1

    def test_stopping_an_addon_not_held_says_so(self, billing: Billing, account: str) -> None:
        """R-ADD-4: AddOnNotHeld names the add-on when none of it is held."""
        from subkit.errors import AddOnNotHeld

        with pytest.raises(AddOnNotHeld, match="Additional User is not held"):
            billing.stop_addon(account, "extra_user")


class TestRequiredArguments:
    @pytest.mark.parametrize(
        ("call", "name"),
        [
            (lambda b, a: b.open_account(""), "account_id"),
            (lambda b, a: b.charge_replies(a, 1, key=""), "key"),
            (lambda b, a: b.adjust_balance(a, "conversation", 1_000, key="", reason="x"), "key"),
            (
                lambda b, a: b.adjust_balance(a, "conversation", 1_000, key="k", reason=" "),
                "reason",
            ),
            (lambda b, a: b.render_invoice(a, "INV-1", format="docx"), "format"),
            (lambda b, a: b.top_up(a, "sms", 10_000), "balance"),
        ],
    )
    def test_missing_or_unknown_arguments_are_refused_before_anything_is_written(
        self, billing: Billing, account: str, store: object, call: object, name: str
    ) -> None:
        """R-ERR: InvalidArgument names the argument, and the store is as it was."""
        before = serialize.to_dict(billing.subscription(account)), billing.balances(account)
        with pytest.raises(InvalidArgument) as caught:
            call(billing, account)  # type: ignore[operator]
        assert caught.value.argument == name
        assert (
            serialize.to_dict(billing.subscription(account)),
            billing.balances(account),
        ) == before
        assert billing.usage_history(account, kind="adjustment").items == ()
