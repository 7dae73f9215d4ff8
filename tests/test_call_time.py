"""R-CON-1: a call takes its time from the clock once its unit of work holds the account.

Two servers' clocks differ: a call whose clock is behind the account's last change by at most
``policy.max_clock_skew_seconds`` is dated at that change (so time never runs backwards for
the account); further behind, it raises ``InvalidTime`` and changes nothing. The clock is read
only after the unit holds the account, so a call that waited for another writer is dated
after that writer's change (the multi-process test of this is tests/test_stress_processes.py,
run with no tolerance at all).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import PROFILE, START, catalogue_with_skew, pay
from stores import KINDS, open_store
from subkit import serialize
from subkit.errors import InvalidTime
from subkit.plans import Catalogue
from subkit.ports import Store
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import EntryKind

SPAWN = multiprocessing.get_context("spawn")
MICROSECOND = timedelta(microseconds=1)


@pytest.fixture(params=KINDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """One store two servers use (PostgreSQL: its unit reads the account FOR UPDATE)."""
    with open_store(request.param, tmp_path) as store:
        yield store


def server(store: Store, at: datetime, catalogue: Catalogue | None = None) -> Billing:
    """A facade on ``store`` whose clock shows ``at``."""
    return Billing(catalogue or Catalogue.default(), store, FakeGateway(), clock=FixedClock(at))


def everything(billing: Billing, account_id: str) -> dict[str, Any]:
    """The whole stored state of an account, read straight from the store."""
    with billing.store.snapshot() as view:
        account = view.get_account(account_id)
        ledger = view.ledger_page(
            account_id, balance=None, kind=None, since=None, until=None, limit=500, cursor=None
        )
        invoices = view.invoice_page(
            account_id, type=None, status=None, since=None, until=None, limit=500, cursor=None
        )
    return {
        "account": serialize.to_dict(account),
        "ledger": [serialize.to_dict(e) for e in ledger.items],
        "invoices": [serialize.to_dict(i) for i in invoices.items],
    }


def charged_at(billing: Billing, key: str) -> datetime:
    """When the reply charge with ``key`` is dated in the ledger."""
    (entry,) = [e for e in billing.usage_history("acme", kind="reply").items if e.key == key]
    return entry.at


def opened(store: Store, at: datetime) -> Billing:
    """Open "acme" at ``at`` on a server with a clock there, and charge once."""
    ahead = server(store, at)
    ahead.open_account("acme")
    ahead.set_billing_profile("acme", PROFILE)
    ahead.charge_replies("acme", key="ahead")
    return ahead


class TestWithinTheTolerance:
    @pytest.mark.parametrize("lag", [MICROSECOND, timedelta(seconds=1), timedelta(seconds=300)])
    def test_a_call_from_a_clock_a_little_behind_is_dated_at_the_last_change(
        self, shared: Store, lag: timedelta
    ) -> None:
        """R-CON-1: a server whose clock is up to 300 s (the default) behind the account's last
        change is not refused: its charge, its checkout and the payment of it are all dated
        at that change, and the account's time does not go back."""
        opened(shared, START)
        behind = server(shared, START - lag)
        behind.charge_replies("acme", key="behind")
        assert charged_at(behind, "behind") == START
        checkout = behind.top_up("acme", "conversation", 50_000)
        assert checkout.invoice is not None and checkout.invoice.requested_at == START
        paid = pay(behind, checkout)
        assert paid.paid_at == START
        entries = behind.usage_history("acme").items
        assert [e.key for e in entries if e.kind is EntryKind.REPLY] == ["behind", "ahead"]
        assert all(e.at == START for e in entries)
        with shared.snapshot() as view:
            account = view.get_account("acme")
        assert account is not None and account.as_of == START

    def test_reads_from_a_clock_a_little_behind_see_the_account_as_at_its_last_change(
        self, shared: Store
    ) -> None:
        """R-CON-1, R-CON-2: a read from the lagging server answers as at the last change."""
        ahead = opened(shared, START)
        behind = server(shared, START - timedelta(seconds=120))
        assert behind.subscription("acme") == ahead.subscription("acme")
        assert behind.balances("acme") == ahead.balances("acme")
        assert behind.usage_overview("acme") == ahead.usage_overview("acme")


class TestBeyondTheTolerance:
    @pytest.mark.parametrize(
        "call",
        [
            lambda b: b.charge_replies("acme", key="late"),
            lambda b: b.charge_broadcast("acme", 3, key="late"),
            lambda b: b.top_up("acme", "conversation", 50_000),
            lambda b: b.adjust_balance("acme", "conversation", 1_000, key="late", reason="x"),
            lambda b: b.change_plan("acme", "growth"),
            lambda b: b.set_billing_profile("acme", PROFILE),
            lambda b: b.unsubscribe("acme"),
            lambda b: b.subscription("acme"),
            lambda b: b.usage_overview("acme"),
        ],
        ids=[
            "charge_replies",
            "charge_broadcast",
            "top_up",
            "adjust_balance",
            "change_plan",
            "set_billing_profile",
            "unsubscribe",
            "subscription",
            "usage_overview",
        ],
    )
    def test_a_clock_further_behind_is_refused_and_changes_nothing(
        self, shared: Store, call: Any
    ) -> None:
        """R-CON-1: 300 s and one microsecond behind is InvalidTime, naming both times, and
        the account, its ledger and its invoices are as they were."""
        ahead = opened(shared, START)
        before = everything(ahead, "acme")
        behind = server(shared, START - timedelta(seconds=300) - MICROSECOND)
        with pytest.raises(InvalidTime) as refused:
            call(behind)
        assert refused.value.code == "invalid_time"
        assert "max_clock_skew_seconds (300 s)" in str(refused.value)
        assert everything(ahead, "acme") == before

    def test_a_payment_notification_on_a_clock_further_behind_changes_nothing(
        self, shared: Store
    ) -> None:
        """R-CON-1: apply_payment is dated like any call: too far behind, the invoice stays
        pending and nothing is applied."""
        ahead = opened(shared, START)
        checkout = ahead.top_up("acme", "conversation", 50_000)
        before = everything(ahead, "acme")
        behind = server(shared, START - timedelta(minutes=6))
        with pytest.raises(InvalidTime):
            pay(behind, checkout)
        assert everything(ahead, "acme") == before


@settings(max_examples=60)
@given(
    tolerance=st.integers(0, 3600),
    lag_us=st.integers(0, 3_700_000_000),
)
def test_the_tolerance_is_the_line_between_dated_and_refused(tolerance: int, lag_us: int) -> None:
    """R-CON-1 as a law, for any tolerance 0..3600 s and any lag: a lag of at most the
    tolerance dates the call at the last change; any more is refused and changes nothing."""
    catalogue = catalogue_with_skew(tolerance)
    store = InMemoryStore()
    ahead = server(store, START, catalogue)
    ahead.open_account("acme")
    ahead.charge_replies("acme", key="ahead")
    before = everything(ahead, "acme")
    lag = timedelta(microseconds=lag_us)
    behind = server(store, START - lag, catalogue)
    if lag <= timedelta(seconds=tolerance):
        behind.charge_replies("acme", key="behind")
        assert charged_at(behind, "behind") == START
    else:
        with pytest.raises(InvalidTime):
            behind.charge_replies("acme", key="behind")
        assert everything(ahead, "acme") == before


class SpyClock:
    """The system's time, noting for each reading whether the thread's SQLite connection
    was inside a transaction (holding the write lock: units begin with BEGIN IMMEDIATE)."""

    def __init__(self, store: SqliteStore, start: datetime) -> None:
        self.store = store
        self.at = start
        self.readings: list[bool] = []

    def now(self) -> datetime:
        self.readings.append(self.store.connection().in_transaction)
        self.at += MICROSECOND
        return self.at


def test_on_sqlite_the_clock_is_read_once_the_write_lock_is_held(tmp_path: Path) -> None:
    """R-CON-1: every reading of the clock by a write happens inside its unit of work, after
    BEGIN IMMEDIATE took the write lock, never before it (no event sink: delivery, which reads
    the clock for its leases outside any unit, does not run)."""
    store = SqliteStore(tmp_path / "spy.db")
    clock = SpyClock(store, START)
    billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    billing.charge_replies("acme", key="k")
    billing.adjust_balance("acme", "broadcast", 5_000, key="a", reason="goodwill")
    pay(billing, billing.top_up("acme", "conversation", 50_000))
    billing.change_plan("acme", "growth")
    assert clock.readings and all(clock.readings), clock.readings
    store.close()


def lagging_charge(path: str, at: datetime, key: str) -> str:
    """In another process: charge on a server whose clock shows ``at``; the outcome."""
    store = SqliteStore(path)
    try:
        billing = server(store, at)
        billing.charge_replies("acme", key=key)
        return f"charged at {charged_at(billing, key).isoformat()}"
    except InvalidTime as error:
        return f"refused: {error.code}"
    finally:
        store.close()


def test_two_processes_with_clocks_apart_on_one_sqlite_file(tmp_path: Path) -> None:
    """R-CON-1 across processes: another process whose clock is 299 s behind is dated at the
    last change; one 301 s behind is refused, and its charge is not in the ledger."""
    path = str(tmp_path / "two.db")
    store = SqliteStore(path)
    ahead = opened(store, START)
    with SPAWN.Pool(1) as pool:
        near = pool.apply(lagging_charge, (path, START - timedelta(seconds=299), "near"))
        far = pool.apply(lagging_charge, (path, START - timedelta(seconds=301), "far"))
    assert near == f"charged at {START.isoformat()}"
    assert far == "refused: invalid_time"
    keys = [e.key for e in ahead.usage_history("acme", kind="reply").items]
    assert keys == ["near", "ahead"]
    store.close()
