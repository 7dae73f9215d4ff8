"""The SQLite file's edges (issue 13, R-ERR): a foreign empty database is never taken over, a
damaged row is a StoreError, and no integer beyond 64 bits reaches SQLite raw."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from helpers import PROFILE, START, pay
from subkit.contract import make_account, make_entry
from subkit.errors import StoreError
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock


def _empty_database(path: Path, pragma: str) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute(pragma)
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    "pragma", ["PRAGMA user_version = 7", "PRAGMA application_id = 1234"], ids=["user", "app"]
)
def test_an_empty_database_of_another_application_is_not_taken_over(
    tmp_path: Path, pragma: str
) -> None:
    """Empty of tables, but marked by another application: StoreError, the file as it was."""
    path = tmp_path / "theirs.db"
    before = _empty_database(path, pragma)
    with pytest.raises(StoreError, match="another application"):
        SqliteStore(path)
    assert path.read_bytes() == before
    assert not (tmp_path / "theirs.db-wal").exists()


def test_an_empty_unmarked_database_is_set_up(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    _empty_database(path, "PRAGMA user_version = 0")
    with SqliteStore(path) as store, store.transaction() as unit:
        unit.add_account(make_account("acme"))


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Billing, SqliteStore, str]:
    store = SqliteStore(tmp_path / "subkit.db")
    billing = Billing(Catalogue.default(), store, FakeGateway(), clock=FixedClock(START))
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    checkout = billing.top_up("acme", "conversation", 10_000)
    pay(billing, checkout)
    billing.charge_replies("acme", 1, key="m-1")
    assert checkout.invoice is not None
    return billing, store, checkout.invoice.code


def _damage(store: SqliteStore, sql: str, *params: object) -> None:
    conn = sqlite3.connect(store.path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


DAMAGE = {
    "account-json": ("UPDATE accounts SET data = '{not json'", lambda b, c: b.subscription("acme")),
    "account-shape": ("UPDATE accounts SET data = '{\"x\": 1}'", lambda b, c: b.balances("acme")),
    "invoice-json": ("UPDATE invoices SET data = 'null'", lambda b, c: b.invoice("acme", c)),
    "ledger-json": (
        "UPDATE ledger SET data = '[1, 2'",
        lambda b, c: b.usage_history("acme"),
    ),
    "record-json": (
        "UPDATE idempotency SET result = '{oops'",
        lambda b, c: b.charge_replies("acme", 1, key="m-1"),
    ),
}


@pytest.mark.parametrize("case", list(DAMAGE), ids=list(DAMAGE))
def test_a_damaged_row_is_a_store_error(
    filled: tuple[Billing, SqliteStore, str], case: str
) -> None:
    """A row edited or damaged outside subkit: StoreError (503), never JSONDecodeError or a
    cattrs error, and the call changes nothing."""
    billing, store, code = filled
    sql, call = DAMAGE[case]
    _damage(store, sql)
    conn = sqlite3.connect(store.path)
    before = list(conn.iterdump())
    with pytest.raises(StoreError) as caught:
        call(billing, code)
    assert caught.value.code == "store_error"
    assert list(conn.iterdump()) == before
    conn.close()


def test_an_integer_beyond_64_bits_is_a_store_error_and_writes_nothing(tmp_path: Path) -> None:
    """R-LIM-1 keeps subkit's own values inside 64 bits; a store call made outside those
    bounds is refused before SQLite runs it (OverflowError never escapes)."""
    with SqliteStore(tmp_path / "big.db") as store:
        with store.transaction() as unit:
            unit.add_account(make_account("acme"))
        entry = attrs.evolve(make_entry("acme", 1, datetime(2025, 1, 2, tzinfo=UTC)), count=2**63)
        with pytest.raises(StoreError, match="64-bit"), store.transaction() as unit:
            unit.append_entries([make_entry("acme", 2, datetime(2025, 1, 2, tzinfo=UTC))])
            unit.append_entries([entry])
        with pytest.raises(StoreError, match="64-bit"), store.transaction() as unit:
            unit.due_accounts(datetime(2025, 1, 2, tzinfo=UTC), limit=2**64)
        with store.snapshot() as view:
            page = view.ledger_page(
                "acme", balance=None, kind=None, since=None, until=None, limit=10, cursor=None
            )
        assert page.items == ()
