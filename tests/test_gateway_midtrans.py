"""The Midtrans Snap adapter (R-GW-1, R-GW-5) against httpx.MockTransport, never the network."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PROFILE, START
from subkit.errors import (
    GatewayError,
    InvalidAmount,
    InvalidArgument,
    InvalidSignature,
    InvoiceNotFound,
)
from subkit.gateways.midtrans import SNAP_MAX_EXPIRY, WIB, MidtransGateway
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent, PaymentGateway, PaymentRequest, ReconcilingGateway
from subkit.service import Billing
from subkit.testing import FixedClock, InMemoryStore, RecordingSink

KEY = "SB-Mid-server-TEST-KEY-0123456789"
FIXTURES = Path(__file__).parent / "fixtures" / "midtrans"
Handler = Callable[[httpx.Request], httpx.Response]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def sign(body: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    """The documented formula: sha512(order_id + status_code + gross_amount + ServerKey)."""
    text = body["order_id"] + body["status_code"] + body["gross_amount"] + key
    return {**body, "signature_key": hashlib.sha512(text.encode()).hexdigest()}


def notification(name: str, **changes: Any) -> dict[str, Any]:
    return sign({**fixture(name), **changes})


class Recorder:
    """A MockTransport handler answering from a queue, keeping every request it saw."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def gateway(recorder: Recorder | None = None, *, production: bool = False) -> MidtransGateway:
    client = httpx.Client(transport=httpx.MockTransport(recorder or Recorder()))
    return MidtransGateway(KEY, production=production, client=client, sleep=lambda _: None)


def request_for(
    code: str = "INV-202601-000001",
    amount: int = 299_000,
    window: timedelta = timedelta(hours=24),
) -> PaymentRequest:
    return PaymentRequest(
        invoice_code=code,
        account_id="acme",
        amount=Money(amount, "IDR"),
        description="Growth (Monthly)",
        expires_at=START + window,
        billing_profile=PROFILE,
        requested_at=START,
    )


def test_it_is_a_reconciling_payment_gateway() -> None:
    assert isinstance(gateway(), PaymentGateway)
    assert isinstance(gateway(), ReconcilingGateway)


# -- create_payment --------------------------------------------------------------------------


class TestCreatePayment:
    def test_the_snap_request_field_by_field(self) -> None:
        recorder = Recorder(httpx.Response(201, json=fixture("snap_create_response")))
        session = gateway(recorder).create_payment(request_for())

        [sent] = recorder.requests
        assert sent.method == "POST"
        assert str(sent.url) == "https://app.sandbox.midtrans.com/snap/v1/transactions"
        assert (
            sent.headers["authorization"]
            == "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()
        )
        assert sent.headers["accept"] == "application/json"
        body = json.loads(sent.content)
        assert body["transaction_details"] == {
            "order_id": "INV-202601-000001",
            "gross_amount": 299_000,
        }
        assert isinstance(body["transaction_details"]["gross_amount"], int)
        assert body["customer_details"] == {
            "first_name": PROFILE.name,
            "email": PROFILE.email,
            "billing_address": {"address": PROFILE.address},
        }
        # START is 09:00 in Jakarta (+07:00): the window is 24 hours from the request time.
        assert body["expiry"] == {
            "start_time": "2026-01-10 09:00:00 +0700",
            "unit": "minute",
            "duration": 24 * 60,
        }
        assert body["item_details"] == [
            {"id": "INV-202601-000001", "name": "Growth (Monthly)", "price": 299_000, "quantity": 1}
        ]
        answer = fixture("snap_create_response")
        assert session.reference == answer["token"]
        assert session.redirect_url == answer["redirect_url"]
        assert session.expires_at == START + timedelta(hours=24)

    def test_production_uses_the_production_hosts(self) -> None:
        recorder = Recorder(
            httpx.Response(201, json=fixture("snap_create_response")),
            httpx.Response(200, json=fixture("status_not_found")),
            httpx.Response(200, json=fixture("expire_response")),
        )
        live = gateway(recorder, production=True)
        live.create_payment(request_for())
        live.status("INV-202601-000001")
        live.cancel("INV-202601-000001")
        assert [str(r.url) for r in recorder.requests] == [
            "https://app.midtrans.com/snap/v1/transactions",
            "https://api.midtrans.com/v2/INV-202601-000001/status",
            "https://api.midtrans.com/v2/INV-202601-000001/expire",
        ]

    def test_a_request_in_utc_is_sent_in_wib(self) -> None:
        recorder = Recorder(httpx.Response(201, json=fixture("snap_create_response")))
        start = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
        request = PaymentRequest(
            "INV-1", "acme", Money(10_000, "IDR"), "Top-up", start + timedelta(hours=2), None, start
        )
        gateway(recorder).create_payment(request)
        body = json.loads(recorder.requests[0].content)
        assert body["expiry"]["start_time"] == "2026-03-02 06:30:00 +0700"
        assert body["expiry"]["duration"] == 120
        assert "customer_details" not in body  # no billing profile, no customer details

    def test_the_duration_rounds_down_so_snap_never_outlives_the_invoice(self) -> None:
        recorder = Recorder(httpx.Response(201, json=fixture("snap_create_response")))
        session = gateway(recorder).create_payment(
            request_for(window=timedelta(minutes=90, seconds=59))
        )
        assert json.loads(recorder.requests[0].content)["expiry"]["duration"] == 90
        assert session.expires_at == START + timedelta(minutes=90)

    def test_a_window_beyond_snaps_maximum_is_cut_and_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        recorder = Recorder(httpx.Response(201, json=fixture("snap_create_response")))
        with caplog.at_level(logging.WARNING, logger="subkit.gateways"):
            session = gateway(recorder).create_payment(request_for(window=timedelta(days=10)))
        assert json.loads(recorder.requests[0].content)["expiry"]["duration"] == int(
            SNAP_MAX_EXPIRY.total_seconds() // 60
        )
        assert session.expires_at == START + SNAP_MAX_EXPIRY
        assert "exceeds Snap's maximum" in caplog.text

    def test_a_request_without_its_request_time_is_refused_before_any_call(self) -> None:
        recorder = Recorder()
        request = PaymentRequest(
            "INV-1", "acme", Money(1, "IDR"), "x", START, None, requested_at=None
        )
        with pytest.raises(InvalidArgument):
            gateway(recorder).create_payment(request)
        assert recorder.requests == []

    def test_only_rupiah(self) -> None:
        request = PaymentRequest(
            "INV-1", "acme", Money(1000, "USD"), "x", START + timedelta(hours=1), None, START
        )
        with pytest.raises(InvalidAmount):
            gateway().create_payment(request)

    def test_a_4xx_is_a_gateway_error_with_midtranss_message(self) -> None:
        recorder = Recorder(httpx.Response(400, json=fixture("snap_error_response")))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).create_payment(request_for())
        assert raised.value.status == 400
        assert raised.value.detail == fixture("snap_error_response")["error_messages"][0]
        assert raised.value.detail in str(raised.value)
        assert len(recorder.requests) == 1

    def test_create_is_not_retried(self) -> None:
        """Snap refuses a second transaction for one order_id: no blind retry."""
        recorder = Recorder(httpx.Response(503, text="unavailable"))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).create_payment(request_for())
        assert raised.value.status == 503
        assert len(recorder.requests) == 1

        recorder = Recorder(httpx.ConnectError("refused"))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).create_payment(request_for())
        assert raised.value.status is None
        assert len(recorder.requests) == 1


# -- parse_notification ------------------------------------------------------------------------

# Every row of R-GW-1's table: (transaction_status, fraud_status) -> status (None: nothing).
ROWS: list[tuple[str, str | None, PaymentStatus | None]] = [
    ("settlement", "accept", PaymentStatus.PAID),
    ("capture", "accept", PaymentStatus.PAID),
    ("deny", None, PaymentStatus.FAILED),
    ("cancel", None, PaymentStatus.FAILED),
    ("failure", None, PaymentStatus.FAILED),
    ("capture", "deny", PaymentStatus.FAILED),
    ("expire", None, PaymentStatus.EXPIRED),
    ("refund", None, PaymentStatus.REFUNDED),
    ("chargeback", None, PaymentStatus.REFUNDED),
    ("pending", None, None),
    ("authorize", None, None),
    ("capture", "challenge", None),
    ("partial_refund", None, None),
    ("partial_chargeback", None, None),
]


class TestParseNotification:
    @pytest.mark.parametrize(("transaction_status", "fraud", "expected"), ROWS)
    def test_every_status_row(
        self, transaction_status: str, fraud: str | None, expected: PaymentStatus | None
    ) -> None:
        body = fixture("notification_settlement")
        body["transaction_status"] = transaction_status
        if fraud is None:
            body.pop("fraud_status")
        else:
            body["fraud_status"] = fraud
        event = gateway().parse_notification(sign(body))
        if expected is None:
            assert event is None
            return
        assert event == PaymentEvent(
            invoice_code="INV-202601-000001",
            status=expected,
            reference="9aed5972-5b6a-401e-894b-a32c91ed1a3a",
            amount=Money(299_000, "IDR"),
            event_id=f"9aed5972-5b6a-401e-894b-a32c91ed1a3a:{transaction_status}",
            at=(
                datetime(2026, 1, 10, 9, 7, 40, tzinfo=WIB)
                if expected is PaymentStatus.PAID
                else datetime(2026, 1, 10, 9, 5, 12, tzinfo=WIB)
            ),
        )

    def test_the_fixtures_carry_the_documented_signature(self) -> None:
        for name in ("notification_settlement", "notification_capture", "notification_expire"):
            body = fixture(name)
            assert body["signature_key"] == sign(body)["signature_key"]

    def test_raw_bytes_and_str_parse_like_the_decoded_json(self) -> None:
        body = fixture("notification_settlement")
        raw = json.dumps(body).encode()
        assert gateway().parse_notification(raw) == gateway().parse_notification(body)
        assert gateway().parse_notification(raw.decode()) == gateway().parse_notification(body)

    def test_a_wrong_signature_is_refused(self) -> None:
        body = fixture("notification_settlement")
        with pytest.raises(InvalidSignature):
            gateway().parse_notification(sign(body, key="SB-Mid-server-OTHER"))
        with pytest.raises(InvalidSignature):
            gateway().parse_notification({**body, "gross_amount": "1.00"})  # tampered amount
        with pytest.raises(InvalidSignature):
            gateway().parse_notification({**body, "signature_key": ""})
        unsigned = dict(body)
        del unsigned["signature_key"]
        with pytest.raises(InvalidSignature):
            gateway().parse_notification(unsigned)
        for junk in (b"not json", b"[1, 2]", b"\xff\xfe"):
            with pytest.raises(InvalidSignature):
                gateway().parse_notification(junk)

    def test_a_fraction_of_a_rupiah_is_refused(self) -> None:
        body = notification("notification_settlement", gross_amount="299000.50")
        with pytest.raises(InvalidAmount):
            gateway().parse_notification(body)

    def test_a_capture_and_its_settlement_are_one_payment(self) -> None:
        capture = gateway().parse_notification(fixture("notification_capture"))
        settlement = gateway().parse_notification(
            notification("notification_capture", transaction_status="settlement")
        )
        assert capture is not None and settlement is not None
        assert capture.reference == settlement.reference  # one Midtrans transaction
        assert capture.event_id != settlement.event_id  # two status changes

    def test_an_unknown_status_is_refused(self) -> None:
        with pytest.raises(InvalidArgument):
            gateway().parse_notification(
                notification("notification_settlement", transaction_status="teleported")
            )

    @settings(max_examples=60)
    @given(
        order_id=st.text("ABCINV-0123456789", min_size=1, max_size=50),
        status_code=st.sampled_from(["200", "201", "202", "407"]),
        rupiah=st.integers(0, 10**12),
        key=st.text(min_size=1, max_size=40),
        forged=st.one_of(st.none(), st.text(min_size=0, max_size=130)),
    )
    def test_parse_accepts_exactly_the_correctly_signed_bodies(
        self, order_id: str, status_code: str, rupiah: int, key: str, forged: str | None
    ) -> None:
        body = {
            **fixture("notification_settlement"),
            "order_id": order_id,
            "status_code": status_code,
            "gross_amount": f"{rupiah}.00",
        }
        signed = sign(body, key=key)
        if forged is not None:
            signed["signature_key"] = forged
        valid = signed["signature_key"] == sign(body)["signature_key"]
        if valid:
            event = gateway().parse_notification(signed)
            assert event is not None and event.amount == Money(rupiah, "IDR")
        else:
            with pytest.raises(InvalidSignature):
                gateway().parse_notification(signed)


# -- status and cancel -------------------------------------------------------------------------


class TestStatusAndCancel:
    def test_status_reads_the_core_api(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("status_settlement")))
        event = gateway(recorder).status("INV-202601-000002")
        [sent] = recorder.requests
        assert sent.method == "GET"
        assert str(sent.url) == "https://api.sandbox.midtrans.com/v2/INV-202601-000002/status"
        assert event == PaymentEvent(
            "INV-202601-000002",
            PaymentStatus.PAID,
            "1ca4b2a6-6f7e-4e48-9a8f-3d3f7c2b0f11",
            Money(299_000, "IDR"),
            event_id="1ca4b2a6-6f7e-4e48-9a8f-3d3f7c2b0f11:settlement",
            at=datetime(2026, 1, 11, 9, 0, tzinfo=WIB),
        )

    def test_no_transaction_yet_is_none(self) -> None:
        # Midtrans answers HTTP 200 with a body status_code of 404, or a plain HTTP 404.
        for answer in (
            httpx.Response(200, json=fixture("status_not_found")),
            httpx.Response(404, json=fixture("status_not_found")),
        ):
            assert gateway(Recorder(answer)).status("INV-202601-000009") is None

    def test_a_pending_transaction_is_none(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("notification_pending")))
        assert gateway(recorder).status("INV-202601-000001") is None

    def test_status_is_retried_on_connection_errors_and_5xx_and_bounded(self) -> None:
        slept: list[float] = []
        recorder = Recorder(
            httpx.ConnectError("refused"),
            httpx.Response(502, text="bad gateway"),
            httpx.Response(200, json=fixture("status_settlement")),
        )
        client = httpx.Client(transport=httpx.MockTransport(recorder))
        midtrans = MidtransGateway(KEY, client=client, sleep=slept.append)
        assert midtrans.status("INV-202601-000002") is not None
        assert len(recorder.requests) == 3
        assert slept == [0.5, 1.0]

        recorder = Recorder(*[httpx.Response(500, text="down")] * 5)
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).status("INV-202601-000002")
        assert raised.value.status == 500
        assert len(recorder.requests) == 3  # bounded

    def test_a_4xx_status_is_not_retried(self) -> None:
        recorder = Recorder(httpx.Response(401, json=fixture("unauthorized")))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).status("INV-202601-000002")
        assert raised.value.status == 401
        assert "unauthorized" in raised.value.detail
        assert len(recorder.requests) == 1

    def test_cancel_expires_the_transaction(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("expire_response")))
        gateway(recorder).cancel("INV-202601-000001")
        [sent] = recorder.requests
        assert sent.method == "POST"
        assert str(sent.url) == "https://api.sandbox.midtrans.com/v2/INV-202601-000001/expire"

    def test_cancel_with_nothing_started_is_nothing_to_cancel(self) -> None:
        """A Snap page with no transaction cannot be expired: Midtrans's 404 is not an error."""
        for answer in (
            httpx.Response(404, json=fixture("status_not_found")),
            httpx.Response(200, json=fixture("status_not_found")),
        ):
            gateway(Recorder(answer)).cancel("INV-202601-000001")

    def test_cancel_refused_is_a_gateway_error_and_not_retried(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("expire_refused")))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).cancel("INV-202601-000001")
        assert raised.value.status == 412
        assert raised.value.detail == "Merchant cannot modify the status of the transaction"

        recorder = Recorder(httpx.Response(503, text="down"), httpx.Response(503, text="down"))
        with pytest.raises(GatewayError):
            gateway(recorder).cancel("INV-202601-000001")
        assert len(recorder.requests) == 1


# -- secrets (R-GW-5) --------------------------------------------------------------------------


class TestSecrets:
    def test_the_key_is_not_in_the_repr(self) -> None:
        midtrans = gateway()
        assert KEY not in repr(midtrans)
        assert KEY not in str(vars(midtrans).get("_http"))

    def test_an_echoed_key_is_removed_from_the_error(self) -> None:
        auth = base64.b64encode(f"{KEY}:".encode()).decode()
        echo = {"error_messages": [f"key {KEY} is not valid", f"header Basic {auth}"]}
        recorder = Recorder(httpx.Response(401, json=echo))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).create_payment(request_for())
        for text in (str(raised.value), raised.value.detail, repr(raised.value)):
            assert KEY not in text and auth not in text
        assert "[redacted]" in raised.value.detail

    def test_no_log_line_holds_the_key(self, caplog: pytest.LogCaptureFixture) -> None:
        recorder = Recorder(
            httpx.ConnectError(f"refused {KEY}"),
            httpx.Response(200, json=fixture("status_settlement")),
            httpx.Response(201, json=fixture("snap_create_response")),
        )
        with caplog.at_level(logging.DEBUG):
            midtrans = gateway(recorder)
            midtrans.status("INV-202601-000002")
            midtrans.create_payment(request_for(window=timedelta(days=30)))
        assert caplog.records  # something was logged ...
        auth = base64.b64encode(f"{KEY}:".encode()).decode()
        for record in caplog.records:
            assert KEY not in record.getMessage() and auth not in record.getMessage()

    def test_events_hold_no_key(self) -> None:
        event = gateway().parse_notification(fixture("notification_settlement"))
        assert KEY not in repr(event)


# -- through Billing -------------------------------------------------------------------------


@pytest.fixture
def wired() -> tuple[Billing, Recorder]:
    recorder = Recorder(*[httpx.Response(201, json=fixture("snap_create_response"))] * 3)
    billing = Billing(
        Catalogue.default(),
        InMemoryStore(),
        gateway(recorder),
        clock=FixedClock(START),
        events=RecordingSink(),
    )
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    return billing, recorder


class TestThroughBilling:
    def pay_notice(self, code: str, total: int, status: str = "settlement") -> dict[str, Any]:
        return notification(
            "notification_settlement",
            order_id=code,
            gross_amount=f"{total}.00",
            transaction_status=status,
        )

    def test_checkout_then_settlement_marks_the_invoice_paid(
        self, wired: tuple[Billing, Recorder]
    ) -> None:
        billing, recorder = wired
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None and checkout.payment is not None
        body = json.loads(recorder.requests[0].content)
        assert body["transaction_details"]["order_id"] == checkout.invoice.code
        assert body["transaction_details"]["gross_amount"] == checkout.invoice.total.amount
        assert body["customer_details"]["email"] == PROFILE.email
        assert checkout.payment.reference == fixture("snap_create_response")["token"]

        total = checkout.invoice.total.amount
        event = gateway().parse_notification(self.pay_notice(checkout.invoice.code, total))
        assert event is not None
        invoice = billing.apply_payment(event)
        assert invoice.status is InvoiceStatus.PAID
        assert invoice.reference == "9aed5972-5b6a-401e-894b-a32c91ed1a3a"

    def test_a_replayed_notification_changes_nothing(self, wired: tuple[Billing, Recorder]) -> None:
        billing, _ = wired
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        body = self.pay_notice(checkout.invoice.code, checkout.invoice.total.amount)
        first = gateway().parse_notification(body)
        again = gateway().parse_notification(json.dumps(body).encode())
        assert first is not None and first == again
        paid = billing.apply_payment(first)
        balance = billing.balances("acme").conversation
        assert billing.apply_payment(again) == paid
        assert billing.balances("acme").conversation == balance  # credited once

    def test_capture_then_settlement_credits_once(self, wired: tuple[Billing, Recorder]) -> None:
        billing, _ = wired
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        code, total = checkout.invoice.code, checkout.invoice.total.amount
        capture = notification("notification_capture", order_id=code, gross_amount=f"{total}.00")
        settlement = {**capture, "transaction_status": "settlement"}
        for body in (capture, sign(settlement)):
            event = gateway().parse_notification(body)
            assert event is not None
            billing.apply_payment(event)
        balance = billing.balances("acme").conversation.amount
        assert balance == 15_000 + 50_000  # the Free grant plus one top-up, not two

    def test_expire_after_settlement_is_ignored(self, wired: tuple[Billing, Recorder]) -> None:
        billing, _ = wired
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        code, total = checkout.invoice.code, checkout.invoice.total.amount
        for status in ("settlement", "expire"):
            event = gateway().parse_notification(self.pay_notice(code, total, status))
            assert event is not None
            invoice = billing.apply_payment(event)
        assert invoice.status is InvoiceStatus.PAID

    def test_a_notification_for_an_unknown_invoice(self, wired: tuple[Billing, Recorder]) -> None:
        billing, _ = wired
        event = gateway().parse_notification(self.pay_notice("INV-209912-999999", 10_000))
        assert event is not None and event.invoice_code == "INV-209912-999999"
        with pytest.raises(InvoiceNotFound):
            billing.apply_payment(event)
