"""The WhatsApp balances through the Billing facade (R-BAL-1..10, R-TIME, R-ERR)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from helpers import FREE_GRANT, PROFILE, START, idr
from stores import ALL_STORES, contents
from subkit.errors import (
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAmount,
    InvalidArgument,
)
from subkit.invoice import InvoiceStatus, PaymentStatus
from subkit.ports import Store
from subkit.service import Billing, Checkout, PaymentEvent
from subkit.testing import FixedClock
from subkit.wallet import Balance, Charge, EntryKind, LedgerEntry

pytestmark = ALL_STORES

# Opened 2026-01-10 09:00 in Jakarta: the first month ends 2026-02-10 09:00 there.
FIRST_BOUNDARY = START.replace(month=2)


def paid_top_up(billing: Billing, account: str, balance: str, amount: int) -> Checkout:
    checkout = billing.top_up(account, balance, amount)
    assert checkout.invoice is not None
    billing.apply_payment(
        PaymentEvent(
            checkout.invoice.code, PaymentStatus.PAID, "GW-" + checkout.invoice.code, idr(amount)
        )
    )
    return checkout


def whole_history(billing: Billing, account: str, **filters: object) -> list[LedgerEntry]:
    items: list[LedgerEntry] = []
    cursor = None
    while True:
        page = billing.usage_history(account, limit=7, cursor=cursor, **filters)  # type: ignore[arg-type]
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items


def snapshot(store: Store) -> object:
    """Everything the store holds (to compare before and after a refused call)."""
    return contents(store)


class TestReplies:
    def test_free_plan_pays_500_replies_then_refuses(
        self, billing: Billing, account: str, store: Store
    ) -> None:
        """R-BAL-2, R-BAL-4: Rp15.000 buys 500 replies at Rp30; the 501st is short by Rp30."""
        for n in range(500):
            charge = billing.charge_replies(account, key=f"msg-{n}")
        assert charge.balance_after == idr(0)
        assert charge.amount == idr(30)
        before = snapshot(store)
        with pytest.raises(InsufficientBalance) as caught:
            billing.charge_replies(account, key="msg-500")
        assert caught.value.code == "insufficient_balance"
        assert caught.value.shortfall == idr(30)
        assert snapshot(store) == before
        # The refused key was not recorded: it works after a top-up.
        paid_top_up(billing, account, "conversation", 10_000)
        assert billing.charge_replies(account, key="msg-500").balance_after == idr(9_970)

    def test_a_multi_reply_charge_is_all_or_nothing(
        self, billing: Billing, account: str, store: Store
    ) -> None:
        """R-BAL-4: 501 replies at once on Rp15.000 take nothing."""
        before = snapshot(store)
        with pytest.raises(InsufficientBalance) as caught:
            billing.charge_replies(account, 501, key="batch")
        assert caught.value.shortfall == idr(30)
        assert snapshot(store) == before
        assert billing.balances(account).conversation == idr(FREE_GRANT)

    def test_replayed_key_returns_the_first_charge(self, billing: Billing, account: str) -> None:
        """R-BAL-5: the same key again returns the first result and charges nothing."""
        first = billing.charge_replies(account, 3, key="msg-1")
        assert first == Charge("msg-1", Balance.CONVERSATION, 3, idr(90), 0, idr(14_910))
        assert billing.charge_replies(account, 3, key="msg-1") == first
        assert billing.balances(account).conversation == idr(14_910)
        assert len(whole_history(billing, account, kind="reply")) == 1

    def test_conflicting_key_is_refused(self, billing: Billing, account: str) -> None:
        """R-BAL-5: the same key with other arguments raises IdempotencyConflict."""
        billing.charge_replies(account, 3, key="msg-1")
        with pytest.raises(IdempotencyConflict):
            billing.charge_replies(account, 4, key="msg-1")
        assert billing.balances(account).conversation == idr(14_910)

    def test_keys_are_scoped_per_account_and_kind(self, billing: Billing, account: str) -> None:
        """R-BAL-5: one id may key a reply, a broadcast and an adjustment, on any account."""
        billing.open_account("beta")
        paid_top_up(billing, account, "broadcast", 10_000)
        reply = billing.charge_replies(account, key="m-1")
        broadcast = billing.charge_broadcast(account, 2, key="m-1")
        adjustment = billing.adjust_balance(account, "conversation", 100, key="m-1", reason="x")
        other = billing.charge_replies("beta", 2, key="m-1")
        assert (reply.amount, broadcast.amount, adjustment.amount, other.amount) == (
            idr(30),
            idr(1_300),
            idr(100),
            idr(60),
        )
        assert billing.balances(account).conversation == idr(FREE_GRANT - 30 + 100)
        assert billing.balances("beta").conversation == idr(FREE_GRANT - 60)


class TestBroadcast:
    def test_free_plan_without_broadcast_balance_is_refused(
        self, billing: Billing, account: str, store: Store
    ) -> None:
        """R-BAL-3: Free has no quota; 10 recipients need Rp6.500 of broadcast balance."""
        before = snapshot(store)
        with pytest.raises(InsufficientBalance) as caught:
            billing.charge_broadcast(account, 10, key="camp-1")
        assert caught.value.shortfall == idr(6_500)
        assert snapshot(store) == before

    def test_broadcast_after_a_top_up_costs_650_each(self, billing: Billing, account: str) -> None:
        """R-BAL-3, R-BAL-6: one ledger entry per broadcast, whatever the recipients."""
        paid_top_up(billing, account, "broadcast", 10_000)
        charge = billing.charge_broadcast(account, 15, key="camp-1")
        assert charge == Charge("camp-1", Balance.BROADCAST, 15, idr(9_750), 0, idr(250))
        assert billing.balances(account).broadcast == idr(250)
        assert billing.balances(account).conversation == idr(FREE_GRANT)
        [entry] = billing.usage_history(account, kind=EntryKind.BROADCAST).items
        assert (entry.count, entry.amount, entry.balance_after) == (15, idr(-9_750), idr(250))
        with pytest.raises(InsufficientBalance) as caught:
            billing.charge_broadcast(account, 1, key="camp-2")
        assert caught.value.shortfall == idr(400)


class TestAdjustments:
    def test_credit_and_take_back(self, billing: Billing, account: str) -> None:
        """R-BAL-9: a positive adjustment adds, a negative one is charged all-or-nothing."""
        credit = billing.adjust_balance(
            account, "broadcast", 20_000, key="adj-1", reason="goodwill"
        )
        assert credit.kind is EntryKind.ADJUSTMENT
        assert (credit.amount, credit.balance_after) == (idr(20_000), idr(20_000))
        assert credit.reason == "goodwill"
        debit = billing.adjust_balance(
            account, Balance.BROADCAST, idr(-5_000), key="adj-2", reason="refunded top-up"
        )
        assert (debit.amount, debit.balance_after) == (idr(-5_000), idr(15_000))
        with pytest.raises(InsufficientBalance) as caught:
            billing.adjust_balance(account, "broadcast", -15_001, key="adj-3", reason="too much")
        assert caught.value.shortfall == idr(1)
        assert billing.balances(account).broadcast == idr(15_000)
        # Replay and conflict, as for charges.
        again = billing.adjust_balance(account, "broadcast", 20_000, key="adj-1", reason="goodwill")
        assert again == credit
        with pytest.raises(IdempotencyConflict):
            billing.adjust_balance(account, "broadcast", 20_000, key="adj-1", reason="other")
        with pytest.raises(InvalidAmount):
            billing.adjust_balance(account, "broadcast", 0, key="adj-4", reason="nothing")
        assert billing.balances(account).broadcast == idr(15_000)


class TestHistory:
    def _busy(self, billing: Billing, account: str, clock: FixedClock) -> None:
        paid_top_up(billing, account, "broadcast", 10_000)
        for n in range(6):
            billing.charge_replies(account, key=f"r-{n}")
            if n % 2:
                billing.charge_broadcast(account, 1, key=f"b-{n}")
            clock.advance(timedelta(hours=1))
        paid_top_up(billing, account, "conversation", 20_000)

    def test_newest_first_and_filters(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-BAL-7, R-BAL-10: filter by balance and kind; ``since`` inclusive, ``until`` not."""
        self._busy(billing, account, clock)
        everything = whole_history(billing, account)
        keys = [(e.at, e.seq) for e in everything]
        assert keys == sorted(keys, reverse=True)
        assert len(everything) == 1 + 1 + 6 + 3 + 1  # grant, top-up, replies, broadcasts, top-up
        assert {e.kind for e in whole_history(billing, account, balance="broadcast")} == {
            EntryKind.TOP_UP,
            EntryKind.BROADCAST,
        }
        replies = whole_history(billing, account, kind=EntryKind.REPLY)
        assert [e.key for e in replies] == [f"r-{n}" for n in reversed(range(6))]
        window = whole_history(
            billing,
            account,
            kind="reply",
            since=START + timedelta(hours=1),
            until=START + timedelta(hours=3),
        )
        assert [e.key for e in window] == ["r-2", "r-1"]
        assert whole_history(billing, account, balance="broadcast", kind="reply") == []

    def test_paging_is_stable_when_entries_share_an_instant(
        self, billing: Billing, account: str
    ) -> None:
        """R-BAL-10: (time, order of writing) descending; pages neither skip nor repeat."""
        for n in range(20):
            billing.charge_replies(account, key=f"r-{n}")
        first = billing.usage_history(account, limit=8)
        # New writes between pages do not shift what the cursor points at.
        for n in range(20, 23):
            billing.charge_replies(account, key=f"r-{n}")
        rest: list[LedgerEntry] = []
        cursor = first.next_cursor
        while cursor is not None:
            page = billing.usage_history(account, limit=8, cursor=cursor)
            rest.extend(page.items)
            cursor = page.next_cursor
        keys = [e.key for e in (*first.items, *rest)]
        assert keys == [f"r-{n}" for n in reversed(range(20))] + [None]
        assert all(e.at == START for e in (*first.items, *rest))

    def test_topup_history_shows_invoice_codes(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-BAL-7: "Riwayat Top Up" lists the paid top-ups with their invoices, newest first."""
        first = paid_top_up(billing, account, "conversation", 10_000)
        billing.top_up(account, "conversation", 30_000)  # never paid: not a top-up entry
        clock.advance(timedelta(minutes=1))
        second = paid_top_up(billing, account, "broadcast", 20_000)
        page = billing.topup_history(account)
        assert [(e.invoice_code, e.balance, e.amount) for e in page.items] == [
            (second.invoice and second.invoice.code, Balance.BROADCAST, idr(20_000)),
            (first.invoice and first.invoice.code, Balance.CONVERSATION, idr(10_000)),
        ]
        assert page.next_cursor is None
        one = billing.topup_history(account, limit=1)
        assert len(one.items) == 1 and one.next_cursor is not None
        tail = billing.topup_history(account, limit=1, cursor=one.next_cursor)
        assert tail.items == page.items[1:] and tail.next_cursor is None


class TestIncludedBalance:
    def test_expires_at_the_month_boundary_and_is_granted_anew_by_advance(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-BAL-1, R-SUB-5: unspent included balance expires; the next month's is granted."""
        billing.charge_replies(account, 100, key="r-1")  # Rp3.000 spent, Rp12.000 left
        paid_top_up(billing, account, "conversation", 10_000)
        clock.set(FIRST_BOUNDARY + timedelta(minutes=1))
        report = billing.advance()
        assert report.accounts == (account,)
        assert report.counts["balance_expired"] == 1
        # Purchased balance is kept; the included Rp12.000 is replaced by a fresh Rp15.000.
        assert billing.balances(account).conversation == idr(10_000 + FREE_GRANT)
        expiry, grant = (
            whole_history(billing, account, kind="expiry")[0],
            whole_history(billing, account, kind="grant")[0],
        )
        assert (expiry.at, expiry.amount) == (FIRST_BOUNDARY, idr(-12_000))
        assert (grant.at, grant.amount) == (FIRST_BOUNDARY, idr(FREE_GRANT))
        assert billing.advance().counts == {}

    def test_catch_up_on_a_read_after_several_months(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-CYC-5, R-TIME: a read applies every missed boundary, each dated when it was due."""
        clock.set(datetime(2026, 4, 20, 12, 0, tzinfo=START.tzinfo))
        assert billing.balances(account).conversation == idr(FREE_GRANT)
        grants = whole_history(billing, account, kind="grant")
        assert [g.at for g in grants] == [
            START.replace(month=4),
            START.replace(month=3),
            START.replace(month=2),
            START,
        ]
        expiries = whole_history(billing, account, kind="expiry")
        assert len(expiries) == 3
        # The read saved nothing (R-CON-2): the run saves what it showed, and no more.
        assert billing.advance().counts == {"period": 3, "balance_expired": 3}
        assert whole_history(billing, account, kind="grant") == grants
        assert whole_history(billing, account, kind="expiry") == expiries
        assert billing.advance().counts == {}

    def test_a_charge_after_the_boundary_cannot_spend_expired_balance(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-BAL-1: a charge first applies the boundary, then spends the new month's grant."""
        clock.set(FIRST_BOUNDARY)
        charge = billing.charge_replies(account, 500, key="r-1")
        assert charge.balance_after == idr(0)
        with pytest.raises(InsufficientBalance):
            billing.charge_replies(account, key="r-2")


def test_conservation_from_the_usage_history(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """R-BAL-8: granted + topped up + adjusted - charged - expired = balance, per balance."""
    paid_top_up(billing, account, "broadcast", 50_000)
    paid_top_up(billing, account, "conversation", 10_000)
    for month in range(3):
        billing.charge_replies(account, 50 + month, key=f"r-{month}")
        billing.charge_broadcast(account, 7, key=f"b-{month}")
        billing.adjust_balance(account, "conversation", 1_000, key=f"a-{month}", reason="bonus")
        clock.advance(timedelta(days=31))
    billing.set_billing_profile(account, PROFILE)  # any call catches up
    balances = billing.balances(account)
    for balance, now in (
        (Balance.CONVERSATION, balances.conversation),
        (Balance.BROADCAST, balances.broadcast),
    ):
        entries = whole_history(billing, account, balance=balance)
        assert sum(e.amount.amount for e in entries) == now.amount
        # Each entry's balance_after is the running sum in order of writing.
        running = 0
        for entry in sorted(entries, key=lambda e: e.seq):
            running += entry.amount.amount
            assert entry.balance_after.amount == running
        by_kind = {k: sum(e.amount.amount for e in entries if e.kind is k) for k in EntryKind}
        assert by_kind[EntryKind.REPLY] <= 0 and by_kind[EntryKind.EXPIRY] <= 0
    assert billing.invoices(account, status=InvoiceStatus.PAID).items != ()


@pytest.mark.parametrize(
    "call",
    [
        lambda b: b.top_up("acme", "sms", 10_000),
        lambda b: b.adjust_balance("acme", "sms", 10_000, key="a", reason="r"),
        lambda b: b.usage_history("acme", balance="sms"),
    ],
    ids=["top_up", "adjust_balance", "usage_history"],
)
def test_an_unknown_balance_name_is_a_subkit_error(
    billing: Billing, account: str, store: Store, call: Any
) -> None:
    """R-ERR: a balance name from user input is refused with a code, and nothing changes."""
    before = snapshot(store)
    with pytest.raises(InvalidArgument) as caught:
        call(billing)
    assert caught.value.code == "invalid_argument"
    assert "conversation, broadcast" in str(caught.value)
    assert snapshot(store) == before
