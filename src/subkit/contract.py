"""The store contract suite: every behaviour ``Billing`` relies on, for any ``Store``.

A host that writes its own store runs these tests against it under pytest::

    from subkit.contract import StoreContract

    class TestMyStore(StoreContract):
        def make_store(self, tmp_path):
            return MyStore(...)

Each test gets a fresh, empty store from :meth:`StoreContract.make_store`; a store with a
``close()`` method is closed afterwards. subkit runs the same suite on ``InMemoryStore`` and
``SqliteStore``. This module imports pytest, so it lives apart from :mod:`subkit.testing`
(which offers it lazily as ``subkit.testing.StoreContract``); it takes the fakes it needs
from :mod:`subkit.fakes`, so the two modules do not import each other.

Why it is long: it is the Store protocol's specification as tests, one test per
guarantee, read in order by whoever writes a store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import pytest

from subkit import account as accounts
from subkit.account import Account
from subkit.cycles import Interval, Period
from subkit.errors import (
    AccountExists,
    ConcurrencyConflict,
    InvalidArgument,
    InvalidCursor,
    StoreError,
)
from subkit.events import DomainEvent, InvoiceCreated, make_event
from subkit.fakes import FakeGateway, FixedClock, RecordingSink
from subkit.idempotency import IdempotencyRecord
from subkit.invoice import (
    BillingProfile,
    Effect,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineKind,
    PaymentSession,
    PaymentStatus,
)
from subkit.money import Money
from subkit.orders import ChangeStart, PlanChange, PricedOn, TopUp
from subkit.paging import Page
from subkit.plans import Catalogue, Seller, Tax, TaxMode
from subkit.ports import ReadUnit, Store
from subkit.subscription import AddOnEvent, AddOnEventKind, SubscriptionStatus
from subkit.views import DayTotal
from subkit.wallet import Balance, EntryKind, LedgerEntry

START = datetime(2025, 1, 1, tzinfo=UTC)
JAKARTA = timezone(timedelta(hours=7))


def at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant in January 2025, UTC."""
    return datetime(2025, 1, day, hour, minute, tzinfo=UTC)


def idr(amount: int) -> Money:
    return Money(amount, "IDR")


def event(account_id: str, n: int) -> DomainEvent:
    """An event not stored yet; ``n`` tells it apart (its invoice code is ``INV-n``)."""
    facts = InvoiceCreated(f"INV-{n}", InvoiceType.TOP_UP, idr(n))
    return make_event(account_id, at(2, n % 24), facts)


def feed(unit: ReadUnit, account_id: str) -> list[DomainEvent]:
    return list(unit.event_page(account_id, cursor=None, limit=500).items)


def make_account(account_id: str, *, due: datetime | None = None) -> Account:
    """A real new account (opened on ``START``); ``due`` pulls its ``due_at`` earlier."""
    account, _ = accounts.open_account(account_id, Catalogue.default(), START, "Asia/Jakarta")
    if due is not None:
        account = attrs.evolve(account, pending={f"DUE-{account_id}": due})
        assert account.due_at == due
    return account


def make_entry(
    account_id: str,
    seq: int,
    when: datetime,
    *,
    kind: EntryKind = EntryKind.REPLY,
    balance: Balance = Balance.CONVERSATION,
    amount: int = -30,
) -> LedgerEntry:
    return LedgerEntry(
        account_id=account_id,
        seq=seq,
        at=when,
        balance=balance,
        kind=kind,
        count=1 if kind in (EntryKind.REPLY, EntryKind.BROADCAST) else 0,
        amount=idr(amount),
        balance_after=idr(100_000 + seq),
        key=f"key-{seq}",
    )


def make_invoice(
    code: str,
    account_id: str,
    requested_at: datetime,
    *,
    type: InvoiceType = InvoiceType.TOP_UP,
    status: InvoiceStatus = InvoiceStatus.PENDING,
) -> Invoice:
    line = InvoiceLine.for_top_up(Balance.CONVERSATION, idr(50_000))
    return Invoice(
        code=code,
        account_id=account_id,
        type=type,
        status=status,
        requested_at=requested_at,
        package="Top up conversation",
        lines=(line,),
        subtotal=idr(50_000),
        tax=idr(0),
        total=idr(50_000),
        expires_at=requested_at + timedelta(hours=24),
        order=TopUp(Balance.CONVERSATION, idr(50_000)),
    )


def full_invoice(code: str, account_id: str) -> Invoice:
    """An invoice with every field set to something other than its default."""
    period = Period(at(1), datetime(2025, 2, 1, tzinfo=UTC))
    return Invoice(
        code=code,
        account_id=account_id,
        type=InvoiceType.PLAN_CHANGE,
        status=InvoiceStatus.PAID,
        requested_at=at(3, 9, 30).astimezone(JAKARTA),
        package="Growth (Annual)",
        lines=(
            InvoiceLine(
                LineKind.PLAN,
                "Growth",
                1,
                idr(2_990_000),
                idr(2_990_000),
                period,
                "growth",
                Interval.ANNUAL,
            ),
            InvoiceLine(
                LineKind.ADD_ON,
                "Additional User",
                2,
                idr(500_000),
                idr(1_000_000),
                period,
                "extra_user",
                Interval.ANNUAL,
            ),
            InvoiceLine(
                LineKind.CREDIT,
                "Free",
                1,
                idr(-1_000),
                idr(-1_000),
                period,
                "free",
                Interval.MONTHLY,
            ),
        ),
        subtotal=idr(3_989_000),
        tax=idr(438_790),
        total=idr(4_427_790),
        expires_at=at(4, 9, 30),
        order=PlanChange(
            "growth",
            Interval.ANNUAL,
            {"extra_user": 2},
            ChangeStart.BOUNDARY,
            PricedOn("free", Interval.MONTHLY, at(3), SubscriptionStatus.ACTIVE),
            start=at(3),
            end=datetime(2026, 1, 3, tzinfo=UTC),
        ),
        billing_profile=BillingProfile(
            "PT Contoh", "billing@contoh.id", "Jl. Sudirman 1", "01.234"
        ),
        paid_at=at(3, 10),
        reference="PAY-000042",
        effect=Effect.APPLIED,
        status_at=at(3, 10),
        extra_payments=("PAY-000043",),
        version=3,
        tax_setting=Tax(TaxMode.EXCLUSIVE, Fraction(12, 100), Fraction(11, 12), tax_top_ups=False),
        seller=Seller("PT Penjual", "Jl. Thamrin 1", "tagihan@penjual.id", "02.345", "logo.png"),
        payment=PaymentSession(
            "https://pay.example/INV-2025-01-000001", "PAY-000042", at(4, 9, 30).astimezone(JAKARTA)
        ),
    )


def all_pages(fetch: Any, limit: int) -> list[Any]:
    """Follow the cursors of ``fetch(limit=..., cursor=...)`` to the end; every item."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        page: Page[Any] = fetch(limit=limit, cursor=cursor)
        assert len(page.items) <= limit
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items
        assert page.items, "a page with a next cursor must not be empty"
    raise AssertionError("paging did not end")


def ledger(
    unit: ReadUnit,
    account_id: str,
    *,
    balance: Balance | None = None,
    kind: EntryKind | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[LedgerEntry]:
    def fetch(*, limit: int, cursor: str | None) -> Page[LedgerEntry]:
        return unit.ledger_page(
            account_id,
            balance=balance,
            kind=kind,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    return all_pages(fetch, limit)


def invoices(
    unit: ReadUnit,
    account_id: str,
    *,
    type: InvoiceType | None = None,
    status: InvoiceStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
) -> list[str]:
    def fetch(*, limit: int, cursor: str | None) -> Page[Invoice]:
        return unit.invoice_page(
            account_id,
            type=type,
            status=status,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )

    return [invoice.code for invoice in all_pages(fetch, limit)]


def day_total(
    day: date,
    kind: EntryKind,
    count: int = 1,
    amount: int = -30,
    balance: Balance = Balance.CONVERSATION,
) -> DayTotal:
    return DayTotal(day, balance, kind, count, idr(amount))


def newest_first(entries: list[LedgerEntry]) -> list[LedgerEntry]:
    return sorted(entries, key=lambda e: (e.at, e.seq), reverse=True)


class Boom(Exception):
    """Raised inside a unit of work to make it roll back."""


class StoreContract:
    """Behavioural tests of the ``Store`` / ``UnitOfWork`` contract (``subkit.ports``).

    Subclass it in a test module (name the subclass ``Test...``) and override
    :meth:`make_store`.
    """

    def make_store(self, tmp_path: Path) -> Store:
        """Return a new, empty store. ``tmp_path`` is a fresh directory for its files."""
        raise NotImplementedError("override make_store(self, tmp_path) to return your store")

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.make_store(tmp_path)
        yield store
        close = getattr(store, "close", None)
        if callable(close):
            close()

    def seed(self, store: Store, *account_ids: str) -> None:
        with store.transaction() as unit:
            for account_id in account_ids:
                unit.add_account(make_account(account_id))

    # -- transactions -----------------------------------------------------------------------

    def test_commit_makes_every_write_visible_to_later_units(self, store: Store) -> None:
        with store.transaction() as unit:
            unit.add_account(make_account("acme"))
            unit.append_entries([make_entry("acme", 1, at(2))])
            number = unit.next_invoice_number()
            unit.add_invoice(make_invoice(f"INV-{number}", "acme", at(2)))
            unit.put_record(IdempotencyRecord("acme", "reply", "m1", "fp", {"n": 1}))
        with store.transaction() as unit:
            assert unit.get_account("acme") == make_account("acme")
            assert ledger(unit, "acme") == [make_entry("acme", 1, at(2))]
            assert unit.get_invoice("INV-1") == make_invoice("INV-1", "acme", at(2))
            assert unit.get_record("acme", "reply", "m1") == IdempotencyRecord(
                "acme", "reply", "m1", "fp", {"n": 1}
            )
            assert unit.next_invoice_number() == 2

    def test_an_exception_in_the_block_rolls_back_every_write(self, store: Store) -> None:
        """All or nothing: nothing of a unit that raised is kept, the sequence included."""
        self.seed(store, "acme")
        with store.transaction() as unit:
            unit.add_invoice(make_invoice("INV-0", "acme", at(1)))
        before = make_account("acme")
        with pytest.raises(Boom), store.transaction() as unit:
            unit.add_account(make_account("other"))
            unit.update_account(attrs.evolve(before, version=1, profile=BillingProfile("A", "a@b")))
            unit.append_entries([make_entry("acme", 1, at(2))])
            assert unit.next_invoice_number() == 1
            unit.add_invoice(make_invoice("INV-1", "acme", at(2)))
            unit.update_invoice(
                attrs.evolve(
                    make_invoice("INV-0", "acme", at(1)), status=InvoiceStatus.PAID, version=1
                )
            )
            unit.put_record(IdempotencyRecord("acme", "reply", "m1", "fp", {}))
            raise Boom
        with store.transaction() as unit:
            assert unit.get_account("other") is None
            assert unit.get_account("acme") == before
            assert ledger(unit, "acme") == []
            assert unit.get_invoice("INV-1") is None
            assert unit.get_invoice("INV-0") == make_invoice("INV-0", "acme", at(1))
            assert invoices(unit, "acme") == ["INV-0"]
            assert unit.get_record("acme", "reply", "m1") is None
            assert unit.due_accounts(at(31), limit=10) == []
            assert unit.next_invoice_number() == 1

    def test_a_unit_reads_its_own_writes(self, store: Store) -> None:
        with store.transaction() as unit:
            account = make_account("acme", due=at(5))
            unit.add_account(account)
            assert unit.get_account("acme") == account
            assert unit.due_accounts(at(5), limit=10) == ["acme"]
            moved = attrs.evolve(account, pending={}, version=1)
            unit.update_account(moved)
            assert unit.get_account("acme") == moved
            assert unit.due_accounts(at(5), limit=10) == []
            unit.append_entries([make_entry("acme", 1, at(2)), make_entry("acme", 2, at(3))])
            assert [e.seq for e in ledger(unit, "acme")] == [2, 1]
            invoice = make_invoice("INV-1", "acme", at(2))
            unit.add_invoice(invoice)
            assert unit.get_invoice("INV-1") == invoice
            paid = attrs.evolve(invoice, status=InvoiceStatus.PAID, version=1)
            unit.update_invoice(paid)
            assert unit.get_invoice("INV-1") == paid
            assert invoices(unit, "acme", status=InvoiceStatus.PAID) == ["INV-1"]
            record = IdempotencyRecord("acme", "checkout", "k", "fp", {"a": [1, 2]})
            unit.put_record(record)
            assert unit.get_record("acme", "checkout", "k") == record
            assert unit.next_invoice_number() == 1
            assert unit.next_invoice_number() == 2

    # -- accounts -----------------------------------------------------------------------------

    def test_adding_an_existing_account_raises_account_exists(self, store: Store) -> None:
        self.seed(store, "acme")
        with pytest.raises(AccountExists), store.transaction() as unit:
            unit.add_account(make_account("acme"))
        with pytest.raises(AccountExists), store.transaction() as unit:
            unit.add_account(make_account("fresh"))
            unit.add_account(make_account("fresh"))
        with store.transaction() as unit:
            assert unit.get_account("fresh") is None
            assert unit.get_account("nobody") is None

    def test_a_stale_account_version_raises_concurrency_conflict(self, store: Store) -> None:
        """Optimistic lock: an update based on a version someone else replaced is refused,
        and the unit it was made in keeps nothing."""
        self.seed(store, "acme")
        with store.transaction() as unit:
            seen = unit.get_account("acme")
        assert seen is not None and seen.version == 0
        with store.transaction() as unit:  # another caller wins the race
            unit.update_account(attrs.evolve(seen, version=1, profile=BillingProfile("W", "w@x")))
        with pytest.raises(ConcurrencyConflict), store.transaction() as unit:
            unit.append_entries([make_entry("acme", 1, at(2))])
            unit.put_record(IdempotencyRecord("acme", "reply", "late", "fp", {}))
            unit.update_account(attrs.evolve(seen, version=1, profile=BillingProfile("L", "l@x")))
        with pytest.raises(ConcurrencyConflict), store.transaction() as unit:
            unit.update_account(attrs.evolve(seen, version=3))  # skips a version
        with pytest.raises(ConcurrencyConflict), store.transaction() as unit:
            unit.update_account(make_account("ghost"))  # version 0 over nothing
        with store.transaction() as unit:
            stored = unit.get_account("acme")
            assert stored is not None and stored.version == 1
            assert stored.profile == BillingProfile("W", "w@x")
            assert ledger(unit, "acme") == []
            assert unit.get_record("acme", "reply", "late") is None
            unit.update_account(attrs.evolve(stored, version=2))
        with store.transaction() as unit:
            again = unit.get_account("acme")
            assert again is not None and again.version == 2

    def test_a_stale_invoice_version_raises_concurrency_conflict(self, store: Store) -> None:
        self.seed(store, "acme")
        with store.transaction() as unit:
            unit.add_invoice(make_invoice("INV-1", "acme", at(2)))
        with store.transaction() as unit:
            seen = unit.get_invoice("INV-1")
        assert seen is not None
        with store.transaction() as unit:
            unit.update_invoice(attrs.evolve(seen, status=InvoiceStatus.PAID, version=1))
        with pytest.raises(ConcurrencyConflict), store.transaction() as unit:
            unit.update_invoice(attrs.evolve(seen, status=InvoiceStatus.EXPIRED, version=1))
        with pytest.raises(ConcurrencyConflict), store.transaction() as unit:
            unit.update_invoice(make_invoice("INV-404", "acme", at(2)))
        with store.transaction() as unit:
            stored = unit.get_invoice("INV-1")
            assert stored is not None
            assert (stored.status, stored.version) == (InvoiceStatus.PAID, 1)

    def test_concurrent_writers_lose_no_update(self, store: Store) -> None:
        """Two threads bump one account 20 times each, retrying conflicts: none is lost."""
        self.seed(store, "acme")
        errors: list[BaseException] = []

        def bump(times: int) -> None:
            try:
                done = 0
                while done < times:
                    try:
                        with store.transaction() as unit:
                            current = unit.get_account("acme")
                            assert current is not None
                            unit.update_account(attrs.evolve(current, version=current.version + 1))
                        done += 1
                    except ConcurrencyConflict:
                        continue
            except BaseException as exc:  # reported to the main thread
                errors.append(exc)

        threads = [threading.Thread(target=bump, args=(20,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with store.transaction() as unit:
            stored = unit.get_account("acme")
            assert stored is not None and stored.version == 40

    def test_due_accounts_filters_orders_and_pages(self, store: Store) -> None:
        """``due_at <= until`` (inclusive), earliest due first with ties by id, at most
        ``limit``; an update moves an account in or out."""
        dues = {"d": at(3), "b": at(5), "a": at(5), "e": at(1), "c": at(10), "f": at(7)}
        with store.transaction() as unit:
            for account_id, due in dues.items():
                unit.add_account(make_account(account_id, due=due))
        with store.transaction() as unit:
            assert unit.due_accounts(at(5), limit=10) == ["e", "d", "a", "b"]
            assert unit.due_accounts(at(7), limit=10) == ["e", "d", "a", "b", "f"]
            assert unit.due_accounts(at(7), limit=2) == ["e", "d"]
            assert unit.due_accounts(at(1) - timedelta(microseconds=1), limit=9) == []
            # The same instant written in another zone is the same instant.
            assert unit.due_accounts(at(3).astimezone(JAKARTA), limit=9) == ["e", "d"]
            current = unit.get_account("c")
            assert current is not None
            unit.update_account(attrs.evolve(current, pending={"X": at(2)}, version=1))
            e = unit.get_account("e")
            assert e is not None
            unit.update_account(attrs.evolve(e, pending={}, version=1))
        with store.transaction() as unit:
            assert unit.due_accounts(at(3), limit=10) == ["c", "d"]  # c due at 2, d at 3

    def test_the_billing_run_claims_the_earliest_due_account_not_skipped(
        self, store: Store
    ) -> None:
        """R-CON-4: ``claim_due_account`` hands out the account itself, earliest due first
        (ties by id), passing over ``skip``; ``None`` once none is left."""
        dues = {"d": at(3), "b": at(5), "a": at(5), "e": at(1), "c": at(10)}
        with store.transaction() as unit:
            for account_id, due in dues.items():
                unit.add_account(make_account(account_id, due=due))
        with store.transaction() as unit:
            assert unit.claim_due_account(at(5)) == make_account("e", due=at(1))
        with store.transaction() as unit:
            assert unit.claim_due_account(at(5), skip={"e"}) == make_account("d", due=at(3))
        with store.transaction() as unit:
            claimed = unit.claim_due_account(at(5), skip={"e", "d"})
            assert claimed is not None and claimed.account_id == "a"
        with store.transaction() as unit:
            assert unit.claim_due_account(at(5), skip={"e", "d", "a", "b"}) is None
            assert unit.claim_due_account(at(1) - timedelta(microseconds=1)) is None

    def test_a_claim_rolled_back_returns_the_account_to_the_due_set(self, store: Store) -> None:
        """A worker that dies mid-unit leaves its account due for the next claim; one brought
        up to date leaves the set."""
        with store.transaction() as unit:
            unit.add_account(make_account("e", due=at(1)))
            unit.add_account(make_account("d", due=at(3)))
        with pytest.raises(Boom), store.transaction() as unit:
            claimed = unit.claim_due_account(at(5))
            assert claimed is not None and claimed.account_id == "e"
            unit.update_account(attrs.evolve(claimed, pending={}, version=1))
            raise Boom  # the worker died before its commit
        with store.transaction() as unit:
            claimed = unit.claim_due_account(at(5))
            assert claimed == make_account("e", due=at(1))
            unit.update_account(attrs.evolve(claimed, pending={}, version=1))
        with store.transaction() as unit:
            claimed = unit.claim_due_account(at(5))
            assert claimed is not None and claimed.account_id == "d"

    def test_concurrent_claimers_bring_each_due_account_up_to_date_once(self, store: Store) -> None:
        """Three threads claim and update due accounts until none is left (retrying
        conflicts, as the facade does): each account is done exactly once."""
        ids = [f"acct-{n:02d}" for n in range(24)]
        with store.transaction() as unit:
            for n, account_id in enumerate(ids):
                unit.add_account(make_account(account_id, due=at(1 + n % 4)))
        done: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work() -> None:
            try:
                while True:
                    try:
                        with store.transaction() as unit:
                            claimed = unit.claim_due_account(at(10))
                            if claimed is None:
                                return
                            unit.update_account(
                                attrs.evolve(claimed, pending={}, version=claimed.version + 1)
                            )
                        with lock:
                            done.append(claimed.account_id)
                    except ConcurrencyConflict:
                        continue
            except BaseException as exc:  # reported to the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert sorted(done) == ids
        with store.transaction() as unit:
            assert unit.due_accounts(at(10), limit=50) == []

    # -- ledger -------------------------------------------------------------------------------

    def _history(self, store: Store) -> list[LedgerEntry]:
        """Entries of "acme" with shared instants, mixed zones and a late-dated one."""
        self.seed(store, "acme", "other")
        entries = [
            make_entry("acme", 1, at(1), kind=EntryKind.GRANT, amount=15_000),
            make_entry("acme", 2, at(2, 8), kind=EntryKind.TOP_UP, amount=50_000),
            make_entry("acme", 3, at(2, 8)),
            make_entry("acme", 4, at(2, 8).astimezone(JAKARTA)),  # same instant, other zone
            make_entry("acme", 5, at(2, 8), kind=EntryKind.BROADCAST, balance=Balance.BROADCAST),
            make_entry("acme", 6, at(3, 1, 30).astimezone(JAKARTA)),  # 08:30 local, 01:30 UTC
            make_entry("acme", 7, at(3, 5)),
            make_entry("acme", 8, at(2, 23), kind=EntryKind.EXPIRY, amount=-100),  # late-dated
            make_entry("acme", 9, at(4), kind=EntryKind.TOP_UP, balance=Balance.BROADCAST),
        ]
        with store.transaction() as unit:
            unit.append_entries(entries[:5])
        with store.transaction() as unit:
            unit.append_entries(entries[5:])
            unit.append_entries([make_entry("other", 1, at(2, 8)), make_entry("other", 2, at(9))])
        return entries

    def test_ledger_pages_newest_first_by_time_then_order_of_writing(self, store: Store) -> None:
        """R-BAL-10: (at, seq) descending, equal instants by seq, across pages of any size."""
        entries = self._history(store)
        expected = newest_first(entries)
        assert [e.seq for e in expected] == [9, 7, 6, 8, 5, 4, 3, 2, 1]
        with store.transaction() as unit:
            for limit in (1, 2, 3, 4, 9, 10, 50):
                assert ledger(unit, "acme", limit=limit) == expected
            first = unit.ledger_page(
                "acme", balance=None, kind=None, since=None, until=None, limit=9, cursor=None
            )
            assert first.items == tuple(expected) and first.next_cursor is None
            assert ledger(unit, "nobody") == []

    def test_ledger_since_is_inclusive_and_until_exclusive(self, store: Store) -> None:
        entries = self._history(store)
        with store.transaction() as unit:
            got = ledger(unit, "acme", since=at(2, 8), until=at(3, 5), limit=2)
            assert got == newest_first([e for e in entries if at(2, 8) <= e.at < at(3, 5)])
            assert [e.seq for e in got] == [6, 8, 5, 4, 3, 2]
            local = ledger(unit, "acme", since=at(2, 8).astimezone(JAKARTA), until=at(3, 5))
            assert local == got
            assert ledger(unit, "acme", since=at(4), limit=1) == [entries[8]]
            assert ledger(unit, "acme", until=at(1, 0, 1), limit=1) == [entries[0]]
            assert ledger(unit, "acme", since=at(5)) == []
            assert ledger(unit, "acme", until=at(1)) == []

    def test_ledger_filters_by_balance_and_kind(self, store: Store) -> None:
        entries = self._history(store)
        with store.transaction() as unit:
            for balance in (None, *Balance):
                for kind in (None, *EntryKind):
                    want = newest_first(
                        [
                            e
                            for e in entries
                            if (balance is None or e.balance == balance)
                            and (kind is None or e.kind == kind)
                        ]
                    )
                    assert ledger(unit, "acme", balance=balance, kind=kind, limit=2) == want
            top_ups = ledger(unit, "acme", kind=EntryKind.TOP_UP, since=at(2), until=at(5))
            assert [e.seq for e in top_ups] == [9, 2]

    def test_ledger_cursor_is_stable_while_entries_are_added(self, store: Store) -> None:
        """A cursor points after an entry, not at an offset: newer entries written between
        two pages shift nothing."""
        entries = self._history(store)
        with store.transaction() as unit:
            page = unit.ledger_page(
                "acme", balance=None, kind=None, since=None, until=None, limit=4, cursor=None
            )
        with store.transaction() as unit:
            unit.append_entries([make_entry("acme", 10, at(5)), make_entry("acme", 11, at(4))])
        seen = list(page.items)
        cursor = page.next_cursor
        with store.transaction() as unit:
            while cursor is not None:
                page = unit.ledger_page(
                    "acme", balance=None, kind=None, since=None, until=None, limit=4, cursor=cursor
                )
                seen.extend(page.items)
                cursor = page.next_cursor
        assert seen == newest_first(entries)
        with store.transaction() as unit:
            assert [e.seq for e in ledger(unit, "acme")][:2] == [10, 11]

    # -- cursors (R-LIM-4) --------------------------------------------------------------------

    def test_a_cursor_pages_only_the_account_and_query_that_made_it(self, store: Store) -> None:
        """R-LIM-4: a malformed, edited, out-of-range or foreign cursor is ``InvalidCursor``
        (an ``InvalidArgument``) on every list, and a store's own cursor pages on."""
        self._history(store)
        for n, who in enumerate(("acme", "acme", "acme", "other", "other")):
            with store.transaction() as unit:
                unit.add_invoice(make_invoice(f"C-{n}", who, at(5 + n)))
        for n in range(6):
            self.add(store, event("acme" if n % 2 else "other", n))

        def ledger_of(unit: ReadUnit, account_id: str, cursor: str | None, **query: Any) -> Any:
            filters = {"balance": None, "kind": None, "since": None, "until": None, **query}
            return unit.ledger_page(account_id, limit=1, cursor=cursor, **filters)

        def invoices_of(unit: ReadUnit, account_id: str, cursor: str | None, **query: Any) -> Any:
            filters = {"type": None, "status": None, "since": None, "until": None, **query}
            return unit.invoice_page(account_id, limit=1, cursor=cursor, **filters)

        def events_of(unit: ReadUnit, account_id: str, cursor: str | None, **query: Any) -> Any:
            return unit.event_page(account_id, cursor=cursor, limit=1)

        lists = {"ledger": ledger_of, "invoices": invoices_of, "events": events_of}
        with store.snapshot() as view:
            cursors = {name: read(view, "acme", None).next_cursor for name, read in lists.items()}
            other = {name: read(view, "other", None).next_cursor for name, read in lists.items()}
            narrower = {
                "ledger": ledger_of(view, "acme", None, kind=EntryKind.REPLY).next_cursor,
                "invoices": invoices_of(view, "acme", None, type=InvoiceType.TOP_UP).next_cursor,
            }
            for name, read in lists.items():
                cursor = cursors[name]
                assert cursor is not None and other[name] is not None
                assert read(view, "acme", cursor).items  # its own cursor pages on
                head, _, check = cursor.rpartition(".")
                flipped = "0" if check[-1] != "0" else "1"
                # An empty cursor is the first page (a web page's empty query parameter).
                assert read(view, "acme", "").items == read(view, "acme", None).items
                forged = [
                    "not-a-cursor",
                    cursor + "x",
                    head + "." + check[:-1] + flipped,  # the check edited
                    head.replace(".", ".9", 1) + "." + check,  # the position edited
                    cursor.replace("c1.", "c2.", 1),
                    f"c1.{2**63}.{'0' * 32}" if name == "events" else f"c1.{2**63}.1.{'0' * 32}",
                    "c1." + "9" * 200,
                    "é" * 10,
                    other[name],  # another account's
                    *(c for n, c in cursors.items() if n != name),  # another list's
                    *([narrower[name]] if name in narrower else []),  # another filter's
                ]
                for bad in forged:
                    with pytest.raises(InvalidCursor) as caught:
                        read(view, "acme", bad)
                    assert isinstance(caught.value, InvalidArgument)
                    assert caught.value.code == "invalid_cursor"

    # -- invoices -------------------------------------------------------------------------------

    def test_invoice_numbers_are_gapless_and_roll_back_with_the_unit(self, store: Store) -> None:
        with store.transaction() as unit:
            assert [unit.next_invoice_number() for _ in range(2)] == [1, 2]
        with store.transaction() as unit:
            assert unit.next_invoice_number() == 3
        with pytest.raises(Boom), store.transaction() as unit:
            assert unit.next_invoice_number() == 4
            raise Boom
        with store.transaction() as unit:
            assert unit.next_invoice_number() == 4

    def test_invoice_codes_are_unique(self, store: Store) -> None:
        self.seed(store, "acme", "other")
        with store.transaction() as unit:
            unit.add_invoice(make_invoice("INV-1", "acme", at(2)))
        with pytest.raises(StoreError), store.transaction() as unit:
            unit.add_invoice(make_invoice("INV-1", "other", at(3)))
        with pytest.raises(StoreError), store.transaction() as unit:
            unit.add_invoice(make_invoice("INV-2", "acme", at(3)))
            unit.add_invoice(make_invoice("INV-2", "acme", at(4)))
        with store.transaction() as unit:
            assert unit.get_invoice("INV-1") == make_invoice("INV-1", "acme", at(2))
            assert unit.get_invoice("INV-2") is None
            assert invoices(unit, "other") == []

    def test_invoice_pages_newest_first_with_filters(self, store: Store) -> None:
        """R-INV-8: by (requested_at, creation order) descending; type, status, since
        inclusive, until exclusive; pages follow cursors; updates keep the position."""
        self.seed(store, "acme", "other")
        made = [
            make_invoice("I-1", "acme", at(5), status=InvoiceStatus.PAID),
            make_invoice("I-2", "acme", at(5).astimezone(JAKARTA)),  # same instant, made later
            make_invoice("I-3", "acme", at(10), type=InvoiceType.RENEWAL),
            make_invoice(
                "I-4", "acme", at(3), type=InvoiceType.ADD_ON, status=InvoiceStatus.EXPIRED
            ),
            make_invoice("O-1", "other", at(6)),
        ]
        for invoice in made:
            with store.transaction() as unit:
                unit.add_invoice(invoice)
        with store.transaction() as unit:
            for limit in (1, 2, 3, 50):
                assert invoices(unit, "acme", limit=limit) == ["I-3", "I-2", "I-1", "I-4"]
            assert invoices(unit, "acme", type=InvoiceType.TOP_UP, limit=1) == ["I-2", "I-1"]
            assert invoices(unit, "acme", status=InvoiceStatus.PENDING) == ["I-3", "I-2"]
            assert invoices(unit, "acme", since=at(5), until=at(10), limit=1) == ["I-2", "I-1"]
            assert invoices(unit, "acme", since=at(3), until=at(5)) == ["I-4"]
            assert invoices(unit, "acme", since=at(11)) == []
            assert invoices(unit, "other") == ["O-1"]
            unit.update_invoice(attrs.evolve(made[1], status=InvoiceStatus.PAID, version=1))
        with store.transaction() as unit:
            assert invoices(unit, "acme", status=InvoiceStatus.PAID, limit=1) == ["I-2", "I-1"]
            assert invoices(unit, "acme", limit=3) == ["I-3", "I-2", "I-1", "I-4"]

    def test_pending_invoices_by_request_time(self, store: Store) -> None:
        """R-GW-3: pending only, ``requested_at < requested_before`` (exclusive), oldest
        first with ties by code, at most ``limit``; a status change moves one out."""
        self.seed(store, "acme", "other")
        made = [
            make_invoice("I-3", "acme", at(5)),
            make_invoice("I-1", "acme", at(5).astimezone(JAKARTA)),  # same instant, code first
            make_invoice("I-2", "other", at(2)),
            make_invoice("I-4", "acme", at(1), status=InvoiceStatus.PAID),
            make_invoice("I-5", "acme", at(3), status=InvoiceStatus.EXPIRED),
            make_invoice("I-6", "acme", at(9)),
        ]
        with store.transaction() as unit:
            for invoice in made:
                unit.add_invoice(invoice)
        with store.transaction() as unit:
            found = unit.pending_invoices(at(9), limit=10)
            assert [i.code for i in found] == ["I-2", "I-1", "I-3"]
            assert found[0] == made[2]
            assert [i.code for i in unit.pending_invoices(at(9), limit=2)] == ["I-2", "I-1"]
            assert [i.code for i in unit.pending_invoices(at(2), limit=9)] == []
            assert [i.code for i in unit.pending_invoices(at(10), limit=9)][-1] == "I-6"
            unit.update_invoice(attrs.evolve(made[2], status=InvoiceStatus.PAID, version=1))
            # The unit reads its own write.
            assert [i.code for i in unit.pending_invoices(at(9), limit=9)] == ["I-1", "I-3"]
        with store.transaction() as unit:
            assert [i.code for i in unit.pending_invoices(at(9), limit=9)] == ["I-1", "I-3"]

    # -- idempotency ------------------------------------------------------------------------------

    def test_idempotency_records_get_put_and_replace(self, store: Store) -> None:
        self.seed(store, "acme")
        first = IdempotencyRecord("acme", "reply", "m1", "f1", {"amount": {"amount": 30}})
        with store.transaction() as unit:
            assert unit.get_record("acme", "reply", "m1") is None
            unit.put_record(first)
        with store.transaction() as unit:
            assert unit.get_record("acme", "reply", "m1") == first
            assert unit.get_record("acme", "broadcast", "m1") is None  # scoped by kind
            assert unit.get_record("other", "reply", "m1") is None  # and by account
            replaced = attrs.evolve(first, fingerprint="f2", result={"session": "PAY-1"})
            unit.put_record(replaced)
            assert unit.get_record("acme", "reply", "m1") == replaced
        with store.transaction() as unit:
            assert unit.get_record("acme", "reply", "m1") == replaced

    def test_idempotency_records_read_and_written_by_the_batch(self, store: Store) -> None:
        """``get_records`` gives what ``get_record`` gives for each key, in one read, and
        ``put_records`` writes like ``put_record`` each record in order (R-VOL-1)."""
        self.seed(store, "acme")
        self.seed(store, "other")
        m1 = IdempotencyRecord("acme", "reply", "m1", "f1", {"n": 1})
        m2 = IdempotencyRecord("acme", "reply", "m2", "f2", {"n": 2})
        with store.transaction() as unit:
            assert unit.get_records("acme", "reply", ["m1", "m2"]) == {}
            assert unit.get_records("acme", "reply", []) == {}
            unit.put_records([m1, m2, IdempotencyRecord("other", "reply", "m1", "f9", {})])
            unit.put_records([])
            # Seen in the unit that wrote them, scoped by account and scope.
            assert unit.get_records("acme", "reply", ["m2", "m1", "m3"]) == {"m1": m1, "m2": m2}
        replaced = attrs.evolve(m2, fingerprint="f3", result={"n": 3})
        with store.transaction() as unit:
            assert unit.get_records("acme", "broadcast", ["m1", "m2"]) == {}
            assert unit.get_records("acme", "reply", ["m1", "m1"]) == {"m1": m1}
            unit.put_records([m2, replaced])  # in order: the last one stays
        many = [f"k{n}" for n in range(1200)]  # more keys than one statement binds
        with store.transaction() as unit:
            unit.put_records([IdempotencyRecord("acme", "bulk", k, "f", {"k": k}) for k in many])
        with store.snapshot() as view:
            assert view.get_records("acme", "reply", ["m1", "m2"]) == {"m1": m1, "m2": replaced}
            found = view.get_records("acme", "bulk", many)
            assert sorted(found) == sorted(many)
            assert all(found[k].result == {"k": k} for k in many)
        with pytest.raises(Boom), store.transaction() as unit:
            unit.put_records([IdempotencyRecord("acme", "reply", "m9", "f", {})])
            raise Boom
        with store.transaction() as unit:
            assert unit.get_records("acme", "reply", ["m9"]) == {}  # rolled back with the unit

    # -- values --------------------------------------------------------------------------------

    def test_values_come_back_equal(self, store: Store) -> None:
        """What a store returns equals what it was given, every field included."""
        account = attrs.evolve(
            make_account("acme"),
            profile=BillingProfile("PT Contoh", "billing@contoh.id", "Jl. Sudirman 1", "01.234"),
            pending={"INV-9": at(6, 7, 45).astimezone(JAKARTA)},
            addon_events=(AddOnEvent(at(2), "extra_user", AddOnEventKind.BOUGHT, 2, "INV-8"),),
        )
        invoice = full_invoice("INV-2025-01-000001", "acme")
        for field in attrs.fields(Invoice):
            value = getattr(invoice, field.name)
            assert value is not None and value != field.default, f"set {field.name}"
        entry = attrs.evolve(
            make_entry("acme", 1, at(2, 3, 4).astimezone(JAKARTA), kind=EntryKind.ADJUSTMENT),
            invoice_code="INV-2025-01-000001",
            reason="goodwill: outage on 2 Jan",
            key="adj-1",
        )
        record = IdempotencyRecord(
            "acme", "checkout", "k", "f" * 64, {"nested": [1, "two", None, {"x": True}]}
        )
        with store.transaction() as unit:
            unit.add_account(account)
            unit.add_invoice(invoice)
            unit.append_entries([entry])
            unit.put_record(record)
        with store.transaction() as unit:
            assert unit.get_account("acme") == account
            assert unit.get_invoice(invoice.code) == invoice
            assert ledger(unit, "acme") == [entry]
            assert unit.get_record("acme", "checkout", "k") == record
            updated = attrs.evolve(invoice, status=InvoiceStatus.REFUNDED, version=4)
            unit.update_invoice(updated)
        with store.transaction() as unit:
            assert unit.get_invoice(invoice.code) == updated

    # -- snapshots (R-CON-2) ----------------------------------------------------------------------

    def test_a_snapshot_sees_what_was_committed_before_it_opened_and_nothing_after(
        self, store: Store
    ) -> None:
        """One consistent view: writes committed while it is open stay invisible to it."""
        self.seed(store, "acme")
        first = make_invoice("INV-1", "acme", at(2))
        record = IdempotencyRecord("acme", "reply", "m1", "fp", {"n": 1})
        with store.transaction() as unit:
            unit.append_entries([make_entry("acme", 1, at(2))])
            unit.add_invoice(first)
            unit.put_record(record)
        with store.snapshot() as view:
            assert view.get_account("acme") == make_account("acme")
            with store.transaction() as unit:  # committed while the snapshot is open
                unit.add_account(make_account("late", due=at(1)))
                unit.update_account(
                    attrs.evolve(make_account("acme"), version=1, pending={"X": at(1)})
                )
                unit.append_entries([make_entry("acme", 2, at(3))])
                unit.add_invoice(make_invoice("INV-2", "acme", at(3)))
                unit.update_invoice(attrs.evolve(first, status=InvoiceStatus.PAID, version=1))
                unit.put_record(IdempotencyRecord("acme", "reply", "m1", "fp2", {"n": 2}))
                unit.put_record(IdempotencyRecord("acme", "reply", "m2", "fp", {}))
            assert view.get_account("acme") == make_account("acme")
            assert view.get_account("late") is None
            assert view.due_accounts(at(31), limit=10) == []
            assert ledger(view, "acme") == [make_entry("acme", 1, at(2))]
            assert view.get_invoice("INV-1") == first
            assert view.get_invoice("INV-2") is None
            assert invoices(view, "acme") == ["INV-1"]
            assert view.get_record("acme", "reply", "m1") == record
            assert view.get_record("acme", "reply", "m2") is None
        with store.snapshot() as view:  # a new snapshot sees all of it
            acme = view.get_account("acme")
            assert acme is not None and acme.version == 1
            assert view.due_accounts(at(31), limit=10) == ["acme", "late"]
            assert [e.seq for e in ledger(view, "acme")] == [2, 1]
            assert invoices(view, "acme") == ["INV-2", "INV-1"]
            paid = view.get_invoice("INV-1")
            assert paid is not None and paid.status is InvoiceStatus.PAID
            assert view.get_record("acme", "reply", "m2") is not None

    def test_a_write_through_a_snapshot_raises_store_error(self, store: Store) -> None:
        """Every write a unit of work has is refused by a snapshot, and changes nothing."""
        self.seed(store, "acme")
        with store.transaction() as unit:
            unit.add_invoice(make_invoice("INV-1", "acme", at(2)))
        writes: dict[str, tuple[Any, ...]] = {
            "add_account": (make_account("other"),),
            "update_account": (attrs.evolve(make_account("acme"), version=1),),
            "claim_due_account": (at(31),),
            "append_entries": ([make_entry("acme", 1, at(2))],),
            "next_invoice_number": (),
            "add_invoice": (make_invoice("INV-2", "acme", at(2)),),
            "update_invoice": (
                attrs.evolve(
                    make_invoice("INV-1", "acme", at(2)), status=InvoiceStatus.PAID, version=1
                ),
            ),
            "put_record": (IdempotencyRecord("acme", "reply", "m1", "fp", {}),),
            "put_records": ([IdempotencyRecord("acme", "reply", "m1", "fp", {})],),
            "add_events": ([event("acme", 1)],),
            "claim_events": (),
            "mark_delivered": (["1"],),
            "release_events": (["1"],),
            "prune_events": (at(31),),
        }
        with store.snapshot() as view:
            for name, args in writes.items():
                write = getattr(view, name, None)
                if write is None:
                    continue  # a snapshot without the method cannot write either
                with pytest.raises(StoreError):
                    write(*args)
            assert view.get_account("acme") == make_account("acme")  # still usable
        with store.transaction() as unit:
            assert unit.get_account("other") is None
            assert unit.get_account("acme") == make_account("acme")
            assert ledger(unit, "acme") == []
            assert unit.get_invoice("INV-2") is None
            invoice = unit.get_invoice("INV-1")
            assert invoice is not None and invoice.status is InvoiceStatus.PENDING
            assert unit.get_record("acme", "reply", "m1") is None
            assert unit.next_invoice_number() == 1

    def test_a_snapshot_does_not_wait_for_an_open_unit_of_work(self, store: Store) -> None:
        """While one thread holds a unit of work (and so the write lock, in a store that has
        one), a snapshot in another thread opens and reads at once, seeing only what was
        committed; so does one opened in the thread that holds the unit."""
        self.seed(store, "acme")
        seen: list[Any] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                with store.snapshot() as view:
                    seen.append((view.get_account("acme"), view.get_account("new")))
            except BaseException as exc:  # reported to the main thread
                errors.append(exc)

        with store.transaction() as unit:
            unit.add_account(make_account("new"))
            unit.update_account(attrs.evolve(make_account("acme"), version=1))
            reader = threading.Thread(target=read)
            reader.start()
            # Joined while the unit is still open: a snapshot that waited for it would time
            # out here (and the unit's commit would then let it finish, too late).
            reader.join(timeout=30)
            finished = not reader.is_alive()
            with store.snapshot() as view:  # the same thread, its unit still open
                assert view.get_account("acme") == make_account("acme")
                assert view.get_account("new") is None
        reader.join()
        assert errors == []
        assert finished, "the snapshot waited for the unit of work to end"
        assert seen == [(make_account("acme"), None)]

    # -- events (the outbox, R-EVT) ----------------------------------------------------------------

    def add(self, store: Store, *events: DomainEvent) -> list[DomainEvent]:
        """Store ``events`` in one unit; return them as stored (with their ids), in order."""
        accounts_ = {e.account_id for e in events}
        with store.transaction() as unit:
            before = {a: len(feed(unit, a)) for a in accounts_}
            unit.add_events(events)
        with store.transaction() as unit:
            added = {a: iter(feed(unit, a)[before[a] :]) for a in accounts_}
        stored = [next(added[e.account_id]) for e in events]
        assert [attrs.evolve(e, id="") for e in stored] == list(events)
        return stored

    def claim(
        self, store: Store, owner: str, now: datetime, *, limit: int = 100, lease: int = 60
    ) -> list[DomainEvent]:
        with store.transaction() as unit:
            return unit.claim_events(
                owner=owner, now=now, lease_until=now + timedelta(seconds=lease), limit=limit
            )

    def deliver(self, store: Store, events: list[DomainEvent], when: datetime) -> None:
        with store.transaction() as unit:
            unit.mark_delivered([e.id for e in events], at=when)

    def test_a_snapshot_reads_the_events_committed_before_it_opened(self, store: Store) -> None:
        [first] = self.add(store, event("acme", 1))
        with store.snapshot() as view:
            self.add(store, event("acme", 2))
            assert feed(view, "acme") == [first]
        with store.snapshot() as view:
            assert [e.facts["invoice_code"] for e in feed(view, "acme")] == ["INV-1", "INV-2"]

    def test_events_commit_with_their_unit_and_roll_back_with_it(self, store: Store) -> None:
        """R-EVT-1: a change never commits without its events, nor an event without its
        change; what comes back equals what went in, with a store-unique id."""
        self.seed(store, "acme")
        with pytest.raises(Boom), store.transaction() as unit:
            unit.update_account(attrs.evolve(make_account("acme"), version=1))
            unit.add_events([event("acme", 1), event("acme", 2)])
            raise Boom
        with store.transaction() as unit:
            assert feed(unit, "acme") == []
            assert unit.claim_events(owner="x", now=at(5), lease_until=at(6), limit=10) == []
        with store.transaction() as unit:
            unit.update_account(attrs.evolve(make_account("acme"), version=1))
            unit.add_events([event("acme", 3), event("acme", 4)])
            assert [e.facts for e in feed(unit, "acme")] == [event("acme", n).facts for n in (3, 4)]
        with store.transaction() as unit:
            assert unit.get_account("acme") == attrs.evolve(make_account("acme"), version=1)
            stored = feed(unit, "acme")
        assert [attrs.evolve(e, id="") for e in stored] == [event("acme", 3), event("acme", 4)]
        ids = [e.id for e in stored]
        assert all(isinstance(i, str) and i for i in ids) and len(set(ids)) == 2

    def test_event_ids_are_never_given_twice_not_even_after_pruning(self, store: Store) -> None:
        first = self.add(store, *(event("acme", n) for n in range(3)))
        self.deliver(store, self.claim(store, "x", at(10)), at(10))
        with store.transaction() as unit:
            assert unit.prune_events(at(31), limit=100) == 3
            assert feed(unit, "acme") == []
        later = self.add(store, event("acme", 9))
        assert len(later) == 1 and later[0].id not in {e.id for e in first}

    def test_the_feed_is_oldest_first_per_account_and_paged(self, store: Store) -> None:
        for n in range(7):
            self.add(store, event("acme" if n % 3 else "beta", n))
        self.deliver(store, self.claim(store, "x", at(10), limit=2), at(10))
        with store.transaction() as unit:
            acme = all_pages(
                lambda limit, cursor: unit.event_page("acme", cursor=cursor, limit=limit), 2
            )
            beta = all_pages(
                lambda limit, cursor: unit.event_page("beta", cursor=cursor, limit=limit), 1
            )
            whole = unit.event_page("acme", cursor=None, limit=50)
        assert [e.facts["invoice_code"] for e in acme] == [f"INV-{n}" for n in (1, 2, 4, 5)]
        assert [e.facts["invoice_code"] for e in beta] == [f"INV-{n}" for n in (0, 3, 6)]
        assert whole.items == tuple(acme) and whole.next_cursor is None

    def test_pending_events_are_claimed_oldest_first_one_page_at_a_time(self, store: Store) -> None:
        """A claim leases a page of pending events; leased ones are not handed to another
        claimer until delivered, released or the lease ends."""
        stored = self.add(store, *(event(f"acct-{n}", n) for n in range(5)))
        ids = [e.id for e in stored]
        first = self.claim(store, "x", at(10), limit=2)
        assert [e.id for e in first] == ids[:2]
        assert first == stored[:2]
        second = self.claim(store, "y", at(10), limit=2)
        assert [e.id for e in second] == ids[2:4]
        assert [e.id for e in self.claim(store, "z", at(10), limit=5)] == ids[4:]
        assert self.claim(store, "w", at(10), limit=5) == []
        # The leases (60 s) end: every event not delivered is handed over again, in order.
        self.deliver(store, second, at(10))
        later = at(10) + timedelta(seconds=60)
        assert [e.id for e in self.claim(store, "w", later, limit=5)] == [*ids[:2], ids[4]]

    def test_delivered_events_are_never_handed_out_again_released_ones_are(
        self, store: Store
    ) -> None:
        stored = self.add(store, *(event("acme", n) for n in range(3)))
        ids = [e.id for e in stored]
        claimed = self.claim(store, "x", at(10), limit=2)
        self.deliver(store, claimed, at(10))
        self.deliver(store, claimed, at(11))  # twice changes nothing
        [third] = self.claim(store, "y", at(10))
        assert third.id == ids[2]
        with store.transaction() as unit:
            unit.release_events([third.id], owner="y")  # the sink failed
        assert [e.id for e in self.claim(store, "z", at(10))] == [ids[2]]
        assert self.claim(store, "w", at(10) + timedelta(seconds=59)) == []  # leased to z
        assert [e.id for e in self.claim(store, "w", at(10, 1))] == [ids[2]]

    def test_a_rolled_back_claim_leases_nothing(self, store: Store) -> None:
        [first] = self.add(store, event("acme", 1))
        [held] = self.claim(store, "x", at(10), lease=60)
        with pytest.raises(Boom), store.transaction() as unit:
            later = at(10) + timedelta(seconds=61)  # x's lease ended: y takes it, then fails
            claimed = unit.claim_events(owner="y", now=later, lease_until=at(20), limit=5)
            assert claimed == [first]
            raise Boom
        # The lease is x's again, as before the rolled-back claim, and ends as it did.
        assert self.claim(store, "z", at(10) + timedelta(seconds=30)) == []
        assert self.claim(store, "z", at(10) + timedelta(seconds=61)) == [held]

    def test_a_release_by_an_owner_whose_lease_ended_leaves_the_new_lease(
        self, store: Store
    ) -> None:
        self.add(store, event("acme", 1))
        [mine] = self.claim(store, "x", at(10), lease=60)
        [again] = self.claim(store, "y", at(10) + timedelta(seconds=61), lease=60)
        assert again.id == mine.id
        with store.transaction() as unit:
            unit.release_events([mine.id], owner="x")
        assert self.claim(store, "z", at(10) + timedelta(seconds=62)) == []

    def test_an_accounts_later_events_wait_while_an_older_one_is_leased(self, store: Store) -> None:
        """In order per account, even with several deliverers: while one of them holds an
        account's older event, no other is handed that account's later events."""
        a1, b1, a2, b2 = self.add(store, event("a", 1), event("b", 2), event("a", 3), event("b", 4))
        assert self.claim(store, "x", at(10), limit=1) == [a1]
        assert self.claim(store, "y", at(10)) == [b1, b2]
        with store.transaction() as unit:
            unit.release_events([b1.id, b2.id], owner="y")
        assert self.claim(store, "z", at(10)) == [b1, b2]
        self.deliver(store, [a1], at(10))
        assert self.claim(store, "y", at(10) + timedelta(seconds=30)) == [a2]

    def test_concurrent_claimers_never_get_the_same_event(self, store: Store) -> None:
        """Four threads claim and deliver pages until none is left: every event is handed
        over exactly once."""
        total = 120
        for start in range(0, total, 20):
            self.add(store, *(event(f"acct-{n % 7}", n) for n in range(start, start + 20)))
        got: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work(owner: str) -> None:
            try:
                while True:
                    try:
                        page = self.claim(store, owner, at(10), limit=7, lease=3600)
                        if not page:
                            return
                        with lock:
                            got.extend(e.id for e in page)
                        self.deliver(store, page, at(10))
                    except ConcurrencyConflict:
                        continue
            except BaseException as exc:  # reported to the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(f"owner-{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(got) == total and len(set(got)) == total

    def test_pruning_deletes_delivered_events_before_a_time_only(self, store: Store) -> None:
        old = [attrs.evolve(event("acme", n), at=at(2)) for n in range(4)]
        new = attrs.evolve(event("acme", 9), at=at(20))
        stored = self.add(store, *old, new)
        delivered = [e for e in stored if e.facts["invoice_code"] in ("INV-0", "INV-1", "INV-2")]
        self.deliver(store, [*delivered, stored[-1]], at(21))
        with store.transaction() as unit:
            assert unit.prune_events(at(10), limit=2) == 2
        with store.transaction() as unit:
            assert unit.prune_events(at(10), limit=100) == 1
            assert unit.prune_events(at(10), limit=100) == 0
        with store.transaction() as unit:
            left = [e.facts["invoice_code"] for e in feed(unit, "acme")]
        assert left == ["INV-3", "INV-9"]  # INV-3 is pending, INV-9 is newer

    # -- usage totals (R-VOL-3) --------------------------------------------------------------

    def test_usage_totals_add_up_per_day_balance_and_kind(self, store: Store) -> None:
        """Totals of one (account, day, balance, kind) add up across units; reads give the
        days ``since <= day < until`` in (day, balance, kind) order, one balance when asked,
        one account only."""
        self.seed(store, "acme", "beta")
        jan = [date(2025, 1, d) for d in (1, 2, 3)]
        with store.transaction() as unit:
            unit.add_usage(
                "acme",
                [
                    day_total(jan[0], EntryKind.REPLY, 2, -60),
                    day_total(jan[0], EntryKind.GRANT, 0, 15_000),
                    day_total(jan[1], EntryKind.BROADCAST, 3, -1_950, Balance.BROADCAST),
                ],
            )
            unit.add_usage("beta", [day_total(jan[0], EntryKind.REPLY, 9, -270)])
        with store.transaction() as unit:
            unit.add_usage(
                "acme",
                [day_total(jan[0], EntryKind.REPLY, 5, -150), day_total(jan[2], EntryKind.REPLY)],
            )
        with store.transaction() as unit:
            everything = unit.usage_totals("acme", since=jan[0], until=jan[2], balance=None)
            broadcast = unit.usage_totals(
                "acme", since=jan[0], until=date(2025, 2, 1), balance=Balance.BROADCAST
            )
            later = unit.usage_totals("acme", since=jan[2], until=date(2025, 1, 4), balance=None)
        assert everything == [
            day_total(jan[0], EntryKind.GRANT, 0, 15_000),
            day_total(jan[0], EntryKind.REPLY, 7, -210),
            day_total(jan[1], EntryKind.BROADCAST, 3, -1_950, Balance.BROADCAST),
        ]
        assert broadcast == [day_total(jan[1], EntryKind.BROADCAST, 3, -1_950, Balance.BROADCAST)]
        assert later == [day_total(jan[2], EntryKind.REPLY)]

    def test_usage_totals_commit_with_their_unit_and_roll_back_with_it(self, store: Store) -> None:
        self.seed(store, "acme")
        day = date(2025, 1, 5)
        with store.transaction() as unit:
            unit.add_usage("acme", [day_total(day, EntryKind.REPLY, 1, -30)])
        with pytest.raises(Boom), store.transaction() as unit:
            unit.add_usage("acme", [day_total(day, EntryKind.REPLY, 4, -120)])
            # A unit reads its own additions.
            mine = unit.usage_totals("acme", since=day, until=date(2025, 1, 6), balance=None)
            assert mine == [day_total(day, EntryKind.REPLY, 5, -150)]
            raise Boom
        with store.snapshot() as view:
            kept = view.usage_totals("acme", since=day, until=date(2025, 1, 6), balance=None)
        assert kept == [day_total(day, EntryKind.REPLY, 1, -30)]

    def test_a_snapshot_refuses_to_add_usage(self, store: Store) -> None:
        self.seed(store, "acme")
        with store.snapshot() as view, pytest.raises(StoreError):
            view.add_usage("acme", [day_total(date(2025, 1, 5), EntryKind.REPLY)])  # type: ignore[attr-defined]

    # -- the facade on this store ----------------------------------------------------------------

    def test_billing_runs_end_to_end_on_the_store(self, store: Store) -> None:
        """Open, top up, pay, charge replies (with a replay), advance a month: the balances
        always equal the ledger's sums (R-BAL-8)."""
        from subkit.service import Billing, PaymentEvent

        clock = FixedClock(datetime(2025, 1, 10, 3, tzinfo=UTC))
        sink = RecordingSink()
        billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock, events=sink)

        def conserved() -> None:
            entries = all_pages(
                lambda limit, cursor: billing.usage_history("acme", limit=limit, cursor=cursor),
                7,
            )
            balances = billing.balances("acme")
            for balance, money in (
                (Balance.CONVERSATION, balances.conversation),
                (Balance.BROADCAST, balances.broadcast),
            ):
                total = sum(e.amount.amount for e in entries if e.balance == balance)
                assert money == idr(total)

        billing.open_account("acme")
        with pytest.raises(AccountExists):
            billing.open_account("acme")
        billing.set_billing_profile("acme", BillingProfile("PT Contoh", "billing@contoh.id"))
        checkout = billing.top_up("acme", Balance.CONVERSATION, 50_000, idempotency_key="t1")
        assert checkout.invoice is not None and checkout.payment is not None
        code = checkout.invoice.code
        again = billing.top_up("acme", Balance.CONVERSATION, 50_000, idempotency_key="t1")
        assert again == checkout
        paid = billing.apply_payment(
            PaymentEvent(code, PaymentStatus.PAID, "PAY-1", checkout.invoice.total, event_id="e1")
        )
        assert paid.status is InvoiceStatus.PAID
        assert billing.balances("acme").conversation == idr(65_000)
        charge = billing.charge_replies("acme", 10, key="m1")
        assert charge.amount == idr(300)
        assert billing.charge_replies("acme", 10, key="m1") == charge
        assert billing.balances("acme").conversation == idr(64_700)
        conserved()
        assert [i.code for i in billing.invoices("acme").items] == [code]
        top_ups = billing.topup_history("acme").items
        assert [(e.kind, e.invoice_code) for e in top_ups] == [(EntryKind.TOP_UP, code)]
        clock.set(datetime(2025, 2, 12, tzinfo=UTC))
        report = billing.advance()
        assert report.accounts == ("acme",)
        assert billing.advance().accounts == ()  # idempotent
        conserved()
        kinds = [e.kind for e in billing.usage_history("acme", limit=3).items]
        assert kinds == [EntryKind.GRANT, EntryKind.EXPIRY, EntryKind.REPLY]
        assert "invoice.paid" in sink.names()


__all__ = ["StoreContract"]
