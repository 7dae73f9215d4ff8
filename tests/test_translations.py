"""Translations come from gettext catalogues: complete, compiled, extendable (R-INV-8)."""

from __future__ import annotations

import io
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from helpers import default_catalogue_toml, idr
from subkit import labels
from subkit.cycles import Interval, Period
from subkit.invoice import (
    BillingProfile,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineKind,
    compute_totals,
)
from subkit.money import Money
from subkit.orders import TopUp
from subkit.plans import Catalogue, Tax, TaxMode
from subkit.render import render_invoice
from subkit.wallet import Balance

SOURCE = Path(labels.__file__).parent
SHIPPED = ("en", "id_ID")


def po_file(locale: str) -> Path:
    return labels.LOCALE_DIR / locale / "LC_MESSAGES" / f"{labels.DOMAIN}.po"


def read_catalogue(locale: str) -> Catalog:
    with po_file(locale).open("rb") as file:
        return read_po(file, locale=locale)


def extracted() -> set[tuple[str, str]]:
    """Every message marked with ``N_(context, message)`` in subkit's source, as Babel sees it."""
    found = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(SOURCE), keywords={"N_": ((1, "c"), 2)}, comment_tags=()
    ):
        assert context is not None, f"{message!r} has no context"
        found.add((context, message))
    return found


def test_extraction_finds_every_message_labels_translates() -> None:
    assert extracted() == set(labels.messages())


@pytest.mark.parametrize("locale", SHIPPED)
def test_every_message_is_translated(locale: str) -> None:
    catalogue = read_catalogue(locale)
    missing = [
        (context, message)
        for context, message in extracted()
        if (entry := catalogue.get(message, context=context)) is None
        or not entry.string
        or entry.fuzzy
    ]
    assert missing == [], f"untranslated in {locale}: {missing}"


@pytest.mark.parametrize("locale", SHIPPED)
def test_placeholders_survive_translation(locale: str) -> None:
    for entry in read_catalogue(locale):
        if entry.id:
            assert set(re.findall(r"\{\w+\}", str(entry.string))) == set(
                re.findall(r"\{\w+\}", str(entry.id))
            ), entry.id


@pytest.mark.parametrize("locale", SHIPPED)
def test_compiled_catalogue_is_up_to_date(locale: str) -> None:
    """The committed ``.mo`` is what ``make messages`` compiles from the ``.po``."""
    compiled = io.BytesIO()
    write_mo(compiled, read_catalogue(locale))
    mo = po_file(locale).with_suffix(".mo")
    assert mo.read_bytes() == compiled.getvalue(), f"run `make messages`: {mo} is stale"


def test_languages_and_spellings() -> None:
    assert labels.catalogue_locale("id-ID") == "id_ID"
    assert labels.catalogue_locale("in") == "id_ID"
    assert labels.catalogue_locale("en_GB") == "en"
    assert labels.catalogue_locale("") == "en"
    assert labels.label(InvoiceStatus.PAID, "id") == "Lunas"


# -- a host adds a locale ----------------------------------------------------------------------


@pytest.fixture
def host_dirs(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(labels, "_host_dirs", [])
    labels._catalogue.cache_clear()
    yield
    labels._catalogue.cache_clear()


def ship_catalogue(root: Path, locale: str, words: dict[tuple[str, str], str]) -> None:
    catalogue = Catalog(locale=locale, domain=labels.DOMAIN)
    for context, message in labels.messages():
        catalogue.add(message, words.get((context, message), ""), context=context)
    folder = root / locale / "LC_MESSAGES"
    folder.mkdir(parents=True)
    with (folder / f"{labels.DOMAIN}.mo").open("wb") as file:
        write_mo(file, catalogue)


@pytest.mark.usefixtures("host_dirs")
def test_a_host_adds_malay_by_shipping_a_catalogue(tmp_path: Path) -> None:
    ship_catalogue(
        tmp_path,
        "ms_MY",
        {
            ("document", "Bill to"): "Dibilkan kepada",
            ("invoice_status", "Paid"): "Dibayar",
            ("interval", "Monthly"): "Bulanan",
        },
    )
    catalogue = Catalogue.default()
    growth = InvoiceLine.for_plan(catalogue.plan("growth"), Interval.MONTHLY, MONTH)
    invoice = sample_invoice(InvoiceType.PLAN_PURCHASE, InvoiceStatus.PAID, (growth,))
    before = render_invoice(invoice, catalogue, format="text", locale="ms_MY").decode()
    assert "Bill to" in before  # no Malay catalogue yet: English
    labels.add_locale_dir(tmp_path)
    text = render_invoice(invoice, catalogue, format="text", locale="ms_MY").decode()
    assert "Dibilkan kepada" in text and "[ DIBAYAR ]" in text
    assert "Growth (Bulanan)" in text
    assert "Invoice number" in text  # untranslated messages fall back to the msgid
    assert labels.catalogue_locale("ms") == "ms_MY"


@pytest.mark.usefixtures("host_dirs")
def test_a_host_catalogue_overrides_a_shipped_one(tmp_path: Path) -> None:
    ship_catalogue(tmp_path, "id_ID", {("invoice_status", "Paid"): "Sudah dibayar"})
    labels.add_locale_dir(tmp_path)
    assert labels.label(InvoiceStatus.PAID, "id_ID") == "Sudah dibayar"
    assert labels.label(InvoiceStatus.PENDING, "id_ID") == "Pending"  # the host left it out


# -- no English on an Indonesian invoice ---------------------------------------------------------

JAN_1 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
MONTH = Period(JAN_1, datetime(2026, 2, 1, 3, 0, tzinfo=UTC))

# Lines of every kind, as invoices store them: facts around the example catalogue's names.
FACTS = st.builds(
    lambda kind, name, interval, balance, quantity: InvoiceLine(
        kind,
        "" if kind is LineKind.TOP_UP else name,
        quantity,
        idr(1000),
        idr(1000 * quantity),
        None if kind is LineKind.TOP_UP else MONTH,
        balance if kind is LineKind.TOP_UP else name.lower(),
        None if kind is LineKind.TOP_UP else interval,
    ),
    st.sampled_from(list(LineKind)),
    st.sampled_from(["Growth", "Pro", "Additional User"]),
    st.sampled_from(list(Interval)),
    st.sampled_from(["conversation", "broadcast"]),
    st.integers(1, 3),
)


def sample_invoice(
    type: InvoiceType,
    status: InvoiceStatus,
    lines: tuple[InvoiceLine, ...],
    tax: Tax | None = None,
) -> Invoice:
    totals = compute_totals(lines, tax or Tax(), "IDR")
    paid = status in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED)
    return Invoice(
        code="INV-202601-000001",
        account_id="a",
        type=type,
        status=status,
        requested_at=JAN_1,
        package=lines[0].description,
        lines=lines,
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
        expires_at=JAN_1 + timedelta(hours=24),
        order=TopUp(Balance.CONVERSATION, Money(10_000, "IDR")),
        billing_profile=BillingProfile("Budi", "budi@example.com"),
        paid_at=JAN_1 if paid else None,
        reference="PAY-1" if paid else None,
    )


def english_only() -> set[str]:
    """subkit's English words that Indonesian says otherwise (msgids and their en texts)."""
    words = set()
    for message in labels.messages():
        english, indonesian = labels.translate(message, "en"), labels.translate(message, "id_ID")
        for text in (message[1], english):
            if text != indonesian and "{" not in text:
                words.add(text)
    return words


@given(
    type=st.sampled_from(list(InvoiceType)),
    status=st.sampled_from(list(InvoiceStatus)),
    lines=st.lists(FACTS, min_size=1, max_size=4).map(tuple),
    mode=st.sampled_from(list(TaxMode)),
)
def test_an_indonesian_document_holds_no_english(
    type: InvoiceType, status: InvoiceStatus, lines: tuple[InvoiceLine, ...], mode: TaxMode
) -> None:
    data = tomllib.loads(default_catalogue_toml())
    data["policy"] = {"tax": {"mode": mode.value, "rate": "12%", "base": "11/12"}}
    if mode is TaxMode.NONE:
        data["policy"] = {}
    catalogue = Catalogue.from_dict(data)
    rate = Fraction(0) if mode is TaxMode.NONE else Fraction(12, 100)
    invoice = sample_invoice(type, status, lines, Tax(mode=mode, rate=rate))
    text = render_invoice(invoice, catalogue, format="text", locale="id_ID").decode()
    for word in english_only():
        assert not re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text), word
    assert not re.search(r"\{\w+\}", text)
