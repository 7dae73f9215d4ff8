"""R-GW-3 and R-GW-4 through the facade: reconcile lost webhooks, cancel dead sessions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from conftest import PROFILE, START
from helpers import idr
from stores import ALL_STORES
from subkit.errors import GatewayError, InvalidArgument
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent, PaymentSession
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from test_gateway_xendit import Recorder, fixture
from test_gateway_xendit import gateway as xendit

pytestmark = ALL_STORES


def paid(code: str, amount: int, reference: str = "PAY-000001") -> PaymentEvent:
    return PaymentEvent(code, PaymentStatus.PAID, reference, idr(amount), f"{reference}:paid")


class TestInvoiceKeepsItsSession:
    def test_the_session_is_saved_on_the_invoice(self, billing: Billing, account: str) -> None:
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None and checkout.payment is not None
        assert checkout.invoice.payment == checkout.payment
        stored = billing.invoice(account, checkout.invoice.code)
        assert stored == checkout.invoice
        assert stored.payment == PaymentSession(
            f"https://pay.invalid/checkout/{stored.code}", "PAY-000001", stored.expires_at
        )


class TestReconcile:
    def test_a_lost_webhook_is_found_and_applied(
        self, billing: Billing, account: str, gateway: FakeGateway, clock: FixedClock
    ) -> None:
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None
        code = checkout.invoice.code
        gateway.statuses[code] = paid(code, 50_000)
        # Too young: a webhook may still come.
        assert billing.reconcile().counts == {}
        assert gateway.status_calls == []
        clock.advance(timedelta(minutes=16))
        report = billing.reconcile()
        assert report.counts == {"checked": 1, "paid": 1}
        assert report.accounts == (account,)
        assert report.until == clock.now()
        assert gateway.status_calls == [(code, "PAY-000001")]  # asked by the session's reference
        assert billing.invoice(account, code).status is InvoiceStatus.PAID
        assert billing.balances(account).conversation == idr(15_000 + 50_000)
        # Paid invoices are no longer asked about; a second run changes nothing.
        assert billing.reconcile().counts == {}
        assert billing.balances(account).conversation == idr(15_000 + 50_000)

    def test_nothing_final_errors_and_refusals_are_counted_and_do_not_stop_the_run(
        self, billing: Billing, account: str, gateway: FakeGateway, clock: FixedClock
    ) -> None:
        codes = []
        for _ in range(3):
            checkout = billing.top_up(account, "conversation", 50_000)
            assert checkout.invoice is not None
            codes.append(checkout.invoice.code)
        gateway.statuses[codes[1]] = paid(codes[1], 1)  # a wrong amount: refused
        gateway.statuses[codes[2]] = paid(codes[2], 50_000, "PAY-000003")
        gateway.fail_status = GatewayError("down", status=None)  # the first call fails
        clock.advance(timedelta(hours=1))
        report = billing.reconcile()
        assert report.counts == {"checked": 3, "errors": 1, "refused": 1, "paid": 1}
        statuses = [billing.invoice(account, c).status for c in codes]
        assert statuses == [InvoiceStatus.PENDING, InvoiceStatus.PENDING, InvoiceStatus.PAID]
        # The next run asks again about the ones still pending.
        report = billing.reconcile()
        assert report.counts == {"checked": 2, "unchanged": 1, "refused": 1}

    def test_limit_and_older_than(
        self, billing: Billing, account: str, gateway: FakeGateway, clock: FixedClock
    ) -> None:
        for _ in range(3):
            billing.top_up(account, "conversation", 50_000)
            clock.advance(timedelta(minutes=10))
        assert billing.reconcile(limit=2).counts == {"checked": 2, "unchanged": 2}
        assert billing.reconcile(older_than=timedelta(0)).counts["checked"] == 3
        assert billing.reconcile(older_than=timedelta(minutes=25)).counts["checked"] == 1
        for bad in ({"limit": 0}, {"limit": True}, {"older_than": timedelta(minutes=-1)}):
            with pytest.raises(InvalidArgument):
                billing.reconcile(**bad)  # type: ignore[arg-type]

    def test_older_than_reaching_year_1_is_nothing_old_and_beyond_is_refused(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-ERR: a cutoff before year 1 was a raw OverflowError; now InvalidArgument naming
        ``older_than``. The oldest cutoff that exists reads fine on every store."""
        billing.top_up(account, "conversation", 50_000)
        clock.advance(timedelta(hours=1))
        oldest = clock.now() - datetime(1, 1, 2, tzinfo=UTC)
        assert billing.reconcile(older_than=oldest).counts == {}
        for huge in (oldest + timedelta(days=2), timedelta.max):
            with pytest.raises(InvalidArgument) as refused:
                billing.reconcile(older_than=huge)
            assert (refused.value.code, refused.value.argument) == (
                "invalid_argument",
                "older_than",
            )
        assert billing.reconcile().counts == {"checked": 1, "unchanged": 1}

    def test_a_gateway_without_status_is_skipped(self, account: str) -> None:
        class PlainGateway:
            def create_payment(self, request: object) -> PaymentSession:
                return PaymentSession("https://pay.invalid/x", "X", START + timedelta(days=1))

        clock = FixedClock(START)
        billing = Billing(Catalogue.default(), InMemoryStore(), PlainGateway(), clock=clock)
        billing.open_account("acme")
        billing.set_billing_profile("acme", PROFILE)
        billing.top_up("acme", "conversation", 50_000)
        clock.advance(timedelta(hours=1))
        report = billing.reconcile()
        assert (report.accounts, report.counts) == ((), {})

    def test_through_the_xendit_adapter(self) -> None:
        """Reconcile asks Xendit by the invoice id the session saved, and applies PAID."""
        recorder = Recorder(httpx.Response(200, json=fixture("invoice_create_response")))
        clock = FixedClock(START)
        billing = Billing(Catalogue.default(), InMemoryStore(), xendit(recorder), clock=clock)
        billing.open_account("acme")
        billing.set_billing_profile("acme", PROFILE)
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        answer = {**fixture("invoice_callback_paid"), "external_id": checkout.invoice.code}
        answer.update(amount=50_000, paid_amount=50_000)
        recorder.answers.append(httpx.Response(200, json=answer))
        clock.advance(timedelta(minutes=20))
        assert billing.reconcile().counts == {"checked": 1, "paid": 1}
        assert recorder.requests[-1].url.path == "/v2/invoices/579c8d61f23fa4ca35e52da4"
        assert billing.invoice("acme", checkout.invoice.code).status is InvoiceStatus.PAID


class TestDeadSessionsAreCancelled:
    def test_an_expired_invoice_s_session_is_cancelled_after_the_commit(
        self, billing: Billing, account: str, gateway: FakeGateway, clock: FixedClock
    ) -> None:
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None
        clock.advance(timedelta(hours=25))
        billing.advance()
        assert billing.invoice(account, checkout.invoice.code).status is InvoiceStatus.EXPIRED
        assert gateway.cancelled == [(checkout.invoice.code, "PAY-000001")]
        billing.advance()
        assert len(gateway.cancelled) == 1  # once

    def test_a_replaced_invoice_s_session_is_cancelled(
        self, billing: Billing, account: str, gateway: FakeGateway
    ) -> None:
        growth = billing.change_plan(account, "growth").invoice
        assert growth is not None
        billing.apply_payment(paid(growth.code, growth.total.amount))
        first = billing.change_plan(account, "pro").invoice
        second = billing.change_plan(account, "pro", interval="annual").invoice
        assert first is not None and second is not None
        assert billing.invoice(account, first.code).status is InvoiceStatus.CANCELLED
        assert gateway.cancelled == [(first.code, "PAY-000002")]

    def test_a_failing_cancel_does_not_fail_the_call(
        self,
        billing: Billing,
        account: str,
        gateway: FakeGateway,
        clock: FixedClock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None
        gateway.fail_cancel = GatewayError("down", status=503)
        clock.advance(timedelta(hours=25))
        with caplog.at_level(logging.WARNING, logger="subkit.billing"):
            billing.advance()
        assert billing.invoice(account, checkout.invoice.code).status is InvoiceStatus.EXPIRED
        assert gateway.cancelled == []
        assert "could not cancel the payment of " + checkout.invoice.code in caplog.text
        # Paid anyway at the gateway: R-INV-5 still applies the money.
        invoice = billing.apply_payment(paid(checkout.invoice.code, 50_000))
        assert invoice.status is InvoiceStatus.PAID
