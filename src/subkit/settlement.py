"""Settlement: what one payment event does to an invoice and its account (R-INV-3..6).

:func:`settle` takes the account, the invoice, the gateway's report and the time, and returns
one :class:`PaymentOutcome`: the invoice and account after it, the ledger entries and events,
and what :class:`OutcomeKind` of outcome it was. The service loads, calls it, saves, publishes.
Pure: no I/O.
"""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

from subkit.account import Account, forget_invoice
from subkit.errors import PaymentAmountMismatch, StoreError
from subkit.events import (
    DomainEvent,
    InvoiceExpired,
    InvoiceFailed,
    InvoicePaid,
    InvoiceRefunded,
    InvoiceUnapplied,
    PaymentDuplicate,
    make_event,
)
from subkit.fulfilment import fulfil
from subkit.invoice import Effect, Invoice, InvoiceStatus, PaymentStatus, move
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.wallet import LedgerEntry


class OutcomeKind(enum.StrEnum):
    """What a payment event turned out to be."""

    APPLIED = "applied"  # paid, and its effect given to the account
    UNAPPLIED = "unapplied"  # paid too late to apply: the host must refund (R-INV-5)
    DUPLICATE = "duplicate"  # a second payment of a paid invoice, recorded (R-INV-4)
    REPLAY = "replay"  # this very event was applied before: nothing changes
    IGNORED = "ignored"  # out of order or nothing to do (a late ``expired`` after ``paid``)
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


@attrs.frozen
class PaymentReport:
    """A gateway's report, checked: status, reference, amount, and when it happened."""

    status: PaymentStatus
    reference: str
    amount: Money
    at: datetime


@attrs.frozen
class PaymentOutcome:
    """The result of one payment event; unchanged values are the very objects passed in."""

    kind: OutcomeKind
    invoice: Invoice
    account: Account
    entries: tuple[LedgerEntry, ...] = ()
    events: tuple[DomainEvent, ...] = ()


def _event(invoice: Invoice, at: datetime, facts: object) -> DomainEvent:
    return make_event(invoice.account_id, at, facts)


def settle(
    account: Account,
    catalogue: Catalogue,
    invoice: Invoice,
    report: PaymentReport,
    now: datetime,
) -> PaymentOutcome:
    """Apply ``report`` to ``invoice`` at ``now`` (the effect happens when subkit learns of
    it, so the ledger stays in time order; ``paid_at`` keeps the gateway's time).

    Raises:
        PaymentAmountMismatch: a success whose amount is not the invoice total; the
            invoice stays as it is.
    """
    at = min(report.at, now)
    if report.status is PaymentStatus.PAID:
        return _paid(account, catalogue, invoice, report, at, now)
    if report.status is PaymentStatus.REFUNDED:
        if invoice.status is not InvoiceStatus.PAID:
            return PaymentOutcome(OutcomeKind.IGNORED, invoice, account)
        refunded = move(invoice, InvoiceStatus.REFUNDED, at)
        event = _event(invoice, at, InvoiceRefunded(invoice.code))
        return PaymentOutcome(OutcomeKind.REFUNDED, refunded, account, events=(event,))
    # failed / expired only move a pending invoice; late ones are out of order.
    if invoice.status is not InvoiceStatus.PENDING:
        return PaymentOutcome(OutcomeKind.IGNORED, invoice, account)
    failed = report.status is PaymentStatus.FAILED
    target = InvoiceStatus.FAILED if failed else InvoiceStatus.EXPIRED
    kind = OutcomeKind.FAILED if failed else OutcomeKind.EXPIRED
    moved = move(invoice, target, at)
    event = _event(invoice, at, (InvoiceFailed if failed else InvoiceExpired)(invoice.code))
    return PaymentOutcome(kind, moved, forget_invoice(account, invoice.code), events=(event,))


def _paid(
    account: Account,
    catalogue: Catalogue,
    invoice: Invoice,
    report: PaymentReport,
    at: datetime,
    now: datetime,
) -> PaymentOutcome:
    if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED):
        if report.reference == invoice.reference or report.reference in invoice.extra_payments:
            return PaymentOutcome(OutcomeKind.IGNORED, invoice, account)
        recorded = attrs.evolve(invoice, extra_payments=(*invoice.extra_payments, report.reference))
        event = _event(invoice, at, PaymentDuplicate(invoice.code, report.reference, report.amount))
        return PaymentOutcome(OutcomeKind.DUPLICATE, recorded, account, events=(event,))
    if report.amount != invoice.total:
        raise PaymentAmountMismatch(
            f"payment of {report.amount} for invoice {invoice.code} does not match its total "
            f"{invoice.total}",
            expected=invoice.total,
            received=report.amount,
            invoice_code=invoice.code,
        )
    pending = {code: due for code, due in account.pending.items() if code != invoice.code}
    if invoice.order is None:  # a store keeps it (to_record); only a host's JSON lacks it
        raise StoreError(
            f"invoice {invoice.code} was stored without its order", invoice_code=invoice.code
        )
    done = fulfil(
        attrs.evolve(account, pending=pending),
        catalogue,
        invoice.order,
        invoice.lines,
        invoice.code,
        now,
    )
    paid = move(
        invoice,
        InvoiceStatus.PAID,
        at,
        paid_at=at,
        reference=report.reference,
        effect=Effect.APPLIED if done.applied else Effect.UNAPPLIED,
    )
    events = [_event(invoice, at, InvoicePaid(invoice.code, invoice.total, report.reference))]
    if not done.applied:
        events.append(_event(invoice, at, InvoiceUnapplied(invoice.code, done.unapplied or "")))
        return PaymentOutcome(OutcomeKind.UNAPPLIED, paid, done.account, events=tuple(events))
    events.extend(done.events)
    return PaymentOutcome(OutcomeKind.APPLIED, paid, done.account, done.entries, tuple(events))


__all__ = ["OutcomeKind", "PaymentOutcome", "PaymentReport", "settle"]
