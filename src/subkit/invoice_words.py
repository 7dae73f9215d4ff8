"""The words of an invoice's lines and package, built from their facts in a locale (R-INV-8).

An invoice line stores what it is (:class:`~subkit.kinds.LineKind`, the plan's or add-on's
code and name as issued, the interval, the period, quantity and prices), never a sentence;
every document, in every locale, says it here. Host names (a plan's or add-on's name) are
printed as written; the words around them come from the gettext catalogues.

    >>> from subkit.invoice import InvoiceLine
    >>> from subkit.money import Money
    >>> credit = InvoiceLine(
    ...     kind="credit", code="growth", name="Growth", interval="monthly",
    ...     quantity=1, unit_price=Money(-5, "IDR"), amount=Money(-5, "IDR"),
    ... )
    >>> line_words(credit, "id_ID"), line_words(credit, "en")
    ('Sisa waktu Growth (Bulanan)', 'Unused time on Growth (Monthly)')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from subkit.kinds import Interval, InvoiceType, LineKind
from subkit.labels import document_labels, label


# What the words are built from, named here rather than imported from subkit.invoice, which
# imports this module (InvoiceLine.description): an InvoiceLine and an Invoice are these.
class LineFacts(Protocol):
    """The facts of an invoice line the words read."""

    @property
    def kind(self) -> LineKind: ...
    @property
    def code(self) -> str | None: ...
    @property
    def name(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def interval(self) -> Interval | None: ...


class InvoiceFacts(Protocol):
    """The facts of an invoice its package's words read."""

    @property
    def type(self) -> InvoiceType: ...
    @property
    def lines(self) -> Sequence[LineFacts]: ...


# Invoices that buy a plan's period: their package is the plan line's words.
_PLAN_TYPES = (InvoiceType.PLAN_PURCHASE, InvoiceType.RENEWAL, InvoiceType.PLAN_CHANGE)


def line_words(line: LineFacts, locale: str | None) -> str:
    """What ``line`` is called on a document in ``locale``."""
    if line.kind is LineKind.TOP_UP:
        return label(line.code or "", locale, kind="top_up_line")
    if line.kind is LineKind.ADD_ON or line.interval is None:
        return line.name
    interval = label(line.interval, locale, kind="interval")
    key = "credit_line" if line.kind is LineKind.CREDIT else "plan_line"
    return document_labels(locale)[key].format(plan=line.name, interval=interval)


def package_words(invoice: InvoiceFacts, locale: str | None) -> str:
    """The invoice's package in ``locale``: the plan bought (``Growth (Bulanan)``), the
    add-ons with their quantities (``Additional User x2``) or the balance topped up."""
    lines = invoice.lines
    if invoice.type in _PLAN_TYPES:
        plan = next((line for line in lines if line.kind is LineKind.PLAN), None)
        if plan is not None:
            return line_words(plan, locale)
    if invoice.type is InvoiceType.ADD_ON:
        # One add-on can have two lines (this period and one paid ahead): name it once.
        units: dict[str, str] = {}
        for line in lines:
            if line.kind is LineKind.ADD_ON:
                units.setdefault(line.code or line.name, f"{line.name} x{line.quantity}")
        if units:
            return ", ".join(units.values())
    return ", ".join(dict.fromkeys(line_words(line, locale) for line in lines))


__all__ = ["InvoiceFacts", "LineFacts", "line_words", "package_words"]
