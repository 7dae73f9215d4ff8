"""The ports a host plugs in: Store, PaymentGateway, Clock, EventSink and UsageSource.

Each is a :class:`typing.Protocol`: implement the methods, inherit from nothing. The docstrings
are the contracts; :mod:`subkit.testing` ships a fake of each, and
``subkit.testing.StoreContract`` (defined in :mod:`subkit.contract`) is the store contract
suite a host runs against its own store.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import attrs

from subkit.account import Account
from subkit.events import DomainEvent
from subkit.idempotency import IdempotencyRecord
from subkit.invoice import (
    BillingProfile,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    PaymentSession,
    PaymentStatus,
)
from subkit.money import Money
from subkit.paging import Page
from subkit.plans import Usage
from subkit.views import DayTotal
from subkit.wallet import Balance, EntryKind, LedgerEntry


@attrs.frozen
class PaymentRequest:
    """What subkit asks a gateway to collect. ``invoice_code`` is safe as an order id."""

    invoice_code: str
    account_id: str
    amount: Money
    description: str
    expires_at: datetime
    billing_profile: BillingProfile | None
    #: When the invoice was requested: a gateway counts its payment window from here
    #: (never from its own clock), so the window ends at ``expires_at``.
    requested_at: datetime | None = None


@attrs.frozen
class PaymentEvent:
    """What a gateway reported about the payment of ``invoice_code`` (R-INV-4).

    Gateway adapters build these from verified notifications; ``Billing.apply_payment``
    applies them. ``event_id`` identifies one status change at the gateway (replays of it
    change nothing); ``at`` is when the gateway says it happened.
    """

    invoice_code: str
    status: PaymentStatus
    reference: str
    amount: Money
    event_id: str | None = None
    at: datetime | None = None


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time, timezone-aware. The only source of time subkit uses."""
        ...


@runtime_checkable
class PaymentGateway(Protocol):
    def create_payment(self, request: PaymentRequest) -> PaymentSession:
        """Open a payment for ``request`` and return where the customer pays.

        Called after the invoice is committed, outside any store transaction. It may raise
        any exception: the invoice stays ``pending`` and the host can retry the checkout with
        the same idempotency key. It must be safe to call twice for one ``invoice_code`` (use
        the code as the gateway's order id so the gateway dedupes).
        """
        ...


@runtime_checkable
class ReconcilingGateway(PaymentGateway, Protocol):
    """A gateway that can also be asked about, and told to cancel, a payment (R-GW-3/4).

    Optional: ``billing.reconcile`` and the cancelling of a dead invoice's payment use it
    when ``isinstance(gateway, ReconcilingGateway)``; a plain ``PaymentGateway`` still works.
    """

    def status(self, invoice_code: str, reference: str | None = None) -> PaymentEvent | None:
        """What the gateway knows now about the payment of ``invoice_code``, as the event its
        notification would have carried, or ``None`` when nothing final happened (no
        transaction yet, still pending). ``reference`` is the session's reference when
        known. Safe to call any number of times; raises ``GatewayError`` when unreachable."""
        ...

    def cancel(self, invoice_code: str, reference: str | None = None) -> None:
        """Stop the customer paying ``invoice_code`` where the gateway allows it. Nothing to
        cancel (no transaction started, already expired) is not an error; raises
        ``GatewayError`` when the gateway refuses or cannot be reached."""
        ...


@runtime_checkable
class EventSink(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Receive stored domain events, oldest first, after the changes they report committed.

        Delivery is **at least once, in order per account** (R-EVT-2): an event is delivered
        when ``publish`` returns; if it raises, the events are handed over again later (by the
        next facade call, ``advance`` or ``deliver_events``), and a process that dies between
        a commit and ``publish`` leaves its events pending for the next one. So the same event
        may arrive more than once: dedupe on ``event.id``. A sink error never fails the facade
        call whose change committed; it is logged on the ``subkit`` logger.
        """
        ...


@runtime_checkable
class UsageSource(Protocol):
    def in_use(self, account_id: str) -> Usage:
        """Return how many users and contacts ``account_id`` has now (for notices and limits)."""
        ...


class ReadUnit(Protocol):
    """The reads of a unit of work: what a :meth:`Store.snapshot` offers, and what every
    :class:`UnitOfWork` offers besides its writes.

    Values are subkit's immutable attrs objects; a store may keep them in any form as long as
    what it returns equals what it was given (``subkit.serialize`` turns each into JSON-safe
    dicts).
    """

    # -- accounts ---------------------------------------------------------------------------
    def get_account(self, account_id: str) -> Account | None:
        """Return the account, or ``None`` when there is none."""
        ...

    def due_accounts(self, until: datetime, *, limit: int) -> list[str]:
        """Ids of at most ``limit`` accounts whose ``due_at <= until``, earliest due first
        (ties by id). Must read only those rows, in the order of an index on
        ``(due_at, account_id)``, never scan or sort every account: the billing run calls it
        again after each batch, and the accounts it brought up to date have left the set."""
        ...

    # -- ledger -----------------------------------------------------------------------------
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
        """Entries newest first by ``(at, seq)`` descending; ``since`` inclusive, ``until``
        exclusive; ``cursor`` from a previous page, made and read with this query's
        :func:`subkit.paging.ledger_query` (``InvalidCursor`` for any other; ``None`` or
        ``""``: the first page). Reads one page's worth of rows, never the whole history
        (R-BAL-7)."""
        ...

    def usage_totals(
        self, account_id: str, *, since: date, until: date, balance: Balance | None
    ) -> list[DayTotal]:
        """The account's day totals (:meth:`UnitOfWork.add_usage`) of the days
        ``since <= day < until``, of ``balance`` only when given, ordered by
        ``(day, balance, kind)``. Reads one range of an index on ``(account_id, day, ...)``,
        never the ledger: its cost does not grow with the number of entries (R-VOL-3)."""
        ...

    # -- invoices ---------------------------------------------------------------------------
    def get_invoice(self, code: str) -> Invoice | None:
        """Return the invoice with ``code``, or ``None``."""
        ...

    def pending_invoices(self, requested_before: datetime, *, limit: int) -> list[Invoice]:
        """At most ``limit`` invoices in status ``pending`` whose ``requested_at`` is before
        ``requested_before`` (exclusive), oldest first (ties by code). Must read only those
        rows, in the order of an index on ``(status, requested_at)``, never scan every
        invoice: ``billing.reconcile`` calls it to ask the gateway about them (R-GW-3)."""
        ...

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
        """The account's invoices newest first by (``requested_at``, creation order);
        filters on type, status and ``since <= requested_at < until``; cursors through
        :func:`subkit.paging.invoice_query` (R-LIM-4)."""
        ...

    # -- idempotency --------------------------------------------------------------------------
    def get_record(self, account_id: str, scope: str, key: str) -> IdempotencyRecord | None:
        """Return the record of an earlier operation with this key, or ``None``."""
        ...

    def get_records(
        self, account_id: str, scope: str, keys: Collection[str]
    ) -> dict[str, IdempotencyRecord]:
        """The records of those of ``keys`` used before in ``(account_id, scope)``, by key
        (a key never used is absent). What :meth:`get_record` gives for each key, in one
        read: ``charge_many`` asks for a batch's keys at once (R-VOL-1)."""
        ...

    # -- events -------------------------------------------------------------------------------
    def event_page(self, account_id: str, *, cursor: str | None, limit: int) -> Page[DomainEvent]:
        """The account's events, delivered or not, oldest first; ``cursor`` from a previous
        page, through :func:`subkit.paging.event_query` (R-LIM-4). Reads one page of an
        index on ``(account_id, id)``."""
        ...


class UnitOfWork(ReadUnit, Protocol):
    """One transaction's view of the store. Everything written through it commits together.

    Reads (those of :class:`ReadUnit`) see the writes made earlier in the same unit.
    """

    # -- accounts ---------------------------------------------------------------------------
    def add_account(self, account: Account) -> None:
        """Insert a new account (version 0). Raise ``AccountExists`` if the id is taken."""
        ...

    def update_account(self, account: Account) -> None:
        """Replace an account. ``account.version`` is the new version; the stored one must be
        ``account.version - 1``, else raise ``ConcurrencyConflict`` (optimistic lock). The
        store must also index ``account.due_at`` for :meth:`due_accounts`."""
        ...

    def claim_due_account(self, until: datetime, *, skip: Collection[str] = ()) -> Account | None:
        """Hold and return the billing run's next account: the earliest due (``due_at <=
        until``, ties by id) whose id is not in ``skip`` and that no other unit of work holds,
        or ``None`` when there is none (R-CON-4, R-PG-5).

        The account is held as after :meth:`get_account` until the unit ends, so several
        workers running ``advance`` at once share the due set, each account done by one of
        them at a time. A unit that dies (its worker crashed) holds nothing any more: its
        account is due again for the next claim. PostgreSQL: ``FOR UPDATE SKIP LOCKED`` on the
        due index; a store whose units run one at a time (SQLite, memory) returns the first
        due account not in ``skip``. Reads one range of the index on ``(due_at, account_id)``.
        """
        ...

    # -- ledger -----------------------------------------------------------------------------
    def append_entries(self, entries: Sequence[LedgerEntry]) -> None:
        """Append ledger entries. Entries are never changed or deleted afterwards (R-BAL-9);
        ``(account_id, seq)`` is unique."""
        ...

    def add_usage(self, account_id: str, totals: Sequence[DayTotal]) -> None:
        """Add each total's ``count`` and ``amount`` to the stored total of its
        ``(account_id, day, balance, kind)`` (a total not stored yet starts at zero). The
        service calls it in the unit that appends the entries these totals sum, so totals
        and entries commit (or roll back) together."""
        ...

    # -- invoices ---------------------------------------------------------------------------
    def next_invoice_number(self) -> int:
        """Return the next number of one store-wide gapless sequence (1, 2, 3, ...). Rolled
        back with the unit of work, so a failed call leaves no gap; never reset."""
        ...

    def add_invoice(self, invoice: Invoice) -> None:
        """Insert a new invoice; codes are unique (raise ``StoreError`` on a duplicate)."""
        ...

    def update_invoice(self, invoice: Invoice) -> None:
        """Replace an invoice; optimistic lock on ``version`` as for accounts."""
        ...

    # -- idempotency --------------------------------------------------------------------------
    def put_record(self, record: IdempotencyRecord) -> None:
        """Insert or replace the record for ``(account_id, scope, key)``."""
        ...

    def put_records(self, records: Sequence[IdempotencyRecord]) -> None:
        """:meth:`put_record` each of ``records``, in order, in one write where the store
        can (a batch's records, R-VOL-1)."""
        ...

    # -- events (the outbox, R-EVT) -------------------------------------------------------------
    # An event is *pending* from the commit of the unit that added it until a unit that marks
    # it delivered commits. "Order" is the store's order of events: the order of their ids
    # (ids increase in the order events were added; on a store whose writers are serialised
    # that is commit order; per account it is commit order because every unit that adds an
    # account's events also writes that account).

    def add_events(self, events: Sequence[DomainEvent]) -> None:
        """Store ``events`` (pending) with the rest of this unit: they commit with it or not at
        all. The store gives each an ``id``: a string unique in the store, from a sequence that
        grows in the order of insertion and is never reused, not even after pruning."""
        ...

    def claim_events(
        self, *, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[DomainEvent]:
        """Lease at most ``limit`` pending events to ``owner`` until ``lease_until`` and return
        them, oldest first. A pending event can be claimed when it has no lease or its lease
        ended (``lease_until <= now``). An event is skipped while an older pending event of its
        account is leased to someone else, so that a host receives each account's events in
        order even from several deliverers. Two units claiming at the same time never get the
        same event (SQLite: the write lock serialises claims; PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``). Reads one page of an index on pending events, never every event."""
        ...

    def mark_delivered(self, ids: Sequence[str], *, at: datetime) -> None:
        """The sink accepted these events at ``at``: they are never claimed again. Unknown or
        already delivered ids are ignored."""
        ...

    def release_events(self, ids: Sequence[str], *, owner: str) -> None:
        """Delivery of these events to ``owner``'s sink failed: end their lease so the next
        claim hands them over again. Leases now held by another owner are left alone."""
        ...

    def prune_events(self, before: datetime, *, limit: int) -> int:
        """Delete at most ``limit`` delivered events whose ``at`` is before ``before``, oldest
        first, and return how many. Pending events are never deleted."""
        ...


class Store(Protocol):
    """Where subkit keeps accounts, ledgers, invoices and idempotency records."""

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """Open a unit of work. Leaving the block normally commits every write made through
        it atomically; leaving it with an exception rolls all of them back. Conflicting
        concurrent writes raise ``ConcurrencyConflict`` (at the write or at commit); a
        store that cannot be used raises ``StoreError``."""
        ...

    def snapshot(self) -> AbstractContextManager[ReadUnit]:
        """Open a read-only view of one consistent snapshot of the store (R-CON-2).

        The view shows everything committed before it was opened and nothing committed
        while it is open, so several reads through it agree with each other. It takes no
        write lock and never waits for a writer: a unit of work holding the lock, or a billing
        run however long, does not delay it. Any write through it (a method of
        :class:`UnitOfWork` not in :class:`ReadUnit`, if the object has one) raises
        ``StoreError`` and changes nothing; leaving the block releases the snapshot (nothing
        to commit). A store that cannot be used raises ``StoreError``.
        """
        ...


__all__ = [
    "Clock",
    "EventSink",
    "PaymentEvent",
    "PaymentGateway",
    "PaymentRequest",
    "PaymentSession",
    "ReadUnit",
    "ReconcilingGateway",
    "Store",
    "UnitOfWork",
    "UsageSource",
]
