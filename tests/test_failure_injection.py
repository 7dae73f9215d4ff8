"""A store that fails on its Nth write: every facade call is all-or-nothing (R-INV-6, R-ERR).

``FlakyStore`` wraps an ``InMemoryStore`` and raises from the Nth write made through any of
its units of work. For each N a call can reach, the call must raise and leave the store
exactly as it was (compared through ``serialize.to_dict``), except where the contract says a
step commits on its own (the invoice is committed before the gateway is called, R-INV-1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from helpers import PROFILE, START, idr
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.plans import Catalogue
from subkit.serialize import to_dict
from subkit.service import Billing, Checkout, PaymentEvent
from subkit.testing import FakeGateway, FixedClock, InMemoryStore

WRITES = frozenset(
    {
        "add_account",
        "add_invoice",
        "update_invoice",
        "update_account",
        "append_entries",
        "put_record",
        "next_invoice_number",
    }
)


class InjectedFailure(Exception):
    """The failure the flaky store raises."""


class _FlakyUnit:
    def __init__(self, inner: Any, store: FlakyStore) -> None:
        self._inner = inner
        self._store = store

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name not in WRITES:
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            self._store.writes += 1
            self._store.calls.append(name)
            if self._store.fail_at == self._store.writes:
                raise InjectedFailure(f"write {self._store.writes} ({name}) failed")
            return attribute(*args, **kwargs)

        return write


class FlakyStore:
    """An ``InMemoryStore`` whose ``fail_at``-th write (counted from 1) raises."""

    def __init__(self) -> None:
        self.inner = InMemoryStore()
        self.fail_at: int | None = None
        self.writes = 0
        self.calls: list[str] = []

    def arm(self, n: int | None) -> None:
        self.fail_at, self.writes, self.calls = n, 0, []

    @contextmanager
    def transaction(self) -> Iterator[_FlakyUnit]:
        with self.inner.transaction() as unit:
            yield _FlakyUnit(unit, self)

    def snapshot(self) -> Any:
        # Reads cannot fail here: only writes are injected with failures.
        return self.inner.snapshot()


def snapshot(store: FlakyStore) -> Any:
    """Everything the store holds, as JSON-safe data."""
    state = store.inner._state
    return to_dict(
        {
            "accounts": state.accounts,
            "invoices": state.invoices,
            "invoice_order": state.invoice_order,
            "ledger": state.ledger,
            "records": {"|".join(key): record for key, record in state.records.items()},
            "sequence": state.sequence,
        }
    )


def world() -> tuple[Billing, FlakyStore, FakeGateway, FixedClock]:
    store = FlakyStore()
    gateway = FakeGateway()
    clock = FixedClock(START)
    billing = Billing(Catalogue.default(), store, gateway, clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    billing.charge_replies("acme", 10, key="warm-up")
    return billing, store, gateway, clock


def writes_of(billing_call: Callable[[Billing], object], setup: Callable[..., Any]) -> int:
    """How many writes a call makes when nothing fails."""
    billing, store, *_ = setup()
    store.arm(None)
    billing_call(billing)
    return store.writes


# -- a top-up checkout ------------------------------------------------------------------------


def _top_up_without_key(billing: Billing) -> Checkout:
    return billing.top_up("acme", "conversation", 50_000)


def _top_up_with_key(billing: Billing) -> Checkout:
    return billing.top_up("acme", "conversation", 50_000, idempotency_key="order-1")


def _late_world() -> tuple[Billing, FlakyStore, FakeGateway, FixedClock]:
    """A world whose account has a month boundary due: the call also catches up."""
    billing, store, gateway, clock = world()
    clock.set(START.replace(month=2) + timedelta(hours=1))
    return billing, store, gateway, clock


@pytest.mark.parametrize("setup", [world, _late_world], ids=["on-time", "catching-up"])
def test_top_up_checkout_without_a_key_fails_whole(setup: Callable[..., Any]) -> None:
    """R-INV-1: a failed write leaves no invoice, no number taken, no gateway call."""
    total = writes_of(_top_up_without_key, setup)
    assert total >= 4
    # The last write keeps the gateway's session on the invoice (R-GW-4), after the gateway
    # answered: its failure still returns the session, and the invoice stays pending.
    billing, store, gateway, _ = setup()
    store.arm(total)
    kept = _top_up_without_key(billing)
    assert kept.payment is not None and len(gateway.requests) == 1
    [pending] = billing.invoices("acme").items
    assert pending.status is InvoiceStatus.PENDING and pending.payment is None
    for n in range(1, total):
        billing, store, gateway, _ = setup()
        before = snapshot(store)
        store.arm(n)
        with pytest.raises(InjectedFailure):
            _top_up_without_key(billing)
        assert snapshot(store) == before, f"write {n} of {store.calls}"
        assert gateway.requests == []
        # The store is still usable and the sequence has no gap.
        store.arm(None)
        checkout = _top_up_without_key(billing)
        assert checkout.invoice is not None
        month = "02" if setup is _late_world else "01"
        assert checkout.invoice.code == f"INV-2026{month}-000001"


@pytest.mark.parametrize("setup", [world, _late_world], ids=["on-time", "catching-up"])
def test_top_up_checkout_with_a_key_is_whole_or_retryable(setup: Callable[..., Any]) -> None:
    """R-INV-1: before the gateway, all or nothing; after it, a retry with the key completes."""
    total = writes_of(_top_up_with_key, setup)
    for n in range(1, total + 1):
        billing, store, gateway, _ = setup()
        before = snapshot(store)
        store.arm(n)
        with pytest.raises(InjectedFailure):
            _top_up_with_key(billing)
        committed = bool(gateway.requests)
        if not committed:
            assert snapshot(store) == before, f"write {n} of {store.calls}"
        else:
            # Only remembering the session failed (its last unit writes it onto the invoice,
            # R-GW-4, and into the key's record): the invoice was committed first (R-INV-1).
            assert n in (total - 1, total)
            [pending] = billing.invoices("acme").items
            assert pending.status is InvoiceStatus.PENDING
        store.arm(None)
        retried = _top_up_with_key(billing)
        assert retried.invoice is not None and retried.payment is not None
        assert [i.code for i in billing.invoices("acme").items] == [retried.invoice.code]


# -- a payment ---------------------------------------------------------------------------------


def _checked_out(setup: Callable[..., Any]) -> Callable[[], Any]:
    def make() -> tuple[Billing, FlakyStore, FakeGateway, FixedClock, str]:
        billing, store, gateway, clock = world()
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        if setup is _late_world:
            clock.set(START.replace(month=2) + timedelta(hours=1))
        return billing, store, gateway, clock, checkout.invoice.code

    return make


def _payment(code: str, status: PaymentStatus = PaymentStatus.PAID) -> PaymentEvent:
    return PaymentEvent(code, status, "GW-1", idr(50_000), event_id="evt-1")


@pytest.mark.parametrize("setup", [world, _late_world], ids=["on-time", "catching-up"])
@pytest.mark.parametrize("status", [PaymentStatus.PAID, PaymentStatus.FAILED])
def test_payment_fails_whole(setup: Callable[..., Any], status: PaymentStatus) -> None:
    """R-INV-6: marking paid and crediting commit together or not at all; the event id too."""
    make = _checked_out(setup)
    billing, store, _, _, code = make()
    store.arm(None)
    billing.apply_payment(_payment(code, status))
    total = store.writes
    assert total >= 3
    for n in range(1, total + 1):
        billing, store, _, _, code = make()
        before = snapshot(store)
        store.arm(n)
        with pytest.raises(InjectedFailure):
            billing.apply_payment(_payment(code, status))
        assert snapshot(store) == before, f"write {n} of {store.calls}"
        # Redelivered, the same event applies once.
        store.arm(None)
        applied = billing.apply_payment(_payment(code, status))
        assert applied.status == status.value or applied.status is InvoiceStatus.EXPIRED
        if status is PaymentStatus.PAID:
            assert billing.balances("acme").conversation.amount >= 50_000
            assert len(billing.topup_history("acme").items) == 1
