"""SqliteStore beyond the contract: processes, crashes, foreign files, paging cost, migrations.

The contract suite (tests/test_store_contract.py) covers the behaviour every store shares.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
import sqlite3
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from subkit.contract import event as contract_event
from subkit.contract import make_account, make_entry
from subkit.errors import StoreError
from subkit.idempotency import IdempotencyRecord
from subkit.invoice import BillingProfile, PaymentStatus
from subkit.paging import event_query, instant_us, ledger_query
from subkit.plans import Catalogue
from subkit.service import Billing, PaymentEvent
from subkit.stores import sqlite as sqlite_module
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock
from subkit.wallet import Balance, EntryKind, LedgerEntry

T0 = datetime(2025, 1, 10, 3, tzinfo=UTC)
SPAWN = multiprocessing.get_context("spawn")


def billing_on(path: Path | str) -> tuple[Billing, SqliteStore]:
    store = SqliteStore(path)
    return Billing(Catalogue.default(), store, FakeGateway(), clock=FixedClock(T0)), store


def open_accounts(path: Path, *account_ids: str) -> None:
    billing, store = billing_on(path)
    for account_id in account_ids:
        billing.open_account(account_id)
        billing.set_billing_profile(account_id, BillingProfile(account_id, f"{account_id}@x.id"))
    store.close()


def top_up_and_pay(billing: Billing, account_id: str, key: str) -> None:
    checkout = billing.top_up(account_id, Balance.CONVERSATION, 10_000, idempotency_key=key)
    assert checkout.invoice is not None
    billing.apply_payment(
        PaymentEvent(
            checkout.invoice.code,
            PaymentStatus.PAID,
            f"ref-{key}",
            checkout.invoice.total,
            event_id=f"event-{key}",
        )
    )


def check_books(path: Path) -> dict[str, Any]:
    """Check what must hold whatever ran before; return counts for the caller's checks."""
    store = SqliteStore(path)
    try:
        conn = store.connection()
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        with store.transaction() as unit:
            ids = [row[0] for row in conn.execute("SELECT account_id FROM accounts")]
            for account_id in ids:
                account = unit.get_account(account_id)
                assert account is not None
                sums = dict(
                    conn.execute(
                        "SELECT balance, SUM(amount) FROM ledger WHERE account_id = ?"
                        " GROUP BY balance",
                        (account_id,),
                    ).fetchall()
                )
                for balance in Balance:
                    held = account.wallet.balance(balance).amount
                    assert held == sums.get(str(balance), 0), (account_id, balance)
                    assert held >= 0
        assert conn.execute("SELECT MIN(balance_after) FROM ledger").fetchone()[0] >= 0
        codes = [row[0] for row in conn.execute("SELECT code FROM invoices")]
        numbers = sorted(int(code.rsplit("-", 1)[1]) for code in codes)
        assert numbers == list(range(1, len(codes) + 1)), "invoice numbers are gapless"
        assert len(set(codes)) == len(codes)
        (sequence,) = conn.execute("SELECT value FROM sequences WHERE name = 'invoice'").fetchone()
        assert sequence == len(codes)
        kinds = Counter(
            dict(conn.execute("SELECT kind, COUNT(*) FROM ledger GROUP BY kind").fetchall())
        )
        scopes = Counter(
            dict(conn.execute("SELECT scope, COUNT(*) FROM idempotency GROUP BY scope").fetchall())
        )
        statuses = Counter(
            dict(conn.execute("SELECT status, COUNT(*) FROM invoices GROUP BY status").fetchall())
        )
        return {"kinds": kinds, "scopes": scopes, "statuses": statuses, "invoices": len(codes)}
    finally:
        store.close()


# -- several processes ---------------------------------------------------------------------------


def hammer(path: str, worker: int, calls: int, account_ids: list[str]) -> dict[str, int]:
    """One process's stream of facade calls: charges, replays of its own keys, paid top-ups."""
    billing, store = billing_on(path)
    done = {"charged": 0, "replayed": 0, "top_ups": 0}
    for i in range(calls):
        account_id = account_ids[(i + worker) % len(account_ids)]
        if i % 25 == 24:
            top_up_and_pay(billing, account_id, f"w{worker}-t{i}")
            done["top_ups"] += 1
        elif i % 10 == 9:
            earlier = i - len(account_ids)  # the same account's charge a few calls ago
            key = f"w{worker}-c{earlier}"
            first = billing.charge_replies(account_id, 1, key=key)
            assert first.key == key
            done["replayed"] += 1
        else:
            billing.charge_replies(account_id, 1, key=f"w{worker}-c{i}")
            done["charged"] += 1
    store.close()
    return done


def test_several_processes_share_one_file(tmp_path: Path) -> None:
    """4 processes x 250 facade calls on one file: every charge counted once, replays charge
    nothing, balances equal their ledgers, invoice numbers gapless."""
    path = tmp_path / "shared.db"
    account_ids = ["a", "b", "c"]
    open_accounts(path, *account_ids)
    with SPAWN.Pool(4) as pool:
        results = pool.starmap(hammer, [(str(path), w, 250, account_ids) for w in range(4)])
    charged = sum(r["charged"] for r in results)
    top_ups = sum(r["top_ups"] for r in results)
    assert (charged, sum(r["replayed"] for r in results), top_ups) == (880, 80, 40)
    books = check_books(path)
    assert books["kinds"]["reply"] == charged
    assert books["scopes"]["reply"] == charged
    assert books["kinds"]["top_up"] == top_ups == books["statuses"]["paid"]
    assert books["invoices"] == top_ups
    assert books["scopes"]["payment_event"] == top_ups


# -- a crash -------------------------------------------------------------------------------------


def stream_until_killed(path: str, pipe: Connection) -> None:
    """Facade calls without end, reporting each finished one through ``pipe``."""
    billing, _ = billing_on(path)
    for i in range(1_000_000):
        if i % 7 == 6:
            top_up_and_pay(billing, "crash", f"t{i}")
        else:
            billing.charge_replies("crash", 2, key=f"c{i}")
        pipe.send(i + 1)


def test_a_process_killed_mid_stream_leaves_only_whole_calls(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    open_accounts(path, "crash")
    parent, child = SPAWN.Pipe(duplex=False)
    process = SPAWN.Process(target=stream_until_killed, args=(str(path), child))
    process.start()
    child.close()
    finished = 0
    while finished < 60:
        finished = parent.recv()
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert process.exitcode == -signal.SIGKILL
    books = check_books(path)  # opens, integrity ok, ledger sums equal balances
    replies = books["kinds"]["reply"]
    assert replies == books["scopes"]["reply"], "a charge and its key commit together"
    assert books["kinds"]["top_up"] == books["statuses"]["paid"] == books["scopes"]["payment_event"]
    reported_replies = sum(1 for i in range(finished) if i % 7 != 6)
    assert replies >= reported_replies


# -- files that are not subkit's -----------------------------------------------------------------


def _text_file(path: Path) -> str:
    path.write_text("name,amount\nacme,100\n")
    return "not a SQLite database"


def _newer_schema(path: Path) -> str:
    SqliteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    return "schema version 99, newer than this subkit knows"


def _foreign_database(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ann')")
    conn.close()
    return "database of another application (tables: users)"


def _foreign_with_schema_version(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
    conn.close()
    return "database of another application"


def _read_only(path: Path) -> str:
    SqliteStore(path).close()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return "read-only"


@pytest.mark.parametrize(
    "make",
    [_text_file, _newer_schema, _foreign_database, _foreign_with_schema_version, _read_only],
    ids=["text", "newer-schema", "foreign", "foreign-schema-version", "read-only"],
)
def test_a_file_that_is_not_a_usable_subkit_database_is_refused_untouched(
    tmp_path: Path, make: Callable[[Path], str]
) -> None:
    path = tmp_path / "data.db"
    message = make(path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    with pytest.raises(StoreError, match=re.escape(message)):
        SqliteStore(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_a_missing_directory_and_memory_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a directory"):
        SqliteStore(tmp_path / "nowhere" / "data.db")
    with pytest.raises(StoreError, match="file path"):
        SqliteStore(":memory:")
    assert not (tmp_path / "nowhere").exists()


def test_an_empty_file_becomes_a_subkit_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with SqliteStore(path) as store, store.transaction() as unit:
        unit.add_account(make_account("acme"))
    with SqliteStore(path) as store, store.transaction() as unit:
        assert unit.get_account("acme") == make_account("acme")


# -- history pages read a page -------------------------------------------------------------------

HISTORY = 100_000


@pytest.fixture(scope="module")
def big_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    """One account with 100 000 entries (three per instant), every 1000th a top-up."""
    store = SqliteStore(tmp_path_factory.mktemp("big") / "big.db")
    template = make_entry("big", 1, T0)
    entries = [
        make_entry(
            "big",
            seq,
            T0 + timedelta(seconds=seq // 3),
            kind=EntryKind.TOP_UP if seq % 1000 == 0 else EntryKind.REPLY,
            amount=10_000 if seq % 1000 == 0 else template.amount.amount,
        )
        for seq in range(1, HISTORY + 1)
    ]
    with store.transaction() as unit:
        unit.add_account(make_account("big"))
        unit.append_entries(entries)
    yield store
    store.close()


def _page_cost(
    store: SqliteStore, *, kind: EntryKind | None = None, cursor: str | None = None
) -> tuple[tuple[LedgerEntry, ...], int, list[str]]:
    """Read one 50-entry page; return it, the SQLite VM steps (x100) and the SQL run."""
    conn = store.connection()
    statements: list[str] = []
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_trace_callback(statements.append)
    conn.set_progress_handler(tick, 100)
    try:
        with store.transaction() as unit:
            page = unit.ledger_page(
                "big", balance=None, kind=kind, since=None, until=None, limit=50, cursor=cursor
            )
    finally:
        conn.set_trace_callback(None)
        conn.set_progress_handler(None, 100)
    return page.items, steps[0], [s for s in statements if "FROM ledger" in s]


def _full_pass_cost(store: SqliteStore) -> int:
    conn = store.connection()
    steps = [0]

    def tick() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(tick, 100)
    try:
        (count,) = conn.execute(
            "SELECT COUNT(data) FROM ledger WHERE account_id = 'big'"
        ).fetchone()
    finally:
        conn.set_progress_handler(None, 100)
    assert count == HISTORY
    return steps[0]


@pytest.mark.parametrize(
    ("kind", "deep"),
    [(None, False), (None, True), (EntryKind.TOP_UP, False), (EntryKind.TOP_UP, True)],
    ids=["first-page", "deep-page", "top-ups", "top-ups-deep"],
)
def test_a_history_page_reads_a_page_of_rows_not_the_history(
    big_history: SqliteStore, kind: EntryKind | None, deep: bool
) -> None:
    """R-BAL-7: the plan is an index range (no scan, no sort), and the work done is a small
    fraction of one pass over the account's entries."""
    cursor = None
    if deep:  # half way down the history
        middle = HISTORY // 2
        query = ledger_query("big", balance=None, kind=kind, since=None, until=None)
        cursor = query.encode(instant_us(T0 + timedelta(seconds=middle // 3)), middle)
    items, steps, statements = _page_cost(big_history, kind=kind, cursor=cursor)
    top = HISTORY // 2 if deep else HISTORY
    wanted = [
        seq for seq in range(top - (1 if deep else 0), 0, -1) if kind is None or seq % 1000 == 0
    ][:50]
    assert [e.seq for e in items] == wanted
    (sql,) = statements
    plan = " ".join(row[3] for row in big_history.connection().execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "SEARCH ledger USING INDEX ledger_by_" in plan
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan
    full = _full_pass_cost(big_history)
    assert steps * 100 < full, (steps, full)  # under 1% of one pass over the history


def test_due_accounts_reads_the_due_index(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "due.db") as store:
        conn = store.connection()
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        with store.transaction() as unit:
            unit.due_accounts(T0, limit=10)
        conn.set_trace_callback(None)
        (sql,) = [s for s in statements if "FROM accounts" in s]
        plan = " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "INDEX accounts_by_due (due_at_us<?)" in plan
        assert "TEMP B-TREE" not in plan  # read in the index's order: no sort


# -- migrations ----------------------------------------------------------------------------------


def test_a_version_1_database_is_migrated_forward_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    with SqliteStore(path) as store, store.transaction() as unit:
        unit.add_account(make_account("acme"))

    def add_note(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE accounts ADD COLUMN note TEXT")  # fails if run twice

    monkeypatch.setattr(sqlite_module, "MIGRATIONS", [*sqlite_module.MIGRATIONS, add_note])
    newest = len(sqlite_module.MIGRATIONS)
    for _ in range(2):  # the second open finds the newest version and runs nothing
        with SqliteStore(path) as store:
            conn = store.connection()
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [(newest,)]
            columns = [row[1] for row in conn.execute("PRAGMA table_info(accounts)")]
            assert "note" in columns
            with store.transaction() as unit:
                assert unit.get_account("acme") == make_account("acme")
    monkeypatch.undo()
    with pytest.raises(StoreError, match=f"schema version {newest}, newer"):
        SqliteStore(path)


def test_a_version_1_file_gains_the_pending_invoices_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MIGRATIONS[2] (R-GW-3): reconcile's index is added to a file made before it."""
    path = tmp_path / "v1.db"
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", sqlite_module.MIGRATIONS[:1])
    SqliteStore(path).close()
    monkeypatch.undo()
    with SqliteStore(path) as store:
        conn = store.connection()
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "invoices_by_status" in names
        newest = len(sqlite_module.MIGRATIONS)
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(newest,)]
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT data FROM invoices INDEXED BY invoices_by_status"
            " WHERE status = 'pending' AND requested_at_us < 1 ORDER BY requested_at_us, code"
        ).fetchall()
        assert "USE TEMP B-TREE" not in str(plan)  # read in index order, no sort


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.db"
    SqliteStore(path).close()
    current = len(sqlite_module.MIGRATIONS)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("migration bug")

    monkeypatch.setattr(sqlite_module, "MIGRATIONS", [*sqlite_module.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        SqliteStore(path)
    monkeypatch.undo()
    with SqliteStore(path) as store:
        conn = store.connection()
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(current,)]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert "half_done" not in tables


# -- using the store -----------------------------------------------------------------------------


def test_units_do_not_nest_and_do_not_outlive_their_block(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        with (
            store.transaction() as unit,
            pytest.raises(StoreError, match="do not nest"),
            store.transaction(),
        ):
            pass  # pragma: no cover
        with pytest.raises(StoreError, match="after its transaction ended"):
            unit.get_account("acme")
    with pytest.raises(StoreError, match="closed"), store.transaction():
        pass  # pragma: no cover


def test_a_writer_that_holds_the_lock_too_long_gives_store_error(tmp_path: Path) -> None:
    """busy_timeout, then a bounded number of retries, then StoreError (not a hang)."""
    path = tmp_path / "s.db"
    SqliteStore(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    # Opening an up-to-date file needs no lock (R-CON-2); its first unit of work does.
    with (
        SqliteStore(path, timeout=0.05, retries=1) as opened,
        pytest.raises(StoreError, match="locked"),
        opened.transaction(),
    ):
        pass  # pragma: no cover
    other.execute("ROLLBACK")
    with SqliteStore(path, timeout=0.05, retries=1) as store:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked"), store.transaction():
            pass  # pragma: no cover
        holder.execute("ROLLBACK")
        holder.close()
        with store.transaction() as unit:
            assert unit.get_account("x") is None
    other.close()


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "s.db") as store:
        seen: list[sqlite3.Connection] = []
        thread = threading.Thread(target=lambda: seen.append(store.connection()))
        thread.start()
        thread.join()
        assert seen[0] is not store.connection()
        assert store.connection() is store.connection()


def _write_in_forked_child(store: SqliteStore) -> None:
    inherited = store._local.conn  # the parent's connection, copied by fork()
    if store.connection() is inherited:
        os._exit(3)
    with store.transaction() as unit:
        unit.put_record(make_record("from-child"))
    store.close()  # must close the child's own connection only
    try:
        inherited.execute("SELECT 1")  # no file access; fails only if it was closed
    except sqlite3.ProgrammingError:
        os._exit(4)


def make_record(key: str) -> IdempotencyRecord:
    return IdempotencyRecord("acme", "test", key, "fp", {"key": key})


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork()")
def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    """The parent's connection is never used, nor closed, by a child made by fork()."""
    with SqliteStore(tmp_path / "s.db") as store:
        with store.transaction() as unit:
            unit.put_record(make_record("before-fork"))
        parents = store.connection()
        child = multiprocessing.get_context("fork").Process(
            target=_write_in_forked_child, args=(store,)
        )
        child.start()
        child.join()
        assert child.exitcode == 0
        assert store.connection() is parents
        with store.transaction() as unit:
            assert unit.get_record("acme", "test", "from-child") == make_record("from-child")
            unit.put_record(make_record("after-fork"))


# -- the events outbox ---------------------------------------------------------------------------


def test_a_database_made_before_the_outbox_gets_it_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "v1.db"
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", sqlite_module.MIGRATIONS[:1])
    with SqliteStore(path) as store, store.transaction() as unit:
        unit.add_account(make_account("acme"))
    monkeypatch.undo()
    with SqliteStore(path) as store:
        with store.transaction() as unit:
            assert unit.get_account("acme") == make_account("acme")
            unit.add_events([contract_event("acme", 1)])
        with store.transaction() as unit:
            [stored] = unit.event_page("acme", cursor=None, limit=10).items
        assert stored.id == "1" and stored.facts["invoice_code"] == "INV-1"


def _plans(store: SqliteStore, work: Callable[[Any], object]) -> list[str]:
    """The query plan of every statement on the events table that ``work(unit)`` runs."""
    conn = store.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    with store.transaction() as unit:
        work(unit)
    conn.set_trace_callback(None)
    return [
        " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        for sql in statements
        if "events" in sql and sql.lstrip().upper().startswith(("SELECT", "DELETE"))
    ]


def test_every_outbox_read_is_an_index_range(tmp_path: Path) -> None:
    """Claims, the feed and pruning each read a range of one index: no scan of the events
    table, no sort (R-EVT, R-CON)."""
    with SqliteStore(tmp_path / "events.db") as store:
        with store.transaction() as unit:
            unit.add_events([contract_event(f"acct-{n % 5}", n) for n in range(50)])
        now = T0 + timedelta(days=400)
        plans = _plans(
            store,
            lambda unit: (
                unit.claim_events(
                    owner="x", now=now, lease_until=now + timedelta(minutes=1), limit=10
                ),
                unit.event_page("acct-1", cursor=event_query("acct-1").encode(3), limit=5),
                unit.prune_events(now, limit=10),
            ),
        )
        assert len(plans) == 3, plans
        claim, page, prune = plans
        # The partial index of pending events, in its order, stopping at the limit.
        assert claim.startswith("SCAN e USING INDEX events_pending |")
        assert "USING INDEX events_pending_by_account (account_id=? AND id<?)" in claim
        assert "SEARCH events USING INDEX events_by_account (account_id=? AND id>?)" in page
        assert "USING INDEX events_delivered_by_time (at_us<?)" in prune
        for plan in plans:
            assert "TEMP B-TREE" not in plan, plan
            assert "SCAN events" not in plan and "SCAN e |" not in plan + " |", plan
