"""Invoices written by subkit 0.1 still open and render, wholly in the asked locale.

``fixtures/invoices-0.1.sqlite3`` was written by the 0.1 code (before invoices stored their
tax setting, seller and line facts): one account on SQLite with a paid plan purchase, a
paid add-on purchase, a paid immediate plan change with a credit line, and a pending
top-up, under PPN 12% × 11/12. Its lines hold only an English ``description``.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from helpers import START
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType
from subkit.plans import Catalogue
from subkit.render import FORMATS, render_invoice
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock
from test_render import pdf_text

FIXTURE = Path(__file__).parent / "fixtures" / "invoices-0.1.sqlite3"

# What each stored invoice says, in Indonesian and in English (as it was issued).
EXPECTED = {
    "INV-202601-000001": (["Growth (Bulanan)"], ["Growth (Monthly)"], "Rp331.890"),
    "INV-202601-000002": (["Additional User"], ["Additional User"], None),
    "INV-202601-000003": (
        ["Pro (Bulanan)", "Sisa waktu Growth (Bulanan)"],
        ["Pro (Monthly)", "Unused time on Growth (Monthly)"],
        None,
    ),
    "INV-202601-000004": (["Isi ulang saldo percakapan"], ["Conversation balance top-up"], None),
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> list[Invoice]:
    copy = tmp_path_factory.mktemp("old") / FIXTURE.name
    shutil.copyfile(FIXTURE, copy)  # opening may migrate or checkpoint: never touch the fixture
    # The moment the top-up was asked for, so it is still pending.
    clock = FixedClock(START + timedelta(days=11))
    billing = Billing(Catalogue.default(), SqliteStore(str(copy)), FakeGateway(), clock=clock)
    return list(reversed(billing.invoices("acme").items))


def test_every_old_invoice_opens(stored: list[Invoice]) -> None:
    assert [invoice.code for invoice in stored] == list(EXPECTED)
    assert [invoice.type for invoice in stored] == [
        InvoiceType.PLAN_PURCHASE,
        InvoiceType.ADD_ON,
        InvoiceType.PLAN_CHANGE,
        InvoiceType.TOP_UP,
    ]
    assert stored[-1].status is InvoiceStatus.PENDING
    assert stored[0].total.amount == 331_890  # Rp299.000 + PPN 11%


@pytest.mark.parametrize("format", FORMATS)
def test_old_invoices_render_in_indonesian_and_english(stored: list[Invoice], format: str) -> None:
    catalogue = Catalogue.default()
    for invoice in stored:
        indonesian, english, total = EXPECTED[invoice.code]
        for locale, words, unwanted in (("id_ID", indonesian, english), ("en", english, ())):
            data = render_invoice(invoice, catalogue, format=format, locale=locale)
            text = pdf_text(data) if format == "pdf" else data.decode()
            for word in words:
                assert word in text, (invoice.code, locale, word)
            for word in unwanted:
                if word not in indonesian:
                    assert word not in text, (invoice.code, locale, word)
            if total is not None and locale == "id_ID":
                assert total in text
