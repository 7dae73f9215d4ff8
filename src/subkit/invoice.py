"""Invoices: types, statuses and their transitions, codes, lines, tax (R-INV).

Pure: building an invoice, moving it between statuses, computing tax. The service decides
when; this module decides what is allowed.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

import attrs

from subkit import (
    bounds,
    stored_orders,  # noqa: F401  (registers how orders are read from JSON)
)
from subkit.cycles import Interval, Period, ensure_aware
from subkit.errors import InvalidTransition
from subkit.invoice_words import line_words
from subkit.kinds import InvoiceStatus, InvoiceType, LineKind
from subkit.money import Money, Rounding, round_fraction
from subkit.orders import Order
from subkit.plans import AddOn, Plan, Seller, Tax, TaxMode
from subkit.serialize import INTERNAL, is_text_line, line_from_text, read_old_shapes


class PaymentStatus(enum.StrEnum):
    """What a gateway says happened to a payment."""

    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class Effect(enum.StrEnum):
    """Whether what an invoice buys has been given to the account (R-INV-5, R-INV-6)."""

    WAITING = "waiting"  # not paid yet
    APPLIED = "applied"
    UNAPPLIED = "unapplied"  # paid too late to apply: the host must refund


# The only status moves R-INV-3 allows.
TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.PENDING: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.FAILED, InvoiceStatus.EXPIRED, InvoiceStatus.CANCELLED}
    ),
    InvoiceStatus.FAILED: frozenset({InvoiceStatus.PAID}),
    InvoiceStatus.EXPIRED: frozenset({InvoiceStatus.PAID}),
    InvoiceStatus.CANCELLED: frozenset({InvoiceStatus.PAID}),
    InvoiceStatus.PAID: frozenset({InvoiceStatus.REFUNDED}),
    InvoiceStatus.REFUNDED: frozenset(),
}


@attrs.frozen
class BillingProfile:
    """Who the invoices are made out to (R-INV-9).

    Its fields are ``str`` (``address`` and ``tax_number`` may be ``None``), else
    ``InvalidArgument``. The text rules of R-LIM-3 (non-empty name and e-mail, lengths, no
    control characters, line breaks only in the address) are :meth:`check`'s, applied where
    a profile enters an account (``Billing.set_billing_profile``): a profile stored before
    those rules must still load, and documents print any stored text inert.
    """

    name: str = attrs.field(validator=lambda _, a, v: bounds.string(v, f"profile.{a.name}"))
    email: str = attrs.field(validator=lambda _, a, v: bounds.string(v, f"profile.{a.name}"))
    address: str | None = attrs.field(
        default=None, validator=lambda _, a, v: bounds.string(v, f"profile.{a.name}", none=True)
    )
    tax_number: str | None = attrs.field(
        default=None, validator=lambda _, a, v: bounds.string(v, f"profile.{a.name}", none=True)
    )

    def check(self) -> BillingProfile:
        """Return this profile if it keeps the host-text rules (R-LIM-3).

        Raises:
            InvalidArgument: naming the field (``profile.name``, ...) and what is wrong.
        """
        bounds.text(self.name, "profile.name", required=True)
        bounds.text(self.email, "profile.email", required=True)
        bounds.optional_text(
            self.address, "profile.address", maximum=bounds.MAX_ADDRESS, lines=True
        )
        bounds.optional_text(self.tax_number, "profile.tax_number")
        return self


def _interval(value: Interval | str | None) -> Interval | None:
    return None if value is None else Interval(value)


@attrs.frozen
class InvoiceLine:
    """One line of an invoice, kept as facts: what it is, never its words (R-INV-8).

    ``kind`` says what the line is; ``code`` and ``name`` are the plan's or add-on's code
    and name as issued (a credit's: the plan left; a top-up's ``code`` is the balance and
    its ``name`` empty); ``interval`` is the plan's billing interval for plan and credit
    lines and the interval priced for add-on lines. Documents build the words in their
    locale (:mod:`subkit.invoice_words`); :attr:`description` gives them in English.
    Lines read from invoices stored as English texts have the facts those texts said:
    ``code`` is then ``None``.
    """

    kind: LineKind = attrs.field(converter=LineKind)
    name: str
    quantity: int
    unit_price: Money
    amount: Money
    period: Period | None = None
    code: str | None = None
    interval: Interval | None = attrs.field(default=None, converter=_interval)

    @classmethod
    def for_plan(cls, plan: Plan, interval: Interval, period: Period) -> InvoiceLine:
        """One period of ``plan`` at its price for ``interval``."""
        price = plan.price(interval)
        return cls(LineKind.PLAN, plan.name, 1, price, price, period, plan.code, interval)

    @classmethod
    def for_addon(
        cls,
        addon: AddOn,
        interval: Interval,
        quantity: int,
        period: Period | None,
        *,
        amount: Money | None = None,
    ) -> InvoiceLine:
        """``quantity`` units of ``addon`` at its ``interval`` price; ``amount`` when it is
        not the full price of the units (a prorated part of a period)."""
        unit = addon.price(interval)
        total = unit * quantity if amount is None else amount
        return cls(LineKind.ADD_ON, addon.name, quantity, unit, total, period, addon.code, interval)

    @classmethod
    def for_credit(
        cls, plan: Plan, interval: Interval, credit: Money, period: Period
    ) -> InvoiceLine:
        """The credit for the unused ``period`` of ``plan`` (``credit`` is positive)."""
        return cls(LineKind.CREDIT, plan.name, 1, -credit, -credit, period, plan.code, interval)

    @classmethod
    def for_top_up(cls, balance: str, amount: Money) -> InvoiceLine:
        """``amount`` added to ``balance`` (``"conversation"`` or ``"broadcast"``)."""
        return cls(LineKind.TOP_UP, "", 1, amount, amount, None, str(balance))

    @property
    def description(self) -> str:
        """The line's words in English, built from its facts."""
        return line_words(self, "en")


# Invoices stored while lines were English texts are read back as the facts they said.
read_old_shapes(InvoiceLine, is_text_line, line_from_text)


@attrs.frozen
class PaymentSession:
    """Where the customer pays: the gateway's redirect URL and its reference (R-GW-4)."""

    redirect_url: str
    reference: str
    expires_at: datetime


@attrs.frozen
class Invoice:
    code: str
    account_id: str
    type: InvoiceType
    status: InvoiceStatus
    requested_at: datetime
    package: str
    lines: tuple[InvoiceLine, ...]
    subtotal: Money
    tax: Money
    total: Money
    expires_at: datetime
    # What paying it buys, and the store's version: bookkeeping, kept out of a host's JSON
    # and of equality (an invoice is its public facts); ``None`` only when read from that JSON.
    order: Order | None = attrs.field(default=None, eq=False, metadata=INTERNAL)
    billing_profile: BillingProfile | None = None
    paid_at: datetime | None = None
    reference: str | None = None
    effect: Effect = Effect.WAITING
    status_at: datetime | None = None
    # References of payments that arrived after this invoice was already paid (R-INV-4).
    extra_payments: tuple[str, ...] = ()
    version: int = attrs.field(default=0, eq=False, metadata=INTERNAL)
    # What the invoice was issued under, so a later catalogue change never alters it
    # (R-INV-8). ``None`` on invoices written before subkit kept them: the catalogue's.
    tax_setting: Tax | None = None
    seller: Seller | None = None
    # The gateway's payment session, saved when the gateway answered the checkout (R-GW-4).
    payment: PaymentSession | None = None

    @property
    def is_open(self) -> bool:
        return self.status is InvoiceStatus.PENDING


@attrs.frozen
class Totals:
    subtotal: Money
    tax: Money
    total: Money


def compute_totals(
    lines: Sequence[InvoiceLine], tax: Tax, currency: str, *, taxable: bool = True
) -> Totals:
    """Subtotal of the lines, then tax on the subtotal rounded once (R-INV-7, R-MON-2)."""
    subtotal = Money(sum(line.amount.amount for line in lines), currency)
    if not taxable or tax.mode is TaxMode.NONE or subtotal.amount <= 0:
        return Totals(subtotal, Money.zero(currency), subtotal)
    rate = tax.effective_rate
    if tax.mode is TaxMode.EXCLUSIVE:
        amount = round_fraction(subtotal.amount * rate, Rounding.HALF_UP)
        return Totals(subtotal, Money(amount, currency), subtotal + Money(amount, currency))
    amount = round_fraction(subtotal.amount * rate / (1 + rate), Rounding.HALF_UP)
    return Totals(subtotal, Money(amount, currency), subtotal)


def format_code(template: str, sequence: int, at: datetime, tz: tzinfo) -> str:
    """An invoice code from the catalogue's template (``{year}``, ``{month}``, ``{seq}``)."""
    local = ensure_aware(at, "at").astimezone(tz)
    return template.format(year=local.year, month=local.month, seq=sequence)


def new_invoice(
    *,
    code: str,
    account_id: str,
    type: InvoiceType,
    requested_at: datetime,
    package: str,
    lines: Sequence[InvoiceLine],
    totals: Totals,
    order: Order,
    payment_window_hours: int,
    billing_profile: BillingProfile | None,
) -> Invoice:
    return Invoice(
        code=code,
        account_id=account_id,
        type=type,
        status=InvoiceStatus.PENDING,
        requested_at=requested_at,
        package=package,
        lines=tuple(lines),
        subtotal=totals.subtotal,
        tax=totals.tax,
        total=totals.total,
        expires_at=requested_at + timedelta(hours=payment_window_hours),
        order=order,
        billing_profile=billing_profile,
        status_at=requested_at,
    )


def can_move(current: InvoiceStatus, target: InvoiceStatus) -> bool:
    return target in TRANSITIONS[current]


def move(invoice: Invoice, target: InvoiceStatus, at: datetime, **changes: Any) -> Invoice:
    """Move ``invoice`` to ``target``, refusing what R-INV-3 forbids."""
    if not can_move(invoice.status, target):
        raise InvalidTransition(
            f"invoice {invoice.code} cannot go from {invoice.status} to {target}",
            invoice_code=invoice.code,
            current=invoice.status,
            target=target,
        )
    return attrs.evolve(invoice, status=target, status_at=at, **changes)


__all__ = [
    "TRANSITIONS",
    "BillingProfile",
    "Effect",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "InvoiceType",
    "LineKind",
    "PaymentSession",
    "PaymentStatus",
    "Totals",
    "can_move",
    "compute_totals",
    "format_code",
    "move",
    "new_invoice",
]
