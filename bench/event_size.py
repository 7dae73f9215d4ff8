"""Bytes the events outbox takes on a SQLite file, per event, for docs/events.md's sizing note.

    python -m bench.event_size [accounts]

Each account lives a plausible first month: opened, Growth bought and paid, a top-up paid,
10 replies charged, and a billing run 32 days later (the period
ended unpaid: past due).
Every event is delivered to a sink. The figure is the pages SQLite's ``dbstat`` counts for the
``events`` table and its indexes, divided by the number of events: the on-disk cost of one
delivered event, indexes included (pending ones also sit in the two partial indexes of
pending events, a few bytes more until delivered). Not a timed benchmark, so not part of
``python -m bench``.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bench._common import START, bench_dir
from subkit import Catalogue
from subkit.invoice import BillingProfile, PaymentStatus
from subkit.ports import PaymentEvent
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, RecordingSink

REPLIES = 10  # per account
EVENT_OBJECTS = (
    "events",
    "events_by_account",
    "events_pending",
    "events_pending_by_account",
    "events_delivered_by_time",
)


def _pay(billing: Billing, code: str, total: int) -> None:
    billing.apply_payment(PaymentEvent(code, PaymentStatus.PAID, f"pay-{code}", total))


def measure(accounts: int) -> tuple[int, int, float, int, int]:
    """(events, bytes of the events table and indexes, bytes per event, replies charged,
    events the reply charges made)."""
    with tempfile.TemporaryDirectory(dir=bench_dir()) as tmp:
        path = Path(tmp) / "events.sqlite3"
        clock = FixedClock(START)
        sink = RecordingSink()
        store = SqliteStore(path)
        billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock, events=sink)
        replies = charge_events = 0
        for n in range(accounts):
            account = f"acct-{n:06d}"
            billing.open_account(account)
            billing.set_billing_profile(account, BillingProfile(f"PT {account}", "a@b.id"))
            bought = billing.change_plan(account, "growth").invoice
            assert bought is not None
            _pay(billing, bought.code, bought.total.amount)
            topped = billing.top_up(account, "conversation", 100_000).invoice
            assert topped is not None
            _pay(billing, topped.code, topped.total.amount)
            before = len(sink.events)
            for k in range(REPLIES):
                billing.charge_replies(account, key=f"r-{k}")
                replies += 1
            charge_events += len(sink.events) - before
        clock.advance(timedelta(days=32))
        billing.advance()
        billing.deliver_events()
        store.close()
        conn = sqlite3.connect(path)
        count = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        marks = ",".join("?" * len(EVENT_OBJECTS))
        size = conn.execute(
            f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({marks})", EVENT_OBJECTS
        ).fetchone()[0]
        for name, pages in conn.execute(
            f"SELECT name, SUM(pgsize) FROM dbstat WHERE name IN ({marks}) GROUP BY name",
            EVENT_OBJECTS,
        ):
            print(f"  {name}: {pages / count:.0f} bytes per event")
        names = conn.execute("SELECT name, COUNT(*) FROM events GROUP BY name ORDER BY name")
        print("  " + ", ".join(f"{name} {n}" for name, n in names))
        payload = conn.execute("SELECT AVG(LENGTH(data)) FROM events").fetchone()[0]
        conn.close()
        print(f"  (facts and the rest of each event as JSON: {payload:.0f} bytes on average)")
        return count, size, size / count, replies, charge_events


def main() -> None:
    accounts = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000
    count, size, per_event, replies, charge_events = measure(accounts)
    print(f"{accounts} accounts: {count} events ({count / accounts:.1f} per account),")
    print(f"  {size} bytes in the events table and its indexes: {per_event:.0f} bytes per event")
    print(f"  {replies} replies charged made {charge_events} events of their own")


if __name__ == "__main__":
    main()
