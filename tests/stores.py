"""The stores the suite runs on: in memory, a SQLite file and a PostgreSQL schema.

``open_store(kind, tmp_path)`` gives a fresh, empty store of one kind and cleans it up after
(a PostgreSQL store lives in a schema of its own, dropped afterwards). The PostgreSQL server
is the one at ``SUBKIT_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
Without one reachable, PostgreSQL tests are skipped with one line saying why, unless
``SUBKIT_REQUIRE_PG=1`` (set by ``.ci/run``): then they fail.

Modules whose tests should run on every store carry ``pytestmark = ALL_STORES``; their
``store`` fixture (and so ``billing``) is then parametrised over the three kinds.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from subkit.ports import Store
from subkit.stores.sqlite import SqliteStore
from subkit.testing import InMemoryStore

PG_DSN = os.environ.get("SUBKIT_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_PG = os.environ.get("SUBKIT_REQUIRE_PG") == "1"

KINDS = ("memory", "sqlite", "postgres")

#: Mark a module (``pytestmark = ALL_STORES``) to run its ``store``-using tests on each kind.
ALL_STORES = pytest.mark.all_stores


@functools.cache
def pg_unavailable() -> str | None:
    """Why the PostgreSQL server cannot be used, or ``None`` when it can."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the test extra installs it
        return "psycopg is not installed (pip install 'subkit[test]')"
    try:
        psycopg.connect(PG_DSN, connect_timeout=5).close()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"no PostgreSQL server at SUBKIT_PG_DSN={PG_DSN} ({first})"
    return None


def need_pg() -> None:
    """Skip the calling test without a server, or fail it under ``SUBKIT_REQUIRE_PG=1``."""
    reason = pg_unavailable()
    if reason is None:
        return
    if REQUIRE_PG:
        pytest.fail(f"SUBKIT_REQUIRE_PG=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def pg_schema() -> Iterator[str]:
    """A schema name no other test uses; the schema is dropped afterwards."""
    need_pg()
    schema = f"t_{uuid.uuid4().hex[:20]}"
    try:
        yield schema
    finally:
        drop_schema(schema)


@contextmanager
def open_store(kind: str, tmp_path: Path) -> Iterator[Store]:
    """A fresh, empty store of ``kind``, closed (and its schema dropped) afterwards."""
    if kind == "memory":
        yield InMemoryStore()
    elif kind == "sqlite":
        with SqliteStore(tmp_path / "subkit.db") as store:
            yield store
    elif kind == "postgres":
        from subkit.stores.postgres import PostgresStore

        with pg_schema() as schema, PostgresStore(PG_DSN, schema=schema, pool_size=4) as pg:
            yield pg
    else:  # pragma: no cover - a typo in a test
        raise ValueError(f"no store kind {kind!r}")


def contents(store: Store) -> dict[str, Any]:
    """Everything ``store`` holds, as comparable values: to assert that a refused call changed
    nothing (compare before and after) or that nothing of a kind was stored.

    Keys: ``accounts``, ``invoices``, ``ledger``, ``records`` (sorted lists) and
    ``sequence`` (the last invoice number given).
    """
    if isinstance(store, InMemoryStore):
        state = store._state
        return {
            "accounts": sorted(state.accounts.items()),
            "invoices": sorted(state.invoices.items()),
            "ledger": sorted((k, tuple(v)) for k, v in state.ledger.items() if v),
            "records": sorted(state.records.items()),
            "sequence": state.sequence,
        }
    queries = {
        "accounts": "SELECT account_id, data FROM {s}accounts ORDER BY account_id",
        "invoices": "SELECT code, data FROM {s}invoices ORDER BY code",
        "ledger": "SELECT account_id, seq, data FROM {s}ledger ORDER BY account_id, seq",
        "records": "SELECT account_id, scope, key, fingerprint, result FROM {s}idempotency"
        " ORDER BY account_id, scope, key",
        "sequence": "SELECT value FROM {s}sequences WHERE name = 'invoice'",
    }
    if isinstance(store, SqliteStore):
        conn = store.connection()
        found = {k: conn.execute(q.replace("{s}", "")).fetchall() for k, q in queries.items()}
    else:
        from subkit.stores.postgres import PostgresStore

        assert isinstance(store, PostgresStore)
        with store.pool.connection() as pg:
            prefix = f'"{store.schema}".'
            found = {
                k: [tuple(row) for row in pg.execute(q.replace("{s}", prefix)).fetchall()]
                for k, q in queries.items()
            }
    found["sequence"] = found["sequence"][0][0]
    return found
