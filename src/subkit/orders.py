"""Orders: what each checkout buys, its invoice lines, and what paying it does (R-INV-1, R-INV-6).

Pure decisions. A quote and a checkout call the same function here, so the Order Summary a
customer sees is the invoice they pay.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from subkit import wallet as wallets
from subkit.account import Account
from subkit.events import BalanceToppedUp, DomainEvent, make_event
from subkit.invoice import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    Order,
    PaymentStatus,
    Totals,
    compute_totals,
)
from subkit.labels import label
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.wallet import Balance, LedgerEntry


@attrs.frozen
class Purchase:
    """An order ready to be invoiced: type, package, lines, totals and what it buys."""

    type: InvoiceType
    package: str
    lines: tuple[InvoiceLine, ...]
    totals: Totals
    order: Order

    @property
    def total(self) -> Money:
        return self.totals.total


@attrs.frozen
class Applied:
    """The account after a paid invoice's effect, or why it could not be applied."""

    account: Account
    entries: tuple[LedgerEntry, ...] = ()
    events: tuple[DomainEvent, ...] = ()
    applied: bool = True
    reason: str | None = None


def top_up(catalogue: Catalogue, balance: Balance, amount: Money) -> Purchase:
    """A top-up of ``amount``: tax on top or inside per the catalogue, never credited (R-BAL-6)."""
    name = f"{label(balance, 'en')} top-up"  # invoice lines are stored in English
    lines = (InvoiceLine(name, 1, amount, amount, None),)
    totals = compute_totals(
        lines, catalogue.policy.tax, catalogue.currency, taxable=catalogue.policy.tax.tax_top_ups
    )
    return Purchase(InvoiceType.TOP_UP, name, lines, totals, Order(balance=balance, amount=amount))


def accept_free(
    account: Account, catalogue: Catalogue, purchase: Purchase, at: datetime
) -> tuple[Account, tuple[LedgerEntry, ...], tuple[DomainEvent, ...], tuple[str, ...]]:
    """Accept an order with nothing to pay at once (R-INV-1); returns invoices it replaces."""
    from subkit import lifecycle

    replaced = lifecycle.superseded(account.subscription, purchase.type, purchase.order)
    pending = {code: due for code, due in account.pending.items() if code not in replaced}
    account = attrs.evolve(account, pending=pending)
    result = apply_effect(account, catalogue, purchase.type, purchase.order, None, at)
    return result.account, result.entries, result.events, replaced


def placed(
    account: Account, purchase: Purchase, invoice: Invoice
) -> tuple[Account, tuple[str, ...]]:
    """Remember a new open invoice on the account, so its expiry is due there (R-INV-3).

    Returns the account and the open invoices the new order replaces (a change cancels an
    unpaid renewal or an unpaid earlier change, R-SUB-2), which the caller cancels.
    """
    from subkit import lifecycle

    sub = account.subscription
    replaced = lifecycle.superseded(sub, purchase.type, purchase.order)
    pending = {code: at for code, at in account.pending.items() if code not in replaced}
    pending[invoice.code] = invoice.expires_at
    sub = lifecycle.placed(sub, purchase.type, purchase.order, invoice.code)
    return attrs.evolve(account, subscription=sub, pending=pending), replaced


Decision = Literal["pay", "duplicate", "mismatch", "ignore", "failed", "expired", "refund"]


def payment_decision(
    invoice: Invoice, status: PaymentStatus, reference: str, amount: Money
) -> Decision:
    """What a payment event does to an invoice (R-INV-3, R-INV-4, R-INV-5)."""
    if status is PaymentStatus.PAID:
        if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.REFUNDED):
            if reference == invoice.reference or reference in invoice.extra_payments:
                return "ignore"
            return "duplicate"
        if amount != invoice.total:
            return "mismatch"
        return "pay"
    if status is PaymentStatus.REFUNDED:
        return "refund" if invoice.status is InvoiceStatus.PAID else "ignore"
    # failed / expired only move a pending invoice; late ones are out of order.
    if invoice.status is InvoiceStatus.PENDING:
        return "failed" if status is PaymentStatus.FAILED else "expired"
    return "ignore"


def apply_paid(account: Account, catalogue: Catalogue, invoice: Invoice, at: datetime) -> Applied:
    """Apply what a just-paid invoice bought, in the transaction that marks it paid."""
    pending = dict(account.pending)
    pending.pop(invoice.code, None)
    account = attrs.evolve(account, pending=pending)
    return apply_effect(account, catalogue, invoice.type, invoice.order, invoice.code, at)


def apply_effect(
    account: Account,
    catalogue: Catalogue,
    type: InvoiceType,
    order: Order,
    invoice_code: str | None,
    at: datetime,
) -> Applied:
    if type is InvoiceType.TOP_UP:
        assert order.balance is not None and order.amount is not None
        change = wallets.credit_top_up(
            account.wallet, order.balance, order.amount, at, invoice_code=invoice_code or ""
        )
        event = make_event(
            account.account_id, at, BalanceToppedUp(order.balance, order.amount, invoice_code)
        )
        return Applied(attrs.evolve(account, wallet=change.wallet), change.entries, (event,))
    from subkit import lifecycle

    return lifecycle.apply_order(account, catalogue, type, order, invoice_code, at)


__all__ = [
    "Applied",
    "Purchase",
    "accept_free",
    "apply_effect",
    "apply_paid",
    "payment_decision",
    "placed",
    "top_up",
]
