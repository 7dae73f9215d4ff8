"""The Xendit Invoices adapter (R-GW-2, R-GW-5) against httpx.MockTransport, never the network."""

from __future__ import annotations

import base64
import json
import logging
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
from subkit.gateways.xendit import XENDIT_MAX_DURATION, XenditGateway
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent, PaymentGateway, PaymentRequest, ReconcilingGateway
from subkit.service import Billing
from subkit.testing import FixedClock, InMemoryStore, RecordingSink

SECRET = "xnd_development_P4qDfOss0OCpl8RtKrROHjaQYNCk9dN5lSfk+R1l9Wbe+rSiCwZ3jw=="
TOKEN = "MyCallbackVerificationToken123"
FIXTURES = Path(__file__).parent / "fixtures" / "xendit"
HEADERS = {"Content-Type": "application/json", "x-callback-token": TOKEN}


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


class Recorder:
    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def gateway(recorder: Recorder | None = None) -> XenditGateway:
    client = httpx.Client(transport=httpx.MockTransport(recorder or Recorder()))
    return XenditGateway(SECRET, TOKEN, client=client, sleep=lambda _: None)


def request_for(window: timedelta = timedelta(hours=24)) -> PaymentRequest:
    return PaymentRequest(
        invoice_code="INV-202601-000001",
        account_id="acme",
        amount=Money(299_000, "IDR"),
        description="Growth (Monthly)",
        expires_at=START + window,
        billing_profile=PROFILE,
        requested_at=START,
    )


def test_it_is_a_reconciling_payment_gateway() -> None:
    assert isinstance(gateway(), PaymentGateway)
    assert isinstance(gateway(), ReconcilingGateway)


class TestCreatePayment:
    def test_the_invoice_request_field_by_field(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("invoice_create_response")))
        session = gateway(recorder).create_payment(request_for())
        [sent] = recorder.requests
        assert sent.method == "POST"
        assert str(sent.url) == "https://api.xendit.co/v2/invoices"
        assert (
            sent.headers["authorization"]
            == "Basic " + base64.b64encode(f"{SECRET}:".encode()).decode()
        )
        body = json.loads(sent.content)
        assert body == {
            "external_id": "INV-202601-000001",
            "amount": 299_000,
            "currency": "IDR",
            "description": "Growth (Monthly)",
            "invoice_duration": 24 * 3600,
            "payer_email": PROFILE.email,
            "customer": {"given_names": PROFILE.name, "email": PROFILE.email},
        }
        answer = fixture("invoice_create_response")
        assert session.reference == answer["id"]
        assert session.redirect_url == answer["invoice_url"]
        assert session.expires_at == datetime(2026, 1, 11, 2, 0, tzinfo=UTC)

    def test_the_duration_is_seconds_from_the_request_time_capped(self) -> None:
        recorder = Recorder(
            httpx.Response(200, json=fixture("invoice_create_response")),
            httpx.Response(200, json=fixture("invoice_create_response")),
        )
        xendit = gateway(recorder)
        xendit.create_payment(request_for(window=timedelta(minutes=90, seconds=7)))
        xendit.create_payment(request_for(window=timedelta(days=400)))
        durations = [json.loads(r.content)["invoice_duration"] for r in recorder.requests]
        assert durations == [90 * 60 + 7, int(XENDIT_MAX_DURATION.total_seconds())]

    def test_a_4xx_is_a_gateway_error_with_xendits_message(self) -> None:
        recorder = Recorder(httpx.Response(400, json=fixture("invoice_error")))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).create_payment(request_for())
        assert raised.value.status == 400
        assert raised.value.detail == fixture("invoice_error")["message"]
        assert len(recorder.requests) == 1

    def test_a_lost_answer_finds_the_invoice_instead_of_creating_a_second(self) -> None:
        recorder = Recorder(
            httpx.ReadTimeout("timed out"),
            httpx.Response(200, json=[fixture("invoice_create_response")]),
        )
        session = gateway(recorder).create_payment(request_for())
        assert session.reference == fixture("invoice_create_response")["id"]
        assert [(r.method, r.url.path) for r in recorder.requests] == [
            ("POST", "/v2/invoices"),
            ("GET", "/v2/invoices"),
        ]
        assert recorder.requests[1].url.params["external_id"] == "INV-202601-000001"

    def test_a_5xx_with_no_invoice_behind_it_is_tried_again_once(self) -> None:
        recorder = Recorder(
            httpx.Response(503, text="busy"),
            httpx.Response(200, json=[]),
            httpx.Response(503, text="busy"),
        )
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).create_payment(request_for())
        assert raised.value.status == 503
        assert [r.method for r in recorder.requests] == ["POST", "GET", "POST"]


# Every row of R-GW-2's table.
ROWS: list[tuple[str, PaymentStatus | None]] = [
    ("PAID", PaymentStatus.PAID),
    ("SETTLED", PaymentStatus.PAID),
    ("EXPIRED", PaymentStatus.EXPIRED),
    ("PENDING", None),
]


class TestParseCallback:
    @pytest.mark.parametrize(("status", "expected"), ROWS)
    def test_every_status_row(self, status: str, expected: PaymentStatus | None) -> None:
        body = {**fixture("invoice_callback_paid"), "status": status}
        event = gateway().parse_callback(HEADERS, body)
        if expected is None:
            assert event is None
            return
        assert event == PaymentEvent(
            invoice_code="INV-202601-000001",
            status=expected,
            reference="579c8d61f23fa4ca35e52da4",
            amount=Money(299_000, "IDR"),
            event_id=f"579c8d61f23fa4ca35e52da4:{status}",
            at=datetime(2026, 1, 10, 2, 10, 12, tzinfo=UTC),
        )

    def test_the_expired_fixture(self) -> None:
        event = gateway().parse_callback(HEADERS, fixture("invoice_callback_expired"))
        assert event is not None and event.status is PaymentStatus.EXPIRED
        assert event.at == datetime(2026, 1, 11, 2, 0, 2, tzinfo=UTC)

    def test_paid_and_settled_are_one_payment(self) -> None:
        paid = gateway().parse_callback(HEADERS, fixture("invoice_callback_paid"))
        settled = gateway().parse_callback(
            HEADERS, {**fixture("invoice_callback_paid"), "status": "SETTLED"}
        )
        assert paid is not None and settled is not None
        assert paid.reference == settled.reference
        assert paid.event_id != settled.event_id

    def test_raw_bytes_parse_like_the_decoded_json(self) -> None:
        body = fixture("invoice_callback_paid")
        raw = json.dumps(body).encode()
        assert gateway().parse_callback(HEADERS, raw) == gateway().parse_callback(HEADERS, body)

    def test_the_header_name_is_case_insensitive(self) -> None:
        event = gateway().parse_callback(
            {"X-CALLBACK-TOKEN": TOKEN}, fixture("invoice_callback_paid")
        )
        assert event is not None

    def test_a_wrong_or_missing_token_is_refused(self) -> None:
        body = fixture("invoice_callback_paid")
        for headers in ({"x-callback-token": "guess"}, {}, {"x-callback-token": TOKEN + " "}):
            with pytest.raises(InvalidSignature):
                gateway().parse_callback(headers, body)

    def test_amounts_are_read_exactly(self) -> None:
        as_float = json.dumps({**fixture("invoice_callback_paid"), "paid_amount": 299000.0})
        event = gateway().parse_callback(HEADERS, as_float.encode())
        assert event is not None and event.amount == Money(299_000, "IDR")
        for fraction in (b"299000.5", b"299000.01"):
            body = json.dumps(fixture("invoice_callback_paid")).replace(
                '"paid_amount": 299000', '"paid_amount": ' + fraction.decode()
            )
            with pytest.raises(InvalidAmount):
                gateway().parse_callback(HEADERS, body.encode())

    def test_an_unknown_status_is_refused(self) -> None:
        with pytest.raises(InvalidArgument):
            gateway().parse_callback(
                HEADERS, {**fixture("invoice_callback_paid"), "status": "VOIDED"}
            )

    @settings(max_examples=60)
    @given(token=st.text(max_size=40))
    def test_parse_accepts_exactly_the_right_token(self, token: str) -> None:
        headers = {"x-callback-token": token}
        if token == TOKEN:
            assert gateway().parse_callback(headers, fixture("invoice_callback_paid"))
        else:
            with pytest.raises(InvalidSignature):
                gateway().parse_callback(headers, fixture("invoice_callback_paid"))


class TestStatusAndCancel:
    def test_status_by_reference(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("invoice_callback_paid")))
        event = gateway(recorder).status("INV-202601-000001", "579c8d61f23fa4ca35e52da4")
        [sent] = recorder.requests
        assert (sent.method, str(sent.url)) == (
            "GET",
            "https://api.xendit.co/v2/invoices/579c8d61f23fa4ca35e52da4",
        )
        assert event is not None and event.status is PaymentStatus.PAID

    def test_status_by_external_id_prefers_a_paid_invoice(self) -> None:
        pending = {**fixture("invoice_create_response"), "id": "other"}
        recorder = Recorder(httpx.Response(200, json=[pending, fixture("invoice_callback_paid")]))
        event = gateway(recorder).status("INV-202601-000001")
        [sent] = recorder.requests
        assert sent.url.path == "/v2/invoices"
        assert sent.url.params["external_id"] == "INV-202601-000001"
        assert event is not None and event.reference == "579c8d61f23fa4ca35e52da4"

    def test_status_of_nothing_is_none(self) -> None:
        assert gateway(Recorder(httpx.Response(200, json=[]))).status("INV-1") is None
        assert gateway(Recorder(httpx.Response(404, json={}))).status("INV-1", "x") is None
        pending = httpx.Response(200, json=fixture("invoice_create_response"))
        assert gateway(Recorder(pending)).status("INV-1", "x") is None

    def test_status_is_retried_and_bounded(self) -> None:
        recorder = Recorder(
            httpx.ConnectError("refused"),
            httpx.Response(500, text="oops"),
            httpx.Response(200, json=fixture("invoice_callback_paid")),
        )
        assert gateway(recorder).status("INV-1", "579c8d61f23fa4ca35e52da4") is not None
        recorder = Recorder(*[httpx.ConnectError("refused")] * 4)
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).status("INV-1", "x")
        assert raised.value.status is None
        assert len(recorder.requests) == 3

    def test_cancel_by_reference_expires_that_invoice(self) -> None:
        recorder = Recorder(httpx.Response(200, json=fixture("invoice_callback_expired")))
        gateway(recorder).cancel("INV-202601-000001", "579c8d61f23fa4ca35e52da4")
        [sent] = recorder.requests
        assert (sent.method, sent.url.path) == (
            "POST",
            "/invoices/579c8d61f23fa4ca35e52da4/expire!",
        )

    def test_cancel_by_external_id_expires_the_pending_ones(self) -> None:
        paid = {**fixture("invoice_callback_paid"), "id": "paid-one"}
        recorder = Recorder(
            httpx.Response(200, json=[fixture("invoice_create_response"), paid]),
            httpx.Response(200, json=fixture("invoice_callback_expired")),
        )
        gateway(recorder).cancel("INV-202601-000001")
        assert [(r.method, r.url.path) for r in recorder.requests] == [
            ("GET", "/v2/invoices"),
            ("POST", "/invoices/579c8d61f23fa4ca35e52da4/expire!"),
        ]

    def test_cancel_of_an_unknown_invoice_is_nothing_and_a_refusal_an_error(self) -> None:
        gateway(
            Recorder(httpx.Response(404, json={"error_code": "INVOICE_NOT_FOUND_ERROR"}))
        ).cancel("INV-1", "x")
        recorder = Recorder(httpx.Response(401, json=fixture("unauthorized")))
        with pytest.raises(GatewayError) as raised:
            gateway(recorder).cancel("INV-1", "x")
        assert raised.value.status == 401
        assert raised.value.detail == fixture("unauthorized")["message"]


class TestSecrets:
    def test_no_secret_in_the_repr(self) -> None:
        text = repr(gateway())
        assert SECRET not in text and TOKEN not in text

    def test_an_echoed_key_is_removed_from_the_error(self) -> None:
        auth = base64.b64encode(f"{SECRET}:".encode()).decode()
        echo = {"error_code": "INVALID_API_KEY", "message": f"{SECRET} / {auth} / {TOKEN}"}
        with pytest.raises(GatewayError) as raised:
            gateway(Recorder(httpx.Response(401, json=echo))).create_payment(request_for())
        for text in (str(raised.value), raised.value.detail):
            assert SECRET not in text and auth not in text and TOKEN not in text

    def test_an_invalid_token_error_does_not_show_either_token(self) -> None:
        with pytest.raises(InvalidSignature) as raised:
            gateway().parse_callback(
                {"x-callback-token": "guess"}, fixture("invoice_callback_paid")
            )
        assert TOKEN not in str(raised.value) and "guess" not in str(raised.value)

    def test_no_log_line_holds_a_secret(self, caplog: pytest.LogCaptureFixture) -> None:
        recorder = Recorder(
            httpx.ConnectError(f"refused {SECRET}"),
            httpx.Response(200, json=fixture("invoice_callback_paid")),
        )
        with caplog.at_level(logging.DEBUG):
            gateway(recorder).status("INV-1", "579c8d61f23fa4ca35e52da4")
        assert caplog.records
        for record in caplog.records:
            assert SECRET not in record.getMessage() and TOKEN not in record.getMessage()


@pytest.fixture
def wired() -> tuple[Billing, Recorder]:
    recorder = Recorder(*[httpx.Response(200, json=fixture("invoice_create_response"))] * 3)
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
    def callback(self, code: str, total: int, status: str = "PAID") -> dict[str, Any]:
        return {
            **fixture("invoice_callback_paid"),
            "external_id": code,
            "amount": total,
            "paid_amount": total,
            "status": status,
        }

    def test_checkout_then_paid_then_settled_credits_once(
        self, wired: tuple[Billing, Recorder]
    ) -> None:
        billing, recorder = wired
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        body = json.loads(recorder.requests[0].content)
        assert body["external_id"] == checkout.invoice.code
        assert body["amount"] == checkout.invoice.total.amount
        assert body["payer_email"] == PROFILE.email
        assert body["invoice_duration"] == 24 * 3600  # the payment window, in seconds
        for status in ("PAID", "SETTLED", "PAID"):  # the PAID replayed too
            event = gateway().parse_callback(
                HEADERS, self.callback(checkout.invoice.code, 50_000, status)
            )
            assert event is not None
            invoice = billing.apply_payment(event)
        assert invoice.status is InvoiceStatus.PAID
        assert billing.balances("acme").conversation.amount == 15_000 + 50_000

    def test_expired_after_paid_is_ignored(self, wired: tuple[Billing, Recorder]) -> None:
        billing, _ = wired
        checkout = billing.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None
        for status in ("PAID", "EXPIRED"):
            event = gateway().parse_callback(
                HEADERS, self.callback(checkout.invoice.code, 50_000, status)
            )
            assert event is not None
            invoice = billing.apply_payment(event)
        assert invoice.status is InvoiceStatus.PAID

    def test_a_callback_for_an_unknown_invoice(self, wired: tuple[Billing, Recorder]) -> None:
        billing, _ = wired
        event = gateway().parse_callback(HEADERS, self.callback("INV-209912-999999", 10_000))
        assert event is not None
        with pytest.raises(InvoiceNotFound):
            billing.apply_payment(event)
