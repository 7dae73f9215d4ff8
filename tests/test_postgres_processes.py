"""R-CON-1..4 and R-PG-3/5 on the real PostgreSQL server, with real processes.

1. Several processes charge, pay (each notification twice, once more from another process,
   and a late ``expired`` after the ``paid``), read and run ``advance`` on the same accounts
   with the system clock, for a bounded number of calls. Afterwards, from the database alone:
   conservation per balance over each whole ledger, no charge key in a ledger twice and every
   charge a worker saw succeed there once, every paid invoice's top-up applied exactly once,
   and every call either completed or raised a typed refusal (never a raw psycopg error).
2. Three processes share one billing run over many due accounts; one of them is killed with
   SIGKILL while its unit holds an account. The others do its accounts, and the database
   ends exactly as one run on another store leaves it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta

from helpers import START, catalogue_with_skew
from stores import PG_DSN, pg_schema
from subkit.errors import SubkitError
from subkit.fakes import FakeGateway, FixedClock
from subkit.invoice import BillingProfile, InvoiceStatus, PaymentStatus
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent, ReadUnit, Store
from subkit.service import Billing, SystemClock
from subkit.stores.postgres import PostgresStore
from subkit.testing import InMemoryStore
from subkit.wallet import EntryKind, LedgerEntry, conservation_holds

pytestmark = pytest.mark.slow

SPAWN = multiprocessing.get_context("spawn")
ACCOUNTS = ("a", "b", "c")
WORKERS = 3  # charging and paying; one more process runs advance in a loop
CALLS = 500  # per worker
DEADLINE_SECONDS = 20.0  # a worker stops early past this, so the test stays bounded

#: The only refusal a call may meet: InsufficientBalance cannot happen with the balances
#: topped up, and is allowed only as the typed refusal it would be. Not ConcurrencyConflict:
#: writers of one account queue on its row lock, so the facade's retries are never used up.
ALLOWED = {"InsufficientBalance"}


def billing_on(schema: str) -> tuple[Billing, PostgresStore]:
    store = PostgresStore(PG_DSN, schema=schema, pool_size=2)
    return Billing(catalogue_with_skew(0), store, FakeGateway(), clock=SystemClock()), store


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

    def __init__(self, schema: str, number: int, shared: Any) -> None:
        self.billing, self.store = billing_on(schema)
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
        # Out of order: the gateway's "expired" for the same invoice arrives after its "paid"
        # (and changes nothing).
        late = PaymentEvent(
            event.invoice_code,
            PaymentStatus.EXPIRED,
            event.reference,
            event.amount,
            event_id=f"late-{event.event_id}",
        )
        invoice = self.call(self.billing.apply_payment, late)
        assert invoice is None or invoice.status is InvoiceStatus.PAID
        self.shared.put(event)  # another process delivers it once more

    def redeliver(self) -> None:
        try:
            event = self.shared.get_nowait()
        except queue.Empty:
            return
        self.call(self.billing.apply_payment, event)

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


def worker(schema: str, number: int, shared: Any, deadline: float) -> dict[str, Any]:
    work = Worker(schema, number, shared)
    for i in range(CALLS):
        if time.monotonic() > deadline:
            break
        work.step(i)
    work.store.close()
    return {"charged": work.charged, "paid": work.paid, "errors": dict(work.errors)}


def advancer(schema: str, deadline: float, stop: Any) -> dict[str, Any]:
    """``advance`` in a loop (an impatient cron) until the workers are done."""
    billing, store = billing_on(schema)
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


def whole_ledger(view: ReadUnit, account_id: str) -> Iterator[LedgerEntry]:
    cursor = None
    while True:
        page = view.ledger_page(
            account_id, balance=None, kind=None, since=None, until=None, limit=500, cursor=cursor
        )
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def paid_invoices(view: ReadUnit, account_id: str) -> set[str]:
    page = view.invoice_page(
        account_id,
        type=None,
        status=InvoiceStatus.PAID,
        since=None,
        until=None,
        limit=1000,
        cursor=None,
    )
    return {invoice.code for invoice in page.items}


def test_many_processes_on_one_postgres_schema_with_the_system_clock() -> None:
    with pg_schema() as schema:
        billing, store = billing_on(schema)
        opening_top_ups = []
        for account_id in ACCOUNTS:
            billing.open_account(account_id)
            billing.set_billing_profile(account_id, BillingProfile(account_id, f"{account_id}@x"))
            event = notification(billing, account_id, f"open-{account_id}")
            billing.apply_payment(event)
            opening_top_ups.append(event.invoice_code)

        deadline = time.monotonic() + DEADLINE_SECONDS
        with SPAWN.Manager() as manager, SPAWN.Pool(WORKERS + 1) as pool:
            shared = manager.Queue()  # notifications one process delivers again in another
            stop = manager.Event()
            run = pool.apply_async(advancer, (schema, deadline + 5, stop))
            jobs = [(schema, n, shared, deadline) for n in range(WORKERS)]
            results = pool.starmap(worker, jobs)
            stop.set()
            advance = run.get(timeout=60)

        errors: Counter[str] = Counter(advance["errors"])
        for result in results:
            errors.update(result["errors"])
        assert set(errors) <= ALLOWED, f"calls refused by something unexpected: {dict(errors)}"
        assert advance["runs"] > 0

        charged = [c for r in results for c in r["charged"]]
        paid = {code for r in results for code in r["paid"]} | set(opening_top_ups)
        assert charged and len(paid) > len(opening_top_ups), "the workers did nothing"
        with store.snapshot() as view:
            assert set().union(*(paid_invoices(view, a) for a in ACCOUNTS)) == paid
            all_top_ups: Counter[str] = Counter()
            for account_id in ACCOUNTS:
                account = view.get_account(account_id)
                assert account is not None
                entries = list(whole_ledger(view, account_id))
                assert conservation_holds(account.wallet, entries), account_id
                keys = Counter(e.key for e in entries if e.kind is EntryKind.REPLY)
                assert max(keys.values()) == 1, "a charge key was charged twice"
                mine = {(key, amount) for a, key, amount in charged if a == account_id}
                ledger_charges = {
                    (e.key, -e.amount.amount) for e in entries if e.kind is EntryKind.REPLY
                }
                assert ledger_charges == mine
                all_top_ups.update(e.invoice_code for e in entries if e.kind is EntryKind.TOP_UP)
        assert set(all_top_ups) == paid and set(all_top_ups.values()) == {1}, (
            "a payment's effect was applied twice, or not at all"
        )
        store.close()


# -- a shared billing run with a worker killed mid-unit ----------------------------------------

RUN_ACCOUNTS = [f"shop-{n:03d}" for n in range(240)]
KILL_AT_CLAIM = 15  # the victim dies holding its 15th account, before that unit commits


def open_accounts(store: Store) -> tuple[Billing, FixedClock]:
    """The accounts, opened a minute apart, with a month gone by: every one is due."""
    clock = FixedClock(START)
    billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
    for account_id in RUN_ACCOUNTS:
        billing.open_account(account_id)
        clock.advance(timedelta(minutes=1))
    clock.advance(relativedelta(months=1))
    return billing, clock


def run_worker(schema: str, victim: bool, start: Any, until: Any, results: Any) -> None:
    from subkit.stores import postgres

    if victim:
        claim = postgres.PostgresUnit.claim_due_account
        claims = 0

        def claim_then_die(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal claims
            account = claim(self, *args, **kwargs)
            claims += 1
            if claims == KILL_AT_CLAIM:  # the row is locked by this unit, not committed
                os.kill(os.getpid(), signal.SIGKILL)
            return account

        postgres.PostgresUnit.claim_due_account = claim_then_die  # type: ignore[method-assign]
    store = PostgresStore(PG_DSN, schema=schema, pool_size=2)
    billing = Billing(Catalogue.default(), store, FakeGateway(), clock=FixedClock(until))
    start.wait(60)
    try:
        report = billing.advance(until)
        results.put({"accounts": list(report.accounts), "counts": dict(report.counts)})
    except BaseException as exc:  # reported to the parent
        results.put({"error": f"{type(exc).__module__}.{type(exc).__name__}: {exc}"})
    store.close()


def test_a_worker_killed_mid_run_leaves_its_accounts_to_the_others() -> None:
    reference = InMemoryStore()
    one, clock = open_accounts(reference)
    until = clock.now()
    single = one.advance(until)
    assert sorted(single.accounts) == RUN_ACCOUNTS
    with pg_schema() as schema:
        store = PostgresStore(PG_DSN, schema=schema, pool_size=2)
        open_accounts(store)
        start, results = SPAWN.Event(), SPAWN.Queue()
        workers = [
            SPAWN.Process(target=run_worker, args=(schema, n == 0, start, until, results))
            for n in range(3)
        ]
        for process in workers:
            process.start()
        start.set()
        reports = [results.get(timeout=120) for _ in range(2)]
        for process in workers:
            process.join(timeout=60)
        assert workers[0].exitcode == -signal.SIGKILL, "the victim was not killed"
        assert [p.exitcode for p in workers[1:]] == [0, 0]
        assert all("error" not in report for report in reports), reports
        done = [a for report in reports for a in report["accounts"]]
        assert len(done) == len(set(done)), "an account was done by two workers"
        assert all(report["accounts"] for report in reports), "the run was not shared"
        assert len(done) >= len(RUN_ACCOUNTS) - KILL_AT_CLAIM + 1
        with store.snapshot() as view, reference.snapshot() as expected:
            assert view.due_accounts(until, limit=10) == []
            for account_id in RUN_ACCOUNTS:
                assert view.get_account(account_id) == expected.get_account(account_id)
                assert list(whole_ledger(view, account_id)) == list(
                    whole_ledger(expected, account_id)
                )
        store.close()
