"""``billing.usage_summary``: totals per day or month in the account's timezone, kept with the
entries (R-VOL-3)."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import JAKARTA, idr
from stores import ALL_STORES
from subkit.errors import InvalidArgument, NaiveDatetime, SubkitError
from subkit.plans import Catalogue
from subkit.ports import Store
from subkit.service import Billing
from subkit.stores.sqlite import MIGRATIONS, SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.views import UsageTotal
from subkit.wallet import Balance, EntryKind, LedgerEntry

pytestmark = ALL_STORES

#: 30 January 2024, 09:00 in Jakarta: the month ends, and February has 29 days.
JAN_30 = datetime(2024, 1, 30, 9, tzinfo=JAKARTA)


def local(day: int, hour: int, month: int = 1, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=JAKARTA)


def history(billing: Billing, account: str) -> list[LedgerEntry]:
    items: list[LedgerEntry] = []
    cursor = None
    while True:
        page = billing.usage_history(account, limit=500, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def from_history(entries: list[LedgerEntry], tz: ZoneInfo, by: str) -> list[UsageTotal]:
    """The summary computed the slow way: every entry, grouped by its local day or month."""
    sums: dict[tuple[Any, Balance, EntryKind], list[int]] = defaultdict(lambda: [0, 0])
    for entry in entries:
        day = entry.at.astimezone(tz).date()
        start = day.replace(day=1) if by == "month" else day
        sums[(start, entry.balance, entry.kind)][0] += entry.count
        sums[(start, entry.balance, entry.kind)][1] += entry.amount.amount
    return [
        UsageTotal(datetime(s.year, s.month, s.day, tzinfo=tz), balance, kind, count, idr(amount))
        for (s, balance, kind), (count, amount) in sorted(sums.items())
    ]


@pytest.fixture
def acme(billing: Billing) -> str:
    billing.open_account("acme")
    billing.adjust_balance("acme", "broadcast", 65_000, key="seed", reason="test")
    return "acme"


class TestScenario:
    @pytest.fixture
    def clock(self) -> FixedClock:
        return FixedClock(JAN_30)

    def test_days_are_the_accounts_local_days_across_the_month_end(
        self, billing: Billing, clock: FixedClock, acme: str
    ) -> None:
        """Replies at 23:30 and 00:30 Jakarta time fall on two days (in UTC both are on the
        same day); a month summary puts January's and February's apart."""
        clock.set(local(31, 23, minute=30))
        billing.charge_replies(acme, 3, key="a")
        billing.charge_broadcast(acme, 2, key="b")
        clock.set(local(1, 0, month=2, minute=30))
        billing.charge_replies(acme, 4, key="c")
        billing.charge_replies(acme, 1, key="d")
        days = billing.usage_summary(acme, since=local(30, 0), until=local(2, 0, month=2))
        assert [(t.start, t.balance, t.kind, t.count, t.amount) for t in days] == [
            (local(30, 0), Balance.BROADCAST, EntryKind.ADJUSTMENT, 0, idr(65_000)),
            (local(30, 0), Balance.CONVERSATION, EntryKind.GRANT, 0, idr(15_000)),
            (local(31, 0), Balance.BROADCAST, EntryKind.BROADCAST, 2, idr(-1_300)),
            (local(31, 0), Balance.CONVERSATION, EntryKind.REPLY, 3, idr(-90)),
            (local(1, 0, month=2), Balance.CONVERSATION, EntryKind.REPLY, 5, idr(-150)),
        ]
        months = billing.usage_summary(
            acme,
            since=local(15, 0),
            until=local(10, 0, month=2),
            by="month",
            balance="conversation",
        )
        assert [(t.start, t.kind, t.count, t.amount) for t in months] == [
            (local(1, 0), EntryKind.GRANT, 0, idr(15_000)),
            (local(1, 0), EntryKind.REPLY, 3, idr(-90)),
            (local(1, 0, month=2), EntryKind.REPLY, 5, idr(-150)),
        ]

    def test_the_days_a_range_touches_count_whole_and_until_is_exclusive(
        self, billing: Billing, clock: FixedClock, acme: str
    ) -> None:
        clock.set(local(31, 8))
        billing.charge_replies(acme, 1, key="a")
        clock.set(local(31, 20))
        billing.charge_replies(acme, 1, key="b")
        noon = billing.usage_summary(acme, since=local(31, 12), until=local(31, 13))
        assert [(t.kind, t.count) for t in noon] == [(EntryKind.REPLY, 2)]
        assert billing.usage_summary(acme, since=local(1, 0, month=2), until=local(5, 0, 2)) == []
        before = billing.usage_summary(acme, since=local(30, 12), until=local(31, 0))
        assert [t.kind for t in before] == [EntryKind.ADJUSTMENT, EntryKind.GRANT]

    def test_expiries_and_grants_of_the_billing_run_are_in_the_totals(
        self, billing: Billing, clock: FixedClock, acme: str
    ) -> None:
        """The run writes the boundary's entries (expiry, grant) through the same path, and
        a read before the run shows them already (R-CON-2: what is due, applied in memory)."""
        billing.charge_replies(acme, 10, key="a")
        clock.set(local(1, 12, month=3))
        unsaved = billing.usage_summary(acme, since=JAN_30, until=clock.now(), by="month")
        assert unsaved == from_history(history(billing, acme), JAKARTA, "month")
        billing.advance()
        summary = billing.usage_summary(acme, since=JAN_30, until=clock.now(), by="month")
        assert summary == unsaved
        assert (Balance.CONVERSATION, EntryKind.EXPIRY) in {(t.balance, t.kind) for t in summary}

    def test_bad_arguments_are_typed_refusals(self, billing: Billing, acme: str) -> None:
        for kwargs in (
            {"by": "week"},
            {"balance": "sms"},
            {"until": JAN_30 - timedelta(days=1)},
            {"until": JAN_30},
        ):
            arguments: dict[str, Any] = {"since": JAN_30, "until": JAN_30 + timedelta(days=1)}
            with pytest.raises(InvalidArgument):
                billing.usage_summary(acme, **{**arguments, **kwargs})
        with pytest.raises(NaiveDatetime):
            billing.usage_summary(acme, since=datetime(2024, 1, 1), until=JAN_30)
        with pytest.raises(SubkitError):
            billing.usage_summary("ghost", since=JAN_30, until=JAN_30 + timedelta(days=1))


# -- the law: the summary is the history, grouped ---------------------------------------------

TIMEZONES = ("Asia/Jakarta", "UTC", "America/New_York", "Pacific/Chatham")
steps = st.lists(
    st.tuples(
        st.integers(1, 36 * 60),  # minutes later
        st.sampled_from(["reply", "broadcast", "many"]),
        st.integers(1, 40),
    ),
    min_size=1,
    max_size=25,
)


@contextmanager
def a_store(kind: str) -> Iterator[Store]:
    if kind == "memory":
        yield InMemoryStore()
        return
    with tempfile.TemporaryDirectory() as folder, SqliteStore(Path(folder) / "s.db") as store:
        yield store


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=20)
@given(
    timezone=st.sampled_from(TIMEZONES),
    start=st.sampled_from(
        [datetime(2024, 1, 30, 20, tzinfo=UTC), datetime(2025, 2, 27, 11, tzinfo=UTC)]
    ),
    plan=steps,
    by=st.sampled_from(["day", "month"]),
)
def test_the_summary_is_the_usage_history_grouped_by_local_day_or_month(
    kind: str, timezone: str, start: datetime, plan: list, by: str
) -> None:
    """R-VOL-3: for charges over days and month ends (Jan 31, Feb 28/29) in any timezone, with
    boundaries passed by the billing run, the summary equals the entries grouped the slow way."""
    with a_store(kind) as store:
        clock = FixedClock(start)
        billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
        billing.open_account("acme", timezone=timezone)
        billing.adjust_balance("acme", "broadcast", 100_000, key="seed", reason="test")
        for n, (minutes, what, count) in enumerate(plan):
            clock.advance(timedelta(minutes=minutes))
            try:
                if what == "reply":
                    billing.charge_replies("acme", count, key=f"k{n}")
                elif what == "broadcast":
                    billing.charge_broadcast("acme", count, key=f"k{n}")
                else:
                    billing.advance()
            except SubkitError:
                pass
        entries = history(billing, "acme")
        summary = billing.usage_summary("acme", since=start, until=clock.now(), by=by)
        assert summary == from_history(entries, ZoneInfo(timezone), by)


# -- SQLite: one index range, and totals for entries older than the table ----------------------


def test_sqlite_reads_one_range_of_the_primary_key(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "subkit.db")
    sql = (
        "SELECT day, balance, kind, count, amount, currency FROM usage_totals"
        " WHERE account_id = ? AND day >= ? AND day < ? ORDER BY day, balance, kind"
    )
    rows = store.connection().execute(f"EXPLAIN QUERY PLAN {sql}", ("a", "x", "y")).fetchall()
    plan = " ".join(row[3] for row in rows)
    assert "SEARCH usage_totals USING PRIMARY KEY (account_id=? AND day>? AND day<?)" in plan
    assert "TEMP B-TREE" not in plan
    store.close()


def test_opening_an_older_sqlite_file_adds_the_totals_of_its_entries(tmp_path: Path) -> None:
    """A file of schema version 3 (no totals table) is migrated: the totals of its entries
    are computed in each account's own timezone."""
    path = tmp_path / "old.db"
    clock = FixedClock(JAN_30)
    with SqliteStore(path) as fresh:
        billing = Billing(Catalogue.default(), fresh, FakeGateway(), clock=clock)
        billing.open_account("acme")
        billing.open_account("yankee", timezone="America/New_York")
        for n, hours in enumerate((1, 14, 15, 40)):
            clock.set(JAN_30 + timedelta(hours=hours))
            billing.charge_replies("acme", n + 1, key=f"a{n}")
            billing.charge_replies("yankee", n + 1, key=f"y{n}")
        expected = {
            name: billing.usage_summary(name, since=JAN_30, until=clock.now())
            for name in ("acme", "yankee")
        }
        conn = fresh.connection()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("DROP TABLE usage_totals")
        conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS) - 1,))
        conn.execute("COMMIT")
    with SqliteStore(path) as migrated:
        billing = Billing(Catalogue.default(), migrated, FakeGateway(), clock=clock)
        for name, summary in expected.items():
            assert billing.usage_summary(name, since=JAN_30, until=clock.now()) == summary
        version = migrated.connection().execute("SELECT version FROM schema_version").fetchone()
        assert version[0] == len(MIGRATIONS)
    # Each account's days are its own: New York's first day is still 29 January.
    assert [t.start.date().isoformat() for t in expected["yankee"]][:2] == ["2024-01-29"] * 2
    assert [len(summary) for summary in expected.values()] == [4, 4]
