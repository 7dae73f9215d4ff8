"""The gateway webhooks (R-WEB-1, R-GW-1/2): ``POST /webhooks/<name>`` for each gateway the
host configured, with no account authentication: verified by the adapter, 200 for a replay,
401 for a bad signature (and nothing applied)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from subkit.errors import InvalidArgument
from subkit.gateways.midtrans import MidtransGateway
from subkit.gateways.xendit import XenditGateway
from subkit.invoice import Invoice, InvoiceStatus, PaymentStatus
from subkit.service import Billing
from subkit.web import create_app
from subkit.web.fake_pay import PaymentPageGateway
from web_client import JSON, assert_problem, by_header

SERVER_KEY = "SB-Mid-server-TEST"
CALLBACK_TOKEN = "xendit-callback-token"


def no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"a webhook must not call the gateway: {request.url}")


@pytest.fixture
def invoice(billing: Billing, account: str) -> Invoice:
    checkout = billing.change_plan("acme", "growth")
    assert checkout.invoice is not None
    return checkout.invoice


@pytest.fixture
def client(billing: Billing) -> Iterator[TestClient[Any]]:
    http = httpx.Client(transport=httpx.MockTransport(no_network))
    gateways = {
        "midtrans": MidtransGateway(SERVER_KEY, client=http),
        "xendit": XenditGateway("xnd_development_TEST", CALLBACK_TOKEN, client=http),
    }
    with TestClient(create_app(billing, authenticate=by_header, gateways=gateways)) as client:
        yield client


def midtrans_body(invoice: Invoice, status: str = "settlement", *, key: str = SERVER_KEY) -> bytes:
    gross = f"{invoice.total.amount}.00"
    notice = {
        "order_id": invoice.code,
        "status_code": "200",
        "gross_amount": gross,
        "transaction_status": status,
        "transaction_id": "9aed5972-5b6a-401e-894b-a32c91ed1a3a",
        "fraud_status": "accept",
        "signature_key": hashlib.sha512(f"{invoice.code}200{gross}{key}".encode()).hexdigest(),
    }
    return json.dumps(notice).encode()


def status_of(billing: Billing, invoice: Invoice) -> InvoiceStatus:
    return billing.invoice("acme", invoice.code).status


class TestMidtrans:
    def test_a_settlement_pays_and_its_replay_is_200(
        self, client: TestClient[Any], billing: Billing, invoice: Invoice
    ) -> None:
        first = client.post("/webhooks/midtrans", content=midtrans_body(invoice), headers=JSON)
        assert first.status_code == 200
        assert first.json() == {"status": "applied", "invoice_code": invoice.code, "code": None}
        assert status_of(billing, invoice) is InvoiceStatus.PAID
        paid_plan = billing.subscription("acme").plan
        again = client.post("/webhooks/midtrans", content=midtrans_body(invoice), headers=JSON)
        assert again.status_code == 200
        assert billing.subscription("acme").plan == paid_plan == "growth"
        assert len(billing.usage_history("acme").items) == len(billing.usage_history("acme").items)

    def test_a_bad_signature_is_401_and_applies_nothing(
        self, client: TestClient[Any], billing: Billing, invoice: Invoice
    ) -> None:
        forged = midtrans_body(invoice, key="not-the-key")
        response = client.post("/webhooks/midtrans", content=forged, headers=JSON)
        body = assert_problem(response, 401, "invalid_signature")
        assert SERVER_KEY not in response.text and body["facts"] == {}
        assert status_of(billing, invoice) is InvoiceStatus.PENDING

    def test_a_body_that_is_not_json_is_401(self, client: TestClient[Any]) -> None:
        response = client.post("/webhooks/midtrans", content=b"order_id=1", headers=JSON)
        assert_problem(response, 401, "invalid_signature")

    def test_pending_is_ignored(
        self, client: TestClient[Any], billing: Billing, invoice: Invoice
    ) -> None:
        response = client.post(
            "/webhooks/midtrans", content=midtrans_body(invoice, "pending"), headers=JSON
        )
        assert response.json()["status"] == "ignored"
        assert status_of(billing, invoice) is InvoiceStatus.PENDING

    def test_another_apps_invoice_is_ignored_with_200(
        self, client: TestClient[Any], invoice: Invoice
    ) -> None:
        """Retrying cannot make it ours: 2xx, so Midtrans stops sending it."""
        body = json.loads(midtrans_body(invoice))
        body["order_id"] = "INV-209912-000001"
        gross = body["gross_amount"]
        body["signature_key"] = hashlib.sha512(
            f"INV-209912-000001200{gross}{SERVER_KEY}".encode()
        ).hexdigest()
        response = client.post("/webhooks/midtrans", content=json.dumps(body), headers=JSON)
        assert response.status_code == 200
        assert response.json()["status"] == "ignored"


class TestXendit:
    def callback(self, invoice: Invoice, status: str = "PAID") -> bytes:
        return json.dumps(
            {
                "id": "579c8d61f23fa4ca35e52da4",
                "external_id": invoice.code,
                "status": status,
                "amount": invoice.total.amount,
                "paid_amount": invoice.total.amount,
                "currency": "IDR",
            }
        ).encode()

    def test_a_paid_callback_pays(
        self, client: TestClient[Any], billing: Billing, invoice: Invoice
    ) -> None:
        headers = {**JSON, "x-callback-token": CALLBACK_TOKEN}
        response = client.post("/webhooks/xendit", content=self.callback(invoice), headers=headers)
        assert response.status_code == 200
        assert response.json()["status"] == "applied"
        assert status_of(billing, invoice) is InvoiceStatus.PAID
        replay = client.post("/webhooks/xendit", content=self.callback(invoice), headers=headers)
        assert replay.status_code == 200

    def test_a_wrong_token_is_401(
        self, client: TestClient[Any], billing: Billing, invoice: Invoice
    ) -> None:
        headers = {**JSON, "x-callback-token": "guess"}
        response = client.post("/webhooks/xendit", content=self.callback(invoice), headers=headers)
        assert_problem(response, 401, "invalid_signature")
        assert status_of(billing, invoice) is InvoiceStatus.PENDING


class TestFakeGateway:
    """The demo's payment-page gateway (``subkit.web.fake_pay``) signs its notifications."""

    def test_a_paid_notification_pays_once(self, billing: Billing, account: str) -> None:
        gateway = PaymentPageGateway("http://testserver", return_url="http://testserver/")
        paying = Billing(billing.catalogue, billing.store, gateway, clock=billing.clock)
        checkout = paying.change_plan("acme", "growth")
        assert checkout.invoice is not None
        app = create_app(paying, authenticate=by_header, gateways={"fake": gateway})
        with TestClient(app) as client:
            body = gateway.notification(checkout.invoice.code, PaymentStatus.PAID)
            first = client.post("/webhooks/fake", content=body, headers=JSON)
            again = client.post("/webhooks/fake", content=body, headers=JSON)
            forged = body.replace(b'"paid"', b'"refunded"')
            refused = client.post("/webhooks/fake", content=forged, headers=JSON)
        assert first.json()["status"] == again.json()["status"] == "applied"
        assert_problem(refused, 401, "invalid_signature")
        assert status_of(paying, checkout.invoice) is InvoiceStatus.PAID


class TestRefusals:
    def test_a_wrong_amount_is_refused_for_good(
        self, client: TestClient[Any], billing: Billing, invoice: Invoice
    ) -> None:
        """A retry cannot fix it: 200 ``refused`` with the code, and nothing applied."""
        body = json.loads(midtrans_body(invoice))
        gross = f"{invoice.total.amount * 2}.00"
        body["gross_amount"] = gross
        body["signature_key"] = hashlib.sha512(
            f"{invoice.code}200{gross}{SERVER_KEY}".encode()
        ).hexdigest()
        response = client.post("/webhooks/midtrans", content=json.dumps(body), headers=JSON)
        assert response.status_code == 200
        assert response.json()["status"] == "refused"
        assert response.json()["code"] == "payment_amount_mismatch"
        assert status_of(billing, invoice) is InvoiceStatus.PENDING


def test_only_configured_gateways_have_a_webhook(billing: Billing) -> None:
    with TestClient(create_app(billing, authenticate=by_header)) as client:
        assert_problem(
            client.post("/webhooks/midtrans", content=b"{}", headers=JSON), 404, "not_found"
        )


def test_a_gateway_that_cannot_read_notifications_is_refused_at_build(billing: Billing) -> None:
    with pytest.raises(InvalidArgument, match="parse_notification"):
        create_app(billing, authenticate=by_header, gateways={"mine": object()})


def test_a_webhook_name_must_be_a_path_segment(billing: Billing) -> None:
    with pytest.raises(InvalidArgument, match="name"):
        create_app(billing, authenticate=by_header, gateways={"a/b": billing.gateway})
