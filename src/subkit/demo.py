"""The main job: the whole Settings > Subscription story on a real SQLite database.

``make demo`` runs :func:`run_demo`: a clock stepped through time drives one shop from Free to
Growth and Pro and back, printing what happened as a customer (or a newcomer to subkit) would
want it told: replies charged in batches (``charge_many``), a campaign held and settled for
what was sent, top-ups, plan changes, renewals, the billing run, and at the end the usage
history, the usage summary, the top-ups and the invoices, with two invoice documents written.
Every figure printed is read back from the database; money is in Rupiah as the ``subkit``
command prints it (Babel, the catalogue's locale).
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import attrs
from babel.numbers import format_decimal
from dateutil.relativedelta import relativedelta

from subkit.charges import ChargeRequest
from subkit.errors import InsufficientBalance, SubkitError
from subkit.invoice import BillingProfile, Invoice, PaymentStatus
from subkit.invoice_words import package_words
from subkit.money import Money, format_money
from subkit.plans import Catalogue
from subkit.quotes import OrderSummary
from subkit.service import Billing, Checkout, PaymentEvent
from subkit.testing import FakeGateway, FixedClock
from subkit.wallet import Balance, Charge

ACCOUNT = "toko-maju"
JAKARTA = ZoneInfo("Asia/Jakarta")
#: The story's lines are wrapped at this width (a terminal's 100 columns, less a margin).
WIDTH = 96

#: What each count of a billing run's report means, said for a newcomer: (one, many).
RUN_WORDS: Mapping[str, tuple[str, str]] = {
    "period": ("a new billing period began", "{n} new billing periods began"),
    "month": (
        "a new month of the annual plan began (quota and included balance renewed)",
        "{n} new months of the annual plan began (quota and included balance renewed each time)",
    ),
    "change_applied": ("the scheduled plan change took effect", "{n} plan changes took effect"),
    "addon_ended": ("stopped add-on units ended", "stopped add-on units ended {n} times"),
    "cancelled": (
        "the paid time ran out and the shop fell back to the Free plan",
        "{n} subscriptions ended",
    ),
    "lapsed": ("an unpaid subscription lapsed to Free", "{n} unpaid subscriptions lapsed"),
    "past_due": ("a renewal fell due unpaid: grace began", "{n} renewals fell due unpaid"),
    "balance_expired": (
        "the unused included balance of the month expired",
        "the unused included balance expired {n} times (once a month)",
    ),
    "hold_expired": ("a broadcast hold expired and was released", "{n} broadcast holds expired"),
    "reminder_sent": ("a renewal reminder went out", "{n} renewal reminders went out"),
    "invoice_expired": ("a pending invoice expired", "{n} pending invoices expired"),
    "invoice_cancelled": ("a pending invoice was cancelled", "{n} pending invoices were cancelled"),
    "renewal_invoice_opened": (
        "the renewal invoice was opened ahead",
        "{n} renewal invoices opened",
    ),
}


@attrs.frozen
class DemoResult:
    database: Path
    documents: tuple[Path, ...]
    invoice_totals: dict[str, int]


def run_words(counts: Mapping[str, int]) -> list[str]:
    """A billing run's counts as sentences, in the order they happen in a run."""
    said = []
    for kind, (one, many) in RUN_WORDS.items():
        n = counts.get(kind, 0)
        if n:
            said.append(one if n == 1 else many.format(n=n))
    said += [f"{kind}: {n}" for kind, n in sorted(counts.items()) if kind not in RUN_WORDS]
    return said


class _Narrator:
    def __init__(self, out: TextIO, locale: str) -> None:
        self.out = out
        self.locale = locale
        self.steps = itertools.count(1)

    def say(self, text: str = "") -> None:
        """A line of the story; a long one is wrapped under its indent (tables are not)."""
        indent = text[: len(text) - len(text.lstrip(" "))]
        if len(text) > WIDTH and indent:
            text = textwrap.fill(
                text.strip(),
                WIDTH,
                initial_indent=indent,
                subsequent_indent=indent + "  ",
                break_long_words=False,
                break_on_hyphens=False,
            )
        self.out.write(text + "\n")

    def step(self, clock: FixedClock, title: str) -> None:
        when = clock.now().strftime("%d %b %Y %H:%M")
        self.say(f"\n{next(self.steps):>2}. [{when}] {title}")

    def money(self, value: Money) -> str:
        return format_money(value, self.locale)

    def count(self, value: int) -> str:
        return str(format_decimal(value, locale=self.locale))

    def summary(self, quote: OrderSummary) -> None:
        for line in quote.lines:
            self.say(
                f"      {line.description:<28} x{line.quantity:<3} {self.money(line.amount):>14}"
            )
        self.say(f"      {'Total':<33} {self.money(quote.total):>14}")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> None:
        widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(
                cell.rjust(width) if index in right else cell.ljust(width)
                for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        self.out.write("    " + line(headers) + "\n")
        self.out.write("    " + "  ".join("-" * width for width in widths) + "\n")
        for row in rows:
            self.out.write("    " + line(row) + "\n")

    def balances(self, billing: Billing) -> None:
        now = billing.balances(ACCOUNT)
        held = f" ({self.money(now.broadcast_held)} of it held)" if now.broadcast_held else ""
        self.say(
            f"    balances now: conversation {self.money(now.conversation)}, "
            f"broadcast {self.money(now.broadcast)}{held}"
        )

    def run(self, counts: Mapping[str, int]) -> None:
        said = run_words(counts)
        if not said:
            self.say("    the run found nothing due")
        for sentence in said:
            self.say(f"    - {sentence}")


def _pay(billing: Billing, checkout: Checkout, reference: str) -> Invoice:
    assert checkout.invoice is not None
    event = PaymentEvent(
        checkout.invoice.code, PaymentStatus.PAID, reference, checkout.invoice.total
    )
    return billing.apply_payment(event)


def _charged(results: Sequence[Charge | SubkitError]) -> tuple[list[Charge], list[SubkitError]]:
    done = [result for result in results if isinstance(result, Charge)]
    refused = [result for result in results if isinstance(result, SubkitError)]
    return done, refused


def _total(done: Sequence[Charge], catalogue: Catalogue) -> Money:
    return sum((charge.amount for charge in done), Money.zero(catalogue.currency))


def _messages(billing: Billing, clock: FixedClock, say: _Narrator) -> None:
    """Steps 1-5: Free, replies in batches, Growth, a campaign held and settled."""
    catalogue = billing.catalogue
    say.step(clock, f"The shop {ACCOUNT!r} opens an account: the Free plan")
    billing.open_account(ACCOUNT)
    billing.set_billing_profile(
        ACCOUNT, BillingProfile("PT Toko Maju", "billing@tokomaju.id", "Jl. Sudirman 1, Jakarta")
    )
    free = billing.balances(ACCOUNT)
    rates = catalogue.wallet_rules
    say.say(f"    Free includes {say.money(free.conversation)} of conversation balance a month;")
    say.say(
        f"    each reply costs {say.money(rates.reply_rate)}, each broadcast message beyond "
        f"the plan's quota {say.money(rates.broadcast_rate)}"
    )

    clock.advance(relativedelta(minutes=30))
    say.step(clock, "A morning of customer chats, charged in one batch (charge_many)")
    chats = [ChargeRequest(ACCOUNT, "reply", 40, f"chat-{n:02}") for n in range(1, 14)]
    done, refused = _charged(billing.charge_many(chats))
    say.say(
        f"    {len(chats)} chats of 40 replies each: {len(done)} charged, "
        f"{say.count(sum(c.count for c in done))} replies for "
        f"{say.money(_total(done, catalogue))}"
    )
    for error in refused:
        say.say(f"    refused, all or nothing (none of its 40 replies charged): {error}")
    say.balances(billing)

    clock.advance(relativedelta(minutes=30))
    say.step(clock, "The shop upgrades: Growth monthly with two extra users (Order Summary)")
    quote = billing.quote_change(ACCOUNT, "growth", addons={"extra_user": 2})
    say.summary(quote)
    checkout = billing.change_plan(ACCOUNT, "growth", addons={"extra_user": 2})
    paid = _pay(billing, checkout, "PAY-GROWTH")
    sub = billing.subscription(ACCOUNT)
    say.say(
        f"    invoice {paid.code} is {paid.status}: the shop is on Growth from now, period "
        f"{sub.current_period.start:%d %b} - {sub.current_period.end:%d %b %Y}, with "
        f"{say.count(catalogue.plans['growth'].limits.broadcast_quota)} broadcast messages "
        "a month in its quota"
    )
    say.balances(billing)

    say.step(clock, "A campaign to 1.200 contacts, sent over the next minutes: hold first")
    try:
        billing.hold_broadcast(ACCOUNT, 1200, key="campaign-jan")
    except InsufficientBalance as refused_hold:
        say.say(f"    hold refused: {refused_hold}")
    top_up = billing.top_up(ACCOUNT, "broadcast", 200_000)
    _pay(billing, top_up, "PAY-TOPUP")
    assert top_up.invoice is not None
    say.say(
        f"    the shop tops up {say.money(top_up.invoice.total)} of broadcast balance: "
        f"invoice {top_up.invoice.code} paid"
    )
    hold = billing.hold_broadcast(ACCOUNT, 1200, key="campaign-jan")
    say.say(
        f"    held: {say.count(hold.quota_held)} messages from the quota and "
        f"{say.money(hold.amount_held)} of the broadcast balance for the other "
        f"{say.count(hold.recipients - hold.quota_held)}"
    )
    say.balances(billing)
    clock.advance(relativedelta(minutes=20))
    sent = 1150
    charge = billing.settle_broadcast(ACCOUNT, hold.id, sent)
    say.say(
        f"    {say.count(sent)} went out (50 numbers were not on WhatsApp): settled for "
        f"{say.money(charge.amount)} ({say.count(charge.quota_used)} in quota, "
        f"{say.count(charge.count - charge.quota_used)} at the broadcast rate); the other "
        f"{say.money(hold.amount_held - charge.amount)} of the hold is released"
    )
    say.balances(billing)

    clock.advance(relativedelta(hours=2))
    say.step(clock, "A busy hour: replies and a small broadcast in one batch")
    hour = [ChargeRequest(ACCOUNT, "reply", 15, f"chat-{n}") for n in range(14, 18)]
    hour.append(ChargeRequest(ACCOUNT, "broadcast", 40, "flash-sale"))
    done, refused = _charged(billing.charge_many(hour))
    replies = [charge for charge in done if charge.balance is Balance.CONVERSATION]
    broadcasts = [charge for charge in done if charge.balance is Balance.BROADCAST]
    say.say(
        f"    {len(replies)} chats of 15 replies: {say.money(_total(replies, catalogue))}; "
        f"a flash sale to {sum(c.count for c in broadcasts)} contacts, past the month's "
        f"quota: {say.money(_total(broadcasts, catalogue))}"
    )
    say.say(f"    {len(hour)} charges, {len(done)} charged, {len(refused)} refused")
    say.balances(billing)


def _plans(billing: Billing, clock: FixedClock, say: _Narrator) -> None:
    """Steps 6-12: renewal, billing runs, Pro annual, add-on stop, unsubscribe."""
    catalogue = billing.catalogue
    clock.set(datetime(2026, 2, 5, 10, 0, tzinfo=JAKARTA))
    say.step(clock, "Renew Growth ahead of the boundary (confirmation pop-up)")
    say.summary(billing.quote_renewal(ACCOUNT))
    _pay(billing, billing.renew(ACCOUNT), "PAY-RENEW")
    say.say(f"    paid through {billing.subscription(ACCOUNT).paid_through:%d %b %Y}")

    clock.set(datetime(2026, 2, 10, 10, 5, tzinfo=JAKARTA))
    say.step(clock, "The billing run crosses the boundary: the renewed period starts")
    say.run(billing.advance().counts)
    sub = billing.subscription(ACCOUNT)
    say.say(f"    period now {sub.current_period.start:%d %b} - {sub.current_period.end:%d %b %Y}")
    say.balances(billing)

    clock.set(datetime(2026, 2, 20, 10, 0, tzinfo=JAKARTA))
    say.step(clock, "Upgrade to Pro annual, scheduled for the next cycle")
    quote = billing.quote_change(ACCOUNT, "pro", interval="annual")
    say.summary(quote)
    say.say(f"    takes effect {quote.effective_at:%d %b %Y}")
    _pay(billing, billing.change_plan(ACCOUNT, "pro", interval="annual"), "PAY-PRO")

    clock.set(datetime(2026, 3, 10, 10, 5, tzinfo=JAKARTA))
    say.step(clock, "The billing run crosses the boundary: Pro annual applies")
    say.run(billing.advance().counts)
    sub = billing.subscription(ACCOUNT)
    say.say(f"    now on Pro ({sub.interval}) until {sub.paid_through:%d %b %Y}")

    say.step(clock, "Stop one extra user (active until the end of the paid time)")
    held = billing.stop_addon(ACCOUNT, "extra_user", quantity=1)
    say.say(f"    {held.name}: {held.quantity} held, {held.stopping} stopping")

    clock.set(datetime(2026, 6, 1, 12, 0, tzinfo=JAKARTA))
    say.step(clock, "Unsubscribe: Pro stays until the paid time ends")
    sub = billing.unsubscribe(ACCOUNT)
    say.say(f"    status {sub.status}, falls back to Free on {sub.paid_through:%d %b %Y}")

    clock.set(datetime(2027, 4, 1, 12, 0, tzinfo=JAKARTA))
    say.step(clock, "A year later: the billing run across the months")
    say.run(billing.advance().counts)
    say.say(f"    now on {catalogue.plans[billing.subscription(ACCOUNT).plan].name}")


def _statements(billing: Billing, clock: FixedClock, say: _Narrator) -> Sequence[Invoice]:
    """Steps 13-17: what the shop sees at the end: overview, history, summary."""
    catalogue = billing.catalogue
    overview = billing.usage_overview(ACCOUNT)
    say.step(clock, "Usage overview")
    say.say(
        f"    plan {catalogue.plans[overview.plan].name}, {overview.days_left} days left in "
        f"the period, limits {overview.limits.users} user / "
        f"{say.count(overview.limits.contacts)} contacts"
    )
    for name, amount in overview.balances.items():
        say.say(f"    {name + ' balance':<21} {say.money(amount):>12}")

    january = (datetime(2026, 1, 1, tzinfo=JAKARTA), datetime(2026, 2, 1, tzinfo=JAKARTA))
    page = billing.usage_history(ACCOUNT, since=january[0], until=january[1], limit=10)
    say.step(clock, "Usage history of January 2026, the newest 10 entries")
    say.table(
        ["At", "Balance", "Kind", "Count", "Amount", "Balance after", "Key / invoice"],
        [
            [
                f"{entry.at.astimezone(JAKARTA):%d %b %H:%M}",
                str(entry.balance),
                str(entry.kind),
                say.count(entry.count),
                say.money(entry.amount),
                say.money(entry.balance_after),
                entry.invoice_code or entry.key or "",
            ]
            for entry in page.items
        ],
        right={3, 4, 5},
    )

    say.step(clock, "Usage summary, per month and kind (Jan - Mar 2026)")
    totals = billing.usage_summary(
        ACCOUNT,
        since=datetime(2026, 1, 1, tzinfo=JAKARTA),
        until=datetime(2026, 4, 1, tzinfo=JAKARTA),
        by="month",
    )
    say.table(
        ["Month", "Balance", "Kind", "Messages", "Amount"],
        [
            [
                f"{total.start:%b %Y}",
                str(total.balance),
                str(total.kind),
                say.count(total.count) if total.count else "",
                say.money(total.amount),
            ]
            for total in totals
        ],
        right={3, 4},
    )

    say.step(clock, "Top-up history (Riwayat Top Up)")
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
    return invoices


def run_demo(directory: Path, out: TextIO, *, locale: str = "id_ID") -> DemoResult:
    """Run the walkthrough in ``directory`` (a fresh ``subkit-demo.sqlite`` is made there)."""
    from subkit.stores.sqlite import SqliteStore

    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "subkit-demo.sqlite"
    for stale in directory.glob("subkit-demo.sqlite*"):
        stale.unlink()
    clock = FixedClock(datetime(2026, 1, 10, 9, 0, tzinfo=JAKARTA))
    catalogue = Catalogue.default()
    store = SqliteStore(database)
    billing = Billing(catalogue, store, FakeGateway(), clock=clock)
    say = _Narrator(out, locale)
    say.say(f"subkit demo: the Settings > Subscription story on {database}")

    try:
        _messages(billing, clock, say)
        _plans(billing, clock, say)
        invoices = _statements(billing, clock, say)
        documents = []
        first = invoices[-1]
        for format_ in ("pdf", "html"):
            path = directory / f"{first.code}.{format_}"
            path.write_bytes(billing.render_invoice(ACCOUNT, first.code, format=format_))
            documents.append(path)
    finally:
        store.close()
    say.say(f"\nDatabase:  {database}")
    say.say("Documents: " + ", ".join(str(path) for path in documents))
    return DemoResult(database, tuple(documents), {inv.code: inv.total.amount for inv in invoices})


__all__ = ["DemoResult", "run_demo", "run_words"]
