"""Checkout: placing a quoted order on the account (R-INV-1, R-INV-9, R-SUB-2).

:func:`place` decides everything a checkout does to the account: the billing-profile rule,
the invoice (or, when nothing is to be paid, the order accepted at once), the open invoices
the new order replaces, and the events. The service only saves the result. Pure: the store's
invoice sequence comes in as a callable, asked only when an invoice is made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import attrs

from subkit.account import Account, forget_invoice
from subkit.cycles import zone
from subkit.errors import BillingProfileRequired
from subkit.events import DomainEvent, InvoiceCreated, make_event
from subkit.fulfilment import fulfil
from subkit.invoice import Invoice, format_code, new_invoice
from subkit.orders import ChangeStart, Order, PlanChange, PlanPurchase, Renewal
from subkit.plans import Catalogue
from subkit.quotes import Purchase
from subkit.wallet import LedgerEntry


@attrs.frozen
class Placement:
    """A checkout's decision: the account after it, the invoice made (``None`` when nothing
    is to be paid), the ledger entries and events, and the open invoices it cancels."""

    account: Account
    invoice: Invoice | None
    entries: tuple[LedgerEntry, ...] = ()
    events: tuple[DomainEvent, ...] = ()
    cancelled: tuple[str, ...] = ()


def superseded(account: Account, order: Order) -> tuple[str, ...]:
    """Open invoices a new order replaces: one next period, one change (R-SUB-2)."""
    if isinstance(order, Renewal | PlanChange | PlanPurchase):
        return account.subscription.open_invoices()
    return ()


def _record(account: Account, order: Order, invoice: Invoice) -> Account:
    """Remember a new open invoice: its expiry is due on the account (R-INV-3)."""
    sub = account.subscription
    if isinstance(order, Renewal):
        sub = attrs.evolve(sub, renewal_invoice=invoice.code)
    elif isinstance(order, PlanChange) and order.starts is ChangeStart.BOUNDARY:
        sub = attrs.evolve(
            sub, scheduled_change=order.scheduled(invoice.code, paid=False), renewal_invoice=None
        )
    pending = {**account.pending, invoice.code: invoice.expires_at}
    return attrs.evolve(account, subscription=sub, pending=pending)


def place(
    account: Account,
    catalogue: Catalogue,
    purchase: Purchase,
    at: datetime,
    next_number: Callable[[], int],
) -> Placement:
    """Place ``purchase`` for ``account`` at ``at``.

    Raises:
        BillingProfileRequired: something is to be paid, the catalogue requires a billing
            profile, and the account has none.
    """
    replaced = superseded(account, purchase.order)
    for code in replaced:
        account = forget_invoice(account, code)
    if purchase.total.is_zero:
        done = fulfil(account, catalogue, purchase.order, purchase.lines, None, at)
        return Placement(done.account, None, done.entries, done.events, replaced)
    policy = catalogue.policy
    if policy.require_billing_profile and account.profile is None:
        raise BillingProfileRequired(
            f"account {account.account_id!r} needs a billing profile before checkout",
            account_id=account.account_id,
        )
    code = format_code(policy.invoice_code, next_number(), at, zone(policy.timezone))
    invoice = new_invoice(
        code=code,
        account_id=account.account_id,
        type=purchase.type,
        requested_at=at,
        package=purchase.package,
        lines=purchase.lines,
        totals=purchase.totals,
        order=purchase.order,
        payment_window_hours=policy.payment_window_hours,
        billing_profile=account.profile,
    )
    # Issued under today's tax and seller, kept with the invoice (R-INV-8).
    invoice = attrs.evolve(invoice, tax_setting=policy.tax, seller=catalogue.seller)
    created = make_event(account.account_id, at, InvoiceCreated(code, invoice.type, invoice.total))
    return Placement(_record(account, purchase.order, invoice), invoice, (), (created,), replaced)


__all__ = ["Placement", "place", "superseded"]
