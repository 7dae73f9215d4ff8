"""R-PG-6: history pages, invoice pages, the due set and pending events are read by index
ranges of one page, on a million ledger rows (and 200,000 accounts, invoices and events).

The statements are the store's own: each read is made through a ``PostgresStore`` on a small
schema whose statements are recorded, and each recorded statement is then run under
``EXPLAIN (ANALYZE, FORMAT JSON)`` on the big schema (same tables and indexes, made by the same
store, rows made in SQL with ``generate_series``). The plan must have no sequential scan and no
sort, and its index scan must read at most one page of rows (``limit + 1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from stores import PG_DSN, pg_schema
from subkit.contract import event, make_account, make_entry, make_invoice
from subkit.invoice import InvoiceStatus, InvoiceType
from subkit.paging import event_query, instant_us, ledger_query
from subkit.stores import postgres
from subkit.stores.postgres import PostgresStore
from subkit.wallet import Balance, EntryKind

pytestmark = pytest.mark.slow

LEDGER_ROWS = 1_000_000
OTHER_ROWS = 200_000
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PAGE = 50

#: How the big schema is filled. ``{s}`` is the schema. One account holds every ledger entry
#: (the worst history to page through); of the other accounts, the invoices and the events,
#: a handful are due, pending or pending delivery and the rest are not.
FILL = (
    """INSERT INTO {s}.accounts (account_id, version, due_at, data)
    SELECT 'acct-' || g, 0, timestamptz '2030-01-01' + g * interval '1 minute', '{}'
    FROM generate_series(1, {others}) AS g""",
    "UPDATE {s}.accounts SET due_at = timestamptz '2025-01-02'"
    " WHERE account_id IN ('acct-7', 'acct-70', 'acct-700')",
    """INSERT INTO {s}.ledger (account_id, seq, at, balance, kind, count, amount,
        balance_after, currency, key, data)
    SELECT 'acct-1', g, timestamptz '2025-01-01' + g * interval '1 second',
        (ARRAY['conversation', 'broadcast'])[1 + g % 2],
        (ARRAY['reply', 'broadcast', 'top_up', 'grant'])[1 + g % 4],
        1, -30, 0, 'IDR', 'k' || g, '{}'
    FROM generate_series(1, {ledger}) AS g""",
    """INSERT INTO {s}.invoices (code, account_id, type, status, requested_at, total,
        version, data)
    SELECT 'INV-' || g, 'acct-' || (1 + g % 1000), (ARRAY['top_up', 'renewal'])[1 + g % 2],
        CASE WHEN g % 10000 = 0 THEN 'pending' ELSE 'paid' END,
        timestamptz '2025-01-01' + g * interval '1 minute', 50000, 0, '{}'
    FROM generate_series(1, {others}) AS g""",
    """INSERT INTO {s}.events (account_id, name, at, data, delivered_at)
    SELECT 'acct-' || (1 + g % 1000), 'invoice.created',
        timestamptz '2025-01-01' + g * interval '1 second', '{}',
        CASE WHEN g % 5000 = 0 THEN NULL ELSE timestamptz '2025-06-01' END
    FROM generate_series(1, {others}) AS g""",
)


def _fill(schema: str) -> None:
    """The rows, loaded with each table's secondary indexes dropped and then made again from
    their own definitions (a sorted build is several times faster than a million inserts)."""
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '128MB'")
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s"
            " AND indexname NOT IN (SELECT conname FROM pg_constraint"
            "  WHERE connamespace = %s::regnamespace)",
            (schema, f'"{schema}"'),
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{schema}"."{name}"')  # type: ignore[arg-type]
        for statement in FILL:
            sql = statement.replace("{s}", f'"{schema}"').replace("{ledger}", str(LEDGER_ROWS))
            conn.execute(sql.replace("{others}", str(OTHER_ROWS)))  # type: ignore[arg-type]
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute(f'ANALYZE "{schema}".accounts, "{schema}".ledger')  # type: ignore[arg-type]
        conn.execute(f'ANALYZE "{schema}".invoices, "{schema}".events')  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def big() -> Iterator[str]:
    with pg_schema() as schema:
        PostgresStore(PG_DSN, schema=schema).close()
        _fill(schema)
        yield schema


@pytest.fixture
def small() -> Iterator[PostgresStore]:
    """A store whose statements are recorded, on a schema with a few real rows."""
    with pg_schema() as schema, PostgresStore(PG_DSN, schema=schema) as store:
        with store.transaction() as unit:
            unit.add_account(make_account("acct-1", due=T0))
            unit.append_entries([make_entry("acct-1", 1, T0)])
            unit.add_invoice(make_invoice("INV-1", "acct-1", T0))
            unit.add_events([event("acct-1", 1)])
        yield store


Statement = tuple[str, Any]


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[Statement]:
    statements: list[Statement] = []
    run = postgres.PostgresUnit._cursor

    def record(self: postgres.PostgresUnit, sql: str, params: Any = ()) -> Any:
        statements.append((sql, params))
        return run(self, sql, params)

    monkeypatch.setattr(postgres.PostgresUnit, "_cursor", record)
    return statements


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from nodes(child)


def explain(schema: str, statement: Statement) -> list[dict[str, Any]]:
    """The plan's nodes, the statement run (and rolled back) on the big schema."""
    sql, params = statement
    with psycopg.connect(PG_DSN) as conn:
        text = "EXPLAIN (ANALYZE, FORMAT JSON) " + sql.replace("{s}", f'"{schema}"')
        [[plan]] = conn.execute(text, params).fetchall()  # type: ignore[arg-type]
        conn.rollback()
    return list(nodes(plan[0]["Plan"]))


def assert_one_range(schema: str, statement: Statement, index: str, most: int) -> None:
    plan = explain(schema, statement)
    kinds = [node["Node Type"] for node in plan]
    assert "Seq Scan" not in kinds and not any("Sort" in k for k in kinds), kinds
    scans = [node for node in plan if node.get("Index Name") == index]
    assert scans, f"{index} not used: {kinds}, {[n.get('Index Name') for n in plan]}"
    # Per scan and per loop (an anti-join's inner scan runs once per outer row): the rows
    # it returned plus the rows it read and filtered out.
    for node in scans:
        loops = max(1, node["Actual Loops"])
        read = node["Actual Rows"] + node.get("Rows Removed by Filter", 0) / loops
        assert read <= most, f"{index} read {read} rows for a page of {most}: {plan}"


def the_read(recorded: list[Statement]) -> Statement:
    [statement] = [s for s in recorded if not s[0].startswith("SELECT pg_advisory")]
    recorded.clear()
    return statement


@pytest.mark.parametrize(
    ("balance", "kind", "index"),
    [
        (None, None, "ledger_by_time"),
        (None, EntryKind.REPLY, "ledger_by_kind"),
        (Balance.BROADCAST, None, "ledger_by_balance"),
        (Balance.CONVERSATION, EntryKind.TOP_UP, "ledger_by_balance_kind"),
    ],
)
def test_a_history_page_reads_one_index_range(
    big: str,
    small: PostgresStore,
    recorded: list[Statement],
    balance: Balance | None,
    kind: EntryKind | None,
    index: str,
) -> None:
    middle = T0 + timedelta(seconds=LEDGER_ROWS // 2)
    query = ledger_query("acct-1", balance=balance, kind=kind, since=None, until=None)
    calls: list[dict[str, Any]] = [
        {"since": None, "until": None, "cursor": None},
        {
            "since": None,
            "until": None,
            "cursor": query.encode(instant_us(middle), LEDGER_ROWS // 2),
        },
        {"since": T0 + timedelta(days=2), "until": middle, "cursor": None},
    ]
    for call in calls:
        with small.snapshot() as view:
            view.ledger_page("acct-1", balance=balance, kind=kind, limit=PAGE, **call)
        assert_one_range(big, the_read(recorded), index, PAGE + 1)


@pytest.mark.parametrize("status", [None, InvoiceStatus.PAID])
def test_an_invoice_page_reads_one_index_range(
    big: str, small: PostgresStore, recorded: list[Statement], status: InvoiceStatus | None
) -> None:
    with small.snapshot() as view:
        view.invoice_page(
            "acct-1", type=None, status=status, since=None, until=None, limit=PAGE, cursor=None
        )
    # acct-1 has 200 invoices, one in ten pending: a filtered page is read from one range of
    # the index, passing over the few others in it.
    assert_one_range(big, the_read(recorded), "invoices_by_account", 2 * PAGE + 2)
    with small.snapshot() as view:
        view.invoice_page(
            "acct-1",
            type=InvoiceType.TOP_UP,
            status=None,
            since=None,
            until=None,
            limit=PAGE,
            cursor=None,
        )
    # Half of them are top-ups: a filtered page reads about two pages of the range, no more.
    assert_one_range(big, the_read(recorded), "invoices_by_account", 2 * PAGE + 2)


def test_the_due_set_reads_one_index_range(
    big: str, small: PostgresStore, recorded: list[Statement]
) -> None:
    until = T0 + timedelta(days=30)
    with small.snapshot() as view:
        view.due_accounts(until, limit=PAGE)
    assert_one_range(big, the_read(recorded), "accounts_by_due", PAGE + 1)
    with small.transaction() as unit:
        unit.claim_due_account(until, skip={"acct-7"})
    assert_one_range(big, the_read(recorded), "accounts_by_due", 3)


def test_pending_events_and_invoices_read_one_index_range(
    big: str, small: PostgresStore, recorded: list[Statement]
) -> None:
    with small.transaction() as unit:
        unit.claim_events(owner="x", now=T0, lease_until=T0 + timedelta(minutes=1), limit=PAGE)
    # 40 of 200,000 events are pending: the claim reads those through the partial index.
    assert_one_range(big, the_read(recorded), "events_pending", PAGE + 1)
    with small.snapshot() as view:
        view.pending_invoices(T0 + timedelta(days=400), limit=PAGE)
    assert_one_range(big, the_read(recorded), "invoices_by_status", PAGE + 1)
    with small.snapshot() as view:
        view.event_page("acct-1", cursor=event_query("acct-1").encode(100), limit=PAGE)
    assert_one_range(big, the_read(recorded), "events_by_account", PAGE + 1)
