"""The reference page's server side without a browser: what it renders, in which words, and
how a host overrides it (R-WEB-5, R-WEB-6). The browser drives it in test_page_browser.py."""

from __future__ import annotations

import html
import json
import re
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from helpers import START, default_catalogue_toml
from subkit import labels
from subkit.errors import InvalidSignature
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.plans import Catalogue
from subkit.testing import FixedClock
from subkit.web.fake_pay import PaymentPageGateway
from subkit.web.page import SubscriptionPage, parse_order
from subkit.web.page_routes import LANG_COOKIE, NEXT_CURSOR
from subkit.web.serve import DEMO_ACCOUNT, DEMO_REPLIES, Served, build, seed_demo

URL = "http://testserver.local"


@pytest.fixture
def notes() -> list[bytes]:
    """The notifications the fake gateway sent, for the test to deliver."""
    return []


def served(db: Path, notes: list[bytes], catalogue: Catalogue | None = None) -> Served:
    return build(
        db, base_url=URL, clock=FixedClock(START), notify=notes.append, catalogue=catalogue
    )


@pytest.fixture
def demo(tmp_path: Path, notes: list[bytes]) -> Iterator[Served]:
    site = served(tmp_path / "page.sqlite", notes)
    yield site
    site.close()


@pytest.fixture
def client(demo: Served) -> Iterator[TestClient[Any]]:
    with TestClient(demo.app, base_url=URL) as test_client:
        yield test_client


def text_of(page: str) -> str:
    """The words of a page, without its markup (scripts and attributes dropped)."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def summary(client: TestClient[Any], order: dict[str, Any], lang: str = "en") -> Any:
    return client.post(f"/page/summary?lang={lang}", json=order)


class TestTheDemo:
    def test_serve_opens_the_demo_account_once(self, tmp_path: Path, notes: list[bytes]) -> None:
        """R-WEB-6: the demo account has usage and a paid top-up; serving the same file again
        keeps it as it is."""
        first = served(tmp_path / "demo.sqlite", notes)
        try:
            history = first.billing.usage_history(DEMO_ACCOUNT, limit=100).items
            assert sum(1 for entry in history if entry.kind == "reply") == DEMO_REPLIES
            (top_up,) = first.billing.invoices(DEMO_ACCOUNT).items
            assert top_up.status is InvoiceStatus.PAID
            assert seed_demo(first.billing) is False
        finally:
            first.close()
        again = served(tmp_path / "demo.sqlite", notes)
        try:
            assert len(again.billing.usage_history(DEMO_ACCOUNT, limit=100).items) == len(history)
        finally:
            again.close()

    def test_the_cli_serves_the_page(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """``subkit serve --host --port --db`` runs uvicorn on the demo app."""
        import uvicorn

        from subkit.cli import main

        seen: dict[str, Any] = {}
        monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options, app=app))
        db = tmp_path / "served.sqlite"
        assert main(["serve", "--port", "8123", "--db", str(db)]) == 0
        assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
        assert db.exists()


class TestThePage:
    def test_indonesian_by_default_with_no_english_word(self, client: TestClient[Any]) -> None:
        """R-WEB-5: the catalogue's locale (id_ID) is the default, and no word of the page's
        English shows on the Indonesian page."""
        response = client.get("/")
        assert response.status_code == 200
        assert '<html lang="id">' in response.text
        words = text_of(response.text)
        assert "Ringkasan Penggunaan" in words and "Rp64.280" in words
        english = {
            text
            for message in labels.messages()
            for text in (message[1],)
            if "{" not in text and labels.translate(message, "id_ID") != text
        }
        found = [w for w in english if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", words)]
        assert found == []

    def test_english_is_chosen_and_remembered(self, client: TestClient[Any]) -> None:
        response = client.get("/?lang=en")
        assert '<html lang="en">' in response.text
        assert "IDR 64,280" in response.text
        assert response.cookies.get(LANG_COOKIE) == "en"
        assert '<html lang="en">' in client.get("/").text
        assert '<html lang="id">' in client.get("/?lang=fr").text  # no French: the default

    def test_host_text_is_inert(self, tmp_path: Path, notes: list[bytes]) -> None:
        """Names from the catalogue are escaped, never markup (autoescape)."""
        data = tomllib.loads(default_catalogue_toml())
        data["plans"]["growth"]["name"] = "<script>alert(1)</script>"
        site = served(tmp_path / "inert.sqlite", notes, Catalogue.from_dict(data))
        try:
            page = SubscriptionPage(site.billing).render(DEMO_ACCOUNT)
        finally:
            site.close()
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_a_host_overrides_one_section_by_name(self, demo: Served, tmp_path: Path) -> None:
        """A template of the same name in the host's directory wins; the rest stay subkit's."""
        section = tmp_path / "templates" / "subkit" / "sections"
        section.mkdir(parents=True)
        (section / "invoices.html").write_text("<section id='invoices'>{{ t.invoices }}: ours")
        page = SubscriptionPage(demo.billing, templates=tmp_path / "templates").render(
            DEMO_ACCOUNT, locale="en"
        )
        assert "Invoices: ours" in page
        assert "Invoice Code" not in page
        assert "Usage Overview" in page

    def test_histories_page_with_more(self, client: TestClient[Any]) -> None:
        """Usage History shows ten rows and a "more" whose rows come from /page/rows."""
        page = client.get("/?lang=en").text
        (cursor,) = re.findall(r'data-more="usage" data-cursor="([^"]+)"', page)
        rows = client.get("/page/rows/usage", params={"cursor": cursor, "lang": "en"})
        assert rows.status_code == 200
        assert rows.text.count("<tr>") == 10
        last = client.get("/page/rows/usage", params={"cursor": rows.headers[NEXT_CURSOR]})
        assert last.text.count("<tr>") == DEMO_REPLIES + 2 - 20  # grant, top-up, replies
        assert NEXT_CURSOR not in last.headers
        assert client.get("/page/rows/nothing").status_code == 422

    def test_the_invoice_notice_after_payment(self, client: TestClient[Any], demo: Served) -> None:
        (invoice,) = demo.billing.invoices(DEMO_ACCOUNT).items
        page = client.get(f"/?lang=en&invoice={invoice.code}").text
        assert f"Invoice {invoice.code}: Paid" in page
        assert 'role="status"' not in client.get("/?invoice=INV-NOPE").text


class TestTheOrderSummary:
    def test_a_change_starts_from_the_units_that_renew(self, client: TestClient[Any]) -> None:
        response = summary(client, {"kind": "change", "plan": "growth", "interval": "monthly"})
        assert response.status_code == 200
        (attribute,) = re.findall(r'data-order="([^"]+)"', response.text)
        order = json.loads(html.unescape(attribute))
        assert order["quantities"] == {"extra_contact": 0, "extra_user": 0}
        assert 'data-field="total">IDR 299,000<' in response.text

    def test_steps_move_within_bounds(self, client: TestClient[Any], demo: Served) -> None:
        top = demo.billing.catalogue.addons["extra_user"].max_quantity
        order = {"kind": "change", "plan": "growth", "interval": "monthly"}
        at_top = summary(client, {**order, "quantities": {"extra_user": top}}).text
        assert re.search(r'id="change-extra_user-more"[^>]*disabled', at_top)
        assert not re.search(r'id="change-extra_user-less"[^>]*disabled', at_top)
        over = summary(client, {**order, "quantities": {"extra_user": top + 1}})
        assert over.status_code == 422 and "between 0 and 100" in over.text

    def test_a_downgrade_shows_the_notice(self, client: TestClient[Any], demo: Served) -> None:
        checkout = demo.billing.change_plan(DEMO_ACCOUNT, "pro")
        assert checkout.invoice is not None and checkout.payment is not None
        event = demo.gateway.parse_notification(
            demo.gateway.notification(checkout.invoice.code, PaymentStatus.PAID)
        )
        assert event is not None
        demo.billing.apply_payment(event)
        text = summary(client, {"kind": "change", "plan": "growth", "interval": "monthly"}).text
        assert "This is a downgrade: some features will be reduced." in text
        assert "Users: 15 → 5" in text

    def test_an_addon_order_without_units_has_nothing_to_pay(
        self, client: TestClient[Any], demo: Served
    ) -> None:
        demo.billing.change_plan(DEMO_ACCOUNT, "growth")  # pending: still Free, sells none
        assert "Nothing to pay." in summary(client, {"kind": "addons", "quantities": {}}).text

    @pytest.mark.parametrize(
        "order",
        [
            [],
            {"kind": "refund"},
            {"kind": "change"},
            {"kind": "change", "plan": "growth", "interval": "weekly"},
            {"kind": "addons", "quantities": {"extra_user": "2"}},
            {"kind": "addons", "quantities": {"made_up": 1}},
        ],
    )
    def test_bad_orders_are_refused_in_words(self, client: TestClient[Any], order: Any) -> None:
        response = summary(client, order)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("text/plain")

    def test_parse_order_reads_what_the_page_posts(self) -> None:
        order = parse_order({"kind": "change", "plan": "pro", "quantities": {"extra_user": 1}})
        assert order.checkout_body() == json.dumps(
            {"addons": {"extra_user": 1}, "interval": "monthly", "plan": "pro"}, sort_keys=True
        )


class TestTheFakeGateway:
    def test_its_page_posts_a_signed_notification(
        self, client: TestClient[Any], demo: Served, notes: list[bytes]
    ) -> None:
        """R-WEB-6: pay, fail or expire on the payment page; the gateway posts a signed
        notification to the webhook, which applies it; a tampered one is 401."""
        checkout = demo.billing.top_up(DEMO_ACCOUNT, "broadcast", 20_000)
        assert checkout.invoice is not None and checkout.payment is not None
        code = checkout.invoice.code
        assert checkout.payment.redirect_url == f"{URL}/fake-gateway/{code}"
        assert "Rp20.000" in client.get(f"/fake-gateway/{code}").text
        assert client.get("/fake-gateway/INV-NONE").status_code == 404
        back = client.post(f"/fake-gateway/{code}", data={"outcome": "pay"}, follow_redirects=False)
        assert back.status_code == 303 and back.headers["location"] == f"{URL}/?invoice={code}"
        (note,) = notes
        tampered = note.replace(b'"amount": 20000', b'"amount": 1')
        json_type = {"Content-Type": "application/json"}
        assert client.post("/webhooks/fake", content=tampered, headers=json_type).status_code == 401
        assert demo.billing.invoice(DEMO_ACCOUNT, code).status is InvoiceStatus.PENDING
        assert client.post("/webhooks/fake", content=note, headers=json_type).status_code == 200
        assert demo.billing.invoice(DEMO_ACCOUNT, code).status is InvoiceStatus.PAID
        assert client.post(f"/fake-gateway/{code}", data={"outcome": "?"}).status_code == 400

    @pytest.mark.parametrize("body", [b"[]", b"{}", b"not json", b'{"signature": 1}'])
    def test_it_refuses_what_it_did_not_sign(self, body: bytes) -> None:
        gateway = PaymentPageGateway(URL, return_url=URL)
        with pytest.raises(InvalidSignature):
            gateway.parse_notification(body)

    def test_an_expired_outcome(self, demo: Served, notes: list[bytes]) -> None:
        checkout = demo.billing.top_up(DEMO_ACCOUNT, "broadcast", 20_000)
        assert checkout.invoice is not None
        event = demo.gateway.parse_notification(
            demo.gateway.notification(checkout.invoice.code, PaymentStatus.EXPIRED)
        )
        assert event is not None
        assert event.status is PaymentStatus.EXPIRED and event.amount.amount == 20_000
        assert timedelta(0) < checkout.invoice.expires_at - START


def pay_with_the_gateway(site: Served, checkout: Any) -> None:
    assert checkout.invoice is not None
    event = site.gateway.parse_notification(
        site.gateway.notification(checkout.invoice.code, PaymentStatus.PAID)
    )
    assert event is not None
    site.billing.apply_payment(event)


def test_the_held_plan_offers_only_the_other_interval(demo: Served) -> None:
    """Choosing the plan held now switches its interval: the monthly one is not offered."""
    pay_with_the_gateway(demo, demo.billing.change_plan(DEMO_ACCOUNT, "growth"))
    html = SubscriptionPage(demo.billing).render(DEMO_ACCOUNT, locale="en")
    assert 'data-choose="growth" data-intervals="annual"' in html
    assert 'data-choose="pro" data-intervals="monthly annual"' in html


def test_manage_addons_shows_the_addon_history_newest_first(demo: Served) -> None:
    """R-ADD-6 on the page: under Manage Add-Ons, the purchases and stops, newest first."""
    pay_with_the_gateway(
        demo, demo.billing.change_plan(DEMO_ACCOUNT, "growth", addons={"extra_user": 2})
    )
    demo.billing.stop_addon(DEMO_ACCOUNT, "extra_user", quantity=1)
    html = SubscriptionPage(demo.billing).render(DEMO_ACCOUNT, locale="id_ID")
    section = html[html.index('id="addon-history"') :]
    section = section[: section.index("</section>")]
    body = section[section.index("<tbody>") :]
    rows = re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)
    assert [("Dihentikan" in row, "Dibeli" in row) for row in rows] == [
        (True, False),
        (False, True),
    ]
    assert "Riwayat Add-On" in section


def test_a_scheduled_change_can_be_cancelled_only_while_unpaid(demo: Served) -> None:
    pay_with_the_gateway(demo, demo.billing.change_plan(DEMO_ACCOUNT, "growth"))
    checkout = demo.billing.change_plan(DEMO_ACCOUNT, "pro")
    assert checkout.invoice is not None
    page = SubscriptionPage(demo.billing)
    unpaid = page.render(DEMO_ACCOUNT, locale="en")
    assert f"Awaiting payment of invoice {checkout.invoice.code}." in unpaid
    assert "Cancel this change" in unpaid
    pay_with_the_gateway(demo, checkout)
    paid = page.render(DEMO_ACCOUNT, locale="en")
    assert "From 10 Feb 2026 the plan becomes Pro (Monthly)." in paid
    assert "Cancel this change" not in paid
