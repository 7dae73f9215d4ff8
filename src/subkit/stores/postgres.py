"""The store for several app servers and workers: PostgreSQL, through psycopg 3 and its pool.

``PostgresStore(conninfo_or_pool, *, schema="subkit")`` keeps everything in one schema of its
own, created on first use (R-PG-2). One unit of work is one ``READ COMMITTED`` transaction on
a connection of the pool (R-PG-3): a unit reads an account with ``SELECT ... FOR UPDATE``, so
writers of one account run one after the other while other accounts' writers run beside them,
and the versions kept on accounts and invoices catch any write that slipped past the lock.
A snapshot is a ``REPEATABLE READ READ ONLY`` transaction that takes no row lock (R-CON-2).
The invoice sequence is a counter row updated in the unit (R-PG-4: a PostgreSQL SEQUENCE
would leave gaps after a rollback). Amounts are ``bigint``, instants ``timestamptz`` and
documents ``jsonb``, next to the columns that are searched and ordered on (R-PG-6).

No raw psycopg error leaves the store (R-CON-3): a serialization failure, a deadlock or a lock
not obtained within ``lock_timeout`` is a :class:`~subkit.errors.ConcurrencyConflict`, which
the facade retries like SQLite's busy database; any other failure, a pool that has no
connection to give, or a server that cannot be reached is a :class:`~subkit.errors.StoreError`.

Why it is long: it implements every verb of the Store protocol (the store, its unit of
work, its snapshot, the outbox) in SQL, one method each; split by verb, one transaction's
SQL would be scattered over files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from types import TracebackType
from typing import Any, Final, NoReturn

import attrs
import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from subkit import paging
from subkit.account import Account
from subkit.cycles import ensure_aware
from subkit.errors import AccountExists, ConcurrencyConflict, StoreError
from subkit.events import DomainEvent
from subkit.idempotency import IdempotencyRecord
from subkit.invoice import Invoice, InvoiceStatus, InvoiceType
from subkit.money import Money
from subkit.paging import Page, from_us, instant_us
from subkit.serialize import from_record, to_record
from subkit.views import DayTotal
from subkit.wallet import Balance, EntryKind, LedgerEntry

#: What the ``schema_version`` table says in its ``application`` column.
APPLICATION: Final = "subkit"

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")

#: SQLSTATEs that mean another transaction got in the way: the unit is rolled back and the
#: facade runs it again. 40001 serialization_failure, 40P01 deadlock_detected,
#: 55P03 lock_not_available (``lock_timeout``).
_CONFLICTS: Final = (
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
    pg_errors.LockNotAvailable,
)


def _typed(error: psycopg.Error, doing: str) -> StoreError | ConcurrencyConflict:
    """The typed error for a raw one (R-CON-3)."""
    if isinstance(error, _CONFLICTS):
        return ConcurrencyConflict(f"{doing}: another transaction got in the way ({error})")
    return StoreError(f"{doing}: PostgreSQL error: {type(error).__name__}: {error}")


def _doc(value: Any) -> Jsonb:
    return Jsonb(to_record(value))


def _key(schema: str, what: str) -> int:
    """A stable 64-bit advisory lock key for ``what`` in ``schema``."""
    digest = hashlib.blake2b(f"subkit:{schema}:{what}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# -- schema -----------------------------------------------------------------------------------

#: ``{s}`` stands for the quoted schema name. ``MIGRATIONS[i]`` takes a schema from version
#: ``i`` to ``i + 1``, inside the opening transaction; append, never edit or reorder.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE {s}.schema_version (
            application text NOT NULL,
            version integer NOT NULL
        )""",
        """CREATE TABLE {s}.accounts (
            account_id text PRIMARY KEY,
            version bigint NOT NULL,
            due_at timestamptz NOT NULL,
            data jsonb NOT NULL
        )""",
        "CREATE INDEX accounts_by_due ON {s}.accounts (due_at, account_id)",
        """CREATE TABLE {s}.ledger (
            account_id text NOT NULL REFERENCES {s}.accounts (account_id),
            seq bigint NOT NULL,
            at timestamptz NOT NULL,
            balance text NOT NULL,
            kind text NOT NULL,
            count bigint NOT NULL,
            amount bigint NOT NULL,
            balance_after bigint NOT NULL,
            currency text NOT NULL,
            key text,
            invoice_code text,
            data jsonb NOT NULL,
            PRIMARY KEY (account_id, seq)
        )""",
        # One index per filter combination, each ending in (at, seq), so that every history
        # page, filtered or not, is a range read of one page of index entries (R-BAL-7).
        "CREATE INDEX ledger_by_time ON {s}.ledger (account_id, at DESC, seq DESC)",
        "CREATE INDEX ledger_by_kind ON {s}.ledger (account_id, kind, at DESC, seq DESC)",
        "CREATE INDEX ledger_by_balance ON {s}.ledger (account_id, balance, at DESC, seq DESC)",
        "CREATE INDEX ledger_by_balance_kind"
        " ON {s}.ledger (account_id, balance, kind, at DESC, seq DESC)",
        # ``created`` orders invoices of one instant by creation; its gaps are harmless (the
        # gapless number is in the code, from the counter row).
        """CREATE TABLE {s}.invoices (
            code text PRIMARY KEY,
            account_id text NOT NULL REFERENCES {s}.accounts (account_id),
            created bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            type text NOT NULL,
            status text NOT NULL,
            requested_at timestamptz NOT NULL,
            total bigint NOT NULL,
            version bigint NOT NULL,
            data jsonb NOT NULL
        )""",
        "CREATE INDEX invoices_by_account ON {s}.invoices (account_id, requested_at, created)",
        "CREATE INDEX invoices_by_status ON {s}.invoices (status, requested_at, code)",
        """CREATE TABLE {s}.idempotency (
            account_id text NOT NULL,
            scope text NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            result jsonb NOT NULL,
            PRIMARY KEY (account_id, scope, key)
        )""",
        "CREATE TABLE {s}.sequences (name text PRIMARY KEY, value bigint NOT NULL)",
        "INSERT INTO {s}.sequences (name, value) VALUES ('invoice', 0)",
        # An identity is never given twice, not even after pruning (hosts dedupe on ids).
        """CREATE TABLE {s}.events (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            account_id text NOT NULL,
            name text NOT NULL,
            at timestamptz NOT NULL,
            data jsonb NOT NULL,
            delivered_at timestamptz,
            lease_owner text,
            lease_until timestamptz
        )""",
        "CREATE INDEX events_by_account ON {s}.events (account_id, id)",
        # Partial indexes hold only the pending events, so a claim reads the oldest pending
        # ones (and checks an account's older pending ones) without passing over history.
        "CREATE INDEX events_pending ON {s}.events (id) WHERE delivered_at IS NULL",
        "CREATE INDEX events_pending_by_account ON {s}.events (account_id, id)"
        " WHERE delivered_at IS NULL",
        "CREATE INDEX events_delivered_by_time ON {s}.events (at, id)"
        " WHERE delivered_at IS NOT NULL",
    ),
    (
        # Day totals per account, balance and kind, kept with the entries (R-VOL-3): a
        # summary is one range of the primary key. Days are dates in the account's timezone.
        """CREATE TABLE {s}.usage_totals (
            account_id text NOT NULL,
            day date NOT NULL,
            balance text NOT NULL,
            kind text NOT NULL,
            count bigint NOT NULL,
            amount bigint NOT NULL,
            currency text NOT NULL,
            PRIMARY KEY (account_id, day, balance, kind)
        )""",
        # Entries written before this version get their totals now.
        """INSERT INTO {s}.usage_totals
            SELECT l.account_id, (l.at AT TIME ZONE (a.data->'subscription'->>'timezone'))::date,
                l.balance, l.kind, sum(l.count), sum(l.amount), min(l.currency)
            FROM {s}.ledger AS l JOIN {s}.accounts AS a USING (account_id)
            GROUP BY 1, 2, 3, 4""",
    ),
)


# -- the unit of work -------------------------------------------------------------------------


class _DecodedAccounts:
    """The last few accounts decoded, keyed by their stored JSON text.

    Decoding an account is most of a read's cost. A cached value is reused only when the
    row's text (``data::text``, the same text for the same document) is exactly the text it
    was decoded from, so it can never be stale, whatever other processes did.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._items: OrderedDict[str, tuple[str, Account]] = OrderedDict()
        self._lock = threading.Lock()

    def decode(self, account_id: str, text: str) -> Account:
        with self._lock:
            hit = self._items.get(account_id)
            if hit is not None and hit[0] == text:
                self._items.move_to_end(account_id)
                return hit[1]
        account = from_record(Account, json.loads(text))
        with self._lock:
            self._items[account_id] = (text, account)
            self._items.move_to_end(account_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return account


class PostgresUnit:
    """One transaction's view of the store (a :class:`subkit.ports.UnitOfWork`)."""

    #: Appended to the account read of a unit of work: writers of one account queue here.
    _lock_clause = " FOR UPDATE"

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        schema: str,
        decoded: _DecodedAccounts,
        begin: Sequence[str] = (),
    ) -> None:
        self._conn = conn
        self._s = f'"{schema}"'
        self._schema = schema
        self._decoded = decoded
        self.open = True
        # Round trips are most of a unit's cost, so the unit sends what needs no answer with
        # what comes next, in one pipeline: its BEGIN goes with its first statement, and
        # writes whose result nothing reads (ledger entries, records, events) go with the
        # next statement or the COMMIT. A failure among them surfaces there, as the same
        # typed error, and the unit is rolled back whole.
        self._begin_with: list[str] = list(begin)
        self._queued: list[tuple[str, Sequence[Any]]] = []

    @property
    def started(self) -> bool:
        """Whether anything was sent or waits to be: a unit with neither has nothing to
        commit."""
        return not self._begin_with or bool(self._queued)

    def _check_open(self) -> None:
        if not self.open:
            raise StoreError("this unit of work was used after its transaction ended")

    def _send_waiting(self) -> None:
        conn = self._conn
        for statement in self._begin_with:
            conn.execute(statement, prepare=False)
        self._begin_with = []
        for sql, params in self._queued:
            conn.execute(sql, params)
        self._queued = []

    def _cursor(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> psycopg.Cursor[Any]:
        self._check_open()
        query = sql.replace("{s}", self._s)
        try:
            if not (self._begin_with or self._queued):
                return self._conn.execute(query, params)
            with self._conn.pipeline():
                self._send_waiting()
                cursor = self._conn.execute(query, params)
            return cursor
        except psycopg.Error as exc:
            raise _typed(exc, "a statement failed") from exc

    def _all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        cursor = self._cursor(sql, params)
        try:
            return cursor.fetchall()
        except psycopg.Error as exc:  # pragma: no cover - rows come with the statement
            raise _typed(exc, "a query failed") from exc

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _later(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Queue a write whose result nothing reads, to go with the next round trip."""
        self._check_open()
        query = sql.replace("{s}", self._s)
        self._queued.extend((query, row) for row in rows)

    def finish(self, end: str | None) -> None:
        """Send what waits, and ``end`` (``COMMIT``) with it, in one round trip."""
        self._check_open()
        try:
            with self._conn.pipeline():
                self._send_waiting()
                if end is not None:
                    self._conn.execute(end, prepare=False)
        except psycopg.Error as exc:
            raise _typed(exc, "commit failed") from exc

    # -- accounts ---------------------------------------------------------------------------

    def get_account(self, account_id: str) -> Account | None:
        row = self._one(
            "SELECT data::text FROM {s}.accounts WHERE account_id = %s" + self._lock_clause,
            (account_id,),
        )
        return None if row is None else self._decoded.decode(account_id, row[0])

    def add_account(self, account: Account) -> None:
        # ON CONFLICT keeps the transaction usable: a refusal is not a failed statement.
        cursor = self._cursor(
            "INSERT INTO {s}.accounts (account_id, version, due_at, data)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (account_id) DO NOTHING",
            (account.account_id, account.version, account.due_at, _doc(account)),
        )
        if cursor.rowcount != 1:
            raise AccountExists(
                f"account {account.account_id!r} exists", account_id=account.account_id
            )

    def update_account(self, account: Account) -> None:
        cursor = self._cursor(
            "UPDATE {s}.accounts SET version = %s, due_at = %s, data = %s"
            " WHERE account_id = %s AND version = %s",
            (
                account.version,
                account.due_at,
                _doc(account),
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
        rows = self._all(
            "SELECT account_id FROM {s}.accounts WHERE due_at <= %s"
            " ORDER BY due_at, account_id LIMIT %s",
            (ensure_aware(until, "until"), limit),
        )
        return [row[0] for row in rows]

    def claim_due_account(self, until: datetime, *, skip: Collection[str] = ()) -> Account | None:
        # SKIP LOCKED: an account another worker's unit holds is passed over, not waited for;
        # READ COMMITTED re-checks ``due_at`` on the newest version of the row it locks, so an
        # account another worker just brought up to date is passed over too (R-PG-5).
        row = self._one(
            "SELECT account_id, data::text FROM {s}.accounts"
            " WHERE due_at <= %s AND account_id <> ALL(%s)"
            " ORDER BY due_at, account_id LIMIT 1 FOR UPDATE SKIP LOCKED",
            (ensure_aware(until, "until"), list(skip)),
        )
        return None if row is None else self._decoded.decode(row[0], row[1])

    # -- ledger -----------------------------------------------------------------------------

    def append_entries(self, entries: Sequence[LedgerEntry]) -> None:
        rows = [
            (
                e.account_id,
                e.seq,
                e.at,
                str(e.balance),
                str(e.kind),
                e.count,
                e.amount.amount,
                e.balance_after.amount,
                e.amount.currency,
                e.key,
                e.invoice_code,
                _doc(e),
            )
            for e in entries
        ]
        self._later(
            "INSERT INTO {s}.ledger (account_id, seq, at, balance, kind, count, amount,"
            " balance_after, currency, key, invoice_code, data)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )

    # -- usage totals -----------------------------------------------------------------------

    def add_usage(self, account_id: str, totals: Sequence[DayTotal]) -> None:
        self._later(
            "INSERT INTO {s}.usage_totals (account_id, day, balance, kind, count, amount,"
            " currency) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (account_id, day, balance, kind) DO UPDATE SET"
            " count = {s}.usage_totals.count + excluded.count,"
            " amount = {s}.usage_totals.amount + excluded.amount",
            [
                (
                    account_id,
                    t.day,
                    str(t.balance),
                    str(t.kind),
                    t.count,
                    t.amount.amount,
                    t.amount.currency,
                )
                for t in totals
            ],
        )

    def usage_totals(
        self, account_id: str, *, since: date, until: date, balance: Balance | None
    ) -> list[DayTotal]:
        where = "account_id = %s AND day >= %s AND day < %s"
        params: list[Any] = [account_id, since, until]
        if balance is not None:
            where += " AND balance = %s"
            params.append(str(balance))
        rows = self._all(
            "SELECT day, balance, kind, count, amount, currency FROM {s}.usage_totals"
            f" WHERE {where} ORDER BY day, balance, kind",
            params,
        )
        return [
            DayTotal(day, Balance(balance_), EntryKind(kind), count, Money(amount, currency))
            for day, balance_, kind, count, amount, currency in rows
        ]

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
        where = ["account_id = %s"]
        params: list[Any] = [account_id]
        if balance is not None:
            where.append("balance = %s")
            params.append(str(balance))
        if kind is not None:
            where.append("kind = %s")
            params.append(str(kind))
        query = paging.ledger_query(
            account_id, balance=balance, kind=kind, since=since, until=until
        )
        _time_range(where, params, "at", "seq", since, until, query.position(cursor, 2))
        params.append(limit + 1)
        rows = self._all(
            f"SELECT data::text FROM {{s}}.ledger WHERE {' AND '.join(where)}"
            " ORDER BY at DESC, seq DESC LIMIT %s",
            params,
        )
        items = tuple(from_record(LedgerEntry, json.loads(row[0])) for row in rows[:limit])
        next_cursor = None
        if len(rows) > limit and items:
            next_cursor = query.encode(instant_us(items[-1].at), items[-1].seq)
        return Page(items, next_cursor)

    # -- invoices ---------------------------------------------------------------------------

    def next_invoice_number(self) -> int:
        # The row stays locked until the unit ends: numbers are given in commit order and a
        # rolled-back unit gives its number back (R-PG-4).
        row = self._one(
            "UPDATE {s}.sequences SET value = value + 1 WHERE name = 'invoice' RETURNING value"
        )
        if row is None:  # pragma: no cover - the row is created with the schema
            raise StoreError("the invoice sequence is missing from the database")
        return int(row[0])

    def get_invoice(self, code: str) -> Invoice | None:
        row = self._one("SELECT data::text FROM {s}.invoices WHERE code = %s", (code,))
        return None if row is None else from_record(Invoice, json.loads(row[0]))

    def add_invoice(self, invoice: Invoice) -> None:
        cursor = self._cursor(
            "INSERT INTO {s}.invoices (code, account_id, type, status, requested_at, total,"
            " version, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (code) DO NOTHING",
            (
                invoice.code,
                invoice.account_id,
                str(invoice.type),
                str(invoice.status),
                invoice.requested_at,
                invoice.total.amount,
                invoice.version,
                _doc(invoice),
            ),
        )
        if cursor.rowcount != 1:
            raise StoreError(
                f"invoice code {invoice.code!r} is already used", invoice_code=invoice.code
            )

    def update_invoice(self, invoice: Invoice) -> None:
        cursor = self._cursor(
            "UPDATE {s}.invoices SET type = %s, status = %s, requested_at = %s, total = %s,"
            " version = %s, data = %s WHERE code = %s AND version = %s",
            (
                str(invoice.type),
                str(invoice.status),
                invoice.requested_at,
                invoice.total.amount,
                invoice.version,
                _doc(invoice),
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
        rows = self._all(
            "SELECT data::text FROM {s}.invoices"
            " WHERE status = 'pending' AND requested_at < %s"
            " ORDER BY requested_at, code LIMIT %s",
            (ensure_aware(requested_before, "requested_before"), limit),
        )
        return [from_record(Invoice, json.loads(row[0])) for row in rows]

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
        where = ["account_id = %s"]
        params: list[Any] = [account_id]
        if type is not None:
            where.append("type = %s")
            params.append(str(type))
        if status is not None:
            where.append("status = %s")
            params.append(str(status))
        query = paging.invoice_query(account_id, type=type, status=status, since=since, until=until)
        _time_range(
            where, params, "requested_at", "created", since, until, query.position(cursor, 2)
        )
        params.append(limit + 1)
        rows = self._all(
            f"SELECT data::text, created FROM {{s}}.invoices WHERE {' AND '.join(where)}"
            " ORDER BY requested_at DESC, created DESC LIMIT %s",
            params,
        )
        page = [(from_record(Invoice, json.loads(data)), n) for data, n in rows[:limit]]
        next_cursor = None
        if len(rows) > limit and page:
            last, n = page[-1]
            next_cursor = query.encode(instant_us(last.requested_at), n)
        return Page(tuple(invoice for invoice, _ in page), next_cursor)

    # -- idempotency --------------------------------------------------------------------------

    def get_record(self, account_id: str, scope: str, key: str) -> IdempotencyRecord | None:
        row = self._one(
            "SELECT fingerprint, result::text FROM {s}.idempotency"
            " WHERE account_id = %s AND scope = %s AND key = %s",
            (account_id, scope, key),
        )
        if row is None:
            return None
        return IdempotencyRecord(account_id, scope, key, row[0], json.loads(row[1]))

    def get_records(
        self, account_id: str, scope: str, keys: Collection[str]
    ) -> dict[str, IdempotencyRecord]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        rows = self._all(
            "SELECT key, fingerprint, result::text FROM {s}.idempotency"
            " WHERE account_id = %s AND scope = %s AND key = ANY(%s)",
            (account_id, scope, wanted),
        )
        return {
            key: IdempotencyRecord(account_id, scope, key, print_, json.loads(result))
            for key, print_, result in rows
        }

    def put_record(self, record: IdempotencyRecord) -> None:
        self.put_records((record,))

    def put_records(self, records: Sequence[IdempotencyRecord]) -> None:
        self._later(
            "INSERT INTO {s}.idempotency (account_id, scope, key, fingerprint, result)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (account_id, scope, key)"
            " DO UPDATE SET fingerprint = excluded.fingerprint, result = excluded.result",
            [(r.account_id, r.scope, r.key, r.fingerprint, Jsonb(r.result)) for r in records],
        )

    # -- events (the outbox) ------------------------------------------------------------------

    def add_events(self, events: Sequence[DomainEvent]) -> None:
        self._later(
            "INSERT INTO {s}.events (account_id, name, at, data) VALUES (%s, %s, %s, %s)",
            [(e.account_id, str(e.name), e.at, _doc(e)) for e in events],
        )

    @staticmethod
    def _event(number: int, data: str) -> DomainEvent:
        return attrs.evolve(from_record(DomainEvent, json.loads(data)), id=str(number))

    def claim_events(
        self, *, owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[DomainEvent]:
        # Claims take turns (a transaction-scoped advisory lock, held for one short claim), so
        # that the check "no older event of this account is leased to another owner" always
        # sees the leases of every claim before it: with claims side by side, two deliverers
        # could each take one of an account's events and hand them over out of order. SKIP
        # LOCKED passes over the events a delivering unit is marking or releasing right now.
        self._cursor("SELECT pg_advisory_xact_lock(%s)", (_key(self._schema, "claims"),))
        rows = self._all(
            "WITH picked AS ("
            " SELECT e.id FROM {s}.events AS e"
            " WHERE e.delivered_at IS NULL"
            " AND (e.lease_until IS NULL OR e.lease_until <= %(now)s OR e.lease_owner = %(owner)s)"
            " AND NOT EXISTS (SELECT 1 FROM {s}.events AS o"
            "  WHERE o.account_id = e.account_id AND o.delivered_at IS NULL AND o.id < e.id"
            "  AND o.lease_until > %(now)s AND o.lease_owner <> %(owner)s)"
            " ORDER BY e.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
            " UPDATE {s}.events AS u SET lease_owner = %(owner)s, lease_until = %(until)s"
            " FROM picked WHERE u.id = picked.id RETURNING u.id, u.data::text",
            {
                "now": ensure_aware(now, "now"),
                "owner": owner,
                "until": ensure_aware(lease_until, "lease_until"),
                "limit": limit,
            },
        )
        return [self._event(number, data) for number, data in sorted(rows)]

    def mark_delivered(self, ids: Sequence[str], *, at: datetime) -> None:
        self._later(
            "UPDATE {s}.events SET delivered_at = %s, lease_owner = NULL, lease_until = NULL"
            " WHERE id = ANY(%s) AND delivered_at IS NULL",
            [(ensure_aware(at, "at"), _ids(ids))],
        )

    def release_events(self, ids: Sequence[str], *, owner: str) -> None:
        self._later(
            "UPDATE {s}.events SET lease_owner = NULL, lease_until = NULL"
            " WHERE id = ANY(%s) AND lease_owner = %s AND delivered_at IS NULL",
            [(_ids(ids), owner)],
        )

    def event_page(self, account_id: str, *, cursor: str | None, limit: int) -> Page[DomainEvent]:
        query = paging.event_query(account_id)
        after = (query.position(cursor, 1) or (0,))[0]
        rows = self._all(
            "SELECT id, data::text FROM {s}.events WHERE account_id = %s AND id > %s"
            " ORDER BY id LIMIT %s",
            (account_id, after, limit + 1),
        )
        items = tuple(self._event(number, data) for number, data in rows[:limit])
        more = len(rows) > limit and items
        return Page(items, query.encode(int(items[-1].id)) if more else None)

    def prune_events(self, before: datetime, *, limit: int) -> int:
        cursor = self._cursor(
            "DELETE FROM {s}.events WHERE id IN (SELECT id FROM {s}.events"
            " WHERE delivered_at IS NOT NULL AND at < %s ORDER BY at, id LIMIT %s"
            " FOR UPDATE SKIP LOCKED)",
            (ensure_aware(before, "before"), limit),
        )
        return cursor.rowcount


def _ids(ids: Sequence[str]) -> list[int]:
    # Ids are the store's own decimal numbers; anything else names no event (ignored).
    return [int(i) for i in ids if i.isascii() and i.isdigit() and len(i) < 19]


def _time_range(
    where: list[str],
    params: list[Any],
    column: str,
    order: str,
    since: datetime | None,
    until: datetime | None,
    position: tuple[int, ...] | None,
) -> None:
    if since is not None:
        where.append(f"{column} >= %s")
        params.append(ensure_aware(since, "since"))
    # Keep exactly one upper bound, the stricter one, so the index scan starts right at it.
    if position is not None:
        at, seq = from_us(position[0]), position[1]
        if until is None or at < until:
            where.append(f"({column}, {order}) < (%s, %s)")
            params.extend((at, seq))
            return
    if until is not None:
        where.append(f"{column} < %s")
        params.append(ensure_aware(until, "until"))


class PostgresSnapshot(PostgresUnit):
    """A ``REPEATABLE READ READ ONLY`` transaction's view (a :class:`subkit.ports.ReadUnit`);
    every write raises :class:`~subkit.errors.StoreError` before reaching the server (which
    would refuse it too)."""

    _lock_clause = ""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise StoreError("a snapshot is read-only; write through store.transaction()")

    add_account = update_account = append_entries = claim_due_account = add_usage = _refuse
    next_invoice_number = add_invoice = update_invoice = put_record = put_records = _refuse
    add_events = claim_events = mark_delivered = release_events = prune_events = _refuse


# -- the store --------------------------------------------------------------------------------

#: Pools inherited through fork(): kept referenced so that the child never finalises the
#: parent's connections (that would close the parent's sockets under it).
_INHERITED: list[object] = []


class PostgresStore:
    """A :class:`subkit.ports.Store` in a PostgreSQL schema.

    Args:
        conninfo_or_pool: a libpq connection string or URI (``postgresql://...``), from which
            the store makes (and closes) its own pool, or the host's own
            ``psycopg_pool.ConnectionPool``, which the store uses and never closes.
        schema: the schema of subkit's tables (``[a-z_][a-z0-9_]*``, at most 63 characters),
            created on first use.
        lock_timeout: seconds a statement waits for a row lock before the unit fails with
            :class:`~subkit.errors.ConcurrencyConflict` (the facade retries it).
        pool_size: the largest number of connections of the store's own pool.
        pool_timeout: seconds a unit waits for a free connection before ``StoreError``.

    Raises:
        StoreError: the server cannot be reached, or the schema exists but is not subkit's
            or was made by a newer subkit (then nothing is written to it).

    Units of work do not nest in one thread (each would hold its own connection, and the
    inner one would wait for the outer one's locks): opening one in a thread that has one
    open raises :class:`~subkit.errors.StoreError`. A snapshot may be opened while the thread
    holds a unit (it sees what was committed, not the unit's writes).
    """

    def __init__(
        self,
        conninfo_or_pool: str | ConnectionPool[Any],
        *,
        schema: str = "subkit",
        lock_timeout: float = 5.0,
        pool_size: int = 10,
        pool_timeout: float = 30.0,
    ) -> None:
        if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
            raise StoreError(
                f"schema must match [a-z_][a-z0-9_]* (at most 63 characters), got {schema!r}"
            )
        if schema.startswith("pg_"):
            raise StoreError(f"schema {schema!r} is reserved by PostgreSQL")
        self.schema = schema
        self._lock_ms = max(1, int(lock_timeout * 1000))
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._local = threading.local()
        self._decoded = _DecodedAccounts()
        self._closed = False
        if isinstance(conninfo_or_pool, ConnectionPool):
            self._conninfo: str | None = None
            self._pool: ConnectionPool[Any] = conninfo_or_pool
        elif isinstance(conninfo_or_pool, str):
            self._conninfo = conninfo_or_pool
            self._pool = self._make_pool()
        else:
            raise StoreError(
                "PostgresStore needs a connection string or a psycopg_pool.ConnectionPool, "
                f"not {type(conninfo_or_pool).__name__}"
            )
        self._pid = os.getpid()
        try:
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _make_pool(self) -> ConnectionPool[Any]:
        assert self._conninfo is not None
        try:
            pool: ConnectionPool[Any] = ConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=max(1, self._pool_size),
                timeout=self._pool_timeout,
                # The schema in the name tells the store's sessions apart in pg_stat_activity.
                kwargs={"autocommit": True, "application_name": f"subkit:{self.schema}"},
                open=False,
                name=f"subkit-{self.schema}",
            )
            pool.open(wait=False)
        except psycopg.Error as exc:
            raise StoreError(f"cannot set up a connection pool: {exc}") from exc
        return pool

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The pool the store takes connections from (in a forked child, the child's own)."""
        if self._closed:
            raise StoreError("the PostgreSQL store is closed")
        if self._pid != os.getpid():
            # A forked child must never use its parent's connections.
            if self._conninfo is None:
                raise StoreError(
                    "a PostgresStore built on the host's pool cannot be used in a forked "
                    "process; build a store (or a pool) in the child"
                )
            _INHERITED.append(self._pool)
            self._pool = self._make_pool()
            self._pid = os.getpid()
            self._local = threading.local()
        return self._pool

    # -- connections and transactions -------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        pool = self.pool
        try:
            conn = pool.getconn()
        except PoolTimeout as exc:
            raise StoreError(
                f"no PostgreSQL connection was free within the pool's timeout: {exc}"
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL: {exc}") from exc
        try:
            yield conn
        finally:
            pool.putconn(conn)

    def _begin(self, conn: psycopg.Connection[Any], mode: str) -> None:
        # One round trip: BEGIN with its mode and the unit's lock timeout. A host's pool may
        # hand out connections outside autocommit; psycopg has then begun already.
        settings = f"SET LOCAL lock_timeout = {self._lock_ms}"
        try:
            if conn.autocommit:
                conn.execute(f"BEGIN {mode}; {settings}", prepare=False)
            else:
                conn.execute(f"SET TRANSACTION {mode}; {settings}", prepare=False)
        except psycopg.Error as exc:
            self._rollback(conn)
            raise StoreError(f"cannot start a transaction: {exc}") from exc

    def _begin_statements(self, conn: psycopg.Connection[Any]) -> list[str]:
        """What starts a unit of work: its isolation level and lock timeout. A connection
        outside autocommit (a host's pool) has psycopg send BEGIN itself."""
        first = (
            "BEGIN ISOLATION LEVEL READ COMMITTED"
            if conn.autocommit
            else "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
        )
        return [first, f"SET LOCAL lock_timeout = {self._lock_ms}"]

    @staticmethod
    def _commit(conn: psycopg.Connection[Any]) -> None:
        try:
            if conn.autocommit:
                conn.execute("COMMIT")
            else:
                conn.commit()
        except psycopg.Error as exc:
            PostgresStore._rollback(conn)
            raise _typed(exc, "commit failed") from exc

    @staticmethod
    def _rollback(conn: psycopg.Connection[Any]) -> None:
        """End ``conn``'s transaction without ever raising (another error is on its way out).
        A connection that cannot roll back is closed; the pool replaces it."""
        try:
            if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                if conn.autocommit:
                    conn.execute("ROLLBACK")
                else:
                    conn.rollback()
        except psycopg.Error:
            conn.close()

    @contextmanager
    def _unit(self, unit: type[PostgresUnit], mode: str, flag: str, keep: bool) -> Iterator[Any]:
        if getattr(self._local, flag, False):
            raise StoreError(
                f"a {flag} is already open in this thread; PostgresStore {flag}s do not nest"
            )
        setattr(self._local, flag, True)
        try:
            with self._connection() as conn:
                if keep:  # a unit of work begins with its first statement
                    view = unit(conn, self.schema, self._decoded, self._begin_statements(conn))
                else:  # a snapshot is taken now
                    self._begin(conn, mode)
                    view = unit(conn, self.schema, self._decoded)
                try:
                    yield view
                    if keep and view.started:
                        view.finish("COMMIT" if conn.autocommit else None)
                        if not conn.autocommit:
                            self._commit(conn)
                except BaseException:
                    view.open = False
                    self._rollback(conn)
                    raise
                view.open = False
                if not keep:
                    self._rollback(conn)  # a snapshot has nothing to keep: just end it
        finally:
            setattr(self._local, flag, False)

    @contextmanager
    def transaction(self) -> Iterator[PostgresUnit]:
        """Open a unit of work: one ``READ COMMITTED`` transaction, committed on leaving."""
        with self._unit(PostgresUnit, "ISOLATION LEVEL READ COMMITTED", "unit of work", True) as u:
            yield u

    @contextmanager
    def snapshot(self) -> Iterator[PostgresSnapshot]:
        """Open a read-only view of what was committed now (``Store.snapshot``): a
        ``REPEATABLE READ READ ONLY`` transaction whose snapshot a first read takes at once.
        It takes no row lock, so it never waits for a writer."""
        mode = "ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1"
        with self._unit(PostgresSnapshot, mode, "snapshot", False) as view:
            yield view

    # -- schema -----------------------------------------------------------------------------

    def _inspect(self, conn: psycopg.Connection[Any]) -> int | None:
        """The schema's subkit version: ``None`` when it does not exist or is empty (subkit
        sets it up). Raises ``StoreError`` for a foreign or newer schema."""
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT c.relname FROM pg_catalog.pg_class AS c"
                " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
                " ORDER BY c.relname",
                (self.schema,),
            ).fetchall()
        ]
        if not tables:
            return None
        version = None
        if "schema_version" in tables:
            rows = conn.execute(
                f'SELECT application, version FROM "{self.schema}".schema_version'
            ).fetchall()
            if len(rows) == 1 and rows[0][0] == APPLICATION and isinstance(rows[0][1], int):
                version = int(rows[0][1])
        if version is None:
            raise StoreError(
                f"schema {self.schema!r} holds tables of another application "
                f"({', '.join(tables)}); subkit will not write to it"
            )
        if version > len(MIGRATIONS):
            raise StoreError(
                f"schema {self.schema!r} has subkit schema version {version}, newer than this "
                f"subkit knows ({len(MIGRATIONS)}); upgrade subkit to open it"
            )
        return version

    def _migrate(self) -> None:
        """Bring the schema to the newest version (forward only), once across processes."""
        newest = len(MIGRATIONS)
        with self._connection() as conn:
            try:
                self._begin(conn, "ISOLATION LEVEL READ COMMITTED")
                # Opening an up-to-date schema takes no lock: one read.
                if self._inspect(conn) == newest:
                    self._commit(conn)
                    return
                # Two processes starting at once: the second waits here, then finds the
                # schema migrated (READ COMMITTED: the next statement sees the first's commit).
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_key(self.schema, "migrate"),))
                current = self._inspect(conn) or 0
                if current == newest:  # another process migrated it meanwhile
                    self._commit(conn)
                    return
                quoted = f'"{self.schema}"'
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
                for statements in MIGRATIONS[current:]:
                    # One round trip per migration: its statements, none with parameters.
                    script = ";\n".join(statements).replace("{s}", quoted)
                    conn.execute(script, prepare=False)
                conn.execute(f"DELETE FROM {quoted}.schema_version")
                conn.execute(
                    f"INSERT INTO {quoted}.schema_version (application, version) VALUES (%s, %s)",
                    (APPLICATION, newest),
                )
            except BaseException as exc:
                self._rollback(conn)
                if isinstance(exc, psycopg.Error):
                    raise StoreError(f"cannot set up schema {self.schema!r}: {exc}") from exc
                raise
            self._commit(conn)

    # -- the billing run and lifetime -------------------------------------------------------

    def close(self) -> None:
        """Close the store's own pool (a host's pool is left open); the store cannot be used
        afterwards."""
        if self._closed:
            return
        self._closed = True
        if self._conninfo is not None and self._pid == os.getpid():
            self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresStore(schema={self.schema!r})"


__all__ = [
    "APPLICATION",
    "MIGRATIONS",
    "PostgresSnapshot",
    "PostgresStore",
    "PostgresUnit",
]
