"""R-CON-2 and R-CON-3 with a real second process holding SQLite's write lock.

Another process opens a write transaction on the file (``BEGIN IMMEDIATE`` and a write) and
keeps it open until told to finish, as a long billing run or a stuck writer would. Meanwhile
this process, on a store that waits for the lock not at all (``timeout=0, retries=0``), makes
every read call of R-CON-2: each completes, with what is due applied in memory. Every write
call, which needs the lock, fails at once with a typed ``StoreError``, never a raw
``sqlite3`` error (R-CON-3). No timing is measured: a read that needed the lock would fail
like the writes do.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta

from helpers import PROFILE, START, pay
from subkit.errors import StoreError, SubkitError
from subkit.invoice import InvoiceStatus
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock
from subkit.wallet import EntryKind

SPAWN = multiprocessing.get_context("spawn")
WAIT = 60  # seconds the test waits for the other process to say something, at most

READS: dict[str, Callable[[Billing], Any]] = {
    "subscription": lambda b: b.subscription("acme"),
    "balances": lambda b: b.balances("acme"),
    "billing_profile": lambda b: b.billing_profile("acme"),
    "usage_overview": lambda b: b.usage_overview("acme"),
    "check_limit": lambda b: b.check_limit("acme", "users", 1),
    "quote_change": lambda b: b.quote_change("acme", "pro"),
    "quote_renewal": lambda b: b.quote_renewal("acme"),
    "quote_addons": lambda b: b.quote_addons("acme", {"extra_user": 1}),
    "available_addons": lambda b: b.available_addons("acme"),
    "addons": lambda b: b.addons("acme"),
    "addon_history": lambda b: b.addon_history("acme"),
    "usage_history": lambda b: b.usage_history("acme"),
    "topup_history": lambda b: b.topup_history("acme"),
    "invoices": lambda b: b.invoices("acme", status="expired"),
    "event_feed": lambda b: b.event_feed("acme"),
}

WRITES: dict[str, Callable[[Billing], Any]] = {
    "charge_replies": lambda b: b.charge_replies("acme", key="blocked"),
    "top_up": lambda b: b.top_up("acme", "conversation", 50_000),
    "adjust_balance": lambda b: b.adjust_balance(
        "acme", "conversation", 1_000, key="blocked", reason="x"
    ),
    "change_plan": lambda b: b.change_plan("acme", "growth"),
    "set_billing_profile": lambda b: b.set_billing_profile("acme", PROFILE),
    "unsubscribe": lambda b: b.unsubscribe("acme"),
    "open_account": lambda b: b.open_account("other"),
    "advance": lambda b: b.advance(),
}


def outcome(read: Callable[[Billing], Any], billing: Billing) -> Any:
    """A read's result, or the domain refusal it met (a free plan is not renewable)."""
    try:
        return read(billing)
    except SubkitError as refused:
        return ("refused", refused.code)


def hold_the_write_lock(path: str, holding: Any, release: Any) -> str:
    """In another process: take the write lock with a raw write and keep it until told."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=WAIT)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE sequences SET value = value WHERE name = 'invoice'")
        holding.set()
        if not release.wait(WAIT):
            return "never released"
        conn.execute("ROLLBACK")
        return "rolled back"
    finally:
        conn.close()


@pytest.fixture
def prepared(tmp_path: Path) -> str:
    """An account with a paid top-up, a pending one, and a month's boundary about to pass."""
    path = str(tmp_path / "held.db")
    with SqliteStore(path) as store:
        billing = Billing(Catalogue.default(), store, FakeGateway(), clock=FixedClock(START))
        billing.open_account("acme")
        billing.set_billing_profile("acme", PROFILE)
        pay(billing, billing.top_up("acme", "conversation", 10_000))
        billing.top_up("acme", "conversation", 50_000)
        billing.charge_replies("acme", 5, key="before")
    return path


def test_a_writer_holding_the_lock_in_another_process_blocks_no_read(prepared: str) -> None:
    """R-CON-2: with the write lock held elsewhere, every read completes and shows the new
    month and the expired invoice; every write raises StoreError at once (R-CON-3); and
    once the other process is done, a write saves what the reads showed."""
    clock = FixedClock(START + relativedelta(months=1, days=1))
    with SPAWN.Manager() as manager, SPAWN.Pool(1) as pool:
        holding, release = manager.Event(), manager.Event()
        holder = pool.apply_async(hold_the_write_lock, (prepared, holding, release))
        assert holding.wait(WAIT), "the other process did not take the lock"
        try:
            store = SqliteStore(prepared, timeout=0, retries=0)
            billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
            shown = {name: outcome(read, billing) for name, read in READS.items()}
            refused: dict[str, str] = {}
            for name, write in WRITES.items():
                try:
                    write(billing)
                except SubkitError as error:
                    refused[name] = type(error).__name__
        finally:
            release.set()
        assert holder.get(WAIT) == "rolled back"

    assert refused == dict.fromkeys(WRITES, StoreError.__name__)
    # Only the refusals of a free plan, never the store's: no read needed the lock.
    assert {name: value for name, value in shown.items() if isinstance(value, tuple)} == {
        "quote_renewal": ("refused", "not_renewable"),
        "quote_addons": ("refused", "addon_not_available"),
    }
    history = shown["usage_history"].items
    assert [e.kind for e in history[:2]] == [EntryKind.GRANT, EntryKind.EXPIRY]
    assert history[0].at == START + relativedelta(months=1)
    [expired] = shown["invoices"].items
    assert expired.status is InvoiceStatus.EXPIRED
    assert expired.status_at == START + timedelta(hours=24)

    saved = billing.advance()  # the lock is free again: the run saves what the reads showed
    assert saved.counts == {"period": 1, "balance_expired": 1, "invoice_expired": 1}
    again = {name: outcome(READS[name], billing) for name in READS if name != "event_feed"}
    assert again == {name: value for name, value in shown.items() if name != "event_feed"}
    store.close()
