"""The SQLite store's ledger rows: the columns hold the entry, ``data`` only what they do
not (the offset of ``at`` when it is not UTC, the reason), and rows written before, which
kept the whole record in ``data``, read back the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import moments, money
from subkit.contract import make_account
from subkit.errors import StoreError
from subkit.money import Money
from subkit.stores.sqlite import SqliteStore, _entry_data, _json
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
