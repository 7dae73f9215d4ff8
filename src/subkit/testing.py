"""Fakes of every port, for hosts' tests and subkit's own: ``InMemoryStore``, ``FakeGateway``,
``FixedClock``, ``RecordingSink``, ``StaticUsage``.

The in-memory store has real transactional semantics: a unit of work sees its own writes,
commits them all at once or none, and detects conflicting concurrent commits through the
aggregates' versions (optimistic locking), as a database store would.

The port fakes other than the store live in :mod:`subkit.fakes` and are re-exported here.
``StoreContract``, the store contract suite, lives in :mod:`subkit.contract` (it needs
pytest) and is reachable here too, imported only when asked for, so importing
``subkit.testing`` never imports pytest. ``subkit.contract`` imports the fakes from
:mod:`subkit.fakes`, never this module: the two do not import each other.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import NoReturn

import attrs

from subkit import paging
from subkit.account import Account
from subkit.errors import AccountExists, ConcurrencyConflict, StoreError
from subkit.events import DomainEvent
from subkit.fakes import FakeGateway, FixedClock, RecordingSink, StaticUsage
from subkit.idempotency import IdempotencyRecord
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType
from subkit.money import Money
from subkit.paging import Page, instant_us
from subkit.views import DayTotal
from subkit.wallet import Balance, EntryKind, LedgerEntry


@attrs.define
class _State:
    accounts: dict[str, Account] = attrs.field(factory=dict)
    invoices: dict[str, Invoice] = attrs.field(factory=dict)
    invoice_order: dict[str, list[str]] = attrs.field(factory=dict)
    ledger: dict[str, list[LedgerEntry]] = attrs.field(factory=dict)
    records: dict[tuple[str, str, str], IdempotencyRecord] = attrs.field(factory=dict)
    sequence: int = 0
    # Day totals per account: {(day, balance, kind): (count, amount, currency)}. Commits
    # replace an account's dict rather than change it, so snapshots keep theirs.
    usage: dict[str, dict[tuple[date, Balance, EntryKind], tuple[int, int, str]]] = attrs.field(
        factory=dict
    )
    # The outbox: every stored event by its integer id (dicts keep insertion order, which is
    # id order), and the delivery state of the pending ones.
    events: dict[int, DomainEvent] = attrs.field(factory=dict)
    delivered: dict[int, datetime] = attrs.field(factory=dict)
    leases: dict[int, tuple[str, datetime]] = attrs.field(factory=dict)
    event_ids: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))
    lock: threading.Lock = attrs.field(factory=threading.Lock)


class _MemoryUnit:
    """Reads through to the committed state; buffers writes until commit."""

    def __init__(self, state: _State) -> None:
        self._state = state
        self.accounts: dict[str, Account] = {}
        self.account_bases: dict[str, int | None] = {}
        self.invoices: dict[str, Invoice] = {}
        self.invoice_bases: dict[str, int | None] = {}
        self.entries: list[LedgerEntry] = []
        self.records: dict[tuple[str, str, str], IdempotencyRecord] = {}
        self.usage: list[tuple[str, DayTotal]] = []
        self.sequence_base = state.sequence
        self.sequence_used = 0
        self.events: dict[int, DomainEvent] = {}
        self.claimed: dict[int, tuple[str, datetime] | None] = {}  # undo of this unit's claims
        self.delivered: dict[int, datetime] = {}
        self.released: dict[int, str] = {}
        self.pruned: list[int] = []

    # accounts
    def get_account(self, account_id: str) -> Account | None:
        if account_id in self.accounts:
            return self.accounts[account_id]
        return self._state.accounts.get(account_id)

    def add_account(self, account: Account) -> None:
        if self.get_account(account.account_id) is not None:
            raise AccountExists(
                f"account {account.account_id!r} exists", account_id=account.account_id
            )
        self.account_bases.setdefault(account.account_id, None)
        self.accounts[account.account_id] = account

    def update_account(self, account: Account) -> None:
        current = self.get_account(account.account_id)
        if current is None or current.version != account.version - 1:
            raise ConcurrencyConflict(f"account {account.account_id!r} changed meanwhile")
        self.account_bases.setdefault(account.account_id, current.version)
        self.accounts[account.account_id] = account

    def due_accounts(self, until: datetime, *, limit: int) -> list[str]:
        # A fake: it scans, where a real store reads an index on (due_at, account_id).
        merged = {**self._state.accounts, **self.accounts}
        due = sorted(
            (account.due_at, account_id)
            for account_id, account in merged.items()
            if account.due_at <= until
        )
        return [account_id for _, account_id in due[:limit]]

    def claim_due_account(self, until: datetime, *, skip: Collection[str] = ()) -> Account | None:
        # Units here are optimistic: two claiming one account both get it, and the second to
        # commit gets ConcurrencyConflict (the facade retries; the account is no longer due).
        # The account is read again after the due list: another unit may have brought it up
        # to date in between (PostgreSQL re-checks the locked row the same way).
        for account_id in self.due_accounts(until, limit=len(self._state.accounts) + 1):
            account = self.get_account(account_id)
            if account_id not in skip and account is not None and account.due_at <= until:
                return account
        return None

    # ledger
    def append_entries(self, entries: Sequence[LedgerEntry]) -> None:
        self.entries.extend(entries)

    def _all_entries(self, account_id: str) -> list[LedgerEntry]:
        mine = [e for e in self.entries if e.account_id == account_id]
        return self._state.ledger.get(account_id, []) + mine

    def ledger_page(
        self,
        account_id: str,
        *,
        balance: Balance | None,
        kind: EntryKind | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[LedgerEntry]:
        query = paging.ledger_query(
            account_id, balance=balance, kind=kind, since=since, until=until
        )
        position = query.position(cursor, 2)
        items: list[LedgerEntry] = []
        for entry in reversed(self._all_entries(account_id)):
            if position is not None and (instant_us(entry.at), entry.seq) >= position:
                continue
            if balance is not None and entry.balance != balance:
                continue
            if kind is not None and entry.kind != kind:
                continue
            if since is not None and entry.at < since:
                continue
            if until is not None and entry.at >= until:
                continue
            items.append(entry)
        # Entries are appended in (at, seq) order per account, but a late-dated expiry can be
        # written after a later entry; sort the page's candidates to honour the contract.
        items.sort(key=lambda e: (e.at, e.seq), reverse=True)
        page = items[:limit]
        more = len(items) > limit
        next_cursor = None
        if more and page:
            next_cursor = query.encode(instant_us(page[-1].at), page[-1].seq)
        return Page(tuple(page), next_cursor)

    # usage totals
    def add_usage(self, account_id: str, totals: Sequence[DayTotal]) -> None:
        self.usage.extend((account_id, total) for total in totals)

    def usage_totals(
        self, account_id: str, *, since: date, until: date, balance: Balance | None
    ) -> list[DayTotal]:
        # A fake: it walks the account's totals, where a real store reads an index range.
        sums = dict(self._state.usage.get(account_id, {}))
        _add_usage(sums, (total for owner, total in self.usage if owner == account_id))
        return [
            DayTotal(day, kind_balance, kind, count, Money(amount, currency))
            for (day, kind_balance, kind), (count, amount, currency) in sorted(sums.items())
            if since <= day < until and (balance is None or kind_balance == balance)
        ]

    # invoices
    def next_invoice_number(self) -> int:
        self.sequence_used += 1
        return self.sequence_base + self.sequence_used

    def get_invoice(self, code: str) -> Invoice | None:
        if code in self.invoices:
            return self.invoices[code]
        return self._state.invoices.get(code)

    def add_invoice(self, invoice: Invoice) -> None:
        if self.get_invoice(invoice.code) is not None:
            raise StoreError(f"invoice code {invoice.code!r} is already used")
        self.invoice_bases.setdefault(invoice.code, None)
        self.invoices[invoice.code] = invoice

    def update_invoice(self, invoice: Invoice) -> None:
        current = self.get_invoice(invoice.code)
        if current is None or current.version != invoice.version - 1:
            raise ConcurrencyConflict(f"invoice {invoice.code!r} changed meanwhile")
        self.invoice_bases.setdefault(invoice.code, current.version)
        self.invoices[invoice.code] = invoice

    def pending_invoices(self, requested_before: datetime, *, limit: int) -> list[Invoice]:
        # A fake: it scans, where a real store reads an index on (status, requested_at).
        merged = {**self._state.invoices, **self.invoices}
        pending = sorted(
            (invoice.requested_at, code, invoice)
            for code, invoice in merged.items()
            if invoice.status is InvoiceStatus.PENDING and invoice.requested_at < requested_before
        )
        return [invoice for _, _, invoice in pending[:limit]]

    def invoice_page(
        self,
        account_id: str,
        *,
        type: InvoiceType | None,
        status: InvoiceStatus | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Invoice]:
        codes = list(self._state.invoice_order.get(account_id, []))
        codes += [
            c for c, i in self.invoices.items() if i.account_id == account_id and c not in codes
        ]
        invoices = [inv for inv in (self.get_invoice(c) for c in codes) if inv is not None]
        ranked = sorted(enumerate(invoices), key=lambda p: (p[1].requested_at, p[0]), reverse=True)
        query = paging.invoice_query(account_id, type=type, status=status, since=since, until=until)
        position = query.position(cursor, 2)
        items: list[tuple[int, Invoice]] = []
        for order, invoice in ranked:
            if position is not None and (instant_us(invoice.requested_at), order) >= position:
                continue
            if type is not None and invoice.type != type:
                continue
            if status is not None and invoice.status != status:
                continue
            if since is not None and invoice.requested_at < since:
                continue
            if until is not None and invoice.requested_at >= until:
                continue
            items.append((order, invoice))
        page = items[:limit]
        more = len(items) > limit
        next_cursor = None
        if more and page:
            next_cursor = query.encode(instant_us(page[-1][1].requested_at), page[-1][0])
        return Page(tuple(invoice for _, invoice in page), next_cursor)

    # idempotency
    def get_record(self, account_id: str, scope: str, key: str) -> IdempotencyRecord | None:
        found = self.records.get((account_id, scope, key))
        return found if found is not None else self._state.records.get((account_id, scope, key))

    def get_records(
        self, account_id: str, scope: str, keys: Collection[str]
    ) -> dict[str, IdempotencyRecord]:
        found = ((key, self.get_record(account_id, scope, key)) for key in keys)
        return {key: record for key, record in found if record is not None}

    def put_record(self, record: IdempotencyRecord) -> None:
        self.records[(record.account_id, record.scope, record.key)] = record

    def put_records(self, records: Sequence[IdempotencyRecord]) -> None:
        for record in records:
            self.put_record(record)

    # events
    def add_events(self, events: Sequence[DomainEvent]) -> None:
        # Ids come from the store-wide counter at insert (as a database sequence would);
        # one a rolled-back unit took is never given again.
        with self._state.lock:
            for event in events:
                number = next(self._state.event_ids)
                self.events[number] = attrs.evolve(event, id=str(number))

    def claim_events(
        self, *, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[DomainEvent]:
        # Claims take effect at once under the store's lock (a database would hold the rows
        # locked until commit); a rolled-back unit gives its claims back.
        state = self._state
        claimed: list[DomainEvent] = []
        blocked: set[str] = set()
        with state.lock:
            for number, event in state.events.items():
                if len(claimed) >= limit:
                    break
                if number in state.delivered or event.account_id in blocked:
                    continue
                lease = state.leases.get(number)
                if lease is not None and lease[1] > now and lease[0] != owner:
                    blocked.add(event.account_id)  # an older event of it is being delivered
                    continue
                self.claimed.setdefault(number, lease)
                state.leases[number] = (owner, lease_until)
                claimed.append(event)
        return claimed

    def undo_claims(self) -> None:
        with self._state.lock:
            for number, before in self.claimed.items():
                if before is None:
                    self._state.leases.pop(number, None)
                else:
                    self._state.leases[number] = before

    def mark_delivered(self, ids: Sequence[str], *, at: datetime) -> None:
        for text in ids:
            self.delivered.setdefault(int(text), at)

    def release_events(self, ids: Sequence[str], *, owner: str) -> None:
        for text in ids:
            self.released[int(text)] = owner

    def _merged_events(self) -> dict[int, DomainEvent]:
        merged = {**self._state.events, **self.events}
        for number in self.pruned:
            merged.pop(number, None)
        return merged

    def event_page(self, account_id: str, *, cursor: str | None, limit: int) -> Page[DomainEvent]:
        # A fake: it scans, where a real store reads an index on (account_id, id).
        query = paging.event_query(account_id)
        after = (query.position(cursor, 1) or (0,))[0]
        items = [
            event
            for number, event in sorted(self._merged_events().items())
            if number > after and event.account_id == account_id
        ]
        page = items[:limit]
        more = len(items) > limit
        return Page(tuple(page), query.encode(int(page[-1].id)) if more and page else None)

    def prune_events(self, before: datetime, *, limit: int) -> int:
        state = self._state
        with state.lock:
            doomed = [
                number
                for number, event in state.events.items()
                if number in state.delivered and event.at < before and number not in self.pruned
            ][:limit]
        self.pruned.extend(doomed)
        return len(doomed)


def _add_usage(
    sums: dict[tuple[date, Balance, EntryKind], tuple[int, int, str]],
    totals: Iterable[DayTotal],
) -> None:
    for total in totals:
        where = (total.day, total.balance, total.kind)
        count, amount, _ = sums.get(where, (0, 0, total.amount.currency))
        sums[where] = (count + total.count, amount + total.amount.amount, total.amount.currency)


class _SnapshotUnit(_MemoryUnit):
    """A unit over a frozen copy of the committed state whose writes all raise StoreError."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise StoreError("a snapshot is read-only; write through store.transaction()")

    add_account = update_account = append_entries = claim_due_account = add_usage = _refuse
    next_invoice_number = add_invoice = update_invoice = put_record = put_records = _refuse
    add_events = claim_events = mark_delivered = release_events = prune_events = _refuse


class InMemoryStore:
    """A ``Store`` in a process's memory, with all-or-nothing commits and optimistic locks."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[_MemoryUnit]:
        unit = _MemoryUnit(self._state)
        try:
            yield unit
            self._commit(unit)
        except BaseException:
            unit.undo_claims()
            raise

    def _commit(self, unit: _MemoryUnit) -> None:
        state = self._state
        with self._lock:
            for account_id, base in unit.account_bases.items():
                stored = state.accounts.get(account_id)
                if (stored.version if stored else None) != base:
                    raise ConcurrencyConflict(f"account {account_id!r} changed meanwhile")
            for code, base in unit.invoice_bases.items():
                stored_invoice = state.invoices.get(code)
                if (stored_invoice.version if stored_invoice else None) != base:
                    raise ConcurrencyConflict(f"invoice {code!r} changed meanwhile")
            if unit.sequence_used and state.sequence != unit.sequence_base:
                raise ConcurrencyConflict("the invoice sequence moved meanwhile")
            # The per-account lists are replaced, never appended to in place, so that a
            # snapshot's shallow copy of the dicts keeps seeing them as they were.
            state.accounts.update(unit.accounts)
            for code, invoice in unit.invoices.items():
                if code not in state.invoices:
                    order = state.invoice_order.get(invoice.account_id, [])
                    state.invoice_order[invoice.account_id] = [*order, code]
                state.invoices[code] = invoice
            appended: dict[str, list[LedgerEntry]] = {}
            for entry in unit.entries:
                appended.setdefault(entry.account_id, []).append(entry)
            for account_id, entries in appended.items():
                state.ledger[account_id] = state.ledger.get(account_id, []) + entries
            state.records.update(unit.records)
            for account_id in {owner for owner, _ in unit.usage}:
                sums = dict(state.usage.get(account_id, {}))
                _add_usage(sums, (total for owner, total in unit.usage if owner == account_id))
                state.usage[account_id] = sums
            state.sequence += unit.sequence_used
            self._commit_events(unit)

    def _commit_events(self, unit: _MemoryUnit) -> None:
        state = self._state
        with state.lock:
            state.events.update(unit.events)
            for number, at in unit.delivered.items():
                if number in state.events:
                    state.delivered.setdefault(number, at)
                    state.leases.pop(number, None)
            for number, owner in unit.released.items():
                lease = state.leases.get(number)
                if lease is not None and lease[0] == owner:
                    del state.leases[number]
            for number in unit.pruned:
                if number in state.delivered:
                    del state.events[number], state.delivered[number]

    @contextmanager
    def snapshot(self) -> Iterator[_SnapshotUnit]:
        """A read-only view of the state committed when it opens (``Store.snapshot``).

        The lock is held only to copy the dicts' references (commits replace the lists they
        change rather than mutate them), never while reading.
        """
        state = self._state
        with self._lock:
            frozen = _State(
                accounts=dict(state.accounts),
                invoices=dict(state.invoices),
                invoice_order=dict(state.invoice_order),
                ledger=dict(state.ledger),
                records=dict(state.records),
                sequence=state.sequence,
                usage=dict(state.usage),
            )
            with state.lock:
                frozen.events = dict(state.events)
        yield _SnapshotUnit(frozen)


def __getattr__(name: str) -> object:
    # The contract suite imports pytest; load it only for hosts that ask for it.
    if name == "StoreContract":
        from subkit.contract import StoreContract

        return StoreContract
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FakeGateway",
    "FixedClock",
    "InMemoryStore",
    "RecordingSink",
    "StaticUsage",
    "StoreContract",  # noqa: F822 - provided lazily by __getattr__
]
