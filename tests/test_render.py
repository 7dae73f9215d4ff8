"""Invoice documents: PDF, HTML and text, in Indonesian and English (R-INV-8).

The text rendering of three fixed invoices is compared with golden files in
``tests/golden/``; run with ``SUBKIT_UPDATE_GOLDEN=1`` to rewrite them after a deliberate
layout change, then review the diff.
"""

from __future__ import annotations

import html
import io
import os
import struct
import sys
import tomllib
import types
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from pypdf import PdfReader

from helpers import default_catalogue_toml, idr
from subkit.cycles import Period
from subkit.errors import InvalidTime, SubkitError
from subkit.invoice import (
    BillingProfile,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineKind,
    PaymentStatus,
    compute_totals,
)
from subkit.invoice_words import line_words, package_words
from subkit.labels import label
from subkit.money import format_money
from subkit.orders import TopUp
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent
from subkit.render import FORMATS, MEDIA_TYPES, MissingExtra, render_invoice
from subkit.serialize import to_dict
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import Balance

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("SUBKIT_UPDATE_GOLDEN") == "1"

JAN_1 = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta
FEB_1 = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
NEXT_YEAR = datetime(2027, 1, 1, 3, 0, tzinfo=UTC)

BUDI = BillingProfile(
    name="Budi Santoso",
    email="budi@example.com",
    address="Jl. Melati No. 5\nBandung 40115",
    tax_number="09.876.543.2-109.000",
)
SELLER = {
    "name": "PT Contoh Digital Nusantara",
    "address": "Jl. Jend. Sudirman Kav. 52-53\nJakarta Selatan 12190",
    "email": "billing@contoh.co.id",
    "tax_number": "01.234.567.8-901.000",
}
PPN = {"mode": "exclusive", "rate": "12%", "base": "11/12"}


def catalogue_data() -> dict[str, Any]:
    text = default_catalogue_toml()
    return tomllib.loads(text)


def make_catalogue(**changes: Any) -> Catalogue:
    """The example catalogue with a seller and PPN, changed by ``seller=``/``policy=``."""
    data = catalogue_data()
    data["seller"] = changes.get("seller", SELLER)
    data["policy"] = {"tax": PPN, **changes.get("policy", {})}
    return Catalogue.from_dict(data)


@pytest.fixture(scope="module")
def ppn() -> Catalogue:
    return make_catalogue()


@pytest.fixture(scope="module")
def plain() -> Catalogue:
    return Catalogue.default()


def line(name: str, unit: int, quantity: int = 1, period: Period | None = None) -> InvoiceLine:
    """An add-on line: its name is the host's and prints as written."""
    return InvoiceLine(
        LineKind.ADD_ON, name, quantity, idr(unit), idr(unit * quantity), period, "x", "monthly"
    )


def plan_line(
    name: str, interval: str, unit: int, period: Period, kind: LineKind = LineKind.PLAN
) -> InvoiceLine:
    """A plan's period (or, with ``kind=CREDIT``, the credit for its unused time)."""
    code = name.lower()
    return InvoiceLine(kind, name, 1, idr(unit), idr(unit), period, code, interval)


def top_up_line(balance: Balance, amount: int) -> InvoiceLine:
    return InvoiceLine.for_top_up(balance, idr(amount))


MONTH = Period(JAN_1, FEB_1)
YEAR = Period(JAN_1, NEXT_YEAR)

# Each type's stored package (the English summary subkit gives the gateway) and lines.
LINES: dict[InvoiceType, tuple[str, tuple[InvoiceLine, ...]]] = {
    InvoiceType.PLAN_PURCHASE: (
        "Growth (Monthly)",
        (plan_line("Growth", "monthly", 299_000, MONTH),),
    ),
    InvoiceType.RENEWAL: ("Growth (Annual)", (plan_line("Growth", "annual", 2_990_000, YEAR),)),
    InvoiceType.PLAN_CHANGE: (
        "Pro (Monthly)",
        (
            plan_line("Pro", "monthly", 599_000, MONTH),
            line("Additional User", 50_000, 2, MONTH),
            plan_line("Growth", "monthly", -150_000, MONTH, LineKind.CREDIT),
        ),
    ),
    InvoiceType.ADD_ON: ("Additional User x3", (line("Additional User", 50_000, 3, MONTH),)),
    InvoiceType.TOP_UP: (
        "Conversation balance top-up",
        (top_up_line(Balance.CONVERSATION, 15_000),),
    ),
}


def make_invoice(
    catalogue: Catalogue,
    type: InvoiceType = InvoiceType.PLAN_PURCHASE,
    *,
    status: InvoiceStatus = InvoiceStatus.PAID,
    lines: tuple[InvoiceLine, ...] | None = None,
    profile: BillingProfile | None = BUDI,
    code: str = "INV-202601-000001",
    requested_at: datetime = JAN_1,
) -> Invoice:
    package, default_lines = LINES[type]
    lines = default_lines if lines is None else lines
    tax = catalogue.policy.tax
    taxable = type is not InvoiceType.TOP_UP or tax.tax_top_ups
    totals = compute_totals(lines, tax, catalogue.currency, taxable=taxable)
    paid = status in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED)
    return Invoice(
        code=code,
        account_id="acct-1",
        type=type,
        status=status,
        requested_at=requested_at,
        package=package,
        lines=lines,
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
        expires_at=requested_at + timedelta(hours=24),
        order=TopUp(Balance.CONVERSATION, idr(10_000)),
        billing_profile=profile,
        paid_at=requested_at + timedelta(minutes=7) if paid else None,
        reference="PAY-9F2C7A" if paid else None,
    )


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def pdf_pages(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)


def readable(data: bytes, format: str) -> str:
    """The document's text as a reader sees it (entities decoded, PDF text extracted)."""
    if format == "pdf":
        return pdf_text(data)
    text = data.decode("utf-8")
    return html.unescape(text) if format == "html" else text


def as_printed(text: str, format: str) -> str:
    """``text`` as the format prints it: every format prints it as written."""
    return text


def tiny_png() -> bytes:
    """A valid 2×1 red PNG built by hand, so the test needs no imaging library."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\xff\x00\x00" * 2)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


class TestEveryFormatTypeAndLanguage:
    @pytest.mark.parametrize("format", FORMATS)
    @pytest.mark.parametrize("type", list(InvoiceType))
    @pytest.mark.parametrize("locale", ["id_ID", "en"])
    def test_document_shows_what_r_inv_8_lists(
        self, ppn: Catalogue, format: str, type: InvoiceType, locale: str
    ) -> None:
        """Seller, buyer, code, type, dates, package, lines, subtotal, tax, total, status."""
        invoice = make_invoice(ppn, type)
        text = readable(render_invoice(invoice, ppn, format=format, locale=locale), format)
        indonesian = locale == "id_ID"

        def money(amount: int) -> str:
            sign, digits = "-" if amount < 0 else "", abs(amount)
            return sign + (f"Rp{digits:,}".replace(",", ".") if indonesian else f"IDR {digits:,}")

        assert invoice.code in text
        assert label(type, locale) in text
        assert package_words(invoice, locale) in text
        assert "PT Contoh Digital Nusantara" in text
        assert "01.234.567.8-901.000" in text
        assert "Budi Santoso" in text
        assert "budi@example.com" in text
        assert ("LUNAS" if indonesian else "PAID") in text
        assert ("1 Jan 2026, 10:00 WIB" if indonesian else "1 Jan 2026, 10:00 +0700") in text
        assert "PAY-9F2C7A" in text
        for item in invoice.lines:
            assert line_words(item, locale) in text
            assert money(item.amount.amount) in text
        words = {
            InvoiceType.PLAN_PURCHASE: ("Growth (Bulanan)", "Growth (Monthly)"),
            InvoiceType.RENEWAL: ("Growth (Tahunan)", "Growth (Annual)"),
            InvoiceType.PLAN_CHANGE: ("Sisa waktu Growth (Bulanan)", "Unused time on Growth"),
            InvoiceType.ADD_ON: ("Additional User", "Additional User"),
            InvoiceType.TOP_UP: ("Isi ulang saldo percakapan", "Conversation balance top-up"),
        }[type]
        assert words[0 if indonesian else 1] in text
        if indonesian and type is not InvoiceType.ADD_ON:
            assert words[1] not in text
        assert money(invoice.subtotal.amount) in text
        assert money(invoice.total.amount) in text
        assert money(invoice.tax.amount) in text
        tax_label = "PPN 12% × 11/12" if indonesian else "Tax 12% on 11/12"
        assert tax_label in text
        if type is not InvoiceType.TOP_UP:
            period = as_printed("1 Jan 2026 – 1 Feb 2026", format)
            if type is InvoiceType.RENEWAL:
                period = as_printed("1 Jan 2026 – 1 Jan 2027", format)
            assert period in text

    @pytest.mark.parametrize("format", FORMATS)
    def test_ppn_example_totals(self, ppn: Catalogue, format: str) -> None:
        """R-INV-7's example on the document: Rp299.000 -> PPN Rp32.890 -> Rp331.890."""
        data = render_invoice(make_invoice(ppn), ppn, format=format, locale="id_ID")
        text = readable(data, format)
        for amount in ("Rp299.000", "Rp32.890", "Rp331.890"):
            assert amount in text

    @pytest.mark.parametrize("format", FORMATS)
    def test_amounts_follow_the_locale(self, plain: Catalogue, format: str) -> None:
        """R-MON-3: Rp15.000 in Indonesian, IDR 15,000 in English."""
        invoice = make_invoice(plain, InvoiceType.TOP_UP)
        assert "Rp15.000" in readable(render_invoice(invoice, plain, format=format), format)
        english = readable(render_invoice(invoice, plain, format=format, locale="en"), format)
        assert "IDR 15,000" in english
        assert "Rp15.000" not in english

    @pytest.mark.parametrize("format", FORMATS)
    def test_no_tax_line_when_the_catalogue_has_no_tax(self, plain: Catalogue, format: str) -> None:
        invoice = make_invoice(plain)
        assert invoice.tax == idr(0)
        text = readable(render_invoice(invoice, plain, format=format, locale="id_ID"), format)
        assert "PPN" not in text
        assert "Subtotal" in text

    def test_untaxed_top_up_has_no_tax_line(self) -> None:
        """``tax_top_ups = false``: a top-up shows no tax line."""
        catalogue = make_catalogue(policy={"tax": {**PPN, "tax_top_ups": False}})
        invoice = make_invoice(catalogue, InvoiceType.TOP_UP)
        assert invoice.tax == idr(0)
        assert "PPN" not in render_invoice(invoice, catalogue, format="text").decode()
        plan = make_invoice(catalogue)
        assert "PPN 12% × 11/12" in render_invoice(plan, catalogue, format="text").decode()

    def test_inclusive_tax_is_marked_included(self) -> None:
        catalogue = make_catalogue(policy={"tax": {**PPN, "mode": "inclusive"}})
        invoice = make_invoice(catalogue)
        assert invoice.total == idr(299_000)
        text = render_invoice(invoice, catalogue, format="text", locale="en").decode()
        assert "Tax 12% on 11/12 (included)" in text
        assert "IDR 29,631" in text


class TestFields:
    STAMPS: ClassVar[dict[InvoiceStatus, tuple[str, str]]] = {
        InvoiceStatus.PAID: ("LUNAS", "PAID"),
        InvoiceStatus.PENDING: ("MENUNGGU", "PENDING"),
        InvoiceStatus.EXPIRED: ("KEDALUWARSA", "EXPIRED"),
        InvoiceStatus.CANCELLED: ("DIBATALKAN", "CANCELLED"),
        InvoiceStatus.FAILED: ("GAGAL", "FAILED"),
        InvoiceStatus.REFUNDED: ("DIKEMBALIKAN", "REFUNDED"),
    }

    @pytest.mark.parametrize("status", list(InvoiceStatus))
    @pytest.mark.parametrize("format", FORMATS)
    def test_status_stamp_is_localised(
        self, ppn: Catalogue, status: InvoiceStatus, format: str
    ) -> None:
        invoice = make_invoice(ppn, status=status)
        indonesian, english = self.STAMPS[status]
        assert indonesian in readable(render_invoice(invoice, ppn, format=format), format)
        english_doc = readable(render_invoice(invoice, ppn, format=format, locale="en"), format)
        assert english in english_doc

    @pytest.mark.parametrize("format", FORMATS)
    def test_missing_values_show_a_dash(self, ppn: Catalogue, format: str) -> None:
        """No billing profile, no paid date, no reference: each shows a dash."""
        invoice = make_invoice(ppn, status=InvoiceStatus.FAILED, profile=None)
        data = render_invoice(invoice, ppn, format=format, locale="en")
        expected = {
            "text": ["Bill to\n  –\n", "Paid date           –", "Payment reference   –"],
            "html": [
                '<h2>Bill to</h2><p class="name">–</p>',
                "<dt>Paid date</dt><dd>–</dd>",
                "<dt>Payment reference</dt><dd>–</dd>",
            ],
            "pdf": ["BILL TO\n–\n", "Paid date –\n", "Payment reference –\n"],
        }[format]
        text = readable(data, format) if format == "pdf" else data.decode()
        for snippet in expected:
            assert snippet in text
        assert "Budi" not in text

    def test_dates_are_shown_in_the_catalogue_timezone_or_the_one_asked(
        self, ppn: Catalogue
    ) -> None:
        late = datetime(2026, 1, 31, 17, 30, tzinfo=UTC)
        invoice = make_invoice(ppn, requested_at=late, status=InvoiceStatus.PENDING)
        assert "1 Feb 2026, 00:30 WIB" in render_invoice(invoice, ppn, format="text").decode()
        in_utc = render_invoice(invoice, ppn, format="text", locale="en", timezone="UTC").decode()
        assert "31 Jan 2026, 17:30 UTC" in in_utc

    def test_period_dates_follow_the_timezone(self, ppn: Catalogue) -> None:
        """A period starting at midnight in Jakarta is still 1 Jan there, 31 Dec in UTC."""
        start = datetime(2025, 12, 31, 17, 0, tzinfo=UTC)
        period = Period(start, datetime(2026, 1, 31, 17, 0, tzinfo=UTC))
        invoice = make_invoice(ppn, lines=(plan_line("Growth", "monthly", 299_000, period),))
        assert "1 Jan 2026 – 1 Feb 2026" in render_invoice(invoice, ppn, format="text").decode()
        utc = render_invoice(invoice, ppn, format="text", locale="en", timezone="UTC").decode()
        assert "31 Dec 2025 – 31 Jan 2026" in utc

    def test_locale_and_timezone_default_to_the_catalogue_policy(self) -> None:
        catalogue = make_catalogue(policy={"locale": "en", "timezone": "Asia/Makassar"})
        text = render_invoice(make_invoice(catalogue), catalogue, format="text").decode()
        assert "Invoice number" in text
        assert "1 Jan 2026, 11:00 +0800" in text

    @pytest.mark.parametrize("locale", ["en_US", "en-GB", "fr_FR", "xx"])
    def test_other_locales_get_english(self, ppn: Catalogue, locale: str) -> None:
        text = render_invoice(make_invoice(ppn), ppn, format="text", locale=locale).decode()
        assert "Invoice number" in text
        assert "IDR 331,890" in text

    def test_indonesian_locale_spellings(self, ppn: Catalogue) -> None:
        for locale in ("id", "id-ID", "id_ID"):
            text = render_invoice(make_invoice(ppn), ppn, format="text", locale=locale).decode()
            assert "Nomor invoice" in text
            assert "Rp331.890" in text

    def test_unknown_format_is_refused(self, ppn: Catalogue) -> None:
        with pytest.raises(ValueError, match="'pdf', 'html', 'text'"):
            render_invoice(make_invoice(ppn), ppn, format="docx")

    def test_unknown_timezone_is_refused(self, ppn: Catalogue) -> None:
        with pytest.raises(InvalidTime):
            render_invoice(make_invoice(ppn), ppn, format="text", timezone="Mars/Olympus")

    def test_media_types_cover_every_format(self) -> None:
        assert set(MEDIA_TYPES) == set(FORMATS)


class TestText:
    def test_columns_are_aligned(self, ppn: Catalogue) -> None:
        invoice = make_invoice(ppn, InvoiceType.PLAN_CHANGE)
        text = render_invoice(invoice, ppn, format="text", locale="en").decode()
        rows = [row for row in text.splitlines() if row.endswith(("IDR 599,000", "IDR 100,000"))]
        rows += [row for row in text.splitlines() if row.endswith("-IDR 150,000")]
        assert len(rows) == 3
        assert len({len(row) for row in rows}) == 1  # amounts end in the same column

    def test_no_trailing_spaces_and_a_final_newline(self, ppn: Catalogue) -> None:
        text = render_invoice(make_invoice(ppn), ppn, format="text").decode()
        assert text.endswith("\n")
        assert all(row == row.rstrip() for row in text.splitlines())


class TestHtml:
    NASTY = "<script>alert(1)</script>"

    def test_host_supplied_text_is_escaped(self) -> None:
        catalogue = make_catalogue(
            seller={**SELLER, "name": 'Toko "A&B" <b>', "address": "<img src=x onerror=alert(2)>"}
        )
        profile = BillingProfile(name=self.NASTY, email="a@b.c", address="<i>Jl.</i>")
        invoice = make_invoice(
            catalogue,
            profile=profile,
            lines=(line('Plan <b>"X"</b> & co', 10_000, 1, MONTH),),
        )
        page = render_invoice(invoice, catalogue, format="html").decode()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<script" not in page
        assert "<img src=x" not in page
        assert "<b>" not in page and "<i>" not in page
        assert "Toko &quot;A&amp;B&quot; &lt;b&gt;" in page
        assert "Plan &lt;b&gt;&quot;X&quot;&lt;/b&gt; &amp; co" in page

    def test_page_is_self_contained(self, ppn: Catalogue) -> None:
        page = render_invoice(make_invoice(ppn), ppn, format="html").decode()
        assert page.startswith("<!DOCTYPE html>")
        assert '<meta charset="utf-8">' in page
        assert "<style>" in page
        for external in ("<script", "<link", "http://", "https://", "url(", "@import"):
            assert external not in page

    def test_language_attribute(self, ppn: Catalogue) -> None:
        assert '<html lang="id">' in render_invoice(make_invoice(ppn), ppn, format="html").decode()
        english = render_invoice(make_invoice(ppn), ppn, format="html", locale="en").decode()
        assert '<html lang="en">' in english

    def test_logo_is_embedded_as_data(self, tmp_path: Path) -> None:
        logo = tmp_path / "logo.png"
        logo.write_bytes(tiny_png())
        catalogue = make_catalogue(seller={**SELLER, "logo": str(logo)})
        page = render_invoice(make_invoice(catalogue), catalogue, format="html").decode()
        assert 'src="data:image/png;base64,' in page


class TestPdf:
    def test_is_a_pdf_with_the_invoice_in_it(self, ppn: Catalogue) -> None:
        data = render_invoice(make_invoice(ppn), ppn)
        assert data.startswith(b"%PDF-")
        text = pdf_text(data)
        assert "INV-202601-000001" in text
        assert "Rp331.890" in text
        assert "Budi Santoso" in text

    def test_a4_portrait(self, ppn: Catalogue) -> None:
        page = PdfReader(io.BytesIO(render_invoice(make_invoice(ppn), ppn))).pages[0]
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(width), round(height)) == (595, 842)  # 210 × 297 mm in points

    def test_output_is_deterministic(self, ppn: Catalogue) -> None:
        """The creation date is the request date, so the same invoice gives the same bytes."""
        invoice = make_invoice(ppn)
        data = render_invoice(invoice, ppn)
        assert data == render_invoice(invoice, ppn)
        metadata = PdfReader(io.BytesIO(data)).metadata
        assert metadata is not None
        assert metadata.creation_date == JAN_1
        assert metadata.title == "Invoice INV-202601-000001"

    @pytest.mark.parametrize("count", [1, 30])
    def test_up_to_thirty_lines_fit_one_page(self, tmp_path: Path, count: int) -> None:
        """Even with a logo and a two-line seller address."""
        logo = tmp_path / "logo.png"
        logo.write_bytes(tiny_png())
        catalogue = make_catalogue(seller={**SELLER, "logo": str(logo)})
        lines = tuple(line(f"Additional Contact #{n}", 25_000, 1, MONTH) for n in range(count))
        invoice = make_invoice(catalogue, InvoiceType.ADD_ON, lines=lines)
        data = render_invoice(invoice, catalogue)
        assert pdf_pages(data) == 1
        text = pdf_text(data)
        assert f"Additional Contact #{count - 1}" in text
        assert format_money(invoice.total) in text

    def test_seventy_lines_span_pages_with_every_line(self, ppn: Catalogue) -> None:
        lines = tuple(line(f"Item {n:02d}", 1_000, 1, MONTH) for n in range(70))
        invoice = make_invoice(ppn, InvoiceType.ADD_ON, lines=lines)
        data = render_invoice(invoice, ppn)
        assert pdf_pages(data) > 1
        text = pdf_text(data)
        assert all(f"Item {n:02d}" in text for n in range(70))
        assert "Rp77.700" in text  # 70.000 + 11% PPN, on the last page

    @pytest.mark.parametrize(
        "name",
        [
            "Ōkubo Tarō",
            "Zoë “Ω” Ἀθηνᾶ",
            "Пётр Ильич Чайковский",
            "Nguyễn Thị Minh Khai",
            "Łukasz Żółć – ß",
            "გიორგი Արամ",
        ],
    )
    def test_names_in_other_scripts_print_as_written(self, ppn: Catalogue, name: str) -> None:
        """R-INV-8: the PDF embeds a Unicode font; the text layer holds the name intact."""
        profile = BillingProfile(name=name, email="z@example.com", address=f"{name}\nJl. 1")
        seller = {**SELLER, "name": f"PT {name}"}
        catalogue = make_catalogue(seller=seller)
        data = render_invoice(make_invoice(catalogue, profile=profile), catalogue)
        text = pdf_text(data)
        assert name in text
        assert f"PT {name}" in text
        assert "?" not in text.replace(name, "")

    def test_embeds_a_subset_of_dejavu_sans(self, ppn: Catalogue) -> None:
        data = render_invoice(make_invoice(ppn), ppn)
        fonts = PdfReader(io.BytesIO(data)).pages[0]["/Resources"]["/Font"]
        names = {str(font.get_object()["/BaseFont"]) for font in fonts.values()}
        assert names and all("DejaVuSans" in name for name in names)
        assert len(data) < 120_000  # subset: the two faces weigh 1.4 MB

    @pytest.mark.parametrize("name", ["大久保 花子", "محمد عبد الله", "שלום כהן", "김민준"])
    def test_cjk_and_right_to_left_names_keep_the_layout(self, ppn: Catalogue, name: str) -> None:
        """No CJK glyphs in DejaVu: boxes are drawn, but the page and its text layer hold."""
        profile = BillingProfile(name=name, email="z@example.com")
        data = render_invoice(make_invoice(ppn, profile=profile), ppn)
        assert pdf_pages(data) == 1
        text = pdf_text(data)
        assert "Budi" not in text and "z@example.com" in text
        assert "Rp331.890" in text

    def test_logo_is_drawn_when_the_file_exists(self, tmp_path: Path) -> None:
        logo = tmp_path / "logo.png"
        logo.write_bytes(tiny_png())
        with_logo = make_catalogue(seller={**SELLER, "logo": str(logo)})
        page = PdfReader(io.BytesIO(render_invoice(make_invoice(with_logo), with_logo))).pages[0]
        assert len(page.images) == 1
        missing = make_catalogue(seller={**SELLER, "logo": str(tmp_path / "nope.png")})
        page = PdfReader(io.BytesIO(render_invoice(make_invoice(missing), missing))).pages[0]
        assert len(page.images) == 0

    def test_missing_fpdf2_names_the_extra(
        self, ppn: Catalogue, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "fpdf", None)
        with pytest.raises(MissingExtra) as caught:
            render_invoice(make_invoice(ppn), ppn, format="pdf")
        error = caught.value
        assert isinstance(error, ImportError)
        assert isinstance(error, SubkitError)
        assert error.code == "missing_extra"
        assert "pip install 'subkit[pdf]'" in str(error)
        # The other formats need no extra.
        assert render_invoice(make_invoice(ppn), ppn, format="text")
        assert render_invoice(make_invoice(ppn), ppn, format="html")


class TestPendingInvoice:
    """A pending invoice says until when and where it can be paid (R-INV-3, R-INV-8)."""

    URL = "https://pay.example.com/checkout/INV-202601-000001?t=a&b=1"

    def pending(self, catalogue: Catalogue, url: str | None) -> Invoice:
        invoice = make_invoice(catalogue, status=InvoiceStatus.PENDING)
        if url is None:
            return invoice
        session = types.SimpleNamespace(redirect_url=url)
        if "payment" in attrs.fields_dict(Invoice):
            return attrs.evolve(invoice, payment=session)
        # Until Invoice carries its payment session: a subclass that has one.
        subclass = attrs.make_class(
            "WithPayment", {"payment": attrs.field(default=None)}, (Invoice,), frozen=True
        )
        made: Invoice = subclass(**attrs.asdict(invoice, recurse=False), payment=session)
        return made

    @pytest.mark.parametrize("format", FORMATS)
    @pytest.mark.parametrize(
        ("locale", "words"),
        [
            ("id_ID", ("Bayar sebelum", "2 Jan 2026, 10:00 WIB")),
            ("en", ("Pay before", "2 Jan 2026, 10:00 +0700")),
        ],
    )
    def test_shows_expiry_and_payment_link(
        self, ppn: Catalogue, format: str, locale: str, words: tuple[str, str]
    ) -> None:
        invoice = self.pending(ppn, self.URL)
        data = render_invoice(invoice, ppn, format=format, locale=locale)
        text = readable(data, format)
        for word in words:
            assert word in text
        assert self.URL in text.replace("\n", "")
        if format == "html":
            assert f'<a href="{html.escape(self.URL)}"' in data.decode()
        if format == "pdf":
            annotations = PdfReader(io.BytesIO(data)).pages[0].get("/Annots") or []
            uris = [note.get_object()["/A"]["/URI"] for note in annotations]
            assert self.URL in uris

    @pytest.mark.parametrize("format", FORMATS)
    def test_no_link_without_a_session_or_with_a_bad_url(self, ppn: Catalogue, format: str) -> None:
        for url in (None, "javascript:alert(1)", "https://x.example/a b"):
            data = render_invoice(self.pending(ppn, url), ppn, format=format, locale="en")
            text = readable(data, format)
            assert "Pay before" in text
            assert "Pay at" not in text
            assert "javascript" not in text

    @pytest.mark.parametrize("format", FORMATS)
    def test_paid_invoice_shows_paid_date_not_expiry(self, ppn: Catalogue, format: str) -> None:
        invoice = self.pending(ppn, self.URL)
        paid = attrs.evolve(invoice, status=InvoiceStatus.PAID, paid_at=JAN_1)
        text = readable(render_invoice(paid, ppn, format=format, locale="en"), format)
        assert "Paid date" in text
        assert "Pay before" not in text and self.URL not in text


class TestHostTextIsInert:
    """No host text can add a line, a status word or a terminal command (R-LIM-3)."""

    @pytest.mark.parametrize("format", FORMATS)
    @pytest.mark.parametrize("locale", ["id_ID", "en"])
    def test_a_line_break_in_a_name_adds_no_line(
        self, ppn: Catalogue, format: str, locale: str
    ) -> None:
        profile = BillingProfile(name="PT X\nLUNAS / PAID", email="x@example.com\r\nPAID")
        invoice = make_invoice(ppn, status=InvoiceStatus.PENDING, profile=profile)
        text = readable(render_invoice(invoice, ppn, format=format, locale=locale), format)
        lines = [line.strip() for line in text.splitlines()]
        assert "LUNAS / PAID" not in lines and "PAID" not in lines
        assert "PT X LUNAS / PAID" in text
        assert "x@example.com PAID" in text

    def test_text_format_drops_escape_sequences_and_controls(self, ppn: Catalogue) -> None:
        profile = BillingProfile(
            name="\x1b[2J\x1b]0;owned\x07Budi\x1b[31m\u202e Santoso\x00",
            email="b@example.com",
            address="Jl. Melati\x1b[1A\nBandung\x0b",
        )
        # The loader refuses such a seller (R-LIM-3); a Seller value holding it (a host's own
        # catalogue object) must still print inert.
        ppn = make_catalogue()
        catalogue = attrs.evolve(
            ppn, seller=attrs.evolve(ppn.seller, name="PT \x1b[5mContoh\x1b[0m")
        )
        invoice = make_invoice(
            catalogue, profile=profile, lines=(line("Growth\x1b[2K\x08 plan", 1000),)
        )
        text = render_invoice(invoice, catalogue, format="text").decode()
        assert not any(ord(char) < 32 and char != "\n" for char in text)
        assert "\x7f" not in text and "\u202e" not in text and "\x9b" not in text
        for expected in ("Budi Santoso", "Jl. Melati\n", "  Bandung\n", "PT Contoh", "Growth plan"):
            assert expected in text
        assert "owned" not in text

    @pytest.mark.parametrize("format", ["html", "pdf"])
    def test_other_formats_print_the_same_inert_text(self, ppn: Catalogue, format: str) -> None:
        profile = BillingProfile(name="\x1b[2JBudi\tSantoso", email="b@example.com")
        data = render_invoice(make_invoice(ppn, profile=profile), ppn, format=format)
        text = readable(data, format)
        assert "Budi Santoso" in text
        assert "\x1b" not in text and "[2J" not in text


# -- golden files ----------------------------------------------------------------------------


def golden_invoices() -> dict[str, tuple[Invoice, Catalogue]]:
    """Each invoice type, pending and paid, with PPN and without; plus the edge cases."""
    ppn = make_catalogue()
    plain = Catalogue.default()
    cases: dict[str, tuple[Invoice, Catalogue]] = {}
    for number, type in enumerate(InvoiceType, start=1):
        for status in (InvoiceStatus.PENDING, InvoiceStatus.PAID):
            for taxed, catalogue in (("ppn", ppn), ("untaxed", plain)):
                name = f"{type.value.replace('_', '-')}-{status.value}-{taxed}"
                code = f"INV-202601-{number:06d}"
                cases[name] = (make_invoice(catalogue, type, status=status, code=code), catalogue)
    cases["plan-change-pending-no-profile"] = (
        make_invoice(ppn, InvoiceType.PLAN_CHANGE, status=InvoiceStatus.PENDING, profile=None),
        ppn,
    )
    cases["top-up-expired-untaxed"] = (
        make_invoice(plain, InvoiceType.TOP_UP, status=InvoiceStatus.EXPIRED),
        plain,
    )
    return cases


@pytest.mark.parametrize("locale", ["id_ID", "en"])
@pytest.mark.parametrize("name", sorted(golden_invoices()))
def test_text_matches_golden_file(name: str, locale: str) -> None:
    invoice, catalogue = golden_invoices()[name]
    text = render_invoice(invoice, catalogue, format="text", locale=locale).decode("utf-8")
    path = GOLDEN / f"{name}.{locale}.txt"
    if UPDATE_GOLDEN:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
    assert path.exists(), f"missing {path.name}: run with SUBKIT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


# -- lines made by Billing -----------------------------------------------------------------------


def test_an_issued_invoice_keeps_facts_and_each_document_says_them_in_its_locale() -> None:
    """R-INV-8: an immediate change issued by Billing stores what each line is (no words),
    and a later rename of the plan in the catalogue leaves the issued documents as issued."""
    data = catalogue_data()
    data["policy"] = {"change_timing": "immediate"}
    catalogue = Catalogue.from_dict(data)
    clock = FixedClock(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    billing = Billing(catalogue, InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", BUDI)
    first = billing.change_plan("acme", "growth", addons={"extra_user": 2}).invoice
    assert first is not None
    billing.apply_payment(PaymentEvent(first.code, PaymentStatus.PAID, "P-1", first.total))
    clock.advance(timedelta(days=10))
    change = billing.change_plan("acme", "pro").invoice
    assert change is not None
    facts = [(line.kind, line.code, line.name, line.interval) for line in change.lines]
    assert facts == [
        (LineKind.PLAN, "pro", "Pro", "monthly"),
        (LineKind.ADD_ON, "extra_user", "Additional User", "monthly"),
        (LineKind.CREDIT, "growth", "Growth", "monthly"),
    ]
    assert all("description" not in line for line in to_dict(change)["lines"])
    data["plans"]["growth"]["name"] = "Growth Plus"  # renamed after the invoice was issued
    renamed = Catalogue.from_dict(data)
    for locale, words in (
        ("id_ID", ("Pro (Bulanan)", "Additional User", "Sisa waktu Growth (Bulanan)")),
        ("en", ("Pro (Monthly)", "Additional User", "Unused time on Growth (Monthly)")),
    ):
        text = render_invoice(change, renamed, format="text", locale=locale).decode()
        assert all(word in text for word in words), locale
        assert "Growth Plus" not in text
