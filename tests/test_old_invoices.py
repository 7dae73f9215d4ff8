"""Invoices written by subkit 0.1 still open and render, wholly in the asked locale.

``fixtures/invoices-0.1.sqlite3`` was written by the 0.1 code (before invoices stored their
tax setting, seller and line facts): one account on SQLite with a paid plan purchase, a
paid add-on purchase, a paid immediate plan change with a credit line, and a pending
top-up, under PPN 12% × 11/12. Its lines hold only an English ``description``.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import START, idr
from subkit.cycles import Interval, Period
from subkit.invoice import Invoice, InvoiceLine, InvoiceStatus, InvoiceType, LineKind, PaymentStatus
from subkit.plans import AddOn, Catalogue, Limits, Plan
from subkit.ports import PaymentEvent
from subkit.render import FORMATS, render_invoice
from subkit.serialize import from_dict, to_dict
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


# -- invoices stored while lines were English texts ----------------------------------------------
# ``fixtures/invoices-text-lines.sqlite3`` was written by main at 0c766ae (see
# ``fixtures/make_text_lines_fixture.py``), the last code whose lines were English texts; the
# documents in ``golden/stored/`` were rendered from it by that same code.

TEXT_LINES = Path(__file__).parent / "fixtures" / "invoices-text-lines.sqlite3"
STORED_GOLDEN = Path(__file__).parent / "golden" / "stored"
M, A = Interval.MONTHLY, None

# (kind, name, interval, code) of each stored line, as its text said.
TEXT_LINE_FACTS = {
    "INV-202601-000001": [("plan", "Growth", M, None), ("add_on", "Additional User", A, None)],
    "INV-202601-000002": [("add_on", "Additional Contact", A, None)],
    "INV-202601-000003": [
        ("plan", "Pro", M, None),
        ("add_on", "Additional User", A, None),
        ("add_on", "Additional Contact", A, None),
        ("credit", "Growth", M, None),
    ],
    "INV-202601-000004": [
        ("plan", "Pro", M, None),
        ("add_on", "Additional User", A, None),
        ("add_on", "Additional Contact", A, None),
    ],
    "INV-202601-000005": [("top_up", "", A, "broadcast")],
    "INV-202601-000006": [("top_up", "", A, "conversation")],
}


def open_copy(fixture: Path, folder: Path, clock: FixedClock) -> Billing:
    copy = folder / fixture.name
    shutil.copyfile(fixture, copy)  # opening may migrate or checkpoint: never touch the fixture
    return Billing(Catalogue.default(), SqliteStore(str(copy)), FakeGateway(), clock=clock)


@pytest.fixture(scope="module")
def text_lines(tmp_path_factory: pytest.TempPathFactory) -> list[Invoice]:
    # The moment the last invoice was asked for, so the pending ones are still pending.
    clock = FixedClock(START + timedelta(days=9))
    billing = open_copy(TEXT_LINES, tmp_path_factory.mktemp("text"), clock)
    return list(reversed(billing.invoices("acme").items))


def test_text_lines_open_as_the_facts_they_said(text_lines: list[Invoice]) -> None:
    assert [invoice.code for invoice in text_lines] == list(TEXT_LINE_FACTS)
    for invoice in text_lines:
        facts = [(line.kind, line.name, line.interval, line.code) for line in invoice.lines]
        assert facts == TEXT_LINE_FACTS[invoice.code], invoice.code
    assert [invoice.status for invoice in text_lines].count(InvoiceStatus.PENDING) == 2
    assert text_lines[3].payment is not None  # the pending renewal kept its session
    credit = text_lines[2].lines[-1]
    assert credit.amount.amount < 0 and credit.period is not None


@pytest.mark.parametrize("locale", ["id_ID", "en"])
@pytest.mark.parametrize("fixture", ["0.1", "text-lines"])
def test_stored_invoices_render_as_they_did_before_lines_were_facts(
    stored: list[Invoice], text_lines: list[Invoice], fixture: str, locale: str
) -> None:
    """Every document of both fixtures, word for word what the code that parsed the texts
    back printed (golden/stored/ was rendered by it)."""
    catalogue = Catalogue.default()
    for invoice in stored if fixture == "0.1" else text_lines:
        text = render_invoice(invoice, catalogue, format="text", locale=locale).decode()
        golden = STORED_GOLDEN / f"{fixture}.{invoice.code}.{locale}.txt"
        assert text == golden.read_text(encoding="utf-8"), golden.name


def test_an_old_invoice_saved_again_is_stored_as_facts(tmp_path: Path) -> None:
    clock = FixedClock(START + timedelta(days=9))
    billing = open_copy(TEXT_LINES, tmp_path, clock)
    old = billing.invoice("acme", "INV-202601-000006")
    paid = billing.apply_payment(PaymentEvent(old.code, PaymentStatus.PAID, "PAY-6", old.total))
    assert paid.status is InvoiceStatus.PAID and paid.lines == old.lines
    row = sqlite3.connect(tmp_path / TEXT_LINES.name).execute(
        "SELECT data FROM invoices WHERE code = ?", (old.code,)
    )
    (line,) = json.loads(row.fetchone()[0])["lines"]
    assert "description" not in line
    assert (line["kind"], line["code"], line["name"]) == ("top_up", "conversation", "")


# What the code before facts wrote as a line's text, for names a host may give.
names = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "Zs")), min_size=1, max_size=30
).filter(
    lambda name: (
        name.strip() == name
        and not name.endswith(")")
        and not name.startswith("Unused time on ")
        and not name.endswith("balance top-up")
    )
)


@given(
    name=names,
    interval=st.sampled_from(list(Interval)),
    kind=st.sampled_from(list(LineKind)),
    balance=st.sampled_from(["conversation", "broadcast"]),
)
def test_the_old_reader_reads_back_what_the_old_writer_wrote(
    name: str, interval: Interval, kind: LineKind, balance: str
) -> None:
    """A line's English words, stored as the old ``description``, read back as its facts:
    all of them but the plan's or add-on's code, which no text said. (Names shaped like
    subkit's own words, ``X (Monthly)``, ``Unused time on X`` or ``Conversation balance
    top-up``, read as those: the old texts cannot tell them apart, so they are left out.)"""
    plan = Plan(name.lower(), name, 1, {interval: idr(1000)}, Limits(1, 1, 0), {})
    addon = AddOn(name.lower(), name, {}, {interval: idr(10)}, 5, ())
    period = Period(START, START + timedelta(days=30))
    line = {
        LineKind.PLAN: InvoiceLine.for_plan(plan, interval, period),
        LineKind.CREDIT: InvoiceLine.for_credit(plan, interval, idr(300), period),
        LineKind.ADD_ON: InvoiceLine.for_addon(addon, interval, 3, period),
        LineKind.TOP_UP: InvoiceLine.for_top_up(balance, idr(50_000)),
    }[kind]
    data = {key: value for key, value in to_dict(line).items() if key not in ("kind", "name")}
    data = {**data, "description": line.description}
    data.pop("code")
    if kind is not LineKind.PLAN and kind is not LineKind.CREDIT:
        data.pop("interval")  # add-on and top-up texts said no interval
    expected = attrs.evolve(
        line,
        code=line.code if kind is LineKind.TOP_UP else None,
        interval=line.interval if kind in (LineKind.PLAN, LineKind.CREDIT) else None,
    )
    assert from_dict(InvoiceLine, data) == expected
