"""The Billing facade: checkout, invoices and payments (R-INV-1..6, R-INV-9, R-TIME, R-ERR)."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FREE_GRANT, PROFILE, START, idr, pay
from stores import ALL_STORES, contents
from subkit.errors import (
    BillingProfileRequired,
    IdempotencyConflict,
    InvalidTime,
    InvalidTransition,
    InvoiceNotFound,
    PaymentAmountMismatch,
    SubkitError,
    TopUpOutOfRange,
)
from subkit.invoice import (
    TRANSITIONS,
    BillingProfile,
    Effect,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    PaymentStatus,
    move,
)
from subkit.plans import Catalogue
from subkit.ports import Store
from subkit.service import Billing, PaymentEvent
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink
from subkit.wallet import Balance

pytestmark = ALL_STORES

CODE = re.compile(r"^INV-\d{6}-\d{6}$")


def conversation(billing: Billing, account: str) -> int:
    return billing.balances(account).conversation.amount


# -- checkout ----------------------------------------------------------------------------------


class TestCheckout:
    def test_top_up_creates_a_pending_invoice_and_a_gateway_request(
        self, billing: Billing, account: str, gateway: FakeGateway, sink: RecordingSink
    ) -> None:
        """R-INV-1, R-INV-2: one pending invoice, one payment session for its total."""
        checkout = billing.top_up(account, "conversation", 50_000)

        invoice = checkout.invoice
        assert invoice is not None
        assert invoice.code == "INV-202601-000001"
        assert invoice.account_id == account
        assert invoice.type is InvoiceType.TOP_UP
        assert invoice.status is InvoiceStatus.PENDING
        assert invoice.requested_at == START
        assert invoice.total == invoice.subtotal == idr(50_000)
        assert invoice.tax == idr(0)
        assert [(ln.quantity, ln.unit_price, ln.amount) for ln in invoice.lines] == [
            (1, idr(50_000), idr(50_000))
        ]
        assert invoice.paid_at is None and invoice.reference is None
        assert invoice.billing_profile == PROFILE

        [request] = gateway.requests
        assert request.invoice_code == invoice.code
        assert request.account_id == account
        assert request.amount == idr(50_000)
        assert request.description == invoice.package
        assert request.expires_at == START + timedelta(hours=24)
        assert request.billing_profile == PROFILE
        assert checkout.payment is not None
        assert checkout.payment.redirect_url.endswith(invoice.code)

        assert billing.invoices(account).items == (invoice,)
        assert sink.names()[-1] == "invoice.created"
        assert sink.events[-1].facts["invoice_code"] == invoice.code
        # Nothing is credited before the payment (R-BAL-6).
        assert conversation(billing, account) == FREE_GRANT

    def test_codes_are_gapless_across_accounts_and_months(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-INV-2: one sequence for the store, never reset; month in the catalogue's zone."""
        billing.open_account("beta")
        billing.set_billing_profile("beta", BillingProfile("Beta", "b@beta.id"))
        codes = [billing.top_up(account, "conversation", 10_000).invoice]
        # Refused checkouts take no number.
        with pytest.raises(TopUpOutOfRange):
            billing.top_up("beta", "conversation", 5_000)
        billing.open_account("gamma")
        with pytest.raises(BillingProfileRequired):
            billing.top_up("gamma", "conversation", 10_000)
        codes.append(billing.top_up("beta", "broadcast", 10_000).invoice)
        # 2026-01-31 20:00 UTC is already February 1 in Jakarta.
        clock.set(datetime(2026, 1, 31, 20, 0, tzinfo=UTC))
        codes.append(billing.top_up(account, "conversation", 10_000).invoice)
        clock.advance(timedelta(days=40))
        codes.append(billing.top_up("beta", "conversation", 10_000).invoice)
        assert [invoice.code for invoice in codes if invoice] == [
            "INV-202601-000001",
            "INV-202601-000002",
            "INV-202602-000003",
            "INV-202603-000004",
        ]

    def test_code_is_safe_as_a_gateway_order_id(self, billing: Billing, account: str) -> None:
        """R-INV-2: letters, digits and '-', at most 50 characters."""
        invoice = billing.top_up(account, "conversation", 10_000).invoice
        assert invoice is not None
        assert CODE.match(invoice.code)
        assert re.fullmatch(r"[A-Za-z0-9-]{1,50}", invoice.code)

    def test_billing_profile_is_required_before_checkout(
        self, billing: Billing, store: Store, gateway: FakeGateway
    ) -> None:
        """R-INV-9, R-ERR: no profile, no invoice, no gateway call, nothing stored."""
        billing.open_account("noprofile")
        with pytest.raises(BillingProfileRequired) as caught:
            billing.top_up("noprofile", "conversation", 10_000, idempotency_key="k")
        assert caught.value.code == "billing_profile_required"
        assert isinstance(caught.value, SubkitError)
        assert billing.invoices("noprofile").items == ()
        assert gateway.requests == []
        assert contents(store)["sequence"] == 0
        assert contents(store)["records"] == []
        # After setting a profile the same key is free to use.
        billing.set_billing_profile("noprofile", PROFILE)
        checkout = billing.top_up("noprofile", "conversation", 10_000, idempotency_key="k")
        assert checkout.invoice is not None

    def test_no_profile_needed_when_the_policy_says_so(
        self, catalogue: Catalogue, store: Store, gateway: FakeGateway, clock: FixedClock
    ) -> None:
        """R-CAT-6 ``require_billing_profile = false``: checkout without a profile."""
        relaxed = attrs.evolve(
            catalogue, policy=attrs.evolve(catalogue.policy, require_billing_profile=False)
        )
        billing = Billing(relaxed, store, gateway, clock=clock)
        billing.open_account("acme")
        checkout = billing.top_up("acme", "conversation", 10_000)
        assert checkout.invoice is not None
        assert checkout.invoice.billing_profile is None
        assert gateway.requests[0].billing_profile is None

    def test_profile_is_copied_onto_the_invoice_at_creation(
        self, billing: Billing, account: str
    ) -> None:
        """R-INV-9: a later profile change does not alter earlier invoices."""
        first = billing.top_up(account, "conversation", 10_000).invoice
        moved = BillingProfile("PT Acme Baru", "finance@acme.id", "Jl. Thamrin 2", None)
        billing.set_billing_profile(account, moved)
        second = billing.top_up(account, "conversation", 10_000).invoice
        assert first is not None and second is not None
        assert billing.invoice(account, first.code).billing_profile == PROFILE
        assert billing.invoice(account, second.code).billing_profile == moved

    def test_same_idempotency_key_returns_the_same_checkout(
        self, billing: Billing, account: str, gateway: FakeGateway, store: Store
    ) -> None:
        """R-INV-1: a replayed checkout creates no second invoice and no second session."""
        first = billing.top_up(account, "conversation", 50_000, idempotency_key="order-1")
        again = billing.top_up(
            account, Balance.CONVERSATION, idr(50_000), idempotency_key="order-1"
        )
        assert again == first
        assert len(billing.invoices(account).items) == 1
        assert len(gateway.requests) == 1
        assert contents(store)["sequence"] == 1

    def test_same_key_with_other_arguments_conflicts(
        self, billing: Billing, account: str, store: Store
    ) -> None:
        """R-BAL-5 for checkouts: IdempotencyConflict, nothing created."""
        billing.top_up(account, "conversation", 50_000, idempotency_key="order-1")
        with pytest.raises(IdempotencyConflict) as caught:
            billing.top_up(account, "conversation", 60_000, idempotency_key="order-1")
        assert caught.value.code == "idempotency_conflict"
        with pytest.raises(IdempotencyConflict):
            billing.top_up(account, "broadcast", 50_000, idempotency_key="order-1")
        assert len(billing.invoices(account).items) == 1
        assert contents(store)["sequence"] == 1

    def test_checkout_keys_are_scoped_per_account(self, billing: Billing, account: str) -> None:
        """R-BAL-5: another account may use the same key for its own checkout."""
        billing.open_account("beta")
        billing.set_billing_profile("beta", PROFILE)
        mine = billing.top_up(account, "conversation", 50_000, idempotency_key="order-1")
        theirs = billing.top_up("beta", "conversation", 60_000, idempotency_key="order-1")
        assert mine.invoice is not None and theirs.invoice is not None
        assert theirs.invoice.code != mine.invoice.code
        assert theirs.invoice.account_id == "beta"

    def test_gateway_error_leaves_a_pending_invoice_and_a_retry_completes_it(
        self, billing: Billing, account: str, gateway: FakeGateway, store: Store
    ) -> None:
        """R-INV-1, gateway down: the invoice is kept; a retry with the key gets a session."""
        gateway.fail_next = ConnectionError("gateway down")
        with pytest.raises(ConnectionError):
            billing.top_up(account, "conversation", 50_000, idempotency_key="order-1")
        [pending] = billing.invoices(account).items
        assert pending.status is InvoiceStatus.PENDING

        retried = billing.top_up(account, "conversation", 50_000, idempotency_key="order-1")
        assert retried.payment is not None
        # The same invoice, now keeping its session (R-GW-4).
        assert retried.invoice == attrs.evolve(
            pending, payment=retried.payment, version=pending.version + 1
        )
        assert [r.invoice_code for r in gateway.requests] == [pending.code]
        assert contents(store)["sequence"] == 1
        # The session is remembered: a third call asks the gateway nothing more.
        assert billing.top_up(account, "conversation", 50_000, idempotency_key="order-1") == retried
        assert len(gateway.requests) == 1

    def test_top_up_out_of_range_names_the_limits(self, billing: Billing, account: str) -> None:
        """R-BAL-6, R-ERR: the error carries the minimum and maximum."""
        with pytest.raises(TopUpOutOfRange) as caught:
            billing.top_up(account, "broadcast", 5_000_001)
        assert caught.value.minimum == idr(10_000)
        assert caught.value.maximum == idr(5_000_000)
        assert billing.invoices(account).items == ()


# -- payments ----------------------------------------------------------------------------------


class TestPayments:
    def test_payment_applies_the_top_up_once(
        self, billing: Billing, account: str, sink: RecordingSink
    ) -> None:
        """R-INV-4, R-INV-6: paid, applied, credited in the same transaction."""
        checkout = billing.top_up(account, "conversation", 50_000)
        invoice = pay(billing, checkout, "GW-1", event_id="evt-1")
        assert invoice.status is InvoiceStatus.PAID
        assert invoice.effect is Effect.APPLIED
        assert invoice.paid_at == START
        assert invoice.reference == "GW-1"
        assert billing.invoice(account, invoice.code) == invoice
        assert conversation(billing, account) == FREE_GRANT + 50_000
        assert sink.names()[-2:] == ["invoice.paid", "balance.topped_up"]
        [entry] = billing.topup_history(account).items
        assert entry.invoice_code == invoice.code
        assert entry.amount == idr(50_000)

    @pytest.mark.parametrize("event_id", [None, "evt-1"])
    def test_same_event_twice_changes_nothing(
        self, billing: Billing, account: str, sink: RecordingSink, event_id: str | None
    ) -> None:
        """R-INV-4: the entry point is idempotent, with or without an event id."""
        checkout = billing.top_up(account, "conversation", 50_000)
        first = pay(billing, checkout, "GW-1", event_id=event_id)
        published = len(sink.events)
        second = pay(billing, checkout, "GW-1", event_id=event_id)
        assert second == first
        assert conversation(billing, account) == FREE_GRANT + 50_000
        assert len(sink.events) == published

    def test_a_second_payment_with_another_reference_is_a_duplicate(
        self, billing: Billing, account: str, sink: RecordingSink
    ) -> None:
        """R-INV-4: double payment recorded and raised to the host, never applied twice."""
        checkout = billing.top_up(account, "conversation", 50_000)
        pay(billing, checkout, "GW-1")
        invoice = pay(billing, checkout, "GW-2")
        assert invoice.status is InvoiceStatus.PAID
        assert invoice.reference == "GW-1"
        assert invoice.extra_payments == ("GW-2",)
        assert sink.names()[-1] == "payment.duplicate"
        assert sink.events[-1].facts == {
            "invoice_code": invoice.code,
            "reference": "GW-2",
            "amount": {"amount": 50_000, "currency": "IDR"},
        }
        # The same duplicate again is not recorded twice.
        assert pay(billing, checkout, "GW-2") == invoice
        assert sink.names().count("payment.duplicate") == 1
        assert conversation(billing, account) == FREE_GRANT + 50_000
        assert len(billing.topup_history(account).items) == 1

    def test_amount_mismatch_is_refused_and_the_invoice_stays_pending(
        self, billing: Billing, account: str, sink: RecordingSink
    ) -> None:
        """R-INV-4: PaymentAmountMismatch with both amounts; nothing credited."""
        checkout = billing.top_up(account, "conversation", 50_000)
        published = len(sink.events)
        with pytest.raises(PaymentAmountMismatch) as caught:
            pay(billing, checkout, "GW-1", amount=idr(40_000), event_id="evt-1")
        assert caught.value.code == "payment_amount_mismatch"
        assert caught.value.expected == idr(50_000)
        assert caught.value.received == idr(40_000)
        assert checkout.invoice is not None
        assert billing.invoice(account, checkout.invoice.code).status is InvoiceStatus.PENDING
        assert conversation(billing, account) == FREE_GRANT
        assert len(sink.events) == published
        # The refused event's id is not remembered: the correct payment still goes through.
        assert pay(billing, checkout, "GW-1", event_id="evt-1").status is InvoiceStatus.PAID

    def test_payment_amount_may_be_an_int(self, billing: Billing, account: str) -> None:
        """R-ERR: amount arguments accept an int in the catalogue's currency."""
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None
        event = PaymentEvent(checkout.invoice.code, PaymentStatus.PAID, "GW-1", 50_000)  # type: ignore[arg-type]
        assert billing.apply_payment(event).status is InvoiceStatus.PAID

    def test_late_expired_after_paid_is_ignored(self, billing: Billing, account: str) -> None:
        """R-INV-4: out-of-order events do not undo a payment."""
        checkout = billing.top_up(account, "conversation", 50_000)
        paid = pay(billing, checkout, "GW-1")
        for status in (PaymentStatus.EXPIRED, PaymentStatus.FAILED):
            assert pay(billing, checkout, "GW-1", status=status) == paid
        assert conversation(billing, account) == FREE_GRANT + 50_000

    def test_failed_then_late_paid_is_applied(
        self, billing: Billing, account: str, sink: RecordingSink
    ) -> None:
        """R-INV-5: money received is never lost."""
        checkout = billing.top_up(account, "conversation", 50_000)
        failed = pay(billing, checkout, "GW-1", status=PaymentStatus.FAILED)
        assert failed.status is InvoiceStatus.FAILED
        assert "invoice.failed" in sink.names()
        assert conversation(billing, account) == FREE_GRANT
        paid = pay(billing, checkout, "GW-2")
        assert paid.status is InvoiceStatus.PAID
        assert paid.effect is Effect.APPLIED
        assert paid.reference == "GW-2"
        assert conversation(billing, account) == FREE_GRANT + 50_000

    def test_pending_invoice_expires_through_advance_then_late_success_credits(
        self, billing: Billing, account: str, clock: FixedClock, sink: RecordingSink
    ) -> None:
        """R-INV-3, R-INV-5, R-TIME: expiry after ``payment_window_hours``, dated when due."""
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None
        code = checkout.invoice.code
        clock.advance(timedelta(hours=23, minutes=59))
        assert billing.advance().counts.get("invoice_expired", 0) == 0
        clock.advance(timedelta(hours=1))
        report = billing.advance()
        assert report.counts["invoice_expired"] == 1
        assert report.accounts == (account,)
        expired = billing.invoice(account, code)
        assert expired.status is InvoiceStatus.EXPIRED
        assert expired.status_at == START + timedelta(hours=24)
        [event] = [e for e in sink.events if e.name == "invoice.expired"]
        assert event.at == START + timedelta(hours=24)

        paid = pay(billing, checkout, "GW-1")
        assert paid.status is InvoiceStatus.PAID and paid.effect is Effect.APPLIED
        assert conversation(billing, account) == FREE_GRANT + 50_000

    def test_pending_invoice_expires_on_any_later_call(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-TIME catch-up: a read sees the expiry even when no billing run happened."""
        checkout = billing.top_up(account, "conversation", 50_000)
        assert checkout.invoice is not None
        clock.advance(timedelta(days=3))
        [listed] = billing.invoices(account).items
        assert listed.status is InvoiceStatus.EXPIRED
        assert listed.status_at == START + timedelta(hours=24)
        # The read saved nothing (R-CON-2): the run saves the very expiry the read showed.
        assert billing.advance().counts["invoice_expired"] == 1
        assert billing.invoices(account).items == (listed,)
        assert pay(billing, checkout, "GW-1").status is InvoiceStatus.PAID
        assert conversation(billing, account) == FREE_GRANT + 50_000

    def test_expiry_event_on_a_pending_invoice(self, billing: Billing, account: str) -> None:
        """R-INV-3: the gateway may expire a pending invoice itself."""
        checkout = billing.top_up(account, "conversation", 50_000)
        expired = pay(billing, checkout, "GW-1", status=PaymentStatus.EXPIRED)
        assert expired.status is InvoiceStatus.EXPIRED
        # Its account no longer waits for it: the billing run does not expire it again.
        assert billing.advance().counts == {}

    def test_refund_marks_the_invoice_and_keeps_the_balance(
        self, billing: Billing, account: str, sink: RecordingSink
    ) -> None:
        """R-INV-3: paid -> refunded publishes ``invoice.refunded``; taking back is the host's."""
        checkout = billing.top_up(account, "conversation", 50_000)
        pay(billing, checkout, "GW-1")
        refunded = pay(billing, checkout, "GW-1", status=PaymentStatus.REFUNDED)
        assert refunded.status is InvoiceStatus.REFUNDED
        assert sink.names()[-1] == "invoice.refunded"
        assert sink.events[-1].facts["invoice_code"] == refunded.code
        assert conversation(billing, account) == FREE_GRANT + 50_000
        # Refunding again, or a late paid with the same reference, changes nothing.
        published = len(sink.events)
        assert pay(billing, checkout, "GW-1", status=PaymentStatus.REFUNDED) == refunded
        assert pay(billing, checkout, "GW-1") == refunded
        assert len(sink.events) == published

    def test_refund_of_an_unpaid_invoice_is_ignored(self, billing: Billing, account: str) -> None:
        """R-INV-3: only a paid invoice can become refunded."""
        checkout = billing.top_up(account, "conversation", 50_000)
        assert pay(billing, checkout, "GW-1", status=PaymentStatus.REFUNDED).status is (
            InvoiceStatus.PENDING
        )

    def test_event_for_an_unknown_invoice(self, billing: Billing, account: str) -> None:
        """R-ERR: InvoiceNotFound."""
        with pytest.raises(InvoiceNotFound):
            billing.apply_payment(
                PaymentEvent("INV-209901-999999", PaymentStatus.PAID, "GW-1", idr(10_000))
            )

    def test_payment_time_from_the_event_is_used_but_never_in_the_future(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-INV-4: ``at`` dates the payment; a time later than the clock is capped at now."""
        first = billing.top_up(account, "conversation", 10_000)
        second = billing.top_up(account, "conversation", 10_000)
        clock.advance(timedelta(hours=2))
        early = pay(billing, first, "GW-1", at=START + timedelta(minutes=5))
        assert early.paid_at == START + timedelta(minutes=5)
        late = pay(billing, second, "GW-2", at=START + timedelta(days=2))
        assert late.paid_at == clock.now()


# -- R-INV-3 table -----------------------------------------------------------------------------

SPEC_TRANSITIONS = {
    ("pending", "paid"),
    ("pending", "failed"),
    ("pending", "expired"),
    ("pending", "cancelled"),
    ("failed", "paid"),
    ("expired", "paid"),
    ("cancelled", "paid"),
    ("paid", "refunded"),
}


def test_transitions_table_is_exactly_the_spec() -> None:
    """R-INV-3: the table lists the spec's moves and nothing else."""
    table = {(str(a), str(b)) for a, targets in TRANSITIONS.items() for b in targets}
    assert table == SPEC_TRANSITIONS
    assert set(TRANSITIONS) == set(InvoiceStatus)


@pytest.mark.parametrize(
    ("current", "target"), list(itertools.product(InvoiceStatus, InvoiceStatus))
)
def test_move_allows_only_the_spec_transitions(
    billing: Billing, account: str, current: InvoiceStatus, target: InvoiceStatus
) -> None:
    """R-INV-3: ``move`` refuses every pair the spec does not list, and changes nothing."""
    invoice = billing.top_up(account, "conversation", 10_000).invoice
    assert invoice is not None
    invoice = attrs.evolve(invoice, status=current)
    at = START + timedelta(hours=1)
    if (str(current), str(target)) in SPEC_TRANSITIONS:
        moved = move(invoice, target, at)
        assert moved.status is target
        assert moved.status_at == at
    else:
        with pytest.raises(InvalidTransition):
            move(invoice, target, at)


# -- listing and reading -----------------------------------------------------------------------


class TestInvoiceList:
    def _five(self, billing: Billing, account: str, clock: FixedClock) -> list[Invoice]:
        made = []
        for hour in range(5):
            checkout = billing.top_up(account, "conversation", 10_000 + hour)
            assert checkout.invoice is not None
            made.append(checkout.invoice)
            if hour % 2 == 0:
                made[-1] = pay(billing, checkout, f"GW-{hour}")
            clock.advance(timedelta(hours=1))
        return made

    def test_newest_first_and_filters(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-INV-8: newest first; filter by type, status and ``since <= requested_at < until``."""
        made = self._five(billing, account, clock)
        codes = [invoice.code for invoice in reversed(made)]
        assert [i.code for i in billing.invoices(account).items] == codes
        assert [i.code for i in billing.invoices(account, type="top_up").items] == codes
        assert billing.invoices(account, type=InvoiceType.RENEWAL).items == ()
        paid = billing.invoices(account, status=InvoiceStatus.PAID).items
        assert [i.code for i in paid] == [made[4].code, made[2].code, made[0].code]
        assert [i.code for i in billing.invoices(account, status="pending").items] == [
            made[3].code,
            made[1].code,
        ]
        window = billing.invoices(
            account, since=START + timedelta(hours=1), until=START + timedelta(hours=3)
        ).items
        assert [i.code for i in window] == [made[2].code, made[1].code]

    def test_paging_with_the_cursor(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-INV-8: pages of ``limit``, ``next_cursor`` None on the last one, nothing repeated."""
        made = self._five(billing, account, clock)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = billing.invoices(account, limit=2, cursor=cursor)
            pages += 1
            assert len(page.items) <= 2
            seen.extend(i.code for i in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 3
        assert seen == [invoice.code for invoice in reversed(made)]

    def test_paging_among_invoices_of_one_instant(self, billing: Billing, account: str) -> None:
        """R-INV-8: invoices created at the same instant page by creation order, stably."""
        codes = [billing.top_up(account, "conversation", 10_000).invoice for _ in range(5)]
        first = billing.invoices(account, limit=3)
        second = billing.invoices(account, limit=3, cursor=first.next_cursor)
        got = [i.code for i in (*first.items, *second.items)]
        assert got == [invoice.code for invoice in reversed(codes) if invoice]
        assert second.next_cursor is None

    def test_invoice_of_another_account_is_not_found(self, billing: Billing, account: str) -> None:
        """R-INV-8: ``invoice(account, code)`` only opens that account's own invoices."""
        invoice = billing.top_up(account, "conversation", 10_000).invoice
        assert invoice is not None
        billing.open_account("beta")
        with pytest.raises(InvoiceNotFound) as caught:
            billing.invoice("beta", invoice.code)
        assert caught.value.code == "invoice_not_found"
        assert billing.invoices("beta").items == ()
        with pytest.raises(InvoiceNotFound):
            billing.invoice(account, "INV-202601-999999")


# -- the billing run ---------------------------------------------------------------------------


class TestAdvance:
    def test_advance_later_than_the_clock_is_refused(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-TIME: InvalidTime, nothing applied."""
        with pytest.raises(InvalidTime) as caught:
            billing.advance(clock.now() + timedelta(seconds=1))
        assert caught.value.code == "invalid_time"

    def test_advance_is_idempotent(
        self, billing: Billing, account: str, clock: FixedClock, sink: RecordingSink
    ) -> None:
        """R-TIME: a second run to the same time reports and publishes nothing."""
        billing.top_up(account, "conversation", 10_000)
        clock.advance(timedelta(days=45))
        first = billing.advance()
        assert first.accounts == (account,)
        assert first.counts["invoice_expired"] == 1
        published = len(sink.events)
        second = billing.advance()
        assert second.accounts == ()
        assert second.counts == {}
        assert second.until == first.until == clock.now()
        assert len(sink.events) == published

    def test_advance_to_an_earlier_time_applies_only_what_was_due(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-TIME: ``advance(now)`` with ``now`` before the clock stops at ``now``."""
        billing.top_up(account, "conversation", 10_000)
        clock.advance(timedelta(days=2))
        report = billing.advance(START + timedelta(hours=12))
        assert report.counts == {}
        assert billing.advance(START + timedelta(hours=24)).counts == {"invoice_expired": 1}


# -- property: any order of payment events credits each paid top-up exactly once --------------

KINDS = ("paid_a", "paid_b", "failed", "expired", "refunded", "wrong_amount", "tick")
event_plans = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from(KINDS), st.booleans()), min_size=1, max_size=25
)


@settings(max_examples=60)
@given(
    amounts=st.lists(st.integers(10_000, 1_000_000), min_size=1, max_size=4),
    plan=event_plans,
)
def test_payment_events_in_any_order_credit_each_paid_top_up_once(
    amounts: list[int], plan: list[tuple[int, str, bool]]
) -> None:
    """R-INV-3..6: replays, duplicates, late and out-of-order events never credit twice."""
    clock = FixedClock(START)
    billing = Billing(Catalogue.default(), InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    invoices = []
    for amount in amounts:
        checkout = billing.top_up("acme", "conversation", amount)
        assert checkout.invoice is not None
        invoices.append(checkout.invoice)
    statuses = {PaymentStatus(s) for s in ("paid", "failed", "expired", "refunded")}
    assert statuses == set(PaymentStatus)

    for index, kind, with_id in plan:
        if kind == "tick":
            clock.advance(timedelta(hours=13))
            continue
        target = invoices[index % len(invoices)]
        before = billing.invoice("acme", target.code)
        amount = target.total
        reference = "GW-B" if kind == "paid_b" else "GW-A"
        status = {
            "paid_a": PaymentStatus.PAID,
            "paid_b": PaymentStatus.PAID,
            "wrong_amount": PaymentStatus.PAID,
            "failed": PaymentStatus.FAILED,
            "expired": PaymentStatus.EXPIRED,
            "refunded": PaymentStatus.REFUNDED,
        }[kind]
        event_id = f"{target.code}:{kind}" if with_id and kind != "wrong_amount" else None
        if kind == "wrong_amount":
            amount, reference = amount + idr(1), "GW-W"
        event = PaymentEvent(target.code, status, reference, amount, event_id=event_id)
        try:
            after = billing.apply_payment(event)
        except PaymentAmountMismatch:
            assert kind == "wrong_amount"
            assert before.status not in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED)
            after = billing.invoice("acme", target.code)
            assert after.status is before.status
        assert after == billing.invoice("acme", target.code)
        # Each step is a move R-INV-3 allows, or no move at all.
        assert after.status is before.status or after.status in TRANSITIONS[before.status]

    listed = {i.code: i for i in billing.invoices("acme", limit=10).items}
    assert set(listed) == {i.code for i in invoices}
    settled = [
        i for i in listed.values() if i.status in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED)
    ]
    credited = [e.invoice_code for e in billing.topup_history("acme", limit=50).items]
    assert sorted(credited) == sorted(i.code for i in settled)
    assert conversation(billing, "acme") == FREE_GRANT + sum(i.total.amount for i in settled)
    for invoice in listed.values():
        settled_now = invoice in settled
        assert (invoice.effect is Effect.APPLIED) == settled_now
        assert (invoice.reference in ("GW-A", "GW-B")) == settled_now
        assert invoice.reference not in invoice.extra_payments
        assert len(set(invoice.extra_payments)) == len(invoice.extra_payments)
        assert set(invoice.extra_payments) <= {"GW-A", "GW-B", "GW-W"}


def test_a_back_dated_payment_keeps_the_statement_coherent(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """R-BAL-10: read oldest first, each entry's balance_after is the running sum."""
    checkout = billing.top_up(account, "conversation", 20_000)
    clock.advance(timedelta(days=40))  # a month boundary passes before the webhook arrives
    pay(billing, checkout, "GW-1", at=START + timedelta(minutes=5))
    entries = billing.usage_history(account, balance="conversation").items
    running = 0
    for entry in reversed(entries):
        running += entry.amount.amount
        assert entry.balance_after.amount == running
