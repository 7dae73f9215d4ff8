"""SqliteStore under a held write lock: snapshots never wait (R-CON-2), and no raw
``sqlite3`` error ever leaves the store, only typed ``SubkitError`` s (R-CON-3)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs
import pytest

from subkit.contract import make_account
from subkit.errors import ConcurrencyConflict, StoreError
from subkit.stores.sqlite import SqliteStore

SPAWN = multiprocessing.get_context("spawn")


def hold_the_write_lock(path: str, pipe: Connection) -> None:
    """In another process: take the write lock with an uncommitted change, say so, and keep
    it until told to let go (then roll back)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE accounts SET version = version + 100")
    pipe.send("locked")
    pipe.recv()
    conn.execute("ROLLBACK")
    conn.close()
    pipe.send("released")


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A store file with account "acme" whose write lock another process holds."""
    path = tmp_path / "locked.db"
    with SqliteStore(path) as store, store.transaction() as unit:
        unit.add_account(make_account("acme"))
    parent, child = SPAWN.Pipe()
    process = SPAWN.Process(target=hold_the_write_lock, args=(str(path), child))
    process.start()
    try:
        assert parent.poll(60), "the lock holder did not start"
        assert parent.recv() == "locked"
        yield path
    finally:
        parent.send("go")
        process.join(60)
        assert process.exitcode == 0


def test_a_snapshot_opens_and_reads_while_another_process_holds_the_write_lock(
    locked: Path,
) -> None:
    # No wait allowed: a snapshot that needed the lock would fail at once here.
    with SqliteStore(locked, timeout=0.05, retries=0) as store:
        with store.snapshot() as view:
            assert view.get_account("acme") == make_account("acme")  # not the holder's change
            assert view.due_accounts(make_account("acme").due_at, limit=5) == ["acme"]
        # ... while a unit of work, which needs the lock, waits its bounded time and then
        # raises a typed StoreError, never sqlite3's "database is locked".
        with pytest.raises(StoreError, match="locked"), store.transaction():
            pass


class _Busy:
    """A connection stand-in whose statements fail as a contended SQLite's do."""

    def __init__(self, inner: sqlite3.Connection, error: sqlite3.Error) -> None:
        self._inner = inner
        self._error = error
        self.armed = False

    def execute(self, sql: str, params: Any = ()) -> Any:
        if self.armed:
            raise self._error
        return self._inner.execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> Any:
        if self.armed:
            raise self._error
        return self._inner.executemany(sql, rows)


def busy_error() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = 5  # type: ignore[attr-defined]
    return error


@pytest.mark.parametrize(
    "statement",
    ["get_account", "update_account", "append_entries", "next_invoice_number", "due_accounts"],
)
def test_a_busy_database_inside_a_unit_is_a_concurrency_conflict(
    tmp_path: Path, statement: str
) -> None:
    """Busy or locked mid-transaction: ConcurrencyConflict (the facade retries it), the unit
    rolled back; the raw error is only its cause."""
    from subkit.contract import make_entry

    with SqliteStore(tmp_path / "busy.db") as store:
        with store.transaction() as unit:
            unit.add_account(make_account("acme"))
        calls: dict[str, Any] = {
            "get_account": lambda u: u.get_account("acme"),
            "update_account": lambda u: u.update_account(
                attrs.evolve(make_account("acme"), version=1)
            ),
            "append_entries": lambda u: u.append_entries(
                [make_entry("acme", 1, make_account("acme").due_at)]
            ),
            "next_invoice_number": lambda u: u.next_invoice_number(),
            "due_accounts": lambda u: u.due_accounts(make_account("acme").due_at, limit=3),
        }
        with pytest.raises(ConcurrencyConflict) as caught, store.transaction() as unit:
            busy = _Busy(unit._conn, busy_error())
            unit._conn = busy  # type: ignore[assignment]
            busy.armed = True
            calls[statement](unit)
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        with store.transaction() as unit:  # the store works on, nothing was kept
            assert unit.get_account("acme") == make_account("acme")
            assert unit.next_invoice_number() == 1


def test_other_sqlite_errors_inside_a_unit_are_store_errors(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "broken.db") as store:
        with pytest.raises(StoreError) as caught, store.transaction() as unit:
            busy = _Busy(unit._conn, sqlite3.DatabaseError("database disk image is malformed"))
            unit._conn = busy  # type: ignore[assignment]
            busy.armed = True
            unit.get_account("acme")
        assert not isinstance(caught.value, ConcurrencyConflict)
        assert "malformed" in str(caught.value)


class _BusyAtCommit:
    """A connection stand-in whose COMMIT finds the database busy."""

    def __init__(self, inner: sqlite3.Connection) -> None:
        self._inner = inner

    @property
    def in_transaction(self) -> bool:
        return self._inner.in_transaction

    def execute(self, sql: str, params: Any = ()) -> Any:
        if sql == "COMMIT":
            raise busy_error()
        return self._inner.execute(sql, params)


def test_a_busy_commit_is_a_concurrency_conflict_and_keeps_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqliteStore(tmp_path / "commit.db") as store:
        real_commit = store._commit

        def busy_commit(conn: sqlite3.Connection, **kwargs: Any) -> None:
            real_commit(_BusyAtCommit(conn), **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "_commit", busy_commit)
        with pytest.raises(ConcurrencyConflict), store.transaction() as unit:
            unit.add_account(make_account("acme"))
        monkeypatch.undo()
        assert not store.connection().in_transaction  # rolled back, not left open
        with store.snapshot() as view:
            assert view.get_account("acme") is None


def test_snapshots_do_not_nest_but_work_inside_a_unit(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "nest.db") as store:
        with (
            store.snapshot(),
            pytest.raises(StoreError, match="do not nest"),
            store.snapshot(),
        ):
            pass
        with store.transaction() as unit:
            unit.add_account(make_account("acme"))
            with store.snapshot() as view:
                assert view.get_account("acme") is None  # uncommitted: not in the snapshot
        with store.snapshot() as view:
            assert view.get_account("acme") == make_account("acme")
