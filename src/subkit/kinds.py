"""Small enumerations many modules name, in a module that imports nothing of subkit's: the
kinds of invoice (R-INV-2) and of invoice line, the invoice statuses, the billing intervals
and the two balances. Events, invoices, the words of documents and the errors' facts name
them, and none may import the others' dependencies (tests/test_architecture.py forbids import
cycles, even for the type checker). Each is importable from its home module too
(``subkit.invoice``, ``subkit.cycles``, ``subkit.wallet``)."""

from __future__ import annotations

import enum


class Interval(enum.StrEnum):
    """How often a plan is billed."""

    MONTHLY = "monthly"
    ANNUAL = "annual"

    @property
    def months(self) -> int:
        return 1 if self is Interval.MONTHLY else 12


class Balance(enum.StrEnum):
    """The two prepaid balances of an account."""

    CONVERSATION = "conversation"
    BROADCAST = "broadcast"


class InvoiceStatus(enum.StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


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


__all__ = ["Balance", "Interval", "InvoiceStatus", "InvoiceType", "LineKind"]
