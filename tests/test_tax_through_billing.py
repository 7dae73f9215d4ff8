"""R-INV-7, R-BAL-6: tax through the facade: quotes, invoices and payment amounts agree, and
a top-up credits the amount chosen, never the tax."""

from __future__ import annotations

import pytest

from helpers import PROFILE, START, default_catalogue_toml
from subkit.errors import PaymentAmountMismatch
from subkit.invoice import Effect, PaymentStatus
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.service import Billing, PaymentEvent
from subkit.testing import FakeGateway, FixedClock, InMemoryStore


def taxed(table: str) -> Billing:
    toml = default_catalogue_toml()
    catalogue = Catalogue.from_toml(toml + f"\n[policy]\ntax = {table}\n")
    billing = Billing(catalogue, InMemoryStore(), FakeGateway(), clock=FixedClock(START))
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    return billing


PPN = '{ mode = "exclusive", rate = "12%", base = "11/12" }'


def test_exclusive_ppn_is_added_to_quote_invoice_and_payment_alike() -> None:
    """Growth Rp299.000 with PPN 12% on 11/12: tax Rp32.890, total Rp331.890 everywhere."""
    billing = taxed(PPN)
    quote = billing.quote_change("acme", "growth")
    assert (quote.subtotal, quote.tax, quote.total) == (
        Money(299_000, "IDR"),
        Money(32_890, "IDR"),
        Money(331_890, "IDR"),
    )
    checkout = billing.change_plan("acme", "growth")
    invoice = checkout.invoice
    assert invoice is not None and checkout.payment is not None
    assert (invoice.subtotal, invoice.tax, invoice.total) == (
        quote.subtotal,
        quote.tax,
        quote.total,
    )
    assert billing.gateway.requests[-1].amount == Money(331_890, "IDR")  # type: ignore[attr-defined]
    with pytest.raises(PaymentAmountMismatch):
        billing.apply_payment(
            PaymentEvent(invoice.code, PaymentStatus.PAID, "r", Money(299_000, "IDR"))
        )
    paid = billing.apply_payment(PaymentEvent(invoice.code, PaymentStatus.PAID, "r", quote.total))
    assert paid.effect is Effect.APPLIED


@pytest.mark.parametrize(
    ("table", "total"),
    [
        (PPN, 55_500),  # exclusive: 50.000 + 5.500 on top
        ('{ mode = "inclusive", rate = "12%", base = "11/12" }', 50_000),  # inside the price
        ('{ mode = "exclusive", rate = "12%", base = "11/12", tax_top_ups = false }', 50_000),
    ],
)
def test_a_top_up_credits_the_amount_chosen_never_the_tax(table: str, total: int) -> None:
    """R-BAL-6: the balance rises by Rp50.000 whatever the tax setting."""
    billing = taxed(table)
    checkout = billing.top_up("acme", "broadcast", 50_000)
    assert checkout.invoice is not None
    assert checkout.invoice.total == Money(total, "IDR")
    billing.apply_payment(
        PaymentEvent(checkout.invoice.code, PaymentStatus.PAID, "r", checkout.invoice.total)
    )
    assert billing.balances("acme").broadcast == Money(50_000, "IDR")
