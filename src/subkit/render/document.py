"""What an invoice document says, with every text already localised (R-INV-8).

The three renderers (text, HTML, PDF) lay out the same :class:`Document`, so they cannot
disagree about a label, a date or an amount. Building one is pure except for reading the
seller's logo file when one is configured and exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import attrs
from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from subkit.cycles import Period, zone
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType
from subkit.invoice_words import line_words, package_words
from subkit.labels import document_labels, label, language
from subkit.money import Money, format_money
from subkit.plans import Catalogue, Tax, TaxMode
from subkit.render.inert import address_lines, one_line

DATE_PATTERN = "d MMM y"
DATETIME_PATTERN = "d MMM y, HH:mm z"

_LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
}


@attrs.frozen
class Logo:
    data: bytes
    mime: str


@attrs.frozen
class DocumentLine:
    description: str
    period: str  # "" when the line has no period
    quantity: str
    unit_price: str
    amount: str


@attrs.frozen
class Document:
    """An invoice as display strings. ``fields`` are (label, value) pairs in print order."""

    language: str
    locale: str
    labels: Mapping[str, str]
    title: str
    code: str
    requested_at: datetime
    status: InvoiceStatus
    stamp: str
    seller: tuple[str, ...]
    buyer: tuple[str, ...]
    fields: tuple[tuple[str, str], ...]
    lines: tuple[DocumentLine, ...]
    subtotal: str
    tax_label: str | None  # None: no tax line
    tax: str
    total: str
    seller_name: str
    logo: Logo | None = None
    # Where a pending invoice can still be paid (the gateway's redirect URL), else None.
    payment_url: str | None = None


def babel_locale(locale: str) -> str:
    """A locale Babel knows whose language subkit has a catalogue for (``en`` otherwise)."""
    lang = language(locale)
    try:
        parsed = Locale.parse(str(locale).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return lang
    return str(parsed) if parsed.language == lang else lang


def format_rate(rate: Fraction, locale: str) -> str:
    """A rate as a percentage: ``12%``, ``2,5%`` (id) / ``2.5%`` (en)."""
    percent = Decimal(rate.numerator * 100) / Decimal(rate.denominator)
    return f"{format_decimal(percent, format='#,##0.##', locale=locale)}%"


def tax_label(tax: Tax, labels: Mapping[str, str], locale: str) -> str:
    """The tax line's label: ``PPN 12% × 11/12``, ``Tax 12% on 11/12 (included)``."""
    if tax.mode is TaxMode.NONE:
        return labels["tax"]
    parts = [labels["tax"], format_rate(tax.rate, locale)]
    if tax.base != 1:
        parts.append(labels["tax_base"].format(base=f"{tax.base.numerator}/{tax.base.denominator}"))
    if tax.mode is TaxMode.INCLUSIVE:
        parts.append(labels["tax_included"])
    return " ".join(parts)


def format_period(period: Period, tz: tzinfo, locale: str) -> str:
    start = format_date(period.start.astimezone(tz).date(), DATE_PATTERN, locale=locale)
    end = format_date(period.end.astimezone(tz).date(), DATE_PATTERN, locale=locale)
    return f"{start} – {end}"


def format_moment(at: datetime, tz: tzinfo, locale: str) -> str:
    return str(format_datetime(at, DATETIME_PATTERN, tzinfo=tz, locale=locale))


def _party(
    name: str | None,
    address: str | None,
    email: str | None,
    tax_number: str | None,
    tax_label: str,
) -> tuple[str, ...]:
    """A seller or buyer block; only the address may span lines (R-LIM-3)."""
    block = tuple(text for text in (one_line(name),) if text)
    block += address_lines(address)
    block += tuple(text for text in (one_line(email),) if text)
    number = one_line(tax_number)
    if number:
        block += (f"{tax_label}: {number}",)
    return block


def payment_url(invoice: Invoice) -> str | None:
    """The payment page of a pending invoice, when its payment session is known.

    Read with ``getattr`` so invoices from stores or releases without a payment session
    render the same; only an http(s) URL is shown, on one line.
    """
    if invoice.status is not InvoiceStatus.PENDING:
        return None
    session = getattr(invoice, "payment", None)
    url = one_line(getattr(session, "redirect_url", None) or "")
    if not url.lower().startswith(("https://", "http://")) or " " in url:
        return None
    return url


def read_logo(path: str | None) -> Logo | None:
    """The seller's logo when ``path`` names an existing PNG, JPEG or GIF file."""
    if not path:
        return None
    file = Path(path)
    mime = _LOGO_TYPES.get(file.suffix.lower())
    if mime is None or not file.is_file():
        return None
    return Logo(file.read_bytes(), mime)


def build_document(
    invoice: Invoice,
    catalogue: Catalogue,
    *,
    locale: str | None = None,
    timezone: str | None = None,
) -> Document:
    """Localise ``invoice`` for display, with the seller and tax setting it was issued with.

    Invoices written before subkit kept those show ``catalogue``'s; ``locale`` and
    ``timezone`` default to the catalogue's policy.

    Raises:
        InvalidTime: ``timezone`` is not an IANA zone name.
    """
    wanted = locale or catalogue.policy.locale
    loc = babel_locale(wanted)
    lang = language(loc)
    tz = zone(timezone or catalogue.policy.timezone)
    labels = document_labels(wanted)
    dash = labels["none"]

    def money(value: Money) -> str:
        return format_money(value, loc)

    # An invoice shows the seller and tax it was issued with; older ones the catalogue's.
    seller = invoice.seller or catalogue.seller
    seller_block = _party(
        seller.name, seller.address, seller.email, seller.tax_number, labels["tax_number"]
    )
    profile = invoice.billing_profile
    buyer_block: tuple[str, ...] = ()
    if profile is not None:
        buyer_block = _party(
            profile.name, profile.address, profile.email, profile.tax_number, labels["tax_number"]
        )
    pay_url = payment_url(invoice)

    stamp = label(invoice.status, wanted).upper()
    fields: tuple[tuple[str, str], ...] = (
        (labels["code"], one_line(invoice.code)),
        (labels["type"], label(invoice.type, wanted)),
        (labels["package"], one_line(package_words(invoice, wanted)) or dash),
        (labels["requested_at"], format_moment(invoice.requested_at, tz, loc)),
    )
    if invoice.status is InvoiceStatus.PENDING:
        # What a buyer needs to pay: until when, and where (R-INV-3 payment window).
        fields += ((labels["expires_at"], format_moment(invoice.expires_at, tz, loc)),)
        if pay_url is not None:
            fields += ((labels["payment_link"], pay_url),)
    else:
        paid = format_moment(invoice.paid_at, tz, loc) if invoice.paid_at is not None else dash
        fields += ((labels["paid_at"], paid),)
    fields += (
        (labels["status"], label(invoice.status, wanted)),
        (labels["reference"], one_line(invoice.reference) or dash),
    )
    lines = tuple(
        DocumentLine(
            description=one_line(line_words(line, wanted)),
            period=format_period(line.period, tz, loc) if line.period is not None else "",
            quantity=str(format_decimal(line.quantity, locale=loc)),
            unit_price=money(line.unit_price),
            amount=money(line.amount),
        )
        for line in invoice.lines
    )
    tax = invoice.tax_setting or catalogue.policy.tax
    taxable = tax.mode is not TaxMode.NONE and (
        invoice.type is not InvoiceType.TOP_UP or tax.tax_top_ups
    )
    shown_tax: str | None = None
    if taxable:
        shown_tax = tax_label(tax, labels, loc)
    elif not invoice.tax.is_zero:
        # The catalogue no longer taxes what this invoice was taxed on: show the amount plainly.
        shown_tax = labels["tax"]
    return Document(
        language=lang,
        locale=loc,
        labels=labels,
        title=labels["title"],
        code=one_line(invoice.code),
        requested_at=invoice.requested_at,
        status=invoice.status,
        stamp=stamp,
        seller=seller_block or (dash,),
        buyer=buyer_block or (dash,),
        fields=fields,
        lines=lines,
        subtotal=money(invoice.subtotal),
        tax_label=shown_tax,
        tax=money(invoice.tax),
        total=money(invoice.total),
        seller_name=one_line(seller.name),
        logo=read_logo(seller.logo),
        payment_url=pay_url,
    )


__all__ = ["Document", "DocumentLine", "Logo", "build_document", "payment_url", "read_logo"]
