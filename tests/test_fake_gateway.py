"""FakeGateway as a ReconcilingGateway: what a host test sets is what status reports."""

from __future__ import annotations

from subkit.errors import GatewayError
from subkit.invoice import PaymentStatus
from subkit.money import Money
from subkit.ports import PaymentEvent, ReconcilingGateway
from subkit.testing import FakeGateway


def test_status_reports_what_the_test_set_and_cancel_is_recorded() -> None:
    gateway = FakeGateway()
    assert isinstance(gateway, ReconcilingGateway)
    event = PaymentEvent("INV-1", PaymentStatus.PAID, "PAY-1", Money(10_000, "IDR"), "e1")
    assert gateway.status("INV-1") is None
    gateway.statuses["INV-1"] = event
    assert gateway.status("INV-1", "PAY-1") == event
    assert gateway.status_calls == [("INV-1", None), ("INV-1", "PAY-1")]
    gateway.cancel("INV-2", "PAY-2")
    assert gateway.cancelled == [("INV-2", "PAY-2")]


def test_failures_happen_once() -> None:
    gateway = FakeGateway()
    gateway.fail_status = GatewayError("down", status=None)
    gateway.fail_cancel = GatewayError("down", status=503)
    for call in (gateway.status, gateway.cancel):
        try:
            call("INV-1")
        except GatewayError:
            pass
        else:  # pragma: no cover - the test fails here
            raise AssertionError("expected a GatewayError")
    assert gateway.status("INV-1") is None
    gateway.cancel("INV-1")
    assert gateway.cancelled == [("INV-1", None)]
