"""The HTTP API (R-WEB-1..4) through Litestar's in-process client: every route's success shape
is the facade's value in its public JSON shape, every error is a problem document with the
error's status, and the account always comes from ``authenticate``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from litestar.testing import TestClient

from helpers import PROFILE
from subkit.errors import GatewayError, StoreError
from subkit.public import public_dict
from subkit.service import Billing
from subkit.testing import FakeGateway, InMemoryStore
from subkit.web import create_app
from web_client import ACME, JSON, assert_problem, by_header


@pytest.fixture
def client(billing: Billing, account: str) -> Iterator[TestClient[Any]]:
    billing.open_account("other")
    billing.set_billing_profile("other", PROFILE)
    with TestClient(create_app(billing, authenticate=by_header)) as test_client:
        yield test_client


class TestReads:
    @pytest.mark.parametrize(
        ("path", "call"),
        [
            ("/subscription", lambda b: b.subscription("acme")),
            ("/overview", lambda b: b.usage_overview("acme")),
            ("/plans", lambda b: b.offers("acme")),
            ("/balances", lambda b: b.balances("acme")),
        ],
    )
    def test_a_read_answers_the_facade_value(
        self, client: TestClient[Any], billing: Billing, path: str, call: Any
    ) -> None:
        response = client.get(path, headers=ACME)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == public_dict(call(billing))

    def test_no_bookkeeping_leaks(self, client: TestClient[Any]) -> None:
        """SPEC 19: the JSON has section 11's shape, not the store's."""
        body = client.get("/subscription", headers=ACME).json()
        assert "month_index" not in body and "stops" not in body
        assert body["stopping"] == {}

    def test_plans_lists_every_plan_by_rank_with_prices_and_limits(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        body = client.get("/plans", headers=ACME).json()
        assert [plan["code"] for plan in body["plans"]] == [
            plan.code for plan in billing.catalogue.plans_by_rank()
        ]
        growth = next(plan for plan in body["plans"] if plan["code"] == "growth")
        assert growth["prices"]["monthly"] == {"amount": 299_000, "currency": "IDR"}
        assert set(growth["limits"]) == {"users", "contacts", "broadcast_quota"}
        assert body["current_plan"] == "free"
        assert set(body["top_up"]) == {"conversation", "broadcast"}


class TestAuthentication:
    def test_no_account_is_401(self, client: TestClient[Any]) -> None:
        assert_problem(client.get("/subscription"), 401, "not_authenticated")

    def test_an_unknown_account_is_404(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            client.get("/subscription", headers={"X-Account": "ghost"}), 404, "account_not_found"
        )
        assert body["facts"] == {"account_id": "ghost"}

    def test_async_authenticate_is_awaited(self, billing: Billing, account: str) -> None:
        async def authenticate(request: Any) -> str:
            return "acme"

        with TestClient(create_app(billing, authenticate=authenticate)) as client:
            assert client.get("/balances").status_code == 200


class TestPlanChange:
    def test_quote_is_the_facade_quote(self, client: TestClient[Any], billing: Billing) -> None:
        response = client.post("/quotes/change", json={"plan": "growth"}, headers=ACME)
        assert response.status_code == 200
        assert response.json() == public_dict(billing.quote_change("acme", "growth"))

    def test_change_checks_out_and_replays_under_its_key(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        headers = {**ACME, "Idempotency-Key": "k-1"}
        first = client.post(
            "/changes", json={"plan": "growth", "interval": "annual"}, headers=headers
        )
        assert first.status_code == 200
        body = first.json()
        assert body["invoice"]["package"] == "Growth (Annual)"
        assert body["payment"]["redirect_url"].endswith(body["invoice"]["code"])
        again = client.post(
            "/changes", json={"plan": "growth", "interval": "annual"}, headers=headers
        )
        assert again.json()["invoice"]["code"] == body["invoice"]["code"]
        other = client.post("/changes", json={"plan": "pro"}, headers=headers)
        assert_problem(other, 409, "idempotency_conflict")
        assert len(billing.invoices("acme").items) == 1

    def test_a_field_of_the_wrong_type_is_422_naming_it(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            client.post("/changes", json={"plan": 5}, headers=ACME), 422, "invalid_argument"
        )
        assert body["facts"]["argument"] == "plan"
        assert body["errors"][0]["field"] == "plan"

    def test_an_unknown_interval_is_422_naming_it(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            client.post("/changes", json={"plan": "growth", "interval": "weekly"}, headers=ACME),
            422,
            "invalid_argument",
        )
        assert body["facts"]["argument"] == "interval"

    def test_an_unknown_plan_is_the_subkit_error(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            client.post("/quotes/change", json={"plan": "gold"}, headers=ACME), 422, "unknown_plan"
        )
        assert body["facts"] == {"plan": "gold"}

    def test_a_form_body_is_refused_and_changes_nothing(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        """R-WEB-4: a cross-site form cannot post JSON, so it cannot change anything."""
        response = client.post("/changes", data={"plan": "growth"}, headers=ACME)
        assert_problem(response, 415, "unsupported_media_type")
        assert billing.invoices("acme").items == ()


class TestProtocol:
    def test_options_lists_every_method_of_the_path(self, client: TestClient[Any]) -> None:
        response = client.options("/changes")
        assert response.status_code == 204
        assert response.headers["allow"] == "OPTIONS, POST"

    def test_an_unknown_route_is_a_404_problem(self, client: TestClient[Any]) -> None:
        assert_problem(client.get("/nowhere", headers=ACME), 404, "not_found")

    def test_a_wrong_method_is_405_with_allow(self, client: TestClient[Any]) -> None:
        response = client.delete("/subscription", headers={**ACME, **JSON})
        assert_problem(response, 405, "method_not_allowed")
        assert "GET" in response.headers["allow"]

    def test_the_openapi_document_covers_the_routes(self, client: TestClient[Any]) -> None:
        document = client.get("/openapi.json").json()
        assert document["openapi"].startswith("3.1")
        assert {"/subscription", "/changes"} <= set(document["paths"])
        change = document["paths"]["/changes"]["post"]
        assert {"200", "401", "409", "415", "422", "503"} <= set(change["responses"])
        assert "400" not in change["responses"]
        subscription = document["components"]["schemas"]["Subscription"]
        assert "stopping" in subscription["properties"]
        assert "month_index" not in subscription["properties"]


class DownStore(InMemoryStore):
    """A store whose database is unreachable."""

    down = False

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if self.down:
            raise StoreError("the database is unreachable")
        with super().transaction() as unit:
            yield unit

    @contextmanager
    def snapshot(self) -> Iterator[Any]:
        if self.down:
            raise StoreError("the database is unreachable")
        with super().snapshot() as unit:
            yield unit


def test_a_store_that_is_down_is_503(billing: Billing) -> None:
    store = DownStore()
    down = Billing(billing.catalogue, store, billing.gateway, clock=billing.clock)
    down.open_account("acme")
    store.down = True
    with TestClient(create_app(down, authenticate=by_header)) as client:
        assert_problem(client.get("/subscription", headers=ACME), 503, "store_error")
        response = client.post("/changes", json={"plan": "growth"}, headers={**ACME, **JSON})
        assert_problem(response, 503, "store_error")


def test_a_gateway_that_fails_a_checkout_is_503_and_the_key_retries(
    client: TestClient[Any], billing: Billing, gateway: FakeGateway
) -> None:
    """R-WEB-2: no 5xx but 503; a gateway down is one (it was 502). The same key then
    answers the checkout the committed invoice was waiting for."""
    gateway.fail_next = GatewayError("Midtrans is unreachable", status=None)
    headers = {**ACME, "Idempotency-Key": "topup-1"}
    body = {"balance": "conversation", "amount": 50_000}
    failed = client.post("/topups", json=body, headers=headers)
    assert_problem(failed, 503, "gateway_error")
    again = client.post("/topups", json=body, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["payment"]["redirect_url"].endswith(again.json()["invoice"]["code"])


def test_the_openapi_document_promises_no_5xx_but_503(client: TestClient[Any]) -> None:
    """R-WEB-2: no route documents a 5xx other than 503 (500 is a bug, never promised)."""
    paths = client.get("/openapi.json").json()["paths"]
    promised = {
        status
        for item in paths.values()
        for operation in item.values()
        for status in operation.get("responses", {})
        if status.startswith("5")
    }
    assert promised == {"503"}


def test_a_crash_is_500_without_its_text(billing: Billing, account: str) -> None:
    def broken(request: Any) -> str:
        raise RuntimeError("secret internals")

    with TestClient(create_app(billing, authenticate=broken)) as client:
        body = assert_problem(client.get("/subscription"), 500, "internal_error")
        assert "secret" not in body["detail"]


def test_the_internal_app_is_a_separate_app(billing: Billing) -> None:
    from subkit.web import create_internal_app

    app = create_internal_app(billing, authenticate_service=lambda request: None)
    with TestClient(app) as client:
        assert client.get("/openapi.json").json()["info"]["title"] == "subkit internal"
        assert_problem(client.get("/subscription"), 404, "not_found")


def test_a_fact_subkit_cannot_write_is_given_as_its_repr() -> None:
    from subkit.errors import InvalidArgument
    from subkit.web.problems import from_error

    found = from_error(InvalidArgument("bad", argument="x", value=object()))
    assert found.facts["argument"] == "x"
    assert found.facts["value"].startswith("<object")


def test_the_docs_list_every_route(billing: Billing) -> None:
    """docs/http-api.md's route tables name every route both apps serve."""
    from pathlib import Path

    from subkit.web import create_internal_app
    from subkit.web.fake_pay import PaymentPageGateway

    fake = PaymentPageGateway("http://testserver", return_url="http://testserver/")

    from subkit.web.fake_pay import PaymentPageGateway

    fake = PaymentPageGateway("http://testserver", return_url="http://testserver/")
    page = (Path(__file__).parent.parent / "docs" / "http-api.md").read_text(encoding="utf-8")
    documented = set()
    for line in page.splitlines():
        first = line.split("|")[1].strip() if line.startswith("| `") else ""
        if first:
            documented.add(" ".join(first.replace("`", "").replace("★", "").split()[:2]))
    for app in (
        create_app(billing, authenticate=by_header, gateways={"fake": fake}),
        create_internal_app(billing, authenticate_service=by_header),
    ):
        with TestClient(app) as client:
            paths = client.get("/openapi.json").json()["paths"]
        served = {f"{method.upper()} {path}" for path, item in paths.items() for method in item}
        served = {route.replace("/webhooks/fake", "/webhooks/<name>") for route in served}
        assert served <= documented, served - documented
