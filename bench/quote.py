"""Quotes: ``Billing.quote_change`` per second on ``InMemoryStore``.

A Free account mid-period is quoted an upgrade to Growth monthly with two extra users, the
Order Summary a customer sees before paying: plan line, add-on lines, proration and tax.
"""

from __future__ import annotations

from datetime import timedelta

from bench._common import START, Section, rate_for

ACCOUNT = "quote-account"


def run(*, rounds: int, seconds: float) -> Section:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.testing import FakeGateway, FixedClock, InMemoryStore

    section = Section("Quote, in memory")
    clock = FixedClock(START)
    billing = Billing(Catalogue.default(), InMemoryStore(), FakeGateway(), clock)
    billing.open_account(ACCOUNT)
    clock.advance(timedelta(days=11, hours=3))
    addons = {"extra_user": 2}
    summary = billing.quote_change(ACCOUNT, "growth", interval="monthly", addons=addons)
    if summary.total.amount <= 0 or not summary.lines:
        raise RuntimeError(f"the quote is empty: {summary}")

    def quote(i: int) -> None:
        billing.quote_change(ACCOUNT, "growth", interval="monthly", addons=addons)

    rate_for(quote, seconds / 2)
    rates = [rate_for(quote, seconds)[0] for _ in range(rounds)]
    section.add("quote_change, Free -> Growth + 2 users", rates, "quotes/s")
    section.notes.append(
        f"{rounds} rounds of {seconds} s; the quote has {len(summary.lines)} lines, total "
        f"{summary.total}."
    )
    return section
