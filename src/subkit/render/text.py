"""Plain-text invoices for e-mails and terminals: UTF-8, fixed-width aligned columns."""

from __future__ import annotations

import textwrap

from subkit.render.document import Document

WIDTH = 76  # fits an e-mail body's 78-column convention with room to spare
_GAP = "  "


def _block(heading: str, lines: tuple[str, ...], width: int) -> list[str]:
    out = [heading]
    for line in lines:
        out.extend(
            textwrap.wrap(line, width, initial_indent="  ", subsequent_indent="    ") or ["  "]
        )
    return out


def render_text(document: Document) -> str:
    """Lay ``document`` out as text; every line ends without trailing spaces."""
    labels = document.labels
    headers = (
        labels["description"],
        labels["quantity"],
        labels["unit_price"],
        labels["amount"],
    )
    rows = [(line.quantity, line.unit_price, line.amount) for line in document.lines]
    qty_w = max([len(headers[1])] + [len(row[0]) for row in rows])
    unit_w = max([len(headers[2])] + [len(row[1]) for row in rows])
    amount_w = max(
        [len(headers[3]), len(document.subtotal), len(document.tax), len(document.total)]
        + [len(row[2]) for row in rows]
    )
    numbers_w = qty_w + unit_w + amount_w + 2 * len(_GAP)
    width = max(WIDTH, numbers_w + len(_GAP) + 24)
    desc_w = width - numbers_w - len(_GAP)

    out: list[str] = []
    heading = f"{document.title.upper()} {document.code}"
    stamp = f"[ {document.stamp} ]"
    if len(heading) + len(stamp) + 2 <= width:
        out.append(heading + stamp.rjust(width - len(heading)))
    else:
        out.extend([heading, stamp])
    out.append("")
    out.extend(_block(labels["seller"], document.seller, width - 2))
    out.append("")
    out.extend(_block(labels["buyer"], document.buyer, width - 2))
    out.append("")

    key_w = max(len(key) for key, _ in document.fields) + 3
    for key, value in document.fields:
        # A URL or an invoice code is never cut: a reader copies it whole.
        wrapped = textwrap.wrap(
            value, width - key_w, break_long_words=False, break_on_hyphens=False
        ) or [""]
        out.append(key.ljust(key_w) + wrapped[0])
        out.extend(" " * key_w + more for more in wrapped[1:])
    out.append("")

    def row(desc: str, qty: str, unit: str, amount: str) -> str:
        return _GAP.join(
            (desc.ljust(desc_w), qty.rjust(qty_w), unit.rjust(unit_w), amount.rjust(amount_w))
        )

    rule = "-" * width
    out.append(row(*headers))
    out.append(rule)
    for line in document.lines:
        wrapped = textwrap.wrap(line.description, desc_w) or [""]
        out.append(row(wrapped[0], line.quantity, line.unit_price, line.amount))
        out.extend(wrapped[1:])
        if line.period:
            out.append("  " + line.period)
    out.append(rule)

    totals = [(labels["subtotal"], document.subtotal)]
    if document.tax_label is not None:
        totals.append((document.tax_label, document.tax))
    totals.append((labels["total"], document.total))
    label_w = max(len(name) for name, _ in totals)
    indent = max(0, width - amount_w - len(_GAP) - label_w)
    for name, amount in totals:
        if name == labels["total"]:
            out.append(" " * indent + "=" * (width - indent))
        out.append(" " * indent + name.ljust(label_w) + _GAP + amount.rjust(amount_w))
    return "\n".join(line.rstrip() for line in out) + "\n"


__all__ = ["WIDTH", "render_text"]
