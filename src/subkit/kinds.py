"""The kinds of invoice (R-INV-2), in a module of their own: events and invoices both name
them, and neither may import the other's dependencies."""

from __future__ import annotations

import enum


class InvoiceType(enum.StrEnum):
    PLAN_PURCHASE = "plan_purchase"
    RENEWAL = "renewal"
    PLAN_CHANGE = "plan_change"
    ADD_ON = "add_on"
    TOP_UP = "top_up"


__all__ = ["InvoiceType"]
