"""The embedded default store: one SQLite file, durable, safe for several threads and processes.

Each unit of work is one SQLite transaction started with ``BEGIN IMMEDIATE``: it takes the
database's write lock at once, so units (in any thread or process) run one after the other,
each seeing everything committed before it. A snapshot (:meth:`SqliteStore.snapshot`) is a
read transaction on a second, read-only connection of the thread: in write-ahead-log mode it
reads the database as committed when it opened and never waits for the write lock (R-CON-2).
No raw ``sqlite3`` error leaves the store: a busy or locked database mid-transaction or at
commit is a :class:`~subkit.errors.ConcurrencyConflict` (the facade retries it), and a write
lock not obtained after the bounded waits, or any other failure, a
:class:`~subkit.errors.StoreError` (R-CON-3). Values are kept as the JSON of
:func:`subkit.serialize.to_record` next to the columns that are searched and ordered on (instants
as integer microseconds since the epoch, money as integer amounts), so what comes back equals
what went in.

Opening never writes to a file that is not a subkit database: the file is inspected through a
read-only connection first, and a file that is not SQLite, a SQLite database of another
application, a subkit database made by a newer subkit, or a read-only file raises
:class:`~subkit.errors.StoreError` before anything is written.

Why it is long: it implements every verb of the Store protocol (the store, its unit of
work, its snapshot, the outbox) and its migrations in SQL, one method each; split by verb,
one transaction's SQL would be scattered over files.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NoReturn, TypeVar

import attrs
from cattrs.gen import make_dict_unstructure_fn, override

from subkit import paging
from subkit.account import Account
from subkit.cycles import ensure_aware
from subkit.errors import AccountExists, ConcurrencyConflict, StoreError
from subkit.events import DomainEvent
from subkit.idempotency import IdempotencyRecord
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType
from subkit.money import Money
from subkit.paging import Page
from subkit.serialize import from_record, record_converter, to_record
from subkit.views import DayTotal, day_totals
from subkit.wallet import Balance, EntryKind, LedgerEntry

T = TypeVar("T")

#: Written into the database header (``PRAGMA application_id``): "SUKT".
APPLICATION_ID: Final = 0x53554B54

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_SQLITE_HEADER: Final = b"SQLite format 3\x00"
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
#: Idempotency keys read per statement by ``get_records``.
_KEYS_PER_READ: Final = 500


def to_us(at: datetime) -> int:
    """Return ``at`` as integer microseconds since the Unix epoch (UTC), the stored form."""
    return (ensure_aware(at, "at") - _EPOCH) // _MICROSECOND


def _read(kind: type[T], text: str) -> T:
    """Decode a stored row's JSON; a damaged row is a ``StoreError``, never a raw decoding
    error (R-ERR): the file was edited or damaged outside subkit."""
    try:
        return from_record(kind, json.loads(text))
    except Exception as exc:  # JSON, cattrs' grouped errors, a value's own validation
        raise StoreError(
            f"a stored {kind.__name__} cannot be read (damaged row): {type(exc).__name__}"
        ) from exc


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise StoreError(f"a stored record cannot be read (damaged row): {exc}") from exc


# One encoder for every row: ``json.dumps`` with options builds a new encoder per call.
_encode: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json(value: Any) -> str:
    return _encode(to_record(value))


def _entry_data(e: LedgerEntry) -> str:
    """The ``data`` of a ledger row: what its columns do not hold, as JSON.

    That is the offset ``at`` was written in, unless it is UTC (the columns hold the
    instant), and the ``reason``; usually ``{}``. Every message charged writes an entry, and
    the whole record repeated in JSON cost a tenth of a charge's time and most of its row's
    size. Rows written before kept the whole record (``_entry_from_row`` reads both)."""
    extra: dict[str, str] = {}
    if e.at.tzinfo is not UTC:
        extra["at"] = ensure_aware(e.at).isoformat()
    if e.reason is not None:
        extra["reason"] = e.reason
    return _encode(extra) if extra else "{}"


#: The columns ``_entry_from_row`` reads, in order.
_ENTRY_COLUMNS: Final = (
    "account_id, seq, at_us, balance, kind, count, amount, balance_after, currency, key,"
    " invoice_code, data"
)


def _entry_from_row(row: Sequence[Any]) -> LedgerEntry:
    """The entry of a ledger row (its ``_ENTRY_COLUMNS``); a damaged row is a ``StoreError``."""
    data = row[11]
    extra = _loads(data)
    if not isinstance(extra, dict):
        raise StoreError("a stored LedgerEntry cannot be read (damaged row): data is not an object")
    if "seq" in extra:  # the whole record, as rows were written before
        return _read(LedgerEntry, data)
    account_id, seq, at_us, balance, kind, count, amount, after, currency, key, code = row[:11]
    try:
        at = (
            ensure_aware(datetime.fromisoformat(extra["at"]))
            if "at" in extra
            else _EPOCH + timedelta(microseconds=at_us)
        )
        return LedgerEntry(
            account_id=account_id,
            seq=seq,
            at=at,
            balance=Balance(balance),
            kind=EntryKind(kind),
            count=count,
            amount=Money(amount, currency),
            balance_after=Money(after, currency),
            key=key,
            invoice_code=code,
            reason=extra.get("reason"),
        )
    except Exception as exc:  # a value's own validation, a bad date: the row was edited
        raise StoreError(
            f"a stored LedgerEntry cannot be read (damaged row): {type(exc).__name__}"
        ) from exc


# -- schema -----------------------------------------------------------------------------------

Migration = Callable[[sqlite3.Connection], None]

_SCHEMA_1: Final = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        due_at_us INTEGER NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX accounts_by_due ON accounts (due_at_us, account_id)",
    """CREATE TABLE ledger (
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        seq INTEGER NOT NULL,
        at_us INTEGER NOT NULL,
        balance TEXT NOT NULL,
        kind TEXT NOT NULL,
        count INTEGER NOT NULL,
        amount INTEGER NOT NULL,
        balance_after INTEGER NOT NULL,
        currency TEXT NOT NULL,
        key TEXT,
        invoice_code TEXT,
        data TEXT NOT NULL,
        PRIMARY KEY (account_id, seq)
    ) WITHOUT ROWID""",
    # One index per filter combination, each ending in (at, seq), so that every history
    # page, filtered or not, is a range read of one page of index entries (R-BAL-7).
    "CREATE INDEX ledger_by_time ON ledger (account_id, at_us DESC, seq DESC)",
    "CREATE INDEX ledger_by_kind ON ledger (account_id, kind, at_us DESC, seq DESC)",
    "CREATE INDEX ledger_by_balance ON ledger (account_id, balance, at_us DESC, seq DESC)",
    "CREATE INDEX ledger_by_balance_kind"
    " ON ledger (account_id, balance, kind, at_us DESC, seq DESC)",
    """CREATE TABLE invoices (
        code TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts (account_id),
        seq INTEGER NOT NULL UNIQUE,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        requested_at_us INTEGER NOT NULL,
        total INTEGER NOT NULL,
        version INTEGER NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX invoices_by_account ON invoices (account_id, requested_at_us, seq)",
    """CREATE TABLE idempotency (
        account_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        result TEXT NOT NULL,
        PRIMARY KEY (account_id, scope, key)
    ) WITHOUT ROWID""",
    "CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "INSERT INTO sequences (name, value) VALUES ('invoice', 0)",
    f"PRAGMA application_id = {APPLICATION_ID}",
)


def _initial_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_1:
        conn.execute(statement)


_SCHEMA_EVENTS: Final = (
    # AUTOINCREMENT: an id is never given twice, not even after the newest events are pruned
    # (a plain rowid would reuse them, and hosts dedupe on ids).
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account_id TEXT NOT NULL,
        name TEXT NOT NULL,
        at_us INTEGER NOT NULL,
        data TEXT NOT NULL,
        delivered_us INTEGER,
        lease_owner TEXT,
        lease_until_us INTEGER
    )""",
    # The feed: one account's events in id order.
    "CREATE INDEX events_by_account ON events (account_id, id)",
    # Partial indexes hold only the pending events, so a claim reads the oldest pending ones
    # (and checks an account's older pending ones) without passing over delivered history.
    "CREATE INDEX events_pending ON events (id) WHERE delivered_us IS NULL",
    "CREATE INDEX events_pending_by_account ON events (account_id, id) WHERE delivered_us IS NULL",
    # Pruning: delivered events, oldest first.
    "CREATE INDEX events_delivered_by_time ON events (at_us, id) WHERE delivered_us IS NOT NULL",
)


def _events_outbox(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA_EVENTS:
        conn.execute(statement)


#: Forward migrations: ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``.
#: Each runs inside the opening transaction; append, never edit or reorder.
def _pending_invoices_index(conn: sqlite3.Connection) -> None:
    # billing.reconcile reads pending invoices by request time (R-GW-3): one range of this.
    conn.execute("CREATE INDEX invoices_by_status ON invoices (status, requested_at_us, code)")


def _usage_totals(conn: sqlite3.Connection) -> None:
    # Day totals per account, balance and kind, kept with the entries (R-VOL-3): a summary is
    # one range of the primary key. Days are ISO dates in the account's timezone.
    conn.execute(
        """CREATE TABLE usage_totals (
            account_id TEXT NOT NULL,
            day TEXT NOT NULL,
            balance TEXT NOT NULL,
            kind TEXT NOT NULL,
            count INTEGER NOT NULL,
            amount INTEGER NOT NULL,
            currency TEXT NOT NULL,
            PRIMARY KEY (account_id, day, balance, kind)
        ) WITHOUT ROWID"""
    )
    # Entries written before this version get their totals now, one account at a time.
    for account_id, data in conn.execute("SELECT account_id, data FROM accounts").fetchall():
        timezone = json.loads(data)["subscription"]["timezone"]
        rows = conn.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM ledger WHERE account_id = ? ORDER BY seq", (account_id,)
        ).fetchall()
        entries = [_entry_from_row(row) for row in rows]
        _upsert_usage(conn, account_id, day_totals(entries, timezone))


def _upsert_usage(conn: sqlite3.Connection, account_id: str, totals: Sequence[DayTotal]) -> None:
    conn.executemany(
        "INSERT INTO usage_totals (account_id, day, balance, kind, count, amount, currency)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, day, balance, kind)"
        " DO UPDATE SET count = count + excluded.count, amount = amount + excluded.amount",
        [
            (
                account_id,
                t.day.isoformat(),
                str(t.balance),
                str(t.kind),
                t.count,
                t.amount.amount,
                t.amount.currency,
            )
            for t in totals
        ],
    )


MIGRATIONS: list[Migration] = [
    _initial_schema,
    _events_outbox,
    _pending_invoices_index,
    _usage_totals,
]


# -- the unit of work -------------------------------------------------------------------------


def _is_busy(error: sqlite3.Error) -> bool:
    # Extended codes (SQLITE_BUSY_SNAPSHOT = 517, ...) carry the primary code in the low byte.
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    return primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in str(error)


def _too_big(error: OverflowError) -> StoreError:
    # SQLite integers are 64-bit; subkit's bounds keep every value far inside (R-LIM-1),
    # so only a value made outside them (a host's own store call) meets this.
    return StoreError(f"a value beyond SQLite's 64-bit integers cannot be stored ({error})")


def _typed(error: sqlite3.Error, doing: str) -> StoreError | ConcurrencyConflict:
    """The typed error for a raw one met inside a transaction (R-CON-3).

    A busy or locked database there means another connection got in the way: the unit is
    rolled back and the facade runs it again. Anything else is a ``StoreError``.
    """
    if _is_busy(error):
        return ConcurrencyConflict(f"{doing}: the database was busy ({error}); try again")
    return StoreError(f"{doing}: SQLite error: {error}")


#: An account's record without its subscription: the account's JSON is this with the
#: subscription's JSON put first, as ``_json`` writes it.
_account_without_subscription: Final = make_dict_unstructure_fn(
    Account, record_converter, subscription=override(omit=True)
)


def _account_json(account: Account, subscription: str | None = None) -> tuple[str, str]:
    """The JSON ``_json(account)`` writes, and its subscription's part. ``subscription``: the
    JSON of ``account.subscription`` when already known. Most writes (a charge, a top-up)
    change the wallet and keep the very subscription object they read, whose JSON was about
    a third of the account's; a test checks the assembled text equals ``_json``'s."""
    sub = subscription if subscription is not None else _encode(to_record(account.subscription))
    rest = _encode(_account_without_subscription(account))
    return '{"subscription":' + sub + ("," + rest[1:] if rest != "{}" else "}"), sub


class _DecodedAccounts:
    """The last few accounts decoded, keyed by their stored JSON text.

    Decoding an account (``json.loads`` and cattrs) is most of a read's cost. A cached value
    is reused only when the row's text is exactly the text it was decoded from (or encoded
    to, for a write), so it can never be stale, whatever other processes or rolled-back
    transactions did: equal text means an equal account. Beside it, the JSON of its
    subscription once a write made it: the next write of the same subscription object
    reuses it (values are immutable, so the same object has the same JSON).
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[str, Account, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, account: Account) -> str:
        """Encode ``account`` for a write, keeping it for the next read of that text."""
        known = None
        with self._lock:
            hit = self._items.get(account.account_id)
            if hit is not None and hit[1].subscription is account.subscription:
                known = hit[2]
        text, subscription = _account_json(account, known)
        self._put(account.account_id, text, account, subscription)
        return text

    def _put(self, account_id: str, text: str, account: Account, sub: str | None) -> None:
        if self._size <= 0:
            return
        with self._lock:
            self._items[account_id] = (text, account, sub)
            self._items.move_to_end(account_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def decode(self, account_id: str, text: str) -> Account:
        with self._lock:
            hit = self._items.get(account_id)
            if hit is not None and hit[0] == text:
                self._items.move_to_end(account_id)
                return hit[1]
        account = _read(Account, text)
        self._put(account_id, text, account, None)
        return account


class SqliteUnit:
    """One SQLite transaction's view of the store (a :class:`subkit.ports.UnitOfWork`)."""

    def __init__(self, conn: sqlite3.Connection, decoded: _DecodedAccounts | None = None) -> None:
        self._conn = conn
        self._decoded = decoded or _DecodedAccounts(size=0)
        self.open = True

    def _run(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        if not self.open:
            raise StoreError("this unit of work was used after its transaction ended")
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise _typed(exc, "a statement failed") from exc
        except OverflowError as exc:  # bound before the statement runs: nothing written
            raise _too_big(exc) from exc

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        # Fetched inside the try: SQLite steps rows lazily, and a later step can fail too.
        if not self.open:
            raise StoreError("this unit of work was used after its transaction ended")
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise _typed(exc, "a query failed") from exc
        except OverflowError as exc:
            raise _too_big(exc) from exc

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not self.open:
            raise StoreError("this unit of work was used after its transaction ended")
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise _typed(exc, "statements failed") from exc
        except OverflowError as exc:
            raise _too_big(exc) from exc

    # -- accounts ---------------------------------------------------------------------------

    def get_account(self, account_id: str) -> Account | None:
        row = self._one("SELECT data FROM accounts WHERE account_id = ?", (account_id,))
        return None if row is None else self._decoded.decode(account_id, row[0])

    def add_account(self, account: Account) -> None:
        try:
            self._run(
                "INSERT INTO accounts (account_id, version, due_at_us, data) VALUES (?, ?, ?, ?)",
                (
                    account.account_id,
                    account.version,
                    to_us(account.due_at),
                    self._decoded.remember(account),
                ),
            )
        except StoreError as exc:
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise AccountExists(
                    f"account {account.account_id!r} exists", account_id=account.account_id
                ) from None
            raise

    def update_account(self, account: Account) -> None:
        cursor = self._run(
            "UPDATE accounts SET version = ?, due_at_us = ?, data = ?"
            " WHERE account_id = ? AND version = ?",
            (
                account.version,
                to_us(account.due_at),
                self._decoded.remember(account),
                account.account_id,
                account.version - 1,
            ),
        )
        if cursor.rowcount != 1:
            raise ConcurrencyConflict(
                f"account {account.account_id!r} changed meanwhile "
                f"(expected stored version {account.version - 1})",
                account_id=account.account_id,
            )

    def due_accounts(self, until: datetime, *, limit: int) -> list[str]:
        # A range read of the due index in its own order: no scan, no sort (R-TIME).
        rows = self._all(
            "SELECT account_id FROM accounts INDEXED BY accounts_by_due"
            " WHERE due_at_us <= ? ORDER BY due_at_us, account_id LIMIT ?",
            (to_us(until), limit),
        )
        return [row[0] for row in rows]

    def claim_due_account(self, until: datetime, *, skip: Collection[str] = ()) -> Account | None:
        # The unit holds the write lock (BEGIN IMMEDIATE): no other unit holds any account.
        for account_id in self.due_accounts(until, limit=len(skip) + 1):
            if account_id not in skip:
                return self.get_account(account_id)
        return None

    # -- ledger -----------------------------------------------------------------------------

    def append_entries(self, entries: Sequence[LedgerEntry]) -> None:
        if not entries:
            return
        if not self.open:
            raise StoreError("this unit of work was used after its transaction ended")
        rows = [
            (
                e.account_id,
                e.seq,
                to_us(e.at),
                str(e.balance),
                str(e.kind),
                e.count,
                e.amount.amount,
                e.balance_after.amount,
                e.amount.currency,
                e.key,
                e.invoice_code,
                _entry_data(e),
            )
            for e in entries
        ]
        try:
            self._conn.executemany(
                "INSERT INTO ledger (account_id, seq, at_us, balance, kind, count, amount,"
                " balance_after, currency, key, invoice_code, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"ledger entries not appended: {exc} (an (account_id, seq) is taken, "
                "or the account does not exist)"
            ) from exc
        except sqlite3.Error as exc:
            raise _typed(exc, "ledger entries not appended") from exc
        except OverflowError as exc:
            raise _too_big(exc) from exc

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
        where = ["account_id = ?"]
        params: list[Any] = [account_id]
        if balance is not None:
            where.append("balance = ?")
            params.append(str(balance))
        if kind is not None:
            where.append("kind = ?")
            params.append(str(kind))
        index = {
            (False, False): "ledger_by_time",
            (False, True): "ledger_by_kind",
            (True, False): "ledger_by_balance",
            (True, True): "ledger_by_balance_kind",
        }[(balance is not None, kind is not None)]
        query = paging.ledger_query(
            account_id, balance=balance, kind=kind, since=since, until=until
        )
        self._time_range(where, params, "at_us", since, until, query.position(cursor, 2))
        params.append(limit + 1)
        rows = self._all(
            # INDEXED BY: the page must be a range read of the index, never a scan and sort.
            f"SELECT {_ENTRY_COLUMNS} FROM ledger INDEXED BY {index}"
            f" WHERE {' AND '.join(where)} ORDER BY at_us DESC, seq DESC LIMIT ?",
            params,
        )
        items = tuple(_entry_from_row(row) for row in rows[:limit])
        next_cursor = None
        if len(rows) > limit and items:
            next_cursor = query.encode(to_us(items[-1].at), items[-1].seq)
        return Page(items, next_cursor)

    @staticmethod
    def _time_range(
        where: list[str],
        params: list[Any],
        column: str,
        since: datetime | None,
        until: datetime | None,
        position: tuple[int, ...] | None,
    ) -> None:
        if since is not None:
            where.append(f"{column} >= ?")
            params.append(to_us(since))
        # Keep exactly one upper bound, the stricter one, so SQLite seeks straight to it (with
        # two, it seeks to one and filters the rows up to the other one by one).
        until_us = to_us(until) if until is not None else None
        if position is not None:
            at_us, seq = position
            if until_us is None or at_us < until_us:
                where.append(f"({column}, seq) < (?, ?)")
                params.extend((at_us, seq))
                return
        if until_us is not None:
            where.append(f"{column} < ?")
            params.append(until_us)

    # -- usage totals -----------------------------------------------------------------------

    def add_usage(self, account_id: str, totals: Sequence[DayTotal]) -> None:
        if not totals:
            return
        if not self.open:
            raise StoreError("this unit of work was used after its transaction ended")
        try:
            _upsert_usage(self._conn, account_id, totals)
        except sqlite3.Error as exc:
            raise _typed(exc, "usage totals not added") from exc

    def usage_totals(
        self, account_id: str, *, since: date, until: date, balance: Balance | None
    ) -> list[DayTotal]:
        where = "account_id = ? AND day >= ? AND day < ?"
        params: list[Any] = [account_id, since.isoformat(), until.isoformat()]
        if balance is not None:
            where += " AND balance = ?"
            params.append(str(balance))
        rows = self._all(
            "SELECT day, balance, kind, count, amount, currency FROM usage_totals"
            f" WHERE {where} ORDER BY day, balance, kind",
            params,
        )
        return [
            DayTotal(
                date.fromisoformat(day),
                Balance(balance_),
                EntryKind(kind),
                count,
                Money(amount, currency),
            )
            for day, balance_, kind, count, amount, currency in rows
        ]

    # -- invoices ---------------------------------------------------------------------------

    def next_invoice_number(self) -> int:
        self._run("UPDATE sequences SET value = value + 1 WHERE name = 'invoice'")
        row = self._one("SELECT value FROM sequences WHERE name = 'invoice'")
        if row is None:  # pragma: no cover - the row is created with the schema
            raise StoreError("the invoice sequence is missing from the database")
        return int(row[0])

    def get_invoice(self, code: str) -> Invoice | None:
        row = self._one("SELECT data FROM invoices WHERE code = ?", (code,))
        return None if row is None else _read(Invoice, row[0])

    def add_invoice(self, invoice: Invoice) -> None:
        if self._one("SELECT 1 FROM invoices WHERE code = ?", (invoice.code,)):
            raise StoreError(
                f"invoice code {invoice.code!r} is already used", invoice_code=invoice.code
            )
        self._run(
            "INSERT INTO invoices (code, account_id, seq, type, status, requested_at_us, total,"
            " version, data) VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM invoices),"
            " ?, ?, ?, ?, ?, ?)",
            (
                invoice.code,
                invoice.account_id,
                str(invoice.type),
                str(invoice.status),
                to_us(invoice.requested_at),
                invoice.total.amount,
                invoice.version,
                _json(invoice),
            ),
        )

    def update_invoice(self, invoice: Invoice) -> None:
        cursor = self._run(
            "UPDATE invoices SET type = ?, status = ?, requested_at_us = ?, total = ?,"
            " version = ?, data = ? WHERE code = ? AND version = ?",
            (
                str(invoice.type),
                str(invoice.status),
                to_us(invoice.requested_at),
                invoice.total.amount,
                invoice.version,
                _json(invoice),
                invoice.code,
                invoice.version - 1,
            ),
        )
        if cursor.rowcount != 1:
            raise ConcurrencyConflict(
                f"invoice {invoice.code!r} changed meanwhile "
                f"(expected stored version {invoice.version - 1})",
                invoice_code=invoice.code,
            )

    def pending_invoices(self, requested_before: datetime, *, limit: int) -> list[Invoice]:
        # A range read of the status index in its own order: no scan, no sort (R-GW-3).
        rows = self._all(
            "SELECT data FROM invoices INDEXED BY invoices_by_status"
            " WHERE status = 'pending' AND requested_at_us < ?"
            " ORDER BY requested_at_us, code LIMIT ?",
            (to_us(requested_before), limit),
        )
        return [_read(Invoice, row[0]) for row in rows]

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
        where = ["account_id = ?"]
        params: list[Any] = [account_id]
        if type is not None:
            where.append("type = ?")
            params.append(str(type))
        if status is not None:
            where.append("status = ?")
            params.append(str(status))
        query = paging.invoice_query(account_id, type=type, status=status, since=since, until=until)
        self._time_range(where, params, "requested_at_us", since, until, query.position(cursor, 2))
        params.append(limit + 1)
        rows = self._all(
            f"SELECT data, seq FROM invoices INDEXED BY invoices_by_account"
            f" WHERE {' AND '.join(where)} ORDER BY requested_at_us DESC, seq DESC LIMIT ?",
            params,
        )
        page = [(_read(Invoice, data), seq) for data, seq in rows[:limit]]
        next_cursor = None
        if len(rows) > limit and page:
            last, seq = page[-1]
            next_cursor = query.encode(to_us(last.requested_at), seq)
        return Page(tuple(invoice for invoice, _ in page), next_cursor)

    # -- idempotency --------------------------------------------------------------------------

    def get_record(self, account_id: str, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._one(
            "SELECT fingerprint, result FROM idempotency"
            " WHERE account_id = ? AND scope = ? AND key = ?",
            (account_id, scope, key),
        )
        if row is None:
            return None
        return IdempotencyRecord(account_id, scope, key, row[0], _loads(row[1]))

    def get_records(
        self, account_id: str, scope: str, keys: Collection[str]
    ) -> dict[str, IdempotencyRecord]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, IdempotencyRecord] = {}
        # Chunks stay far below SQLite's limit on bound parameters (32 766).
        for start in range(0, len(wanted), _KEYS_PER_READ):
            chunk = wanted[start : start + _KEYS_PER_READ]
            rows = self._all(
                "SELECT key, fingerprint, result FROM idempotency"
                f" WHERE account_id = ? AND scope = ? AND key IN ({', '.join('?' * len(chunk))})",
                (account_id, scope, *chunk),
            )
            for key, print_, result in rows:
                found[key] = IdempotencyRecord(account_id, scope, key, print_, _loads(result))
        return found

    def put_record(self, record: IdempotencyRecord) -> None:
        self.put_records((record,))

    def put_records(self, records: Sequence[IdempotencyRecord]) -> None:
        self._run_many(
            "INSERT INTO idempotency (account_id, scope, key, fingerprint, result)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, scope, key)"
            " DO UPDATE SET fingerprint = excluded.fingerprint, result = excluded.result",
            [(r.account_id, r.scope, r.key, r.fingerprint, _encode(r.result)) for r in records],
        )

    # -- events (the outbox) ------------------------------------------------------------------

    def add_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            self._run(
                "INSERT INTO events (account_id, name, at_us, data) VALUES (?, ?, ?, ?)",
                (event.account_id, str(event.name), to_us(event.at), _json(event)),
            )

    @staticmethod
    def _event(number: int, data: str) -> DomainEvent:
        return attrs.evolve(_read(DomainEvent, data), id=str(number))

    def claim_events(
        self, *, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[DomainEvent]:
        # The unit holds the write lock (BEGIN IMMEDIATE), so no other claim runs between
        # this read and the update below.
        now_us = to_us(now)
        rows = self._run(
            "SELECT e.id, e.data FROM events AS e INDEXED BY events_pending"
            " WHERE e.delivered_us IS NULL"
            " AND (e.lease_until_us IS NULL OR e.lease_until_us <= ? OR e.lease_owner = ?)"
            " AND NOT EXISTS (SELECT 1 FROM events AS o INDEXED BY events_pending_by_account"
            "  WHERE o.account_id = e.account_id AND o.delivered_us IS NULL AND o.id < e.id"
            "  AND o.lease_until_us > ? AND o.lease_owner != ?)"
            " ORDER BY e.id LIMIT ?",
            (now_us, owner, now_us, owner, limit),
        ).fetchall()
        if rows:
            self._run_many(
                "UPDATE events SET lease_owner = ?, lease_until_us = ? WHERE id = ?",
                [(owner, to_us(lease_until), number) for number, _ in rows],
            )
        return [self._event(number, data) for number, data in rows]

    def mark_delivered(self, ids: Sequence[str], *, at: datetime) -> None:
        self._run_many(
            "UPDATE events SET delivered_us = ?, lease_owner = NULL, lease_until_us = NULL"
            " WHERE id = ? AND delivered_us IS NULL",
            [(to_us(at), int(number)) for number in ids],
        )

    def release_events(self, ids: Sequence[str], *, owner: str) -> None:
        self._run_many(
            "UPDATE events SET lease_owner = NULL, lease_until_us = NULL"
            " WHERE id = ? AND lease_owner = ? AND delivered_us IS NULL",
            [(int(number), owner) for number in ids],
        )

    def event_page(self, account_id: str, *, cursor: str | None, limit: int) -> Page[DomainEvent]:
        query = paging.event_query(account_id)
        after = (query.position(cursor, 1) or (0,))[0]
        rows = self._run(
            "SELECT id, data FROM events INDEXED BY events_by_account"
            " WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?",
            (account_id, after, limit + 1),
        ).fetchall()
        items = tuple(self._event(number, data) for number, data in rows[:limit])
        more = len(rows) > limit and items
        return Page(items, query.encode(int(items[-1].id)) if more else None)

    def prune_events(self, before: datetime, *, limit: int) -> int:
        cursor = self._run(
            "DELETE FROM events WHERE id IN (SELECT id FROM events"
            " INDEXED BY events_delivered_by_time"
            " WHERE delivered_us IS NOT NULL AND at_us < ? ORDER BY at_us, id LIMIT ?)",
            (to_us(before), limit),
        )
        return cursor.rowcount


class SqliteSnapshot(SqliteUnit):
    """A read transaction's view (a :class:`subkit.ports.ReadUnit`); every write raises
    :class:`~subkit.errors.StoreError`, before reaching SQLite (whose connection is also
    ``query_only``)."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise StoreError("a snapshot is read-only; write through store.transaction()")

    add_account = update_account = append_entries = claim_due_account = add_usage = _refuse
    next_invoice_number = add_invoice = update_invoice = put_record = put_records = _refuse
    add_events = claim_events = mark_delivered = release_events = prune_events = _refuse


# -- the store --------------------------------------------------------------------------------


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced and knows the process that opened it."""

    pid: int = 0


class SqliteStore:
    """A :class:`subkit.ports.Store` in one SQLite file.

    Args:
        path: the database file; created (with its directory's ``-wal``/``-shm`` files) when
            it does not exist.
        timeout: seconds a unit of work waits for another one holding the write lock before
            each try (SQLite's ``busy_timeout``).
        retries: further tries of ``BEGIN IMMEDIATE`` after a wait timed out, before
            :class:`~subkit.errors.StoreError`.

    Raises:
        StoreError: the file is not a SQLite database, is another application's database, was
            made by a newer subkit, or cannot be written. The file is left untouched.

    Each thread gets its own connection (and a forked child process its own, never its
    parent's). Units of work do not nest: opening one in a thread that has one open raises
    :class:`~subkit.errors.StoreError`. Snapshots use a second, read-only connection of the
    thread, so a snapshot may be opened while the thread holds a unit of work (it sees what
    was committed, not the unit's uncommitted writes); snapshots do not nest either.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, retries: int = 3
    ) -> None:
        text = os.fspath(path)
        if not text or text == ":memory:" or text.startswith("file:"):
            raise StoreError(
                f"SqliteStore needs a file path, not {text!r} (a file shared by every "
                "connection; use InMemoryStore for a store in memory)"
            )
        self.path = Path(text).absolute()
        self._timeout = timeout
        self._retries = retries
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._closed = False
        self._decoded = _DecodedAccounts()
        self._inspect()
        self._migrate(self._connect(create=True))

    # -- opening ----------------------------------------------------------------------------

    def _inspect(self) -> None:
        """Refuse, without writing anything, a file subkit must not open for writing."""
        path = self.path
        if not path.exists():
            if not path.parent.is_dir():
                raise StoreError(f"cannot create {path}: {path.parent} is not a directory")
            return
        if not path.is_file():
            raise StoreError(f"{path} is not a file")
        mode = path.stat().st_mode
        if not os.access(path, os.R_OK):
            raise StoreError(f"{path} cannot be read (permission denied)")
        if not os.access(path, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise StoreError(f"{path} is read-only; subkit needs to write its database")
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
        if not header:
            return  # an empty file is an empty database: subkit sets it up
        if header != _SQLITE_HEADER:
            raise StoreError(f"{path} is not a SQLite database; subkit will not write to it")
        try:
            ro = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=self._timeout)
            try:
                app_id = ro.execute("PRAGMA application_id").fetchone()[0]
                user_version = ro.execute("PRAGMA user_version").fetchone()[0]
                tables = sorted(
                    row[0]
                    for row in ro.execute(
                        "SELECT name FROM sqlite_master"
                        " WHERE type = 'table' AND name NOT LIKE 'sqlite%'"
                    )
                )
                version = (
                    ro.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                    if "schema_version" in tables
                    else None
                )
            finally:
                ro.close()
        except sqlite3.Error as exc:
            raise StoreError(f"{path} cannot be read as a SQLite database: {exc}") from exc
        if not tables and app_id == 0 and user_version == 0:
            return  # an empty SQLite database: subkit sets it up
        if not tables and app_id != APPLICATION_ID:
            # Empty, but another application marked it as its own (its user_version or
            # application_id): taking it over would write into that application's file.
            raise StoreError(
                f"{path} is an empty SQLite database of another application (application_id"
                f" {app_id}, user_version {user_version}); subkit will not write to it"
            )
        if app_id != APPLICATION_ID or not isinstance(version, int):
            raise StoreError(
                f"{path} is a SQLite database of another application (tables: "
                f"{', '.join(tables) or 'none'}); subkit will not write to it"
            )
        self._check_version(version)

    def _check_version(self, version: int) -> None:
        known = len(MIGRATIONS)
        if version > known:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this subkit knows "
                f"({known}); upgrade subkit to open it"
            )

    def _connect(self, *, create: bool = False, reader: bool = False) -> sqlite3.Connection:
        uri = f"{self.path.as_uri()}?mode={'rwc' if create else 'rw'}"
        try:
            conn = sqlite3.connect(
                uri,
                uri=True,
                timeout=self._timeout,
                isolation_level=None,  # subkit issues BEGIN / COMMIT itself
                check_same_thread=False,  # so close() can close every thread's connection
                factory=_Connection,
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # FULL: a commit is on disk when COMMIT returns (WAL + NORMAL may lose the last
            # commits on power loss, and a billing ledger must not).
            conn.execute("PRAGMA synchronous = FULL")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if reader:
                # A second guard behind SqliteSnapshot's own refusals: SQLite itself refuses
                # any write on this connection.
                conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot set up {self.path}: {exc}") from exc
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"{self.path} cannot use write-ahead logging (journal mode {mode})")
        assert isinstance(conn, _Connection)
        conn.pid = os.getpid()
        with self._lock:
            self._connections.add(conn)
        if reader:
            self._local.reader = conn
            self._local.reader_pid = os.getpid()
        else:
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the schema to the newest version, in one transaction (forward only)."""
        migrations = list(MIGRATIONS)
        if self._schema_is_current(conn, len(migrations)):
            # Opening an up-to-date file takes no write lock, so a process can open the store
            # (and read) while another one holds the lock for a long billing run (R-CON-2).
            return
        self._begin(conn)
        try:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    " AND name NOT LIKE 'sqlite%'"
                )
            }
            current = 0
            if "schema_version" in tables:
                current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                current = int(current or 0)
            elif tables:  # another process wrote foreign tables since the inspection
                raise StoreError(f"{self.path} is a SQLite database of another application")
            self._check_version(current)
            for migration in migrations[current:]:
                migration(conn)
            if current < len(migrations):
                conn.execute("DELETE FROM schema_version")
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(migrations),))
        except BaseException as exc:
            self._rollback(conn)
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot migrate {self.path}: {exc}") from exc
            raise
        self._commit(conn, busy=StoreError)

    def _schema_is_current(self, conn: sqlite3.Connection, newest: int) -> bool:
        """Whether the file already has the newest schema: one read, no write lock."""
        try:
            conn.execute("BEGIN")
            try:
                tables = {
                    row[0]
                    for row in conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table'"
                        " AND name = 'schema_version'"
                    )
                }
                if not tables:
                    return False
                version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            finally:
                self._rollback(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the schema of {self.path}: {exc}") from exc
        if isinstance(version, int):
            self._check_version(version)
        return bool(version == newest)

    # -- transactions -----------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """Return the calling thread's connection (for backups, inspection and tests).

        Do not write through it: subkit's invariants hold only for writes made by units of
        work.
        """
        if self._closed:
            raise StoreError(f"the store on {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        # A connection inherited through fork() must never be used (nor closed) by the child.
        return self._connect()

    def _reader(self) -> sqlite3.Connection:
        """The calling thread's read-only connection, for snapshots."""
        if self._closed:
            raise StoreError(f"the store on {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if conn is not None and self._local.reader_pid == os.getpid():
            return conn
        return self._connect(reader=True)

    def _begin(self, conn: sqlite3.Connection) -> None:
        for attempt in range(self._retries + 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise StoreError(f"cannot start a transaction on {self.path}: {exc}") from exc
                if attempt == self._retries:
                    raise StoreError(
                        f"{self.path} stayed locked by another writer through "
                        f"{self._retries + 1} waits of {self._timeout} s: {exc}"
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit(
        self,
        conn: sqlite3.Connection,
        *,
        busy: type[StoreError | ConcurrencyConflict] = ConcurrencyConflict,
    ) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            kind = busy if _is_busy(exc) else StoreError
            raise kind(f"commit to {self.path} failed: {exc}") from exc

    def _rollback(self, conn: sqlite3.Connection) -> None:
        """End ``conn``'s transaction, if any, without ever raising a raw error.

        Called while another error is on its way out: that one must reach the caller. A
        connection that cannot even roll back is closed and forgotten (SQLite rolls back what
        it held), so that the thread's next unit opens a fresh one.
        """
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error:
            for role in ("conn", "reader"):
                if getattr(self._local, role, None) is conn:
                    setattr(self._local, role, None)
            with contextlib.suppress(sqlite3.Error):  # closing is best effort here
                conn.close()

    @contextmanager
    def transaction(self) -> Iterator[SqliteUnit]:
        """Open a unit of work: one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK``)."""
        conn = self.connection()
        if conn.in_transaction:
            raise StoreError(
                "a unit of work is already open in this thread; SqliteStore units do not nest"
            )
        self._begin(conn)
        unit = SqliteUnit(conn, self._decoded)
        try:
            yield unit
        except BaseException:
            unit.open = False
            self._rollback(conn)
            raise
        unit.open = False
        self._commit(conn)

    @contextmanager
    def snapshot(self) -> Iterator[SqliteSnapshot]:
        """Open a read-only view of the database as committed now (``Store.snapshot``).

        A deferred ``BEGIN`` on the thread's read-only connection, made to take its snapshot
        at once by a first read: in write-ahead-log mode a reader never waits for the write
        lock, so a writer (a unit of work, a billing run in another process) never delays
        it, and what others commit while it is open stays invisible to it. Leaving the block
        ends the read transaction.
        """
        conn = self._reader()
        if conn.in_transaction:
            raise StoreError(
                "a snapshot is already open in this thread; SqliteStore snapshots do not nest"
            )
        try:
            conn.execute("BEGIN")
            # The snapshot starts at the first read, not at BEGIN: read now, so that it shows
            # what was committed when snapshot() was called.
            conn.execute("SELECT value FROM sequences WHERE name = 'invoice'").fetchall()
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise StoreError(f"cannot open a snapshot of {self.path}: {exc}") from exc
        unit = SqliteSnapshot(conn, self._decoded)
        try:
            yield unit
        finally:
            unit.open = False
            self._rollback(conn)

    def close(self) -> None:
        """Close every connection this process opened; the store cannot be used afterwards."""
        self._closed = True
        pid = os.getpid()
        with self._lock:
            connections = list(self._connections)
            self._connections = weakref.WeakSet()
        if getattr(self._local, "pid", None) == pid:
            self._local.conn = None
        if getattr(self._local, "reader_pid", None) == pid:
            self._local.reader = None
        for conn in connections:
            if conn.pid == pid:
                conn.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"


__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "Migration",
    "SqliteSnapshot",
    "SqliteStore",
    "SqliteUnit",
    "to_us",
]
