"""Broadcast holds: reserve, settle, release, expire (R-VOL-2), with conservation (R-BAL-8)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import START, default_catalogue_toml, idr
from subkit.errors import (
    HoldNotFound,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidArgument,
    InvalidQuantity,
)
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import (
    Balance,
    Charger,
    EntryKind,
    LedgerEntry,
    conservation_holds,
    credit_top_up,
    expire_due,
    grant,
    hold_broadcast,
    open_wallet,
    release_hold,
    reset_quota,
    settle_hold,
)
from subkit.wallet import charge_broadcast as wallet_charge_broadcast
from subkit.wallet import charge_replies as wallet_charge_replies

FREE_LIMITS = "limits = { users = 1, contacts = 500, broadcast_quota = 0 }"


def catalogue(*, quota: int = 100, included: int = 0, overdraft: int = 0) -> Catalogue:
    text = default_catalogue_toml().replace(
        FREE_LIMITS, f"limits = {{ users = 1, contacts = 500, broadcast_quota = {quota} }}"
    )
    if included:
        text = text.replace(
            "included = { conversation = 15_000 }      # 500 replies",
            f"included = {{ conversation = 15_000, broadcast = {included} }}",
            1,
        )
    if overdraft:
        text += f"\n[policy]\noverdraft = {{ broadcast = {overdraft} }}\n"
    return Catalogue.from_toml(text)


def make(cat: Catalogue, *, credit: int = 20_000) -> tuple[Billing, FixedClock]:
    clock = FixedClock(START)
    billing = Billing(cat, InMemoryStore(), FakeGateway(), clock=clock)
    billing.open_account("acme")
    if credit:
        billing.adjust_balance("acme", "broadcast", credit, key="seed", reason="campaign credit")
    return billing, clock


def history(billing: Billing) -> list[LedgerEntry]:
    items: list[LedgerEntry] = []
    cursor = None
    while True:
        page = billing.usage_history("acme", limit=500, cursor=cursor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def conserved(billing: Billing) -> None:
    """R-BAL-8 with holds open: each balance is the sum of its entries."""
    entries = history(billing)
    balances = billing.balances("acme")
    for balance in Balance:
        total = sum(e.amount.amount for e in entries if e.balance is balance)
        assert getattr(balances, str(balance)) == idr(total)


class TestHoldAndSettle:
    def test_a_hold_reserves_quota_then_balance_and_other_charges_cannot_spend_it(self) -> None:
        """130 recipients with a quota of 100 and Rp20.000: 100 on quota, 30 x Rp650 =
        Rp19.500 held; the balance still shows Rp20.000, of which Rp19.500 held; a broadcast
        of one more message finds neither quota nor balance."""
        billing, _ = make(catalogue())
        hold = billing.hold_broadcast("acme", 130, key="campaign-7")
        assert (hold.id, hold.recipients, hold.quota_held) == ("campaign-7", 130, 100)
        assert hold.amount_held == idr(19_500)
        assert hold.expires_at == START + timedelta(hours=24)
        balances = billing.balances("acme")
        assert (balances.broadcast, balances.broadcast_held) == (idr(20_000), idr(19_500))
        view = billing.usage_overview("acme")
        assert (view.broadcast_used, view.broadcast_held) == (0, 100)
        assert view.held == {"conversation": idr(0), "broadcast": idr(19_500)}
        with pytest.raises(InsufficientBalance) as refused:
            billing.charge_broadcast("acme", 1, key="other")
        assert refused.value.shortfall == idr(150)
        assert "Rp19.500 of it held" in str(refused.value)
        assert billing.holds("acme") == [hold]
        assert history(billing)[0].kind is EntryKind.ADJUSTMENT  # a hold writes no entry
        conserved(billing)

    def test_settle_charges_what_was_sent_quota_first_and_releases_the_rest(self) -> None:
        billing, _ = make(catalogue())
        billing.hold_broadcast("acme", 130, key="campaign-7")
        charge = billing.settle_broadcast("acme", "campaign-7", 120)
        assert (charge.key, charge.count, charge.quota_used) == ("campaign-7", 120, 100)
        assert (charge.amount, charge.balance_after) == (idr(13_000), idr(7_000))
        balances = billing.balances("acme")
        assert (balances.broadcast, balances.broadcast_held) == (idr(7_000), idr(0))
        assert billing.usage_overview("acme").broadcast_used == 100
        assert billing.holds("acme") == []
        entry = history(billing)[0]
        assert (entry.kind, entry.count, entry.amount, entry.key) == (
            EntryKind.BROADCAST,
            20,
            idr(-13_000),
            "campaign-7",
        )
        assert billing.charge_broadcast("acme", 10, key="next").amount == idr(6_500)
        conserved(billing)

    def test_settling_fewer_than_the_quota_held_pays_nothing_and_frees_the_rest(self) -> None:
        billing, _ = make(catalogue())
        billing.hold_broadcast("acme", 130, key="c")
        charge = billing.settle_broadcast("acme", "c", 40)
        assert (charge.quota_used, charge.amount) == (40, idr(0))
        assert billing.usage_overview("acme").broadcast_used == 40
        assert billing.charge_broadcast("acme", 60, key="next").quota_used == 60
        assert [e.kind for e in history(billing)] == [EntryKind.ADJUSTMENT, EntryKind.GRANT]

    def test_release_frees_everything_and_charges_nothing(self) -> None:
        billing, _ = make(catalogue())
        billing.hold_broadcast("acme", 130, key="c")
        assert billing.release_broadcast("acme", "c") is None
        assert billing.balances("acme").broadcast_held == idr(0)
        assert billing.usage_overview("acme").broadcast_held == 0
        assert billing.charge_broadcast("acme", 130, key="now").amount == idr(19_500)
        billing.release_broadcast("acme", "c")  # already ended: nothing to do
        with pytest.raises(HoldNotFound):
            billing.settle_broadcast("acme", "c", 1)
        conserved(billing)

    def test_a_hold_is_all_or_nothing(self) -> None:
        billing, _ = make(catalogue())
        with pytest.raises(InsufficientBalance) as refused:
            billing.hold_broadcast("acme", 131, key="big")
        assert refused.value.shortfall == idr(150)
        assert billing.holds("acme") == []
        assert billing.usage_overview("acme").broadcast_held == 0
        billing.adjust_balance("acme", "broadcast", 650, key="more", reason="top")
        assert billing.hold_broadcast("acme", 131, key="big").amount_held == idr(20_150)


class TestExpiry:
    def test_the_billing_run_releases_a_hold_at_its_expiry(self) -> None:
        billing, clock = make(catalogue())
        billing.hold_broadcast("acme", 130, key="c", expires_in=timedelta(hours=1))
        clock.advance(timedelta(hours=2))
        report = billing.advance()
        assert report.counts == {"hold_expired": 1}
        assert billing.holds("acme") == []
        assert billing.balances("acme").broadcast_held == idr(0)
        with pytest.raises(HoldNotFound):
            billing.settle_broadcast("acme", "c", 10)
        billing.release_broadcast("acme", "c")
        assert billing.advance().counts == {}
        conserved(billing)

    def test_held_credit_does_not_expire_while_held_and_expires_when_given_back(self) -> None:
        """A Free plan granting Rp10.000 of broadcast balance each month: a hold of it all
        made before the month ends is still spendable by its settle after the boundary;
        what it does not spend goes back to its lot and expires at once, dated at the
        lot's expiry."""
        billing, clock = make(catalogue(quota=0, included=10_000), credit=0)
        boundary = START.replace(month=2)
        clock.set(boundary - timedelta(hours=1))
        billing.hold_broadcast("acme", 15, key="c", expires_in=timedelta(hours=6))
        clock.set(boundary + timedelta(hours=1))
        billing.advance()
        assert billing.balances("acme").broadcast == idr(9_750 + 10_000)
        charge = billing.settle_broadcast("acme", "c", 10)
        assert charge.amount == idr(6_500)
        assert billing.balances("acme").broadcast == idr(10_000)  # February's grant only
        kinds = [(e.kind, e.amount, e.at) for e in history(billing)[:2]]
        assert kinds == [
            (EntryKind.BROADCAST, idr(-6_500), boundary + timedelta(hours=1)),
            (EntryKind.EXPIRY, idr(-3_250), boundary),
        ]
        conserved(billing)

    def test_quota_held_in_one_month_is_not_counted_in_the_next(self) -> None:
        billing, clock = make(catalogue(quota=100))
        boundary = START.replace(month=2)
        clock.set(boundary - timedelta(hours=1))
        billing.hold_broadcast("acme", 80, key="c", expires_in=timedelta(hours=6))
        clock.set(boundary + timedelta(hours=1))
        assert billing.usage_overview("acme").broadcast_held == 0  # January's quota
        assert billing.settle_broadcast("acme", "c", 80).quota_used == 80
        assert billing.usage_overview("acme").broadcast_used == 0
        assert billing.charge_broadcast("acme", 100, key="feb").quota_used == 100


class TestOverdraft:
    def test_a_hold_may_reserve_the_overdraft_room_and_settle_goes_into_it(self) -> None:
        billing, _ = make(catalogue(quota=0, overdraft=6_500), credit=3_250)
        hold = billing.hold_broadcast("acme", 15, key="c")
        assert hold.amount_held == idr(9_750)
        assert billing.balances("acme").broadcast == idr(3_250)
        with pytest.raises(InsufficientBalance):
            billing.charge_broadcast("acme", 1, key="x")
        charge = billing.settle_broadcast("acme", "c", 12)
        assert charge.balance_after == idr(3_250 - 7_800)
        assert billing.charge_broadcast("acme", 3, key="x").balance_after == idr(-6_500)
        conserved(billing)

    def test_credit_given_back_pays_the_debt_first(self) -> None:
        billing, _ = make(catalogue(quota=0, overdraft=6_500), credit=3_250)
        billing.hold_broadcast("acme", 5, key="c")  # takes the Rp3.250
        billing.charge_broadcast("acme", 10, key="d")  # on the overdraft: -Rp6.500
        assert billing.balances("acme").broadcast == idr(-3_250)
        billing.release_broadcast("acme", "c")
        assert billing.balances("acme").broadcast == idr(-3_250)
        billing.adjust_balance("acme", "broadcast", 3_250, key="pay", reason="debt")
        assert billing.balances("acme").broadcast == idr(0)
        conserved(billing)


class TestGivenBackCredit:
    """Credit a settle or a release gives back goes back into the lot it came from: a new
    lot each time grew the wallet, and so every later call's cost, with every campaign."""

    def test_partial_settles_and_releases_keep_the_lots_the_wallet_had(self) -> None:
        wallet = credit_top_up(
            open_wallet("acme", "IDR"), Balance.BROADCAST, 1_000_000, START, invoice_code="INV"
        ).wallet
        lots = [(lot.id, lot.remaining) for lot in wallet.lots]
        for i in range(20):
            wallet, _ = hold_broadcast(
                wallet, RULES, 100, 0, START, hold_id=f"h{i}", expires_at=START + timedelta(1)
            )
            wallet = wallet.wallet
            if i % 2:
                wallet = release_hold(wallet, f"h{i}", START).wallet
            else:
                wallet = settle_hold(wallet, f"h{i}", 90, START)[0].wallet
        assert [(lot.id, lot.remaining) for lot in wallet.lots] == [
            (lots[0][0], 1_000_000 - 10 * 90 * 650)
        ]

    def test_an_expiring_lot_given_credit_back_expires_as_one_entry(self) -> None:
        expiry = START + timedelta(days=7)
        wallet = grant(
            open_wallet("acme", "IDR"), Balance.BROADCAST, 10_000, START, expires_at=expiry
        ).wallet
        change, _ = hold_broadcast(
            wallet, RULES, 5, 0, START, hold_id="c", expires_at=START + timedelta(hours=1)
        )
        wallet = release_hold(change.wallet, "c", START).wallet
        wallet = settle_hold(
            hold_broadcast(
                wallet, RULES, 10, 0, START, hold_id="d", expires_at=START + timedelta(hours=1)
            )[0].wallet,
            "d",
            4,
            START,
        )[0].wallet
        expired = expire_due(wallet, expiry).entries
        assert [(e.kind, e.amount, e.at) for e in expired] == [
            (EntryKind.EXPIRY, idr(-(10_000 - 4 * 650)), expiry)
        ]
        assert expire_due(wallet, expiry).wallet.lots == ()


class TestKeysAndInput:
    def test_the_same_key_returns_the_same_hold_and_other_arguments_conflict(self) -> None:
        billing, _ = make(catalogue())
        first = billing.hold_broadcast("acme", 10, key="c")
        assert billing.hold_broadcast("acme", 10, key="c") == first
        with pytest.raises(IdempotencyConflict):
            billing.hold_broadcast("acme", 11, key="c")
        settled = billing.settle_broadcast("acme", "c", 5)
        assert billing.settle_broadcast("acme", "c", 5) == settled
        with pytest.raises(IdempotencyConflict):
            billing.settle_broadcast("acme", "c", 6)
        assert billing.usage_overview("acme").broadcast_used == 5

    def test_bad_arguments_are_typed_refusals_that_change_nothing(self) -> None:
        billing, _ = make(catalogue())
        billing.hold_broadcast("acme", 10, key="c")
        before = (billing.balances("acme"), billing.holds("acme"))
        with pytest.raises(InvalidQuantity):
            billing.settle_broadcast("acme", "c", 11)
        with pytest.raises(InvalidQuantity):
            billing.settle_broadcast("acme", "c", -1)
        with pytest.raises(InvalidQuantity):
            billing.hold_broadcast("acme", 0, key="z")
        with pytest.raises(InvalidArgument):
            billing.hold_broadcast("acme", 1, key="")
        for wrong in (timedelta(0), timedelta(days=31), 3600):
            with pytest.raises(InvalidArgument):
                billing.hold_broadcast("acme", 1, key="z", expires_in=wrong)  # type: ignore[arg-type]
        with pytest.raises(HoldNotFound) as missing:
            billing.settle_broadcast("acme", "nope", 1)
        assert (missing.value.hold_id, missing.value.account_id) == ("nope", "acme")
        with pytest.raises(HoldNotFound):
            billing.release_broadcast("acme", "nope")
        with pytest.raises(InvalidArgument):
            billing.release_broadcast("acme", "")
        assert (billing.balances("acme"), billing.holds("acme")) == before


# -- the pure wallet: conservation and reservation under random operations ---------------------

RULES = catalogue(overdraft=5_000).wallet_rules
QUOTA = 50
operations = st.lists(
    st.one_of(
        st.tuples(st.just("hold"), st.integers(1, 60), st.integers(1, 48)),
        st.tuples(st.just("settle"), st.integers(0, 5), st.integers(0, 60)),
        st.tuples(st.just("release"), st.integers(0, 5), st.just(0)),
        st.tuples(st.just("charge"), st.integers(1, 40), st.just(0)),
        st.tuples(st.just("credit"), st.integers(1, 30_000), st.just(0)),
        st.tuples(st.just("wait"), st.integers(1, 30), st.just(0)),
        st.tuples(st.just("month"), st.just(0), st.just(0)),
    ),
    max_size=30,
)


@settings(max_examples=150)
@given(ops=operations)
def test_holds_conserve_money_and_never_reserve_more_than_there_is(ops: list) -> None:
    """R-BAL-8 and R-VOL-2 on the pure wallet: whatever mix of holds, settles, releases,
    charges, credits (some expiring) and time, each balance equals its ledger, what is free
    to spend never goes below the overdraft, and a settle never costs more than its hold."""
    wallet = open_wallet("acme", "IDR")
    now = START
    ledger: list[LedgerEntry] = []
    ids: list[str] = []
    credits = 0
    for op, a, b in ops:
        try:
            if op == "hold":
                change, hold = hold_broadcast(
                    wallet, RULES, a, QUOTA, now, hold_id=f"h{len(ids)}",
                    expires_at=now + timedelta(hours=b),
                )  # fmt: skip
                ids.append(hold.id)
            elif op == "settle" and ids:
                held = wallet.hold(ids[a % len(ids)])
                change, charge = settle_hold(wallet, ids[a % len(ids)], b, now)
                assert held is not None and charge.amount.amount <= held.amount
            elif op == "release" and ids:
                change = release_hold(wallet, ids[a % len(ids)], now)
            elif op == "charge":
                change, _ = wallet_charge_broadcast(wallet, RULES, a, QUOTA, now, key=f"k{a}")
            elif op == "credit" and a % 2:  # included credit, expiring in a week
                change = grant(
                    wallet, Balance.BROADCAST, a, now, expires_at=now + timedelta(days=7)
                )
            elif op == "credit":
                change = credit_top_up(wallet, Balance.BROADCAST, a, now, invoice_code="INV")
            elif op == "month":
                wallet = reset_quota(wallet)
                continue
            elif op == "wait":
                now += timedelta(days=a)
                continue
            else:
                continue
        except (InsufficientBalance, InvalidQuantity, HoldNotFound):
            continue
        wallet = change.wallet
        ledger.extend(change.entries)
        credits += op == "credit"
        assert conservation_holds(wallet, ledger)
        # Credit given back goes back into its lot: no more lots than credits made them.
        assert len(wallet.lots) <= credits
        free = wallet._spendable(Balance.BROADCAST) - wallet.unfunded(Balance.BROADCAST)
        assert free >= -RULES.overdraft[Balance.BROADCAST].amount
        assert wallet.broadcast_used + wallet.quota_held() <= QUOTA
        assert all(r.amount >= 0 and r.unfunded >= 0 for r in wallet.holds)
    assert wallet.held(Balance.BROADCAST) == Money(sum(r.amount for r in wallet.holds), "IDR")


def test_holds_are_kept_by_the_sqlite_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A hold (its credit, expiry and quota month) comes back equal from the database file,
    and is settled from another store object on the same file."""
    from subkit.stores.sqlite import SqliteStore

    cat = catalogue(quota=0, included=10_000)
    clock = FixedClock(START)
    with SqliteStore(tmp_path / "subkit.db") as store:
        billing = Billing(cat, store, FakeGateway(), clock=clock)
        billing.open_account("acme")
        hold = billing.hold_broadcast("acme", 12, key="c")
    with SqliteStore(tmp_path / "subkit.db") as store:
        billing = Billing(cat, store, FakeGateway(), clock=clock)
        assert billing.holds("acme") == [hold]
        with store.snapshot() as view:
            account = view.get_account("acme")
        assert account is not None and account.wallet.holds[0].credit[0].amount == 7_800
        assert billing.settle_broadcast("acme", "c", 12).balance_after == idr(2_200)


# -- one Charger over many requests: the same as the single charges in order ---------------

requests_of_a_batch = st.lists(
    st.tuples(st.sampled_from(["reply", "broadcast"]), st.integers(1, 40)), max_size=20
)


@settings(max_examples=100)
@given(
    batch=requests_of_a_batch,
    held=st.integers(0, 60),
    lots=st.lists(st.tuples(st.integers(1, 20_000), st.booleans()), max_size=3),
)
def test_one_charger_over_a_batch_is_the_single_charges_in_order(
    batch: list, held: int, lots: list
) -> None:
    """R-VOL-1 on the pure wallet: the requests an account's batch charges through one
    ``Charger`` (its balances kept as integers, the wallet built once) give the charges,
    refusals, wallet and entries of the same requests made one by one, each on the wallet
    the one before left; with credit expiring now or later, both balances, the overdraft
    and an open hold reserving quota, credit and overdraft room."""
    wallet = open_wallet("acme", "IDR")
    for n, (amount, expiring) in enumerate(lots):
        for balance in Balance:
            ends = START + (timedelta(0) if expiring and n == 0 else timedelta(days=7))
            an_hour_ago = START - timedelta(hours=1)
            wallet = grant(wallet, balance, amount, an_hour_ago, expires_at=ends).wallet
    if held:
        with contextlib.suppress(InsufficientBalance):  # a hold the credit cannot fund
            wallet = hold_broadcast(
                wallet, RULES, held, QUOTA, START - timedelta(minutes=1), hold_id="h",
                expires_at=START + timedelta(hours=1),
            )[0].wallet  # fmt: skip
    charger = Charger(wallet, RULES, START)
    one_by_one, entries = wallet, []
    for n, (kind, count) in enumerate(batch):
        key = f"m{n}"
        if kind == "reply":
            got = _outcome(partial(charger.reply, count, key=key))
            single = _outcome(
                partial(wallet_charge_replies, one_by_one, RULES, count, START, key=key)
            )
        else:
            got = _outcome(partial(charger.broadcast, count, QUOTA, key=key))
            single = _outcome(
                partial(wallet_charge_broadcast, one_by_one, RULES, count, QUOTA, START, key=key)
            )
        if isinstance(single, str):  # refused alike, worded alike, changing nothing
            assert got == single
            continue
        change, want = single
        assert got == want
        one_by_one = change.wallet
        entries.extend(change.entries)
    if not entries and one_by_one is wallet:  # nothing charged: only the expiry done up front
        expired = expire_due(wallet, START)
        one_by_one, entries = expired.wallet, list(expired.entries)
    batched = charger.change()
    assert batched.wallet == one_by_one
    assert list(batched.entries) == entries


def _outcome(call: Callable[[], Any]) -> Any:
    """What ``call`` returned, or the text of the ``InsufficientBalance`` it raised."""
    try:
        return call()
    except InsufficientBalance as refused:
        return str(refused)
