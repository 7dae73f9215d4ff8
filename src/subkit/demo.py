"""The main job: the whole Settings > Subscription story on a real SQLite database.

``make demo`` runs :func:`run_demo`: a clock stepped through time drives one account from
Free to Growth and Pro and back, printing what a customer would see, and writes two invoice
documents. Every figure printed is read back from the database.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import attrs
from dateutil.relativedelta import relativedelta

from subkit.errors import InsufficientBalance, SubkitError
from subkit.invoice import BillingProfile, Invoice, PaymentStatus
from subkit.invoice_words import package_words
from subkit.money import Money, format_money
from subkit.plans import Catalogue
from subkit.quotes import OrderSummary
from subkit.service import Billing, Checkout, PaymentEvent
from subkit.testing import FakeGateway, FixedClock

ACCOUNT = "toko-maju"


@attrs.frozen
class DemoResult:
    database: Path
    documents: tuple[Path, ...]
    invoice_totals: dict[str, int]


class _Narrator:
    def __init__(self, out: TextIO, locale: str) -> None:
        self.out = out
        self.locale = locale
        self.steps = itertools.count(1)

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def step(self, clock: FixedClock, title: str) -> None:
        when = clock.now().strftime("%d %b %Y %H:%M")
        self.say(f"\n{next(self.steps):>2}. [{when}] {title}")

    def money(self, value: Money) -> str:
        return format_money(value, self.locale)

    def summary(self, quote: OrderSummary) -> None:
        for line in quote.lines:
            self.say(
                f"      {line.description:<28} x{line.quantity:<3} {self.money(line.amount):>14}"
            )
        self.say(f"      {'Total':<33} {self.money(quote.total):>14}")


def _pay(billing: Billing, checkout: Checkout, reference: str) -> Invoice:
    assert checkout.invoice is not None
    event = PaymentEvent(
        checkout.invoice.code, PaymentStatus.PAID, reference, checkout.invoice.total
    )
    return billing.apply_payment(event)


def run_demo(directory: Path, out: TextIO, *, locale: str = "id_ID") -> DemoResult:
    """Run the walkthrough in ``directory`` (a fresh ``subkit-demo.sqlite`` is made there)."""
    from subkit.stores.sqlite import SqliteStore

    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "subkit-demo.sqlite"
    for stale in directory.glob("subkit-demo.sqlite*"):
        stale.unlink()
    jakarta = ZoneInfo("Asia/Jakarta")
    clock = FixedClock(datetime(2026, 1, 10, 9, 0, tzinfo=jakarta))
    catalogue = Catalogue.default()
    store = SqliteStore(database)
    billing = Billing(catalogue, store, FakeGateway(), clock=clock)
    say = _Narrator(out, locale)
    say.say(f"subkit demo: the Settings > Subscription story on {database}")

    say.step(clock, f"Open account {ACCOUNT!r} on the Free plan")
    billing.open_account(ACCOUNT)
    billing.set_billing_profile(
        ACCOUNT, BillingProfile("PT Toko Maju", "billing@tokomaju.id", "Jl. Sudirman 1, Jakarta")
    )
    say.say(f"    conversation balance: {say.money(billing.balances(ACCOUNT).conversation)}")

    say.step(clock, "Reply to customers until the included balance runs out")
    replies = 0
    try:
        while True:
            billing.charge_replies(ACCOUNT, key=f"reply-{replies}")
            replies += 1
    except InsufficientBalance as refused:
        say.say(f"    {replies} replies charged; the next one: {refused}")

    clock.advance(relativedelta(hours=1))
    say.step(clock, "Buy Growth monthly with two extra users (Order Summary)")
    quote = billing.quote_change(ACCOUNT, "growth", addons={"extra_user": 2})
    say.summary(quote)
    checkout = billing.change_plan(ACCOUNT, "growth", addons={"extra_user": 2})
    paid = _pay(billing, checkout, "PAY-GROWTH")
    sub = billing.subscription(ACCOUNT)
    say.say(
        f"    invoice {paid.code} {paid.status}; now on {sub.plan}, period "
        f"{sub.current_period.start:%d %b} - {sub.current_period.end:%d %b %Y}"
    )

    say.step(clock, "A broadcast to 1.200 contacts: 1.000 in quota, 200 need broadcast balance")
    try:
        billing.charge_broadcast(ACCOUNT, 1200, key="campaign-1")
    except SubkitError as refused:
        say.say(f"    refused: {refused}")
    top_up = billing.top_up(ACCOUNT, "broadcast", 200_000)
    _pay(billing, top_up, "PAY-TOPUP")
    say.say(f"    broadcast top-up paid: {say.money(billing.balances(ACCOUNT).broadcast)}")
    charge = billing.charge_broadcast(ACCOUNT, 1200, key="campaign-1")
    say.say(
        f"    charged {say.money(charge.amount)} ({charge.quota_used} in quota); "
        f"broadcast balance {say.money(charge.balance_after)}"
    )

    clock.set(datetime(2026, 2, 5, 10, 0, tzinfo=jakarta))
    say.step(clock, "Renew Growth ahead of the boundary (confirmation pop-up)")
    say.summary(billing.quote_renewal(ACCOUNT))
    _pay(billing, billing.renew(ACCOUNT), "PAY-RENEW")
    say.say(f"    paid through {billing.subscription(ACCOUNT).paid_through:%d %b %Y}")

    clock.set(datetime(2026, 2, 10, 10, 5, tzinfo=jakarta))
    say.step(clock, "The billing run crosses the boundary: the renewed period starts")
    report = billing.advance()
    sub = billing.subscription(ACCOUNT)
    say.say(
        f"    {dict(report.counts)}; period {sub.current_period.start:%d %b} - "
        f"{sub.current_period.end:%d %b %Y}"
    )

    clock.set(datetime(2026, 2, 20, 10, 0, tzinfo=jakarta))
    say.step(clock, "Upgrade to Pro annual, scheduled for the next cycle")
    quote = billing.quote_change(ACCOUNT, "pro", interval="annual")
    say.summary(quote)
    say.say(f"    takes effect {quote.effective_at:%d %b %Y}")
    _pay(billing, billing.change_plan(ACCOUNT, "pro", interval="annual"), "PAY-PRO")

    clock.set(datetime(2026, 3, 10, 10, 5, tzinfo=jakarta))
    say.step(clock, "The billing run crosses the boundary: Pro annual applies")
    report = billing.advance()
    sub = billing.subscription(ACCOUNT)
    say.say(
        f"    {dict(report.counts)}; now on {sub.plan} ({sub.interval}) until "
        f"{sub.paid_through:%d %b %Y}"
    )

    say.step(clock, "Stop one extra user (active until the end of the paid time)")
    held = billing.stop_addon(ACCOUNT, "extra_user", quantity=1)
    say.say(f"    {held.name}: {held.quantity} held, {held.stopping} stopping")

    clock.set(datetime(2026, 6, 1, 12, 0, tzinfo=jakarta))
    say.step(clock, "Unsubscribe: Pro stays until the paid time ends")
    sub = billing.unsubscribe(ACCOUNT)
    say.say(f"    status {sub.status}, falls back to Free on {sub.paid_through:%d %b %Y}")

    clock.set(datetime(2027, 4, 1, 12, 0, tzinfo=jakarta))
    say.step(clock, "The billing run across the months")
    report = billing.advance()
    sub = billing.subscription(ACCOUNT)
    say.say(f"    {dict(report.counts)}; now on {sub.plan}")

    overview = billing.usage_overview(ACCOUNT)
    say.step(clock, "Usage overview")
    say.say(
        f"    plan {overview.plan}, {overview.days_left} days left, limits "
        f"{overview.limits.users} users / {overview.limits.contacts} contacts"
    )
    for name, amount in overview.balances.items():
        say.say(f"    {name:<13} {say.money(amount):>14}")

    say.step(clock, "Usage history (newest first, 8 entries)")
    for entry in billing.usage_history(ACCOUNT, limit=8).items:
        say.say(
            f"    {entry.at:%d %b %Y %H:%M}  {entry.balance:<13} {entry.kind:<10} "
            f"{say.money(entry.amount):>14} -> {say.money(entry.balance_after):>14}"
        )
    say.step(clock, "Top-up history")
    for entry in billing.topup_history(ACCOUNT).items:
        say.say(
            f"    {entry.at:%d %b %Y}  {entry.balance:<13} {say.money(entry.amount):>14}  "
            f"{entry.invoice_code}"
        )

    say.step(clock, "Invoices")
    invoices = billing.invoices(ACCOUNT, limit=50).items
    for invoice in invoices:
        say.say(
            f"    {invoice.code}  {invoice.type:<13} {package_words(invoice, 'en'):<28} "
            f"{say.money(invoice.total):>14}  {invoice.status}"
        )

    documents = []
    first = invoices[-1]
    for format_ in ("pdf", "html"):
        path = directory / f"{first.code}.{format_}"
        path.write_bytes(billing.render_invoice(ACCOUNT, first.code, format=format_))
        documents.append(path)
    store.close()
    say.say(f"\nDatabase:  {database}")
    say.say("Documents: " + ", ".join(str(path) for path in documents))
    return DemoResult(database, tuple(documents), {inv.code: inv.total.amount for inv in invoices})


__all__ = ["DemoResult", "run_demo"]
