"""The kinds of invoice (R-INV-2) and of invoice line, in a module of their own: events,
invoices and the words of documents name them, and none may import the others'
dependencies."""

from __future__ import annotations

import enum


class InvoiceType(enum.StrEnum):
    PLAN_PURCHASE = "plan_purchase"
    RENEWAL = "renewal"
    PLAN_CHANGE = "plan_change"
    ADD_ON = "add_on"
    TOP_UP = "top_up"


class LineKind(enum.StrEnum):
    """What an invoice line is; a document builds the line's words from this (R-INV-8)."""

    PLAN = "plan"  # a period of a plan
    ADD_ON = "add_on"  # units of an add-on, for (part of) a period
    CREDIT = "credit"  # the unused time of the plan left by an immediate change
    TOP_UP = "top_up"  # an amount added to a prepaid balance


__all__ = ["InvoiceType", "LineKind"]
