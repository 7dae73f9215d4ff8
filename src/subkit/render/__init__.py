"""Invoice documents: PDF, HTML and plain text, in Indonesian and English (R-INV-8).

    >>> pdf = render_invoice(invoice, catalogue)                       # doctest: +SKIP
    >>> page = render_invoice(invoice, catalogue, format="html", locale="en")  # doctest: +SKIP

Rendering is pure: the invoice and the catalogue (seller, tax setting, default locale and
timezone) go in, bytes come out. The only file read is the seller's logo, when configured.
PDF needs the ``subkit[pdf]`` extra (fpdf2); without it :class:`MissingExtra` is raised.
"""

from __future__ import annotations

from subkit.invoice import Invoice
from subkit.plans import Catalogue
from subkit.render.document import Document, build_document
from subkit.render.html import render_html
from subkit.render.pdf import MissingExtra, render_pdf
from subkit.render.text import render_text

#: The formats :func:`render_invoice` accepts.
FORMATS = ("pdf", "html", "text")

#: The media type of each format, for a host's HTTP response.
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "html": "text/html; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}


def render_invoice(
    invoice: Invoice,
    catalogue: Catalogue,
    *,
    format: str = "pdf",
    locale: str | None = None,
    timezone: str | None = None,
) -> bytes:
    """Render ``invoice`` as a document a buyer can keep.

    Args:
        invoice: the invoice to show.
        catalogue: gives the seller block, the tax setting, and the defaults below.
        format: ``"pdf"``, ``"html"`` or ``"text"`` (UTF-8).
        locale: ``"id_ID"``/``"id"`` for Indonesian, ``"en"`` (or any other) for English;
            defaults to ``catalogue.policy.locale``.
        timezone: IANA zone the dates are shown in; defaults to ``catalogue.policy.timezone``.

    Raises:
        ValueError: ``format`` is not one of :data:`FORMATS`.
        InvalidTime: ``timezone`` is unknown.
        MissingExtra: a PDF was asked for and fpdf2 is not installed.
    """
    if format not in FORMATS:
        allowed = ", ".join(repr(name) for name in FORMATS)
        raise ValueError(f"unknown invoice format {format!r}: use one of {allowed}")
    document = build_document(invoice, catalogue, locale=locale, timezone=timezone)
    if format == "pdf":
        return render_pdf(document)
    if format == "html":
        return render_html(document).encode("utf-8")
    return render_text(document).encode("utf-8")


__all__ = ["FORMATS", "MEDIA_TYPES", "Document", "MissingExtra", "build_document", "render_invoice"]
