"""The SQLite store's rows on the charge path.

Ledger rows: the columns hold the entry, ``data`` only what they do not (the offset of ``at``
when it is not UTC, the reason), and rows written before, which kept the whole record in
``data``, read back the same. Account rows: the JSON assembled from the subscription's
cached part is the converter's JSON, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import START
from strategies import moments, money
from subkit.account import Account
from subkit.contract import make_account
from subkit.errors import StoreError
from subkit.invoice import BillingProfile
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore, _account_json, _entry_data, _json
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import Balance, EntryKind, LedgerEntry

# Host text may hold anything JSON must escape: quotes, backslashes, controls, non-ASCII.
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
instants = (
    moments()
    | moments(tz=UTC)
    | st.builds(
        lambda at, hours: at.astimezone(timezone(timedelta(hours=hours))),
        moments(tz=UTC),
        st.integers(-12, 14),
    )
)

entries = st.builds(
    LedgerEntry,
    account_id=st.just("acme"),
    seq=st.integers(1, 2**62),
    at=instants,
    balance=st.sampled_from(Balance),
    kind=st.sampled_from(EntryKind),
    count=st.integers(0, 10**6),
    amount=money(min_value=-(10**15), max_value=10**15),
    balance_after=money(min_value=-(10**15), max_value=10**15),
    key=st.none() | texts,
    invoice_code=st.none() | texts,
    reason=st.none() | texts,
)


class _Rollback(Exception):
    """Raised to roll a unit back: each example starts from an empty ledger."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> SqliteStore:
    store = SqliteStore(tmp_path_factory.mktemp("rows") / "rows.sqlite")
    with store.transaction() as unit:
        unit.add_account(make_account("acme"))
    return store


def _last(store: SqliteStore, entry: LedgerEntry, data: str | None = None) -> LedgerEntry:
    """Append ``entry`` (its row's ``data`` replaced by ``data``, when given), read it back
    through a history page, and roll the unit back."""
    got: list[LedgerEntry] = []
    with pytest.raises(_Rollback), store.transaction() as unit:
        unit.append_entries([entry])
        if data is not None:
            store.connection().execute(
                "UPDATE ledger SET data = ? WHERE account_id = ? AND seq = ?",
                (data, entry.account_id, entry.seq),
            )
        page = unit.ledger_page(
            "acme", balance=None, kind=None, since=None, until=None, limit=1, cursor=None
        )
        got.extend(page.items)
        raise _Rollback
    (back,) = got
    return back


@given(entry=entries)
def test_an_entry_reads_back_equal_with_the_offset_it_was_written_in(
    store: SqliteStore, entry: LedgerEntry
) -> None:
    back = _last(store, entry)
    assert back == entry
    assert back.at.isoformat() == entry.at.isoformat()


@given(entry=entries)
def test_a_row_written_before_with_the_whole_record_reads_back_equal(
    store: SqliteStore, entry: LedgerEntry
) -> None:
    back = _last(store, entry, data=_json(entry))
    assert back == entry
    assert back.at.isoformat() == entry.at.isoformat()


def test_a_reply_row_keeps_nothing_in_data_that_its_columns_hold() -> None:
    entry = LedgerEntry(
        "acme",
        7,
        datetime(2026, 1, 31, 23, 59, tzinfo=UTC),
        Balance.CONVERSATION,
        EntryKind.REPLY,
        1,
        Money(-30, "IDR"),
        Money(14_970, "IDR"),
        "msg-1",
    )
    assert _entry_data(entry) == "{}"
    jakarta = entry.at.astimezone(timezone(timedelta(hours=7)))
    adjusted = attrs.evolve(entry, at=jakarta, reason='a "goodwill" credit')
    assert json.loads(_entry_data(adjusted)) == {
        "at": "2026-02-01T06:59:00+07:00",
        "reason": 'a "goodwill" credit',
    }


@pytest.mark.parametrize("data", ["not json", "[1]", '{"at": "yesterday"}'])
def test_a_damaged_row_is_a_store_error(store: SqliteStore, data: str) -> None:
    entry = LedgerEntry(
        "acme",
        1,
        datetime(2026, 1, 1, tzinfo=UTC),
        Balance.BROADCAST,
        EntryKind.BROADCAST,
        2,
        Money(-1300, "IDR"),
        Money(0, "IDR"),
        "b-1",
    )
    with pytest.raises(StoreError, match="damaged row"):
        _last(store, entry, data=data)


def _accounts() -> list[Account]:
    billing = Billing(Catalogue.default(), InMemoryStore(), FakeGateway(), FixedClock(START))
    billing.open_account("acme", timezone="Asia/Jakarta")
    billing.charge_replies("acme", 3, key="m-1")
    billing.adjust_balance("acme", "broadcast", 100_000, key="gift", reason="a first campaign")
    billing.hold_broadcast("acme", 10, key="campaign")
    with billing.store.transaction() as unit:
        account = unit.get_account("acme")
    assert account is not None
    full = attrs.evolve(
        account,
        profile=BillingProfile('PT Contoh "Tbk"', "billing@contoh.id", "Jl. Sudirman 1", ""),
        pending={"INV-9": START + timedelta(hours=3)},
    )
    return [account, full, make_account("plain")]


@pytest.mark.parametrize("account", _accounts(), ids=["charged", "full", "plain"])
def test_an_account_row_is_the_converters_json(account: Account, tmp_path: Path) -> None:
    text, subscription = _account_json(account)
    assert text == _json(account)
    again, _ = _account_json(attrs.evolve(account, version=7), subscription)
    assert again == _json(attrs.evolve(account, version=7))
    store = SqliteStore(tmp_path / "accounts.sqlite")
    with store.transaction() as unit:
        unit.add_account(attrs.evolve(account, version=0))
    for version in (1, 2):  # the second write reuses the subscription's JSON
        with store.transaction() as unit:
            stored = unit.get_account(account.account_id)
            assert stored is not None
            unit.update_account(attrs.evolve(stored, version=version))
    (data,) = (
        store.connection()
        .execute("SELECT data FROM accounts WHERE account_id = ?", (account.account_id,))
        .fetchone()
    )
    assert data == _json(attrs.evolve(account, version=2))
    store.close()
    with SqliteStore(tmp_path / "accounts.sqlite") as fresh, fresh.snapshot() as view:
        assert view.get_account(account.account_id) == attrs.evolve(account, version=2)
