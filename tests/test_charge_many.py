"""``billing.charge_many``: many charges, few commits, each exactly as a single call (R-VOL-1)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import START, default_catalogue_toml, idr
from subkit import charges
from subkit.charges import ChargeKind, ChargeRequest
from subkit.errors import (
    AccountNotFound,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidArgument,
    InvalidQuantity,
    StoreError,
    SubkitError,
)
from subkit.plans import Catalogue
from subkit.ports import ReadUnit, Store, UnitOfWork
from subkit.serialize import to_dict
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import Charge, LedgerEntry

# The Free plan with a broadcast quota of 100, so broadcasts meet quota, balance and refusal.
CATALOGUE = Catalogue.from_toml(
    default_catalogue_toml().replace(
        "limits = { users = 1, contacts = 500, broadcast_quota = 0 }",
        "limits = { users = 1, contacts = 500, broadcast_quota = 100 }",
    )
)
ACCOUNTS = ("acme", "beta")


class CountingStore:
    """A store that counts the units of work opened through it and can fail the n-th."""

    def __init__(self, inner: Store, *, fail_at: int | None = None) -> None:
        self.inner = inner
        self.units = 0
        self.fail_at = fail_at

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        self.units += 1
        if self.units == self.fail_at:
            return self._failing()
        return self.inner.transaction()

    @contextmanager
    def _failing(self) -> Iterator[UnitOfWork]:
        with self.inner.transaction() as unit:
            yield unit
            raise StoreError("the disk is full")

    def snapshot(self) -> AbstractContextManager[ReadUnit]:
        return self.inner.snapshot()


def make_billing(store: Store) -> Billing:
    billing = Billing(CATALOGUE, store, FakeGateway(), clock=FixedClock(START))
    for name in ACCOUNTS:
        billing.open_account(name)
    billing.adjust_balance("acme", "broadcast", 20_000, key="seed", reason="campaign credit")
    return billing


def history(billing: Billing, account: str) -> list[LedgerEntry]:
    items: list[LedgerEntry] = []
    cursor = None
    while True:
        page = billing.usage_history(account, limit=500, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def outcome(result: Charge | SubkitError) -> Any:
    """A result as a comparable value: the charge, or the error's class, code and message."""
    if isinstance(result, SubkitError):
        return (type(result).__name__, result.code, str(result))
    return to_dict(result)


def state(billing: Billing) -> Any:
    return {
        name: (
            billing.balances(name),
            billing.usage_overview(name).broadcast_used,
            [to_dict(entry) for entry in history(billing, name)],
        )
        for name in ACCOUNTS
    }


def single(billing: Billing, request: ChargeRequest) -> Charge | SubkitError:
    try:
        if request.kind == "reply":
            return billing.charge_replies(request.account_id, request.count, key=request.key)
        return billing.charge_broadcast(request.account_id, request.count, key=request.key)
    except SubkitError as refused:
        return refused


requests = st.lists(
    st.builds(
        ChargeRequest,
        account_id=st.sampled_from([*ACCOUNTS, "ghost"]),
        kind=st.sampled_from(["reply", "broadcast"]),
        count=st.integers(1, 300),
        key=st.sampled_from(["m1", "m2", "m3", "m4", "m5"]),
    ),
    max_size=30,
)


@contextmanager
def stores(kind: str) -> Iterator[tuple[Store, Store]]:
    if kind == "memory":
        yield InMemoryStore(), InMemoryStore()
        return
    with tempfile.TemporaryDirectory() as folder:
        one = SqliteStore(Path(folder) / "batched.db")
        two = SqliteStore(Path(folder) / "singles.db")
        try:
            yield one, two
        finally:
            one.close()
            two.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=25)
@given(batch=requests)
def test_charge_many_is_the_same_as_single_calls_in_order(kind: str, batch: list) -> None:
    """R-VOL-1: a batch gives the results, balances, quota use and entries of the same
    charges made one by one in request order; replaying the batch changes nothing and
    gives each charge again (a refused request stays refused, or meets the key a later
    request of the batch took)."""
    with stores(kind) as (batched_store, singles_store):
        batched, singles = make_billing(batched_store), make_billing(singles_store)
        results = batched.charge_many(batch)
        expected = [single(singles, request) for request in batch]
        assert [outcome(r) for r in results] == [outcome(r) for r in expected]
        assert state(batched) == state(singles)
        before = state(batched)
        again = batched.charge_many(batch)
        charged = [r for r in results if isinstance(r, Charge)]
        assert [a for a, r in zip(again, results, strict=True) if isinstance(r, Charge)] == charged
        assert state(batched) == before


class TestOneBatch:
    @pytest.fixture
    def counted(self, tmp_path: Path) -> Iterator[tuple[Billing, CountingStore]]:
        store = CountingStore(SqliteStore(tmp_path / "subkit.db"))
        yield make_billing(store), store
        store.inner.close()  # type: ignore[attr-defined]

    def test_a_batch_is_one_unit_of_work_saving_each_account_once(
        self, counted: tuple[Billing, CountingStore]
    ) -> None:
        """300 charges over two accounts: one commit, each account's version up by one."""
        billing, store = counted
        batch = [
            ChargeRequest(ACCOUNTS[n % 2], ChargeKind.REPLY, 1, f"msg-{n}") for n in range(300)
        ]
        versions = self._versions(store)
        store.units = 0
        results = billing.charge_many(batch)
        assert store.units == 1
        assert all(isinstance(r, Charge) for r in results)
        assert [r.key for r in results if isinstance(r, Charge)] == [r.key for r in batch]
        assert self._versions(store) == {name: v + 1 for name, v in versions.items()}
        assert billing.balances("acme").conversation == idr(15_000 - 150 * 30)

    def test_a_long_batch_commits_every_charge_batch_requests(
        self, counted: tuple[Billing, CountingStore]
    ) -> None:
        billing, store = counted
        size = 2 * charges_batch() + 1
        batch = [ChargeRequest("acme", "broadcast", 1, f"c-{n}") for n in range(size)]
        store.units = 0
        results = billing.charge_many(batch)
        assert store.units == 3
        # 100 covered by quota, then 30 at Rp650 from the Rp20.000 broadcast balance.
        paid = 100 + 20_000 // 650
        assert all(isinstance(r, Charge) for r in results[:paid])
        assert all(isinstance(r, InsufficientBalance) for r in results[paid:])
        assert billing.balances("acme").broadcast == idr(20_000 - 30 * 650)

    def test_a_batch_the_store_cannot_commit_is_each_of_its_requests_result(
        self, counted: tuple[Billing, CountingStore]
    ) -> None:
        """The first batch commits; the second fails at commit: its requests get the
        StoreError, and nothing of them was charged (their keys work again later)."""
        billing, store = counted
        billing.adjust_balance("acme", "conversation", 10_000, key="credit", reason="test")
        size = charges_batch() + 2
        batch = [ChargeRequest("acme", "reply", 1, f"m-{n}") for n in range(size)]
        store.units = 0
        store.fail_at = 2
        results = billing.charge_many(batch)
        assert all(isinstance(r, Charge) for r in results[: charges_batch()])
        assert [type(r) for r in results[charges_batch() :]] == [StoreError, StoreError]
        assert billing.balances("acme").conversation == idr(25_000 - 30 * charges_batch())
        assert isinstance(billing.charge_replies("acme", 1, key=f"m-{size - 1}"), Charge)

    @staticmethod
    def _versions(store: CountingStore) -> dict[str, int]:
        with store.snapshot() as view:
            found = {name: view.get_account(name) for name in ACCOUNTS}
        return {name: account.version for name, account in found.items() if account is not None}


def charges_batch() -> int:
    from subkit.service import CHARGE_BATCH

    return CHARGE_BATCH


class TestRefusals:
    @pytest.fixture
    def billing(self) -> Billing:
        return make_billing(InMemoryStore())

    def test_a_refused_request_is_its_own_result_and_leaves_the_others(
        self, billing: Billing
    ) -> None:
        """R-VOL-1, R-BAL-4: the 600-reply request is short (15,000 covers 500); the requests
        around it are charged, its key is not recorded and works after a top-up."""
        batch = [
            ChargeRequest("acme", "reply", 10, "before"),
            ChargeRequest("acme", "reply", 600, "too-many"),
            ChargeRequest("ghost", "reply", 1, "x"),
            ChargeRequest("acme", "reply", 10, "after"),
        ]
        first, short, missing, last = billing.charge_many(batch)
        assert isinstance(first, Charge) and first.balance_after == idr(14_700)
        assert isinstance(short, InsufficientBalance)
        assert short.shortfall == idr(600 * 30 - 14_700)
        assert isinstance(missing, AccountNotFound)
        assert isinstance(last, Charge) and last.balance_after == idr(14_400)
        billing.adjust_balance("acme", "conversation", 10_000, key="goodwill", reason="retry")
        retried = billing.charge_many([ChargeRequest("acme", "reply", 600, "too-many")])
        assert isinstance(retried[0], Charge) and retried[0].amount == idr(18_000)

    def test_bad_items_are_refused_one_by_one_with_typed_errors(self, billing: Billing) -> None:
        batch: list[Any] = [
            ChargeRequest("acme", "sms", 1, "k"),
            ChargeRequest("acme", "reply", 0, "k"),
            ChargeRequest("acme", "reply", True, "k"),
            ChargeRequest("acme", "broadcast", charges.MAX_COUNT + 1, "k"),
            ChargeRequest("acme", "reply", 1, ""),
            ChargeRequest("", "reply", 1, "k"),
            {"account_id": "acme"},
            ChargeRequest("acme", "reply", 1, "good"),
        ]
        results = billing.charge_many(batch)
        kinds = [type(r) for r in results]
        assert kinds == [
            InvalidArgument,
            InvalidQuantity,
            InvalidQuantity,
            InvalidQuantity,
            InvalidArgument,
            InvalidArgument,
            InvalidArgument,
            Charge,
        ]
        assert [getattr(r, "argument", None) for r in results[4:7]] == [
            "key",
            "account_id",
            "requests",
        ]
        assert billing.balances("acme").conversation == idr(15_000 - 30)

    def test_a_key_used_twice_in_one_batch_replays_or_conflicts(self, billing: Billing) -> None:
        """R-BAL-5 inside one batch: the same key and count again is the first charge; the
        same key with another count is refused; keys are scoped per kind."""
        batch = [
            ChargeRequest("acme", "reply", 5, "m1"),
            ChargeRequest("acme", "reply", 5, "m1"),
            ChargeRequest("acme", "reply", 6, "m1"),
            ChargeRequest("acme", "broadcast", 5, "m1"),
        ]
        first, replayed, conflict, broadcast = billing.charge_many(batch)
        assert replayed == first
        assert isinstance(conflict, IdempotencyConflict)
        assert isinstance(broadcast, Charge) and broadcast.quota_used == 5
        assert billing.balances("acme").conversation == idr(15_000 - 150)
        assert billing.charge_replies("acme", 5, key="m1") == first

    def test_requests_must_be_an_iterable(self, billing: Billing) -> None:
        for wrong in (None, "acme", 5, {"acme": 1}):
            with pytest.raises(InvalidArgument):
                billing.charge_many(wrong)  # type: ignore[arg-type]
        assert billing.charge_many([]) == []

    def test_results_come_in_request_order_across_accounts(self, billing: Billing) -> None:
        batch = [
            ChargeRequest(name, "reply", n + 1, f"k{n}")
            for n, name in enumerate(["beta", "acme", "beta", "acme"])
        ]
        results = billing.charge_many(batch)
        assert [(r.key, r.count) for r in results if isinstance(r, Charge)] == [
            ("k0", 1),
            ("k1", 2),
            ("k2", 3),
            ("k3", 4),
        ]
        assert billing.balances("beta").conversation == idr(15_000 - 4 * 30)
        assert billing.balances("acme").conversation == idr(15_000 - 6 * 30)
