"""Every account route of R-WEB-1 through the in-process client: the answer is the facade's
value in its public JSON shape, refusals are problems, and one account never sees another's
invoices, documents or histories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from helpers import PROFILE, pay
from subkit.public import public_dict
from subkit.service import Billing
from subkit.web import create_app
from web_client import ACME, JSON, OTHER, assert_problem, by_header

#: Every state-changing route, with a body it accepts (``None``: it takes none).
STATE_CHANGING = [
    ("PUT", "/profile", {"name": "PT Acme", "email": "a@acme.id"}),
    ("POST", "/unsubscribe", None),
    ("POST", "/resume", None),
    ("POST", "/quotes/change", {"plan": "pro"}),
    ("POST", "/changes", {"plan": "pro"}),
    ("DELETE", "/changes/scheduled", None),
    ("POST", "/quotes/renewal", None),
    ("POST", "/renewals", None),
    ("POST", "/quotes/addons", {"quantities": {"extra_user": 1}}),
    ("POST", "/addons/orders", {"quantities": {"extra_user": 1}}),
    ("POST", "/addons/extra_user/stop", {"quantity": 1}),
    ("POST", "/addons/extra_user/resume", {"quantity": 1}),
    ("POST", "/topups", {"balance": "conversation", "amount": 50_000}),
    ("POST", "/invoices/INV-202601-000001/pay", None),
    ("POST", "/invoices/INV-202601-000001/cancel", None),
]


@pytest.fixture
def growth(billing: Billing, account: str) -> str:
    """acme on Growth monthly, paid, holding 2 extra users (paid); "other" on Free."""
    pay(billing, billing.change_plan("acme", "growth"))
    pay(billing, billing.buy_addons("acme", {"extra_user": 2}))
    billing.open_account("other")
    billing.set_billing_profile("other", PROFILE)
    return "acme"


@pytest.fixture
def client(billing: Billing, growth: str) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(billing, authenticate=by_header)) as test_client:
        yield test_client


def send(client: TestClient[Any], method: str, path: str, body: Any = None, **headers: str) -> Any:
    return client.request(method, path, json=body, headers={**ACME, **JSON, **headers})


class TestProfile:
    def test_get_is_the_profile(self, client: TestClient[Any]) -> None:
        assert client.get("/profile", headers=ACME).json() == public_dict(PROFILE)

    def test_put_sets_it_and_answers_it(self, client: TestClient[Any], billing: Billing) -> None:
        body = {"name": "PT Baru", "email": "tagihan@baru.id", "address": "Jl. Baru 2"}
        response = send(client, "PUT", "/profile", body)
        assert response.status_code == 200
        assert response.json() == {**body, "tax_number": None}
        assert billing.billing_profile("acme") == billing.billing_profile("acme").__class__(
            "PT Baru", "tagihan@baru.id", "Jl. Baru 2"
        )

    def test_a_profile_without_email_is_422_naming_it(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            send(client, "PUT", "/profile", {"name": "x"}), 422, "invalid_argument"
        )
        assert "email" in body["detail"]

    def test_a_new_account_has_none(self, billing: Billing, client: TestClient[Any]) -> None:
        billing.open_account("fresh")
        assert client.get("/profile", headers={"X-Account": "fresh"}).json() is None

    def test_options_lists_get_and_put(self, client: TestClient[Any]) -> None:
        """The ST205 regression: Litestar's own OPTIONS said only ``GET, OPTIONS``."""
        assert client.options("/profile").headers["allow"] == "GET, OPTIONS, PUT"


class TestSubscription:
    def test_unsubscribe_then_resume(self, client: TestClient[Any], billing: Billing) -> None:
        gone = send(client, "POST", "/unsubscribe")
        assert gone.status_code == 200
        assert gone.json()["status"] == "cancelling"
        assert gone.json() == public_dict(billing.subscription("acme"))
        back = send(client, "POST", "/resume", {})
        assert back.json()["status"] == "active"

    def test_resume_when_not_cancelling_is_409(self, client: TestClient[Any]) -> None:
        assert_problem(send(client, "POST", "/resume"), 409, "not_cancelling")

    def test_a_scheduled_change_is_cancelled(self, client: TestClient[Any]) -> None:
        down = send(client, "POST", "/changes", {"plan": "free"})
        assert down.status_code == 200
        assert (
            client.get("/subscription", headers=ACME).json()["scheduled_change"]["plan"] == "free"
        )
        cancelled = send(client, "DELETE", "/changes/scheduled")
        assert cancelled.status_code == 200
        assert cancelled.json()["scheduled_change"] is None
        assert_problem(send(client, "DELETE", "/changes/scheduled"), 409, "nothing_to_cancel")

    def test_renewal_quote_and_checkout(self, client: TestClient[Any], billing: Billing) -> None:
        quote = send(client, "POST", "/quotes/renewal")
        assert quote.json() == public_dict(billing.quote_renewal("acme"))
        first = send(client, "POST", "/renewals", **{"Idempotency-Key": "renew-1"})
        again = send(client, "POST", "/renewals", **{"Idempotency-Key": "renew-1"})
        assert first.status_code == again.status_code == 200
        assert first.json()["invoice"]["type"] == "renewal"
        assert first.json()["invoice"]["total"] == quote.json()["total"]
        assert again.json()["invoice"]["code"] == first.json()["invoice"]["code"]


class TestAddOns:
    def test_lists(self, client: TestClient[Any], billing: Billing) -> None:
        for path, call in [
            ("/addons", billing.addons),
            ("/addons/available", billing.available_addons),
            ("/addons/history", billing.addon_history),
        ]:
            response = client.get(path, headers=ACME)
            assert response.status_code == 200
            assert response.json() == public_dict(call("acme"))
        held = client.get("/addons", headers=ACME).json()
        assert [(a["code"], a["quantity"]) for a in held] == [("extra_user", 2)]

    def test_quote_and_order(self, client: TestClient[Any], billing: Billing) -> None:
        body = {"quantities": {"extra_user": 1}}
        quote = send(client, "POST", "/quotes/addons", body)
        assert quote.json() == public_dict(billing.quote_addons("acme", {"extra_user": 1}))
        order = send(client, "POST", "/addons/orders", body, **{"Idempotency-Key": "a-1"})
        assert order.json()["invoice"]["type"] == "add_on"
        assert order.json()["invoice"]["total"] == quote.json()["total"]

    def test_an_unknown_add_on_is_422(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            send(client, "POST", "/quotes/addons", {"quantities": {"gold": 1}}),
            422,
            "unknown_addon",
        )
        assert body["facts"] == {"addon": "gold"}

    def test_a_quantity_that_is_not_an_int_is_422_naming_quantities(
        self, client: TestClient[Any]
    ) -> None:
        body = assert_problem(
            send(client, "POST", "/quotes/addons", {"quantities": {"extra_user": "2"}}),
            422,
            "invalid_argument",
        )
        assert body["facts"]["argument"] == "quantities"

    def test_stop_then_resume(self, client: TestClient[Any]) -> None:
        stopped = send(client, "POST", "/addons/extra_user/stop", {"quantity": 1})
        assert stopped.status_code == 200
        assert stopped.json()["stopping"] == 1
        assert client.get("/subscription", headers=ACME).json()["stopping"] == {"extra_user": 1}
        resumed = send(client, "POST", "/addons/extra_user/resume")
        assert resumed.json()["stopping"] == 0
        kinds = [event["kind"] for event in client.get("/addons/history", headers=ACME).json()]
        assert kinds[-2:] == ["stopped", "resumed"]

    def test_stopping_more_than_held_is_409(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            send(client, "POST", "/addons/extra_user/stop", {"quantity": 5}), 409, "addon_not_held"
        )
        assert body["facts"]["active"] == 2


class TestBalances:
    def test_top_up_checks_out(self, client: TestClient[Any], billing: Billing) -> None:
        body = {"balance": "broadcast", "amount": 100_000}
        response = send(client, "POST", "/topups", body, **{"Idempotency-Key": "t-1"})
        assert response.status_code == 200
        invoice = response.json()["invoice"]
        assert invoice["type"] == "top_up"
        assert invoice["subtotal"] == {"amount": 100_000, "currency": "IDR"}

    def test_a_top_up_out_of_range_is_422_with_its_range(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            send(client, "POST", "/topups", {"balance": "conversation", "amount": 1}),
            422,
            "top_up_out_of_range",
        )
        assert set(body["facts"]) == {"minimum", "maximum"}
        assert body["facts"]["minimum"]["currency"] == "IDR"

    def test_an_unknown_balance_is_422_naming_it(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            send(client, "POST", "/topups", {"balance": "gold", "amount": 50_000}),
            422,
            "invalid_argument",
        )
        assert body["facts"]["argument"] == "balance"

    def test_usage_pages_and_filters(self, client: TestClient[Any], billing: Billing) -> None:
        first = client.get("/usage", params={"limit": 1}, headers=ACME).json()
        assert first == public_dict(billing.usage_history("acme", limit=1))
        assert len(first["items"]) == 1 and first["next_cursor"]
        rest = client.get(
            "/usage", params={"limit": 500, "cursor": first["next_cursor"]}, headers=ACME
        ).json()
        assert rest == public_dict(
            billing.usage_history("acme", limit=500, cursor=first["next_cursor"])
        )
        grants = client.get("/usage", params={"kind": "grant"}, headers=ACME).json()["items"]
        assert grants and {entry["kind"] for entry in grants} == {"grant"}
        since = client.get(
            "/usage", params={"since": "2099-01-01T00:00:00+07:00"}, headers=ACME
        ).json()
        assert since["items"] == []

    @pytest.mark.parametrize(
        ("query", "field", "code"),
        [
            ({"limit": 0}, "limit", "invalid_argument"),
            ({"limit": "ten"}, "limit", "invalid_argument"),
            ({"kind": "gift"}, "kind", "invalid_argument"),
            ({"since": "yesterday"}, "since", "invalid_argument"),
            ({"until": "0.5"}, "until", "invalid_argument"),
            ({"until": "2026-13-45T00:00:00Z"}, "until", "invalid_argument"),
            ({"cursor": "not-a-cursor"}, "cursor", "invalid_cursor"),
        ],
    )
    def test_a_bad_query_is_422_naming_the_field(
        self, client: TestClient[Any], query: dict[str, Any], field: str, code: str
    ) -> None:
        body = assert_problem(client.get("/usage", params=query, headers=ACME), 422, code)
        assert body["facts"]["argument"] == field

    def test_a_naive_instant_is_naive_datetime(self, client: TestClient[Any]) -> None:
        response = client.get("/usage", params={"since": "2026-01-01T00:00:00"}, headers=ACME)
        assert_problem(response, 422, "naive_datetime")

    def test_usage_summary_is_the_facade_totals(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        from datetime import datetime

        query = {"since": "2026-01-01T00:00:00+07:00", "until": "2026-03-01T00:00:00+07:00"}
        body = client.get("/usage/summary", params={**query, "by": "month"}, headers=ACME)
        assert body.status_code == 200
        expected = billing.usage_summary(
            "acme",
            since=datetime.fromisoformat(query["since"]),
            until=datetime.fromisoformat(query["until"]),
            by="month",
        )
        assert body.json() == public_dict(expected) and body.json()
        missing = client.get("/usage/summary", params={"since": query["since"]}, headers=ACME)
        assert assert_problem(missing, 422, "invalid_argument")["facts"]["argument"] == "until"

    def test_topups_history(self, client: TestClient[Any], billing: Billing) -> None:
        pay(billing, billing.top_up("acme", "conversation", 50_000))
        body = client.get("/topups", headers=ACME).json()
        assert body == public_dict(billing.topup_history("acme"))
        assert [entry["kind"] for entry in body["items"]] == ["top_up"]


class TestInvoices:
    def test_list_filter_and_detail(self, client: TestClient[Any], billing: Billing) -> None:
        listed = client.get("/invoices", headers=ACME).json()
        assert listed == public_dict(billing.invoices("acme"))
        codes = [invoice["code"] for invoice in listed["items"]]
        assert len(codes) == 2
        add_ons = client.get("/invoices", params={"type": "add_on"}, headers=ACME).json()
        assert [invoice["type"] for invoice in add_ons["items"]] == ["add_on"]
        one = client.get(f"/invoices/{codes[0]}", headers=ACME).json()
        assert one == public_dict(billing.invoice("acme", codes[0]))
        assert "order" not in one and "version" not in one

    @pytest.mark.parametrize(
        ("format_", "media", "extension"),
        [
            ("pdf", "application/pdf", "pdf"),
            ("html", "text/html", "html"),
            ("text", "text/plain", "txt"),
        ],
    )
    def test_the_document_downloads_with_type_and_name(
        self, client: TestClient[Any], billing: Billing, format_: str, media: str, extension: str
    ) -> None:
        code = billing.invoices("acme").items[0].code
        response = client.get(
            f"/invoices/{code}/document", params={"format": format_, "locale": "en"}, headers=ACME
        )
        assert response.status_code == 200
        assert response.headers["content-type"].split(";")[0] == media
        assert (
            response.headers["content-disposition"] == f'attachment; filename="{code}.{extension}"'
        )
        assert response.content == billing.render_invoice("acme", code, format=format_, locale="en")

    def test_an_unknown_format_is_422(self, client: TestClient[Any], billing: Billing) -> None:
        code = billing.invoices("acme").items[0].code
        response = client.get(f"/invoices/{code}/document?format=docx", headers=ACME)
        assert assert_problem(response, 422, "invalid_argument")["facts"]["argument"] == "format"

    def test_pay_reuses_the_session_and_cancel_drops_the_order(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        checkout = send(client, "POST", "/topups", {"balance": "conversation", "amount": 50_000})
        code = checkout.json()["invoice"]["code"]
        paying = send(client, "POST", f"/invoices/{code}/pay")
        assert paying.status_code == 200
        assert paying.json()["payment"] == checkout.json()["payment"]
        cancelled = send(client, "POST", f"/invoices/{code}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        body = assert_problem(
            send(client, "POST", f"/invoices/{code}/pay"), 409, "invalid_transition"
        )
        assert body["facts"]["current"] == "cancelled"

    def test_an_unknown_invoice_is_404(self, client: TestClient[Any]) -> None:
        body = assert_problem(
            client.get("/invoices/INV-209901-999999", headers=ACME), 404, "invoice_not_found"
        )
        assert body["facts"]["invoice_code"] == "INV-209901-999999"


class TestIsolation:
    """R-WEB-1: the account is the one ``authenticate`` names; no route reaches another's."""

    def test_another_account_sees_none_of_acme(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        codes = [invoice.code for invoice in billing.invoices("acme").items]
        assert client.get("/invoices", headers=OTHER).json()["items"] == []
        assert client.get("/addons/history", headers=OTHER).json() == []
        usage = client.get("/usage", headers=OTHER).json()["items"]
        assert {entry["account_id"] for entry in usage} == {"other"}
        for code in codes:
            for method, path in [
                ("GET", f"/invoices/{code}"),
                ("GET", f"/invoices/{code}/document"),
                ("POST", f"/invoices/{code}/pay"),
                ("POST", f"/invoices/{code}/cancel"),
            ]:
                response = client.request(method, path, headers={**OTHER, **JSON})
                assert_problem(response, 404, "invoice_not_found")
        assert [invoice.status for invoice in billing.invoices("acme").items] == [
            invoice.status for invoice in billing.invoices("acme").items
        ]

    def test_an_account_id_in_the_body_is_not_read(
        self, client: TestClient[Any], billing: Billing
    ) -> None:
        response = send(
            client,
            "POST",
            "/topups",
            {"balance": "conversation", "amount": 50_000, "account_id": "other"},
        )
        assert response.json()["invoice"]["account_id"] == "acme"
        assert billing.invoices("other").items == ()


class TestJsonOnly:
    """R-WEB-4: a state-changing route refuses anything but JSON, and changes nothing."""

    @pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGING)
    def test_a_form_is_refused(
        self, client: TestClient[Any], billing: Billing, method: str, path: str, body: Any
    ) -> None:
        before = (billing.subscription("acme"), billing.invoices("acme"), billing.balances("acme"))
        form = {key: str(value) for key, value in (body or {"x": "1"}).items()}
        response = client.request(method, path, data=form, headers=ACME)
        assert_problem(response, 415, "unsupported_media_type")
        plain = client.request(
            method, path, content=b"{}", headers={**ACME, "Content-Type": "text/plain"}
        )
        assert_problem(plain, 415, "unsupported_media_type")
        bare = client.request(method, path, headers=ACME)
        assert_problem(bare, 415, "unsupported_media_type")
        assert (
            billing.subscription("acme"),
            billing.invoices("acme"),
            billing.balances("acme"),
        ) == before

    @pytest.mark.parametrize(
        "path", ["/quotes/change", "/changes", "/quotes/addons", "/addons/orders", "/topups"]
    )
    def test_a_missing_body_is_422(self, client: TestClient[Any], path: str) -> None:
        assert_problem(send(client, "POST", path), 422, "invalid_argument")

    def test_malformed_json_is_422(self, client: TestClient[Any]) -> None:
        response = client.post("/changes", content=b'{"plan": ', headers={**ACME, **JSON})
        assert_problem(response, 422, "invalid_argument")

    def test_a_body_too_large_is_413(self, client: TestClient[Any]) -> None:
        big = b'{"plan": "' + b"x" * 100_000 + b'"}'
        response = client.post("/changes", content=big, headers={**ACME, **JSON})
        assert_problem(response, 413, "request_too_large")
