"""Malformed answers and bodies at both gateway adapters: typed errors, never a crash."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from conftest import PROFILE, START
from subkit.errors import GatewayError, InvalidAmount, InvalidArgument, InvalidSignature
from subkit.gateways import whole_amount
from subkit.gateways.midtrans import MidtransGateway
from subkit.gateways.xendit import XenditGateway
from subkit.invoice import BillingProfile
from subkit.money import Money
from subkit.ports import PaymentRequest
from test_gateway_midtrans import KEY, Recorder, fixture, sign
from test_gateway_midtrans import gateway as midtrans
from test_gateway_xendit import HEADERS, SECRET, TOKEN
from test_gateway_xendit import fixture as xfixture
from test_gateway_xendit import gateway as xendit


def request(**changes: Any) -> PaymentRequest:
    fields: dict[str, Any] = {
        "invoice_code": "INV-1",
        "account_id": "acme",
        "amount": Money(10_000, "IDR"),
        "description": "Top-up",
        "expires_at": START + timedelta(hours=1),
        "billing_profile": PROFILE,
        "requested_at": START,
        **changes,
    }
    return PaymentRequest(**fields)


@pytest.mark.parametrize("value", [True, "abc", None, "Infinity", "-5", "NaN", 1.5, "299000.001"])
def test_whole_amount_refuses_what_is_not_a_whole_amount(value: object) -> None:
    with pytest.raises(InvalidAmount):
        whole_amount(value, "amount")


@pytest.mark.parametrize(("value", "expected"), [("299000.00", 299000), (12.0, 12), (7, 7)])
def test_whole_amount_reads_exactly(value: object, expected: int) -> None:
    assert whole_amount(value, "amount") == expected


def test_gateways_opened_without_a_client_close_it() -> None:
    for gateway in (MidtransGateway(KEY), XenditGateway(SECRET, TOKEN)):
        gateway.close()
    midtrans().close()  # a host's client is the host's to close: nothing happens


def test_keys_are_required() -> None:
    for make in (
        lambda: MidtransGateway(""),
        lambda: XenditGateway("", TOKEN),
        lambda: XenditGateway(SECRET, ""),
    ):
        with pytest.raises(InvalidArgument) as raised:
            make()
        assert raised.value.value is None


class TestMidtransEdges:
    def test_a_bare_request_sends_no_items_and_no_address(self) -> None:
        recorder = Recorder(httpx.Response(201, json=fixture("snap_create_response")))
        profile = BillingProfile("Budi", "budi@example.id")
        midtrans(recorder).create_payment(request(description="", billing_profile=profile))

        body = json.loads(recorder.requests[0].content)
        assert "item_details" not in body
        assert body["customer_details"] == {"first_name": "Budi", "email": "budi@example.id"}

    @pytest.mark.parametrize(
        "answer",
        [
            httpx.Response(201, json={"redirect_url": "https://x"}),
            httpx.Response(201, text="<html>oops</html>"),
            httpx.Response(201, json=["token"]),
        ],
    )
    def test_an_answer_without_a_token_is_a_gateway_error(self, answer: httpx.Response) -> None:
        with pytest.raises(GatewayError):
            midtrans(Recorder(answer)).create_payment(request())

    def test_an_error_body_that_is_a_list_still_explains(self) -> None:
        with pytest.raises(GatewayError) as raised:
            midtrans(Recorder(httpx.Response(400, json=[1, 2]))).create_payment(request())
        assert raised.value.detail == "[1, 2]"

    def test_numeric_fields_are_signed_as_their_text(self) -> None:
        body = sign(fixture("notification_settlement"))
        event = midtrans().parse_notification({**body, "status_code": 200})
        assert event is not None

    @pytest.mark.parametrize("field", ["transaction_status", "transaction_id"])
    def test_a_signed_body_missing_a_field_is_refused(self, field: str) -> None:
        body = fixture("notification_settlement")
        del body[field]
        with pytest.raises(InvalidArgument):
            midtrans().parse_notification(sign(body))

    def test_an_unknown_fraud_status_is_refused(self) -> None:
        body = {**fixture("notification_capture"), "fraud_status": "maybe"}
        with pytest.raises(InvalidArgument):
            midtrans().parse_notification(sign(body))

    def test_an_unreadable_time_is_left_out(self) -> None:
        body = {
            **fixture("notification_settlement"),
            "settlement_time": "soon",
            "transaction_time": "",
        }
        event = midtrans().parse_notification(sign(body))
        assert event is not None and event.at is None

    def test_a_status_answer_that_is_not_json_is_a_gateway_error(self) -> None:
        with pytest.raises(GatewayError):
            midtrans(Recorder(httpx.Response(200, text="<html/>"))).status("INV-1")

    def test_a_signature_of_the_wrong_type_is_refused(self) -> None:
        body = {**fixture("notification_settlement"), "signature_key": None}
        with pytest.raises(InvalidSignature):
            midtrans().parse_notification(body)


class TestXenditEdges:
    def test_requests_it_cannot_send_are_refused_before_any_call(self) -> None:
        recorder = Recorder()
        with pytest.raises(InvalidArgument):
            xendit(recorder).create_payment(request(requested_at=None))
        with pytest.raises(InvalidAmount):
            xendit(recorder).create_payment(request(amount=Money(0, "IDR")))
        assert recorder.requests == []

    def test_no_billing_profile_no_payer(self) -> None:
        body = xendit().invoice_body(request(billing_profile=None))
        assert "payer_email" not in body and "customer" not in body

    def test_two_connection_errors_around_an_empty_lookup(self) -> None:
        recorder = Recorder(
            httpx.ConnectError("down"), httpx.Response(200, json=[]), httpx.ConnectError("down")
        )
        with pytest.raises(GatewayError) as raised:
            xendit(recorder).create_payment(request())
        assert raised.value.status is None
        assert [r.method for r in recorder.requests] == ["POST", "GET", "POST"]

    def test_an_answer_without_an_id_is_a_gateway_error(self) -> None:
        answer = httpx.Response(200, json={"invoice_url": "https://x"})
        with pytest.raises(GatewayError):
            xendit(Recorder(answer)).create_payment(request())

    @pytest.mark.parametrize("field", ["status", "id"])
    def test_a_callback_missing_a_field_is_refused(self, field: str) -> None:
        body = xfixture("invoice_callback_paid")
        del body[field]
        with pytest.raises(InvalidArgument):
            xendit().parse_callback(HEADERS, body)

    def test_an_unreadable_time_is_left_out(self) -> None:
        body = {**xfixture("invoice_callback_paid"), "paid_at": "later", "updated": None}
        event = xendit().parse_callback(HEADERS, body)
        assert event is not None and event.at is None

    def test_lookups_the_gateway_refuses(self) -> None:
        with pytest.raises(GatewayError) as raised:
            xendit(Recorder(httpx.Response(401, json=xfixture("unauthorized")))).status("I", "x")
        assert raised.value.status == 401
        assert xendit(Recorder(httpx.Response(404, json={}))).status("INV-1") is None
        with pytest.raises(GatewayError) as raised:
            xendit(Recorder(*[httpx.Response(500, text="down")] * 3)).status("INV-1")
        assert raised.value.status == 500
        with pytest.raises(GatewayError):
            xendit(Recorder(httpx.Response(200, json={"data": []}))).status("INV-1")
