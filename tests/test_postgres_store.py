"""PostgresStore beyond the contract suite: its schema and migrations (R-PG-2), its
transactions, locks and typed errors (R-PG-3, R-CON-3), the gapless invoice sequence (R-PG-4)
and the host's own pool (R-PG-7). On the real server at SUBKIT_PG_DSN; skipped without one
(failed under SUBKIT_REQUIRE_PG=1)."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from stores import PG_DSN, pg_schema
from subkit.contract import make_account, make_entry, make_invoice
from subkit.errors import ConcurrencyConflict, StoreError
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.stores.postgres import MIGRATIONS, PostgresStore
from subkit.testing import FakeGateway, FixedClock

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def schema() -> Iterator[str]:
    with pg_schema() as name:
        yield name


@pytest.fixture
def store(schema: str) -> Iterator[PostgresStore]:
    with PostgresStore(PG_DSN, schema=schema, pool_size=4) as store:
        yield store


def sql(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a connection of its own (autocommit) and return its rows."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        cursor = conn.execute(statement, params)  # type: ignore[arg-type]
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def tables(schema: str) -> list[str]:
    return [
        row[0]
        for row in sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", (schema,)
        )
    ]


# -- schema and migrations (R-PG-2) -------------------------------------------------------------


def test_first_use_creates_the_schema_at_the_newest_version(store: PostgresStore) -> None:
    assert tables(store.schema) == [
        "accounts",
        "events",
        "idempotency",
        "invoices",
        "ledger",
        "schema_version",
        "sequences",
        "usage_totals",
    ]
    rows = sql(f'SELECT application, version FROM "{store.schema}".schema_version')
    assert rows == [("subkit", len(MIGRATIONS))]
    # Reopening an up-to-date schema changes nothing.
    PostgresStore(PG_DSN, schema=store.schema).close()
    assert sql(f'SELECT application, version FROM "{store.schema}".schema_version') == rows


def test_an_empty_schema_made_by_the_host_is_set_up(schema: str) -> None:
    sql(f'CREATE SCHEMA "{schema}"')
    with PostgresStore(PG_DSN, schema=schema) as store, store.transaction() as unit:
        unit.add_account(make_account("acme"))
    assert "accounts" in tables(schema)


def test_a_schema_of_another_application_is_refused_and_not_written(schema: str) -> None:
    sql(f'CREATE SCHEMA "{schema}"')
    sql(f'CREATE TABLE "{schema}".orders (id int)')
    with pytest.raises(StoreError, match="another application"):
        PostgresStore(PG_DSN, schema=schema)
    assert tables(schema) == ["orders"]
    # A table named schema_version is not enough to make it subkit's.
    sql(f'CREATE TABLE "{schema}".schema_version (application text, version int)')
    sql(f"INSERT INTO \"{schema}\".schema_version VALUES ('flyway', 1)")
    with pytest.raises(StoreError, match="another application"):
        PostgresStore(PG_DSN, schema=schema)
    assert tables(schema) == ["orders", "schema_version"]


def test_a_newer_schema_is_refused_and_not_written(store: PostgresStore) -> None:
    newer = len(MIGRATIONS) + 1
    sql(f'UPDATE "{store.schema}".schema_version SET version = %s', (newer,))
    with pytest.raises(StoreError, match="newer than this subkit knows"):
        PostgresStore(PG_DSN, schema=store.schema)
    assert sql(f'SELECT version FROM "{store.schema}".schema_version') == [(newer,)]


def test_opening_an_up_to_date_schema_does_not_wait_for_a_migration_lock(
    store: PostgresStore,
) -> None:
    """A process starting while another one holds the migration lock (a long migration of
    another schema version, say) opens at once when there is nothing to migrate."""
    from subkit.stores.postgres import _key

    opened: list[PostgresStore] = []
    with psycopg.connect(PG_DSN, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_key(store.schema, "migrate"),))
        opener = threading.Thread(
            target=lambda: opened.append(PostgresStore(PG_DSN, schema=store.schema))
        )
        opener.start()
        opener.join(timeout=30)
        finished = not opener.is_alive()
        holder.execute("SELECT pg_advisory_unlock_all()")
    opener.join()
    for other in opened:
        other.close()
    assert finished, "opening an up-to-date schema waited for the migration lock"


def _open_in_a_process(schema: str, start: Any, results: Any) -> None:
    start.wait(30)
    try:
        PostgresStore(PG_DSN, schema=schema).close()
        results.put("ok")
    except BaseException as exc:  # reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_starting_at_once_migrate_once(schema: str) -> None:
    start = SPAWN.Event()
    results = SPAWN.Queue()
    workers = [
        SPAWN.Process(target=_open_in_a_process, args=(schema, start, results)) for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    start.set()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert outcomes == ["ok"] * 4
    assert sql(f'SELECT application, version FROM "{schema}".schema_version') == [
        ("subkit", len(MIGRATIONS))
    ]
    assert sql(f"SELECT value FROM \"{schema}\".sequences WHERE name = 'invoice'") == [(0,)]


@pytest.mark.parametrize("name", ["", "Subkit", "1abc", "a-b", "a" * 64, "pg_subkit", 'x"y'])
def test_a_schema_name_outside_the_safe_form_is_refused(name: str) -> None:
    with pytest.raises(StoreError, match="schema"):
        PostgresStore(PG_DSN, schema=name)


def test_a_store_needs_a_dsn_or_a_pool() -> None:
    with pytest.raises(StoreError, match="connection string or a psycopg_pool"):
        PostgresStore(42, schema="x")  # type: ignore[arg-type]


def test_an_unreachable_server_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="connect"):
        PostgresStore(
            "postgresql://postgres@127.0.0.1:1/test?connect_timeout=1",
            schema="nowhere",
            pool_timeout=2,
        )


# -- transactions, locks and errors (R-PG-3, R-CON-3) -------------------------------------------


def test_a_row_lock_held_too_long_is_a_concurrency_conflict(schema: str) -> None:
    """Another transaction holds the account row past lock_timeout: the unit fails with
    ConcurrencyConflict, and the facade's retries end the same way, never a raw error."""
    with PostgresStore(PG_DSN, schema=schema, lock_timeout=0.2) as store:
        clock = FixedClock(datetime(2025, 1, 10, tzinfo=UTC))
        billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
        billing.open_account("acme")
        with psycopg.connect(PG_DSN) as holder:
            holder.execute(
                f'SELECT 1 FROM "{schema}".accounts WHERE account_id = %s FOR UPDATE', ("acme",)
            )
            with pytest.raises(ConcurrencyConflict) as caught, store.transaction() as unit:
                unit.get_account("acme")
            assert isinstance(caught.value.__cause__, psycopg.errors.LockNotAvailable)
            with pytest.raises(ConcurrencyConflict):
                billing.charge_replies("acme", 1, key="m1")
            holder.rollback()
        assert billing.charge_replies("acme", 1, key="m1").count == 1


def test_a_deadlock_is_a_concurrency_conflict_for_one_side(store: PostgresStore) -> None:
    with store.transaction() as unit:
        unit.add_account(make_account("a"))
        unit.add_account(make_account("b"))
    both = threading.Barrier(2)
    outcomes: list[str] = []

    def lock(first: str, second: str) -> None:
        try:
            with store.transaction() as unit:
                unit.get_account(first)
                both.wait(10)
                unit.get_account(second)
            outcomes.append("committed")
        except ConcurrencyConflict as exc:
            outcomes.append(type(exc.__cause__).__name__)

    threads = [threading.Thread(target=lock, args=pair) for pair in (("a", "b"), ("b", "a"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["DeadlockDetected", "committed"]


def test_other_server_errors_are_store_errors_and_the_unit_keeps_nothing(
    store: PostgresStore,
) -> None:
    with pytest.raises(StoreError) as caught, store.transaction() as unit:
        unit.add_account(make_account("acme"))
        unit.append_entries([make_entry("ghost", 1, datetime(2025, 1, 2, tzinfo=UTC))])
    assert not isinstance(caught.value, ConcurrencyConflict)
    assert isinstance(caught.value.__cause__, psycopg.errors.ForeignKeyViolation)
    with pytest.raises(StoreError) as caught, store.transaction() as unit:
        unit.add_account(make_account("nul\x00id"))
    assert isinstance(caught.value.__cause__, psycopg.Error)
    with pytest.raises(StoreError, match="already used"), store.transaction() as unit:
        unit.add_account(make_account("acme"))
        unit.add_invoice(make_invoice("INV-1", "acme", datetime(2025, 1, 2, tzinfo=UTC)))
        unit.add_invoice(make_invoice("INV-1", "acme", datetime(2025, 1, 2, tzinfo=UTC)))
    with store.snapshot() as view:
        assert view.get_account("acme") is None
        assert view.get_invoice("INV-1") is None


def test_units_do_not_nest_in_a_thread_but_a_snapshot_may_open_inside_one(
    store: PostgresStore,
) -> None:
    with store.transaction() as unit:
        unit.add_account(make_account("acme"))
        with pytest.raises(StoreError, match="do not nest"), store.transaction():
            pass
        with store.snapshot() as view:
            assert view.get_account("acme") is None
            with pytest.raises(StoreError, match="do not nest"), store.snapshot():
                pass
    with store.transaction() as unit:  # the refusals left the store usable
        assert unit.get_account("acme") == make_account("acme")
    with pytest.raises(StoreError, match="after its transaction ended"):
        unit.get_account("acme")


def test_the_invoice_sequence_is_gapless_under_concurrent_units(store: PostgresStore) -> None:
    """R-PG-4: four threads take numbers, every third unit rolls back: the numbers kept are
    1..N with no gap and none twice."""
    with store.transaction() as unit:
        unit.add_account(make_account("acme"))
    kept: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(12):
                try:
                    with store.transaction() as unit:
                        number = unit.next_invoice_number()
                        at = datetime(2025, 1, 2, tzinfo=UTC)
                        unit.add_invoice(make_invoice(f"INV-{number}", "acme", at))
                        if (worker + n) % 3 == 0:
                            raise LookupError("roll back")
                    with lock:
                        kept.append(number)
                except LookupError:
                    continue
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(kept) == list(range(1, len(kept) + 1))
    with store.transaction() as unit:
        assert unit.next_invoice_number() == len(kept) + 1


# -- the host's own pool (R-PG-7) ---------------------------------------------------------------


def test_a_hosts_pool_outside_autocommit_is_used_and_left_open(schema: str) -> None:
    """A pool the host made (its connections in psycopg's default, non-autocommit mode) runs
    units, rollbacks and snapshots the same way, and closing the store leaves it open."""
    with ConnectionPool(PG_DSN, min_size=1, max_size=2, open=True) as pool:
        with PostgresStore(pool, schema=schema) as store:
            with store.transaction() as unit:
                unit.add_account(make_account("acme"))
            with pytest.raises(LookupError), store.transaction() as unit:
                unit.update_account(attrs.evolve(make_account("acme"), version=1))
                raise LookupError
            with store.snapshot() as view:
                with store.transaction() as unit:
                    unit.add_account(make_account("late"))
                assert view.get_account("late") is None
                assert view.get_account("acme") == make_account("acme")
            with store.transaction() as unit:
                assert unit.get_account("late") is not None
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def _use_after_fork(store: PostgresStore, results: Any) -> None:
    try:
        with store.transaction() as unit:
            unit.add_account(make_account("child"))
        results.put("ok")
    except BaseException as exc:  # reported to the parent
        results.put(f"{type(exc).__name__}: {exc}")


def test_a_forked_child_uses_connections_of_its_own(store: PostgresStore) -> None:
    with store.transaction() as unit:
        unit.add_account(make_account("parent"))
    fork = multiprocessing.get_context("fork")
    results = fork.Queue()
    child = fork.Process(target=_use_after_fork, args=(store, results))
    child.start()
    outcome = results.get(timeout=60)
    child.join(timeout=60)
    assert outcome == "ok"
    with store.transaction() as unit:  # the parent's connections still work
        assert unit.get_account("child") is not None
        assert unit.get_account("parent") is not None


def test_two_openers_waiting_on_the_migration_lock_migrate_once(schema: str) -> None:
    """Both find the schema missing, queue on the advisory lock; the second one in finds it
    migrated by the first and writes nothing."""
    from subkit.stores.postgres import _key

    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            opened.append(PostgresStore(PG_DSN, schema=schema))
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    with psycopg.connect(PG_DSN, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_key(schema, "migrate"),))
        openers = [threading.Thread(target=open_store) for _ in range(2)]
        for opener in openers:
            opener.start()
        waiting = (
            "SELECT count(*) FROM pg_stat_activity"
            f" WHERE application_name = 'subkit:{schema}' AND wait_event_type = 'Lock'"
        )
        for _ in range(600):
            if holder.execute(waiting).fetchone() == (2,):  # type: ignore[arg-type]
                break
            threading.Event().wait(0.05)
        holder.execute("SELECT pg_advisory_unlock_all()")
    for opener in openers:
        opener.join()
    for store in opened:
        store.close()
    assert errors == [] and len(opened) == 2
    assert sql(f'SELECT application, version FROM "{schema}".schema_version') == [
        ("subkit", len(MIGRATIONS))
    ]


def test_a_closed_store_and_a_closed_host_pool_raise_store_error(schema: str) -> None:
    store = PostgresStore(PG_DSN, schema=schema)
    assert repr(store) == f"PostgresStore(schema={schema!r})"
    store.close()
    store.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"), store.transaction():
        pass
    pool: ConnectionPool[Any] = ConnectionPool(PG_DSN, min_size=1, max_size=1, open=True)
    hosted = PostgresStore(pool, schema=schema)
    pool.close()
    with pytest.raises(StoreError, match="connect"), hosted.snapshot():
        pass


def test_a_connection_lost_at_begin_or_at_commit_is_a_store_error(schema: str) -> None:
    store = PostgresStore(PG_DSN, schema=schema, pool_size=1)  # one connection: the one killed

    def kill_the_stores_sessions() -> None:
        sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND pid <> pg_backend_pid()",
            (f"subkit:{store.schema}",),
        )

    with store.transaction() as unit:
        unit.add_account(make_account("acme"))
    kill_the_stores_sessions()  # the idle connection in the pool dies
    with store.transaction():  # a unit that reads and writes nothing sends nothing
        pass
    with pytest.raises(StoreError, match="statement failed"), store.transaction() as unit:
        unit.get_account("acme")  # its BEGIN goes with this read, on the dead connection
    with pytest.raises(StoreError) as caught, store.transaction() as unit:
        unit.add_account(make_account("lost"))
        kill_the_stores_sessions()
    assert not isinstance(caught.value, ConcurrencyConflict)
    with store.snapshot() as view:  # the pool replaced the dead connections
        assert view.get_account("acme") == make_account("acme")
        assert view.get_account("lost") is None
    kill_the_stores_sessions()
    with pytest.raises(StoreError, match="cannot start a transaction"), store.snapshot():
        pass  # a snapshot begins at once
    store.close()
    # The same on a host's pool outside autocommit, whose commit is psycopg's own.
    with ConnectionPool(
        PG_DSN, min_size=1, max_size=1, kwargs={"application_name": f"subkit:{schema}"}
    ) as pool:
        hosted = PostgresStore(pool, schema=schema)
        with pytest.raises(StoreError, match="commit failed"), hosted.transaction() as unit:
            unit.get_account("acme")
            kill_the_stores_sessions()
        with hosted.snapshot() as view:
            assert view.get_account("acme") == make_account("acme")


def test_an_integer_beyond_bigint_is_a_store_error(store: PostgresStore) -> None:
    """No Money can hold 2**63 any more (R-LIM-1), so the store's own guard is shown with
    another bigint column, the entry's message count."""
    from subkit.errors import InvalidAmount
    from subkit.money import Money

    with pytest.raises(InvalidAmount):
        Money(2**63, "IDR")
    with store.transaction() as unit:
        unit.add_account(make_account("acme"))
    entry = attrs.evolve(make_entry("acme", 1, datetime(2025, 1, 2, tzinfo=UTC)), count=2**63)
    with pytest.raises(StoreError) as caught, store.transaction() as unit:
        unit.append_entries([entry])
    assert isinstance(caught.value.__cause__, psycopg.errors.NumericValueOutOfRange)
    with pytest.raises(StoreError, match="after its transaction ended"):
        unit.append_entries([entry])


def test_a_cursor_past_until_pages_from_until(store: PostgresStore) -> None:
    """The stricter upper bound wins: a cursor later than ``until`` reads from ``until``."""
    from subkit.paging import instant_us, ledger_query

    days = [datetime(2025, 1, d, tzinfo=UTC) for d in (2, 3, 4, 5)]
    query = ledger_query("acme", balance=None, kind=None, since=None, until=days[2])
    with store.transaction() as unit:
        unit.add_account(make_account("acme"))
        unit.append_entries([make_entry("acme", n, day) for n, day in enumerate(days, 1)])
    with store.snapshot() as view:
        page = view.ledger_page(
            "acme",
            balance=None,
            kind=None,
            since=None,
            until=days[2],
            limit=10,
            cursor=query.encode(instant_us(days[3]), 4),
        )
    assert [e.seq for e in page.items] == [2, 1]


def test_decoded_accounts_keep_the_newest_few() -> None:
    import json

    from subkit.serialize import to_dict
    from subkit.stores.postgres import _DecodedAccounts

    cache = _DecodedAccounts(size=1)
    a, b = make_account("a"), make_account("b")
    assert cache.decode("a", json.dumps(to_dict(a))) == a
    assert cache.decode("b", json.dumps(to_dict(b))) == b
    assert cache.decode("a", json.dumps(to_dict(a))) == a


def test_a_store_used_after_a_fork_makes_its_own_pool(store: PostgresStore, schema: str) -> None:
    """What a forked child sees (its pid differs from the one that made the pool), without
    forking: a new pool, the parent's kept unclosed; a host's pool cannot follow."""
    from subkit.stores import postgres

    parent_pool = store.pool
    store._pid = -1
    with store.transaction() as unit:
        unit.add_account(make_account("child"))
    assert store.pool is not parent_pool and postgres._INHERITED[-1] is parent_pool
    postgres._INHERITED.pop().close()
    with ConnectionPool(PG_DSN, min_size=1, max_size=1, open=True) as pool:
        hosted = PostgresStore(pool, schema=schema)
        hosted._pid = -1
        with pytest.raises(StoreError, match="forked"), hosted.transaction():
            pass


# -- the shared billing run (R-PG-5, R-CON-4) ---------------------------------------------------


def test_units_open_at_once_claim_different_due_accounts(store: PostgresStore) -> None:
    """SKIP LOCKED: while one unit holds the earliest due account, another claims the next
    one at once instead of waiting; when the first dies, its account is due again."""
    from subkit.contract import at

    with store.transaction() as unit:
        for n, account_id in enumerate(("a", "b", "c")):
            unit.add_account(make_account(account_id, due=at(1 + n)))
    claimed: list[str | None] = []
    errors: list[BaseException] = []
    held = threading.Event()
    done = threading.Event()

    def second() -> None:
        try:
            held.wait(30)
            with store.transaction() as unit:
                account = unit.claim_due_account(at(10))
                claimed.append(None if account is None else account.account_id)
            done.set()
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)
            done.set()

    worker = threading.Thread(target=second)
    worker.start()
    with pytest.raises(LookupError), store.transaction() as unit:
        first = unit.claim_due_account(at(10))
        assert first is not None and first.account_id == "a"
        held.set()
        assert done.wait(30), "the second claim waited for the first unit"
        raise LookupError("the first worker dies holding a")
    worker.join()
    assert errors == [] and claimed == ["b"]
    with store.transaction() as unit:  # a is due again; b was not updated, so it is too
        again = unit.claim_due_account(at(10))
        assert again is not None and again.account_id == "a"
        with store.snapshot() as view:
            assert view.due_accounts(at(10), limit=5) == ["a", "b", "c"]
