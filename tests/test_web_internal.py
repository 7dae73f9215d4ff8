"""The internal app (R-WEB-1 item 3): what the host's own services call and a customer must
not: opening accounts, charges (one at a time and batched), adjustments, the billing run,
event delivery and reconciliation, each behind ``authenticate_service``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from litestar.testing import TestClient

from subkit.public import public_dict
from subkit.service import Billing
from subkit.testing import FixedClock, RecordingSink
from subkit.web import create_app, create_internal_app
from web_client import JSON, assert_problem, by_header

SERVICE = {"X-Service": "messaging", **JSON}


def by_service_header(request: Any) -> str | None:
    value = request.headers.get("x-service")
    return str(value) if value else None


@pytest.fixture
def client(billing: Billing, account: str) -> Iterator[TestClient[Any]]:
    app = create_internal_app(billing, authenticate_service=by_service_header)
    with TestClient(app) as test_client:
        yield test_client


def test_every_route_needs_the_service(client: TestClient[Any]) -> None:
    for path in ["/accounts", "/charges/replies", "/charges/batch", "/advance", "/reconcile"]:
        assert_problem(client.post(path, json={}, headers=JSON), 401, "not_authenticated")


def test_open_account_is_201_and_a_second_time_409(
    client: TestClient[Any], billing: Billing
) -> None:
    made = client.post("/accounts", json={"account_id": "beta"}, headers=SERVICE)
    assert made.status_code == 201
    assert made.json() == public_dict(billing.subscription("beta"))
    again = client.post("/accounts", json={"account_id": "beta"}, headers=SERVICE)
    assert assert_problem(again, 409, "account_exists")["facts"] == {"account_id": "beta"}


def test_reply_charges_are_once_per_key(client: TestClient[Any], billing: Billing) -> None:
    body = {"account_id": "acme", "key": "msg-1", "count": 2}
    first = client.post("/charges/replies", json=body, headers=SERVICE)
    again = client.post("/charges/replies", json=body, headers=SERVICE)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["amount"] == {"amount": 60, "currency": "IDR"}
    assert billing.balances("acme").conversation.amount == 15_000 - 60


def test_a_broadcast_beyond_the_balance_is_402_with_the_shortfall(
    client: TestClient[Any],
) -> None:
    body = {"account_id": "acme", "key": "b-1", "recipients": 10}
    problem = assert_problem(
        client.post("/charges/broadcast", json=body, headers=SERVICE), 402, "insufficient_balance"
    )
    assert problem["facts"]["balance"] == "broadcast"
    assert problem["facts"]["shortfall"]["amount"] > 0


def test_a_batch_answers_each_request_in_order(client: TestClient[Any], billing: Billing) -> None:
    body = {
        "requests": [
            {"account_id": "acme", "kind": "reply", "count": 1, "key": "r-1"},
            {"account_id": "ghost", "kind": "reply", "count": 1, "key": "r-2"},
            {"account_id": "acme", "kind": "broadcast", "count": 5, "key": "b-2"},
        ]
    }
    results = client.post("/charges/batch", json=body, headers=SERVICE).json()
    assert results[0]["problem"] is None and results[0]["charge"]["key"] == "r-1"
    assert results[1]["charge"] is None
    assert results[1]["problem"]["code"] == "account_not_found"
    assert results[2]["problem"]["code"] == "insufficient_balance"
    assert billing.balances("acme").conversation.amount == 15_000 - 30


def test_a_batch_item_of_the_wrong_kind_is_422_naming_requests(client: TestClient[Any]) -> None:
    body = {"requests": [{"account_id": "acme", "kind": "sms", "count": 1, "key": "x"}]}
    problem = assert_problem(
        client.post("/charges/batch", json=body, headers=SERVICE), 422, "invalid_argument"
    )
    assert problem["facts"]["argument"] == "requests"


def test_adjust_balance(client: TestClient[Any], billing: Billing) -> None:
    body = {
        "account_id": "acme",
        "balance": "broadcast",
        "amount": 5_000,
        "key": "gift-1",
        "reason": "launch gift",
    }
    entry = client.post("/balances/adjust", json=body, headers=SERVICE).json()
    assert entry["kind"] == "adjustment" and entry["balance_after"]["amount"] == 5_000
    assert billing.balances("acme").broadcast.amount == 5_000


def test_advance_runs_the_billing_to_now(
    client: TestClient[Any], billing: Billing, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=40))
    report = client.post("/advance", json={}, headers=SERVICE).json()
    assert report["until"] == clock.now().isoformat()
    assert "acme" in report["accounts"]
    future = (clock.now() + timedelta(days=1)).isoformat()
    assert_problem(
        client.post("/advance", json={"now": future}, headers=SERVICE), 409, "invalid_time"
    )
    bad = client.post("/advance", json={"now": 0}, headers=SERVICE)
    assert assert_problem(bad, 422, "invalid_argument")["facts"]["argument"] == "now"


def test_deliver_events_and_reconcile(billing: Billing, account: str, sink: RecordingSink) -> None:
    app = create_internal_app(billing, authenticate_service=by_service_header)
    with TestClient(app) as client:
        delivered = client.post("/events/deliver", json={"limit": 10}, headers=SERVICE)
        assert delivered.json() == {"delivered": 0}
        report = client.post("/reconcile", json={"older_than_seconds": 0}, headers=SERVICE)
        assert report.status_code == 200
        assert report.json()["counts"] == {}


def test_the_account_app_has_none_of_these(billing: Billing, account: str) -> None:
    with TestClient(create_app(billing, authenticate=by_header)) as client:
        headers = {"X-Account": "acme", **JSON}
        for path in ["/charges/replies", "/balances/adjust", "/accounts", "/advance"]:
            response = client.post(path, json={"account_id": "acme", "key": "k"}, headers=headers)
            assert response.status_code in (404, 405), path


def test_a_batch_over_the_maximum_is_422(client: TestClient[Any]) -> None:
    from subkit.web.internal import MAX_BATCH

    item = {"account_id": "acme", "kind": "reply", "count": 1, "key": "k"}
    body = {"requests": [item] * (MAX_BATCH + 1)}
    response = client.post("/charges/batch", json=body, headers=SERVICE)
    assert assert_problem(response, 422, "invalid_argument")["facts"]["argument"] == "requests"
