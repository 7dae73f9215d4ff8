"""The one cursor codec (R-LIM-4, R-BAL-10): subkit.paging.Query, which every store uses.

How each store pages with it is the contract suite's (subkit.contract); these are the codec's
own laws. They replace the tests of the second, base64 codec wallet.py used to carry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import JAKARTA
from subkit.errors import InvalidArgument, InvalidCursor
from subkit.paging import Query, event_query, from_us, instant_us, ledger_query
from subkit.wallet import EntryKind

INT64 = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)


def acme_ledger(**filters: object) -> Query:
    query = {"balance": None, "kind": None, "since": None, "until": None, **filters}
    return ledger_query("acme", **query)  # type: ignore[arg-type]


class TestRoundTrip:
    @given(position=st.lists(INT64, min_size=1, max_size=2))
    def test_a_cursor_decodes_to_the_position_it_encodes(self, position: list[int]) -> None:
        query = acme_ledger()
        cursor = query.encode(*position)
        assert cursor.startswith("c1.") and cursor.isascii() and len(cursor) <= 128
        assert query.decode(cursor, len(position)) == tuple(position)
        assert query.position(cursor, len(position)) == tuple(position)

    def test_an_instant_keeps_its_microseconds_whatever_its_zone(self) -> None:
        """An entry written in Jakarta time and one in UTC at the same instant share a
        position; the microseconds survive (a page boundary inside one second is exact)."""
        local = datetime(2024, 3, 31, 23, 59, 59, 123456, tzinfo=JAKARTA)
        utc = local.astimezone(UTC)
        assert instant_us(local) == instant_us(utc)
        assert from_us(instant_us(local)) == local
        assert from_us(instant_us(local)).utcoffset() == timedelta(0)
        query = acme_ledger()
        assert query.decode(query.encode(instant_us(local), 42), 2) == (instant_us(utc), 42)

    def test_no_cursor_or_an_empty_one_is_the_first_page(self) -> None:
        assert acme_ledger().position(None, 2) is None
        assert acme_ledger().position("", 2) is None


class TestRefusals:
    CURSOR = acme_ledger().encode(1_704_074_400_000_000, 7)

    @pytest.mark.parametrize(
        "bad",
        [
            "!!!",
            "bm90LWEtY3Vyc29y",  # base64, as the removed codec made
            CURSOR[:-3],  # cut short
            CURSOR + "0",
            CURSOR.replace("c1.", "c2.", 1),
            CURSOR.replace(".7.", ".8.", 1),  # the position edited
            f"c1.{2**63}.1.{'0' * 32}",  # beyond 64 bits
            "c1." + "1" * 200,
            "c1.\u00e9.1",
            7,
            None,
            ["c1"],
        ],
    )
    def test_a_cursor_subkit_did_not_hand_out_is_invalid_cursor(self, bad: object) -> None:
        with pytest.raises(InvalidCursor) as refused:
            acme_ledger().decode(bad, 2)
        assert isinstance(refused.value, InvalidArgument)
        assert (refused.value.code, refused.value.argument) == ("invalid_cursor", "cursor")

    def test_a_cursor_binds_its_account_list_filters_and_size(self) -> None:
        since = datetime(2024, 1, 1, tzinfo=UTC)
        for other in (
            ledger_query("other", balance=None, kind=None, since=None, until=None),
            acme_ledger(kind="reply"),
            acme_ledger(since=since),
            event_query("acme"),
        ):
            with pytest.raises(InvalidCursor):
                other.decode(self.CURSOR, 2)
        with pytest.raises(InvalidCursor):
            acme_ledger().decode(self.CURSOR, 1)

    def test_filters_bind_by_value_not_by_spelling(self) -> None:
        """The same instant in another zone, or an enum and its value, is the same query."""
        since = datetime(2024, 1, 1, 7, tzinfo=JAKARTA)
        query = acme_ledger(since=since.astimezone(UTC), kind="reply")
        cursor = query.encode(5, 6)
        assert acme_ledger(since=since, kind=EntryKind.REPLY).decode(cursor, 2) == (5, 6)
