"""What was issued stays issued: a later catalogue change never alters an invoice (R-INV-8)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from helpers import PROFILE, START, default_catalogue_toml, pay
from subkit.invoice import Invoice
from subkit.plans import Catalogue, Seller, TaxMode
from subkit.render import FORMATS, render_invoice
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from test_render import pdf_text

OLD_SELLER = {
    "name": "PT Lama Sekali",
    "address": "Jl. Lama 1",
    "tax_number": "01.111.111.1-111.000",
}
NEW_SELLER = {
    "name": "PT Baru Sekali",
    "address": "Jl. Baru 2",
    "tax_number": "02.222.222.2-222.000",
}


def catalogue(seller: dict[str, str], **policy: Any) -> Catalogue:
    data = tomllib.loads(default_catalogue_toml())
    data["seller"] = seller
    data["policy"] = policy
    return Catalogue.from_dict(data)


def issue(store_kind: str, tmp_path: Path) -> Invoice:
    ppn = catalogue(OLD_SELLER, tax={"mode": "exclusive", "rate": "12%", "base": "11/12"})
    store = InMemoryStore() if store_kind == "memory" else SqliteStore(str(tmp_path / "s.db"))
    billing = Billing(ppn, store, FakeGateway(), clock=FixedClock(START))
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    pay(billing, billing.change_plan("acme", "growth"), "PAY-1")
    # Read back through the store: what is kept is what a later process sees.
    return Billing(ppn, store, FakeGateway(), clock=FixedClock(START)).invoices("acme").items[0]


@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_the_invoice_keeps_its_tax_setting_and_seller(store_kind: str, tmp_path: Path) -> None:
    invoice = issue(store_kind, tmp_path)
    assert invoice.tax_setting is not None and invoice.tax_setting.mode is TaxMode.EXCLUSIVE
    assert invoice.seller == Seller(**OLD_SELLER)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("store_kind", ["memory", "sqlite"])
def test_a_later_catalogue_change_does_not_alter_the_document(
    store_kind: str, format: str, tmp_path: Path
) -> None:
    invoice = issue(store_kind, tmp_path)
    changed = catalogue(NEW_SELLER)  # no tax any more, another seller
    data = render_invoice(invoice, changed, format=format, locale="id_ID")
    text = pdf_text(data) if format == "pdf" else data.decode()
    assert "PPN 12% × 11/12" in text and "Rp32.890" in text and "Rp331.890" in text
    assert "PT Lama Sekali" in text and "01.111.111.1-111" in text
    assert "PT Baru Sekali" not in text
    before = render_invoice(invoice, catalogue(OLD_SELLER), format=format, locale="id_ID")
    if format != "pdf":  # a PDF's bytes hold font subset tags; its text is compared above
        assert data == before
