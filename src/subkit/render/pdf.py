"""PDF invoices with fpdf2 (the ``subkit[pdf]`` extra): A4 portrait, DejaVu Sans embedded.

fpdf2 is imported when a PDF is asked for, so subkit imports without it. The PDF core fonts
cover Latin-1 only, so the document is set in DejaVu Sans (vendored in ``fonts/``, see
:mod:`subkit.render.fonts`), embedded and subset by fpdf2 to the glyphs used: a name or
address in Latin, Greek, Cyrillic, Arabic, Hebrew, Georgian or Armenian prints as written.
Output is deterministic: the creation date is the invoice's request date.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from subkit.errors import MissingExtra
from subkit.invoice import InvoiceStatus
from subkit.render.document import Document, DocumentLine
from subkit.render.fonts import FAMILY, add_fonts

if TYPE_CHECKING:
    from fpdf import FPDF


# Colours as RGB.
_INK = (31, 35, 40)
_MUTED = (87, 96, 106)
_RULE = (208, 215, 222)
_HEAD_FILL = (243, 244, 246)
_LINK = (9, 105, 218)
_STAMP = {
    InvoiceStatus.PAID: (26, 127, 55),
    InvoiceStatus.PENDING: (179, 89, 0),
    InvoiceStatus.REFUNDED: (87, 96, 106),
}
_STAMP_DEFAULT = (207, 34, 46)

# A4 portrait in millimetres; the columns of the lines table add up to the text width.
_MARGIN = 15.0
_WIDTH = 210.0 - 2 * _MARGIN
_COLUMNS = (60.0, 42.0, 18.0, 29.0, 31.0)  # description, period, qty, unit price, amount
_ROW = 4.3  # line height of the lines table
_PAD = 0.6  # space between two rows
_FONT = FAMILY


def render_pdf(document: Document) -> bytes:
    """Lay ``document`` out as an A4 PDF; more lines than fit go on to further pages.

    Raises:
        MissingExtra: fpdf2 is not installed.
    """
    try:
        from fpdf import FPDF
    except ImportError as error:
        raise MissingExtra(
            "PDF invoices need fpdf2: pip install 'subkit[pdf]'", extra="pdf"
        ) from error

    labels = document.labels
    footer_text = f"{document.title} {document.code}"
    page_text = labels["page"].format(page="{page}", pages="{nb}")

    class InvoicePDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font(_FONT, size=7.5)
            self.set_text_color(*_MUTED)
            self.cell(_WIDTH / 2, 5, footer_text)
            self.cell(_WIDTH / 2, 5, page_text.replace("{page}", str(self.page_no())), align="R")

    pdf = InvoicePDF(orientation="portrait", unit="mm", format="A4")
    add_fonts(pdf)
    pdf.set_margins(_MARGIN, 14.0, _MARGIN)
    pdf.set_auto_page_break(auto=True, margin=16.0)
    pdf.set_creation_date(document.requested_at)
    pdf.set_title(f"{document.title} {document.code}")
    if document.seller_name:
        pdf.set_author(document.seller_name)
    pdf.set_creator("subkit")
    pdf.set_lang(document.language)
    pdf.add_page()

    _header(pdf, document)
    _parties(pdf, document)
    _table_head(pdf, document)
    for line in document.lines:
        _table_row(pdf, document, line)
    _totals(pdf, document)
    return bytes(pdf.output())


def _text(pdf: FPDF, size: float, style: str = "", colour: tuple[int, int, int] = _INK) -> None:
    pdf.set_font(_FONT, style=style, size=size)
    pdf.set_text_color(*colour)


def _header(pdf: FPDF, document: Document) -> None:
    top = pdf.get_y()
    left_w = _WIDTH * 0.58
    if document.logo is not None:
        pdf.image(io.BytesIO(document.logo.data), x=_MARGIN, y=top, h=14)
        pdf.set_y(top + 17)
    for index, line in enumerate(document.seller):
        if index == 0:
            _text(pdf, 11, "B")
            pdf.multi_cell(left_w, 5.5, line, align="L", new_x="LMARGIN", new_y="NEXT")
        else:
            _text(pdf, 8.5, colour=_MUTED)
            pdf.multi_cell(left_w, 4.2, line, align="L", new_x="LMARGIN", new_y="NEXT")
    left_bottom = pdf.get_y()

    right_x = _MARGIN + left_w
    right_w = _WIDTH - left_w
    pdf.set_xy(right_x, top)
    _text(pdf, 22, "B")
    pdf.cell(right_w, 10, document.title.upper(), align="R")
    pdf.set_xy(right_x, top + 10)
    _text(pdf, 10, colour=_MUTED)
    pdf.cell(right_w, 5, document.code, align="R")

    colour = _STAMP.get(document.status, _STAMP_DEFAULT)
    _text(pdf, 12, "B", colour)
    stamp = document.stamp
    stamp_w = pdf.get_string_width(stamp) + 10
    stamp_x = _MARGIN + _WIDTH - stamp_w
    stamp_y = top + 18
    pdf.set_draw_color(*colour)
    pdf.set_line_width(0.6)
    pdf.rect(stamp_x, stamp_y, stamp_w, 9, round_corners=True, corner_radius=1.5)
    pdf.set_xy(stamp_x, stamp_y)
    pdf.cell(stamp_w, 9, stamp, align="C")
    pdf.set_line_width(0.2)
    pdf.set_y(max(left_bottom, stamp_y + 9) + 6)


def _parties(pdf: FPDF, document: Document) -> None:
    labels = document.labels
    top = pdf.get_y()
    left_w = _WIDTH * 0.45
    _text(pdf, 7.5, "B", _MUTED)
    pdf.cell(left_w, 4.5, labels["buyer"].upper())
    pdf.ln(4.5)
    for index, line in enumerate(document.buyer):
        _text(pdf, 9.5 if index == 0 else 8.5, "B" if index == 0 else "", _INK)
        pdf.multi_cell(
            left_w - 4,
            4.5 if index == 0 else 4.2,
            line,
            align="L",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    left_bottom = pdf.get_y()

    key_x = _MARGIN + left_w
    key_w = 38.0
    value_w = _WIDTH - left_w - key_w
    pdf.set_y(top)
    for key, value in document.fields:
        pdf.set_x(key_x)
        _text(pdf, 8.5, colour=_MUTED)
        pdf.cell(key_w, 4.6, key)
        link = document.payment_url if key == labels["payment_link"] else None
        _text(pdf, 8.5, "B" if key == labels["code"] else "", _LINK if link else _INK)
        pdf.multi_cell(
            value_w, 4.6, value, align="L", new_x="LMARGIN", new_y="NEXT", link=link or ""
        )
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)


def _table_head(pdf: FPDF, document: Document) -> None:
    labels = document.labels
    names = ("description", "period", "quantity", "unit_price", "amount")
    aligns = ("L", "L", "R", "R", "R")
    _text(pdf, 8, "B", _MUTED)
    pdf.set_fill_color(*_HEAD_FILL)
    pdf.set_x(_MARGIN)
    for name, width, align in zip(names, _COLUMNS, aligns, strict=True):
        pdf.cell(width, 7, labels[name], align=align, fill=True)
    pdf.ln(7)


def _table_row(pdf: FPDF, document: Document, line: DocumentLine) -> None:
    _text(pdf, 8.5)
    desc_w = _COLUMNS[0] - 2
    description = line.description
    wrapped = pdf.multi_cell(desc_w, _ROW, description, dry_run=True, output="LINES")
    count = len(wrapped) if isinstance(wrapped, list) else 1
    height = _ROW * max(1, count) + _PAD
    if pdf.will_page_break(height):
        pdf.add_page()
        _table_head(pdf, document)
        _text(pdf, 8.5)
    top = pdf.get_y()
    pdf.set_xy(_MARGIN, top + _PAD / 2)
    pdf.multi_cell(desc_w, _ROW, description, align="L", new_x="LMARGIN", new_y="NEXT")
    x = _MARGIN + _COLUMNS[0]
    cells = (
        (line.period, "L", _MUTED),
        (line.quantity, "R", _INK),
        (line.unit_price, "R", _INK),
        (line.amount, "R", _INK),
    )
    for (text, align, colour), width in zip(cells, _COLUMNS[1:], strict=True):
        pdf.set_xy(x, top + _PAD / 2)
        _text(pdf, 8.5, colour=colour)
        pdf.cell(width, _ROW, text, align=align)
        x += width
    bottom = top + height
    pdf.set_draw_color(*_RULE)
    pdf.line(_MARGIN, bottom, _MARGIN + _WIDTH, bottom)
    pdf.set_y(bottom)


def _totals(pdf: FPDF, document: Document) -> None:
    labels = document.labels
    rows = [(labels["subtotal"], document.subtotal, False)]
    if document.tax_label is not None:
        rows.append((document.tax_label, document.tax, False))
    rows.append((labels["total"], document.total, True))
    height = 3 + 6 * len(rows) + 2
    if pdf.will_page_break(height):
        pdf.add_page()
    amount_w = _COLUMNS[-1]
    label_w = 60.0
    x = _MARGIN + _WIDTH - amount_w - label_w
    pdf.set_y(pdf.get_y() + 3)
    for name, amount, strong in rows:
        if strong:
            pdf.set_draw_color(*_INK)
            pdf.set_line_width(0.4)
            pdf.line(x, pdf.get_y() + 0.5, _MARGIN + _WIDTH, pdf.get_y() + 0.5)
            pdf.set_line_width(0.2)
            pdf.set_y(pdf.get_y() + 1.5)
        size = 11.0 if strong else 9.0
        pdf.set_x(x)
        _text(pdf, size, "B" if strong else "", _INK if strong else _MUTED)
        pdf.cell(label_w, 6, name, align="R")
        _text(pdf, size, "B" if strong else "")
        pdf.cell(amount_w, 6, amount, align="R")
        pdf.ln(6)


__all__ = ["MissingExtra", "render_pdf"]
