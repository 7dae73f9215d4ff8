"""One self-contained HTML page per invoice: inline CSS, no scripts, no external assets.

Every text that reaches the page passes through :func:`html.escape`, labels included, so a
billing profile named ``<script>`` prints as text.
"""

from __future__ import annotations

import base64
from html import escape

from subkit.invoice import InvoiceStatus
from subkit.render.document import Document

_STAMP_COLOURS = {
    InvoiceStatus.PAID: "#1a7f37",
    InvoiceStatus.PENDING: "#b35900",
    InvoiceStatus.REFUNDED: "#57606a",
}
_STAMP_DEFAULT = "#cf222e"  # failed, expired, cancelled

_CSS = """
body{margin:0;padding:24px;background:#f3f4f6;color:#1f2328;
font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif}
.sheet{max-width:820px;margin:0 auto;background:#fff;padding:40px;border-radius:6px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
header{display:flex;justify-content:space-between;align-items:flex-start;gap:24px}
h1{margin:0;font-size:26px;letter-spacing:.5px}
.code{color:#57606a;margin-top:2px}
.logo{max-height:56px;max-width:200px;display:block;margin-bottom:12px}
.stamp{border:3px solid;border-radius:6px;padding:6px 14px;font-weight:700;
font-size:18px;letter-spacing:2px;transform:rotate(-4deg)}
.parties{display:flex;gap:32px;margin:28px 0 20px}
.parties section{flex:1}
h2{font-size:12px;text-transform:uppercase;color:#57606a;margin:0 0 4px;letter-spacing:.5px}
.parties p{margin:0}
.parties .name{font-weight:600}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0 0 24px}
dl.meta dt{color:#57606a}
dl.meta dd{margin:0}
table{width:100%;border-collapse:collapse}
th{text-align:left;font-size:12px;text-transform:uppercase;color:#57606a;
border-bottom:2px solid #d0d7de;padding:6px 8px}
td{border-bottom:1px solid #eaeef2;padding:6px 8px;vertical-align:top}
.num{text-align:right;white-space:nowrap}
.period{white-space:nowrap;color:#57606a}
tfoot td{border:0;padding:4px 8px}
tfoot tr.total td{font-weight:700;font-size:16px;border-top:2px solid #1f2328}
"""


def _lines(values: tuple[str, ...]) -> str:
    parts = []
    for index, value in enumerate(values):
        css = ' class="name"' if index == 0 else ""
        parts.append(f"<p{css}>{escape(value)}</p>")
    return "".join(parts)


def _value(key: str, value: str, document: Document) -> str:
    """A field's value; the payment page is a link (its URL is already checked http(s))."""
    if key == document.labels["payment_link"] and value == document.payment_url:
        return f'<a href="{escape(value)}" rel="noopener noreferrer">{escape(value)}</a>'
    return escape(value)


def render_html(document: Document) -> str:
    """Lay ``document`` out as a complete HTML page."""
    labels = document.labels
    colour = _STAMP_COLOURS.get(document.status, _STAMP_DEFAULT)
    logo = ""
    if document.logo is not None:
        data = base64.b64encode(document.logo.data).decode("ascii")
        logo = (
            f'<img class="logo" alt="{escape(document.seller_name)}" '
            f'src="data:{escape(document.logo.mime)};base64,{data}">'
        )
    meta = "".join(
        f"<dt>{escape(key)}</dt><dd>{_value(key, value, document)}</dd>"
        for key, value in document.fields
    )
    rows = "".join(
        "<tr>"
        f"<td>{escape(line.description)}</td>"
        f'<td class="period">{escape(line.period)}</td>'
        f'<td class="num">{escape(line.quantity)}</td>'
        f'<td class="num">{escape(line.unit_price)}</td>'
        f'<td class="num">{escape(line.amount)}</td>'
        "</tr>"
        for line in document.lines
    )
    totals = [("", labels["subtotal"], document.subtotal)]
    if document.tax_label is not None:
        totals.append(("", document.tax_label, document.tax))
    totals.append((' class="total"', labels["total"], document.total))
    foot = "".join(
        f'<tr{css}><td colspan="3"></td><td class="num">{escape(name)}</td>'
        f'<td class="num">{escape(amount)}</td></tr>'
        for css, name, amount in totals
    )
    title = f"{document.title} {document.code}"
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{escape(document.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        '<main class="sheet">\n'
        f"<header><div>{logo}<h1>{escape(document.title)}</h1>"
        f'<div class="code">{escape(document.code)}</div></div>'
        f'<div class="stamp" style="color:{colour};border-color:{colour}">'
        f"{escape(document.stamp)}</div></header>\n"
        '<div class="parties">'
        f"<section><h2>{escape(labels['seller'])}</h2>{_lines(document.seller)}</section>"
        f"<section><h2>{escape(labels['buyer'])}</h2>{_lines(document.buyer)}</section>"
        "</div>\n"
        f'<dl class="meta">{meta}</dl>\n'
        "<table>\n<thead><tr>"
        f"<th>{escape(labels['description'])}</th>"
        f"<th>{escape(labels['period'])}</th>"
        f'<th class="num">{escape(labels["quantity"])}</th>'
        f'<th class="num">{escape(labels["unit_price"])}</th>'
        f'<th class="num">{escape(labels["amount"])}</th>'
        "</tr></thead>\n"
        f"<tbody>{rows}</tbody>\n<tfoot>{foot}</tfoot>\n</table>\n"
        "</main>\n</body>\n</html>\n"
    )


__all__ = ["render_html"]
