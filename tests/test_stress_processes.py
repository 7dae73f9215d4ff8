"""R-CON-1..3 under real contention: several processes charge, pay (with duplicate
notifications, across processes too), read and run ``advance`` on one SQLite file with the
system clock, for a bounded number of calls.

Afterwards, from the file alone: conservation holds per balance over each whole ledger
(``subkit.wallet.conservation_holds``), no charge key is in a ledger twice and every charge a
worker saw succeed is there once, every paid invoice's top-up is applied exactly once, and
every call either completed or raised one of the typed refusals listed in ``ALLOWED``.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import catalogue_with_skew
from subkit.errors import SubkitError
from subkit.fakes import FakeGateway
from subkit.invoice import BillingProfile, InvoiceStatus, PaymentStatus
from subkit.ports import PaymentEvent
from subkit.service import Billing, SystemClock
from subkit.stores.sqlite import SqliteStore
from subkit.wallet import EntryKind, LedgerEntry, conservation_holds

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")
ACCOUNTS = ("a", "b", "c")
WORKERS = 3  # charging and paying; one more process runs advance in a loop
CALLS = 600  # per worker
DEADLINE_SECONDS = 25.0  # a worker stops early past this, so the test stays bounded

#: The only refusals a call may meet here. InsufficientBalance cannot happen with the
#: balances topped up below, and is allowed only as the typed refusal it would be. Not
#: InvalidTime: each call reads the clock once its unit holds the account (R-CON-1), so with
#: one system clock no call is ever behind the last change, and the catalogue below tolerates
#: no lag at all (a clock read before the write lock would be refused at once).
ALLOWED = {"InsufficientBalance"}

#: Waits for the write lock: SqliteStore's defaults, and an impatient store whose writers give
#: up after a few milliseconds (R-CON-3: that must be a typed refusal, never a raw error).
PATIENT = (5.0, 3)
IMPATIENT = (0.002, 0)
#: What an impatient writer may meet besides ALLOWED: the lock not obtained (StoreError), or
#: the database found busy mid-unit through every retry of the facade (ConcurrencyConflict).
LOCK_REFUSALS = {"StoreError", "ConcurrencyConflict"}


def billing_on(path: str, waits: tuple[float, int] = PATIENT) -> tuple[Billing, SqliteStore]:
    timeout, retries = waits
    store = SqliteStore(path, timeout=timeout, retries=retries)
    catalogue = catalogue_with_skew(0)
    return Billing(catalogue, store, FakeGateway(), clock=SystemClock()), store


def notification(billing: Billing, account_id: str, key: str) -> PaymentEvent:
    """A paid top-up's checkout, and the gateway notification that pays it."""
    checkout = billing.top_up(account_id, "conversation", 100_000, idempotency_key=key)
    assert checkout.invoice is not None
    return PaymentEvent(
        checkout.invoice.code,
        PaymentStatus.PAID,
        f"ref-{key}",
        checkout.invoice.total,
        event_id=f"event-{key}",
    )


class Worker:
    """One process's calls; keeps what succeeded and every exception class met."""

    def __init__(self, path: str, number: int, shared: Any, waits: tuple[float, int]) -> None:
        self.billing, self.store = billing_on(path, waits)
        self.number = number
        self.shared = shared
        self.charged: list[tuple[str, str, int]] = []  # (account, key, amount) that succeeded
        self.paid: list[str] = []  # invoice codes whose payment returned a paid invoice
        self.errors: Counter[str] = Counter()

    def call(self, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return action(*args, **kwargs)
        except SubkitError as error:
            self.errors[type(error).__name__] += 1
        except Exception as error:  # a raw error reached the host: what R-CON-3 forbids
            self.errors[f"raw {type(error).__module__}.{type(error).__name__}: {error}"] += 1
        return None

    def pay(self, account_id: str, i: int) -> None:
        event = self.call(notification, self.billing, account_id, f"w{self.number}-t{i}")
        if event is None:
            return
        for _ in range(2):  # the gateway notifies twice
            invoice = self.call(self.billing.apply_payment, event)
            if invoice is not None and invoice.status is InvoiceStatus.PAID:
                self.paid.append(event.invoice_code)
        self.shared.put(event)  # another process delivers it once more

    def redeliver(self) -> None:
        try:
            event = self.shared.get_nowait()
        except queue.Empty:
            return
        invoice = self.call(self.billing.apply_payment, event)
        if invoice is not None and invoice.status is InvoiceStatus.PAID:
            self.paid.append(event.invoice_code)

    def read(self, account_id: str) -> None:
        self.call(self.billing.usage_overview, account_id)
        self.call(self.billing.balances, account_id)

    def replay(self) -> None:
        account_id, key, amount = self.charged[-1]
        again = self.call(self.billing.charge_replies, account_id, 2, key=key)
        assert again is None or (again.key, again.amount.amount) == (key, amount)

    def charge(self, account_id: str, i: int) -> None:
        key = f"w{self.number}-c{i}"
        charge = self.call(self.billing.charge_replies, account_id, 2, key=key)
        if charge is not None:
            self.charged.append((account_id, key, charge.amount.amount))

    def step(self, i: int) -> None:
        account_id = ACCOUNTS[(i + self.number) % len(ACCOUNTS)]
        if i % 15 == 7:
            self.pay(account_id, i)
        elif i % 15 == 11:
            self.redeliver()
        elif i % 10 == 3:
            self.read(account_id)
        elif i % 10 == 9 and self.charged:
            self.replay()
        else:
            self.charge(account_id, i)


def worker(
    path: str, number: int, shared: Any, deadline: float, waits: tuple[float, int]
) -> dict[str, Any]:
    work = Worker(path, number, shared, waits)
    for i in range(CALLS):
        if time.monotonic() > deadline:
            break
        work.step(i)
    work.store.close()
    return {"charged": work.charged, "paid": work.paid, "errors": dict(work.errors)}


def advancer(path: str, deadline: float, stop: Any, waits: tuple[float, int]) -> dict[str, Any]:
    """``advance`` in a loop (an impatient cron) until the workers are done."""
    billing, store = billing_on(path, waits)
    errors: Counter[str] = Counter()
    runs = 0
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            billing.advance()
            runs += 1
        except SubkitError as error:
            errors[type(error).__name__] += 1
        except Exception as error:
            errors[f"raw {type(error).__module__}.{type(error).__name__}: {error}"] += 1
        stop.wait(0.05)  # a cron's pause between runs, in the worker process, not the test
    store.close()
    return {"runs": runs, "errors": dict(errors)}


def whole_ledger(store: SqliteStore, account_id: str) -> Iterator[LedgerEntry]:
    with store.snapshot() as view:
        cursor = None
        while True:
            page = view.ledger_page(
                account_id,
                balance=None,
                kind=None,
                since=None,
                until=None,
                limit=500,
                cursor=cursor,
            )
            yield from page.items
            cursor = page.next_cursor
            if cursor is None:
                return


def stress(path: str, waits: tuple[float, int], seconds: float) -> tuple[Counter[str], int]:
    """Run the workers and the advancer on ``path`` and check the file; return the errors
    the calls met and how many billing runs completed."""
    billing, store = billing_on(path)
    opening_top_ups = []
    for account_id in ACCOUNTS:
        billing.open_account(account_id)
        billing.set_billing_profile(account_id, BillingProfile(account_id, f"{account_id}@x.id"))
        event = notification(billing, account_id, f"open-{account_id}")
        billing.apply_payment(event)
        opening_top_ups.append(event.invoice_code)
    store.close()

    deadline = time.monotonic() + seconds
    with SPAWN.Manager() as manager, SPAWN.Pool(WORKERS + 1) as pool:
        shared = manager.Queue()  # notifications one process delivers again in another
        stop = manager.Event()
        run = pool.apply_async(advancer, (path, deadline + 5, stop, waits))
        results = pool.starmap(worker, [(path, n, shared, deadline, waits) for n in range(WORKERS)])
        stop.set()
        advance = run.get(timeout=60)

    errors: Counter[str] = Counter(advance["errors"])
    for result in results:
        errors.update(result["errors"])
    raw = [error for error in errors if error.startswith("raw ")]
    assert not raw, f"a raw error reached the host (R-CON-3): {raw}"

    store = SqliteStore(path)
    try:
        charged = [c for r in results for c in r["charged"]]
        paid = {code for r in results for code in r["paid"]} | set(opening_top_ups)
        assert charged and len(paid) > len(opening_top_ups), "the workers did nothing"
        with store.snapshot() as view:
            paid_in_store = {
                invoice.code
                for account_id in ACCOUNTS
                for invoice in view.invoice_page(
                    account_id,
                    type=None,
                    status=InvoiceStatus.PAID,
                    since=None,
                    until=None,
                    limit=1000,
                    cursor=None,
                ).items
            }
            wallets = {a: view.get_account(a) for a in ACCOUNTS}
        assert paid_in_store == paid
        for account_id in ACCOUNTS:
            account = wallets[account_id]
            assert account is not None
            entries = list(whole_ledger(store, account_id))
            assert conservation_holds(account.wallet, entries), account_id
            keys = Counter(e.key for e in entries if e.kind is EntryKind.REPLY)
            assert max(keys.values()) == 1, "a charge key was charged twice"
            mine = {(key, amount) for a, key, amount in charged if a == account_id}
            ledger_charges = {
                (e.key, -e.amount.amount) for e in entries if e.kind is EntryKind.REPLY
            }
            assert ledger_charges == mine
            top_ups = Counter(e.invoice_code for e in entries if e.kind is EntryKind.TOP_UP)
            assert set(top_ups.values()) == {1}, "a payment's effect was applied twice"
        all_top_ups = Counter(
            e.invoice_code
            for account_id in ACCOUNTS
            for e in whole_ledger(store, account_id)
            if e.kind is EntryKind.TOP_UP
        )
        assert set(all_top_ups) == paid and set(all_top_ups.values()) == {1}
    finally:
        store.close()
    return errors, advance["runs"]


def test_many_processes_on_one_file_with_the_system_clock(tmp_path: Path) -> None:
    """R-CON-1..3 with SqliteStore's default lock waits: nothing but the typed refusals of
    ALLOWED, so never InvalidTime (with no clock skew tolerated) and no lock refusal."""
    errors, runs = stress(str(tmp_path / "stress.db"), PATIENT, DEADLINE_SECONDS)
    assert set(errors) <= ALLOWED, f"calls refused by something unexpected: {dict(errors)}"
    assert runs > 0


def test_writers_that_give_up_on_the_lock_at_once_raise_only_typed_errors(
    tmp_path: Path,
) -> None:
    """R-CON-3: on stores that wait 2 ms for the write lock and do not try again, many calls
    fail to get it; each of those raises StoreError or ConcurrencyConflict, nothing raw, and
    the file still holds exactly what the calls that completed did (the same checks)."""
    errors, _ = stress(str(tmp_path / "impatient.db"), IMPATIENT, DEADLINE_SECONDS / 2)
    assert set(errors) <= ALLOWED | LOCK_REFUSALS, f"unexpected: {dict(errors)}"
