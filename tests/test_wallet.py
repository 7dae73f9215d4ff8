"""The Wallet aggregate: lots, charges, quota, overdraft and expiry (R-BAL). Paging the
history is the stores' (the contract suite) with the one cursor codec (tests/test_paging.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from helpers import JAKARTA, idr
from subkit.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InsufficientBalance,
    InvalidAmount,
    InvalidQuantity,
    InvalidTime,
    NaiveDatetime,
    TopUpOutOfRange,
)
from subkit.idempotency import IdempotencyRecord, fingerprint, replay
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.wallet import (
    Balance,
    Charge,
    EntryKind,
    LedgerEntry,
    LotSource,
    Wallet,
    WalletChange,
    WalletRules,
    adjust,
    charge_broadcast,
    charge_replies,
    conservation_holds,
    credit_top_up,
    expire_due,
    grant,
    ledger_totals,
    open_wallet,
    reset_quota,
    validate_top_up,
)

T0 = datetime(2024, 1, 1, 9, 0, tzinfo=JAKARTA)
FEB = datetime(2024, 2, 1, tzinfo=JAKARTA)
CONV = Balance.CONVERSATION
BCAST = Balance.BROADCAST


@pytest.fixture
def rules() -> WalletRules:
    return Catalogue.default().wallet_rules


def with_overdraft(rules: WalletRules, conversation: int = 0, broadcast: int = 0) -> WalletRules:
    return attrs.evolve(rules, overdraft={CONV: idr(conversation), BCAST: idr(broadcast)})


def fresh() -> Wallet:
    return open_wallet("acct-1", "IDR")


def apply(wallet: Wallet, change: WalletChange, ledger: list[LedgerEntry]) -> Wallet:
    ledger.extend(change.entries)
    return change.wallet


class TestReplies:
    def test_free_plan_pays_exactly_500_replies(self, rules: WalletRules) -> None:
        """R-BAL-2: the Free plan's Rp15.000 pays 500 replies at Rp30; the 501st is refused
        with a shortfall of Rp30 (R-BAL-4)."""
        ledger: list[LedgerEntry] = []
        wallet = apply(fresh(), grant(fresh(), CONV, idr(15_000), T0, expires_at=FEB), ledger)
        for n in range(500):
            change, charge = charge_replies(wallet, rules, 1, T0, key=f"msg-{n}")
            assert charge.amount == idr(30)
            wallet = apply(wallet, change, ledger)
        assert wallet.balance(CONV) == idr(0)
        assert wallet.lots == ()  # the used-up lot is dropped
        with pytest.raises(InsufficientBalance) as refused:
            charge_replies(wallet, rules, 1, T0, key="msg-500")
        assert refused.value.shortfall == idr(30)
        assert refused.value.code == "insufficient_balance"
        assert conservation_holds(wallet, ledger)

    def test_one_charge_of_many_replies_is_one_entry(self, rules: WalletRules) -> None:
        """R-BAL-2: count * rate, one REPLY entry with the count and the key."""
        wallet = grant(fresh(), CONV, idr(15_000), T0, expires_at=FEB).wallet
        change, charge = charge_replies(wallet, rules, 500, T0, key="batch")
        assert charge == Charge(
            key="batch", balance=CONV, count=500, amount=idr(15_000), quota_used=0,
            balance_after=idr(0),
        )  # fmt: skip
        (entry,) = change.entries
        assert (entry.kind, entry.count, entry.amount, entry.key) == (
            EntryKind.REPLY, 500, idr(-15_000), "batch",
        )  # fmt: skip
        assert entry.balance_after == idr(0)

    def test_refused_charge_changes_nothing(self, rules: WalletRules) -> None:
        """R-BAL-4: all-or-nothing; the message names the balance, the price and the gap."""
        wallet = grant(fresh(), CONV, idr(12_000), T0, expires_at=FEB).wallet
        with pytest.raises(InsufficientBalance) as refused:
            charge_replies(wallet, rules, 401, T0, key="k")
        assert refused.value.shortfall == idr(30)
        assert str(refused.value) == ("conversation balance Rp12.000 is short of Rp12.030 by Rp30")
        assert wallet.balance(CONV) == idr(12_000)  # the input is untouched (immutable)

    @pytest.mark.parametrize("count", [0, -1, True, 1.5, "2"])
    def test_count_must_be_a_positive_int(self, rules: WalletRules, count: Any) -> None:
        """R-BAL-2: a count is an int >= 1."""
        with pytest.raises(InvalidQuantity):
            charge_replies(fresh(), rules, count, T0, key="k")

    def test_naive_time_is_refused(self, rules: WalletRules) -> None:
        with pytest.raises(NaiveDatetime):
            charge_replies(fresh(), rules, 1, datetime(2024, 1, 1), key="k")

    def test_rules_in_another_currency_are_refused(self, rules: WalletRules) -> None:
        with pytest.raises(CurrencyMismatch):
            charge_replies(open_wallet("a", "USD"), rules, 1, T0, key="k")


class TestBroadcast:
    def test_growth_quota_then_rate(self, rules: WalletRules) -> None:
        """R-BAL-3: Growth's 1.000 messages are free, each one beyond costs Rp650, as one entry."""
        wallet = credit_top_up(fresh(), BCAST, idr(200 * 650), T0, invoice_code="INV-1").wallet
        change, charge = charge_broadcast(wallet, rules, 1_200, 1_000, T0, key="camp-1")
        assert (charge.count, charge.quota_used, charge.amount) == (1_200, 1_000, idr(130_000))
        assert charge.balance_after == idr(0)
        (entry,) = change.entries
        assert (entry.kind, entry.count, entry.amount) == (EntryKind.BROADCAST, 200, idr(-130_000))
        assert change.wallet.broadcast_used == 1_000

    def test_broadcast_covered_by_quota_writes_no_entry(self, rules: WalletRules) -> None:
        """R-BAL-3, R-BAL-10: a broadcast the quota covers is counted, not written."""
        change, charge = charge_broadcast(fresh(), rules, 400, 1_000, T0, key="c")
        assert change.entries == ()
        assert (charge.quota_used, charge.amount) == (400, idr(0))
        change, charge = charge_broadcast(change.wallet, rules, 600, 1_000, T0, key="d")
        assert change.entries == () and change.wallet.broadcast_used == 1_000

    def test_refused_broadcast_consumes_no_quota(self, rules: WalletRules) -> None:
        """R-BAL-4: a refused broadcast leaves the quota as it was."""
        wallet = fresh()
        with pytest.raises(InsufficientBalance) as refused:
            charge_broadcast(wallet, rules, 1_001, 1_000, T0, key="big")
        assert refused.value.shortfall == idr(650)
        assert wallet.broadcast_used == 0
        _, charge = charge_broadcast(wallet, rules, 1_000, 1_000, T0, key="big")
        assert charge.quota_used == 1_000

    def test_quota_resets_monthly(self, rules: WalletRules) -> None:
        """R-BAL-3: the quota is per month; reset_quota starts the next one."""
        wallet = charge_broadcast(fresh(), rules, 1_000, 1_000, T0, key="a")[0].wallet
        with pytest.raises(InsufficientBalance):
            charge_broadcast(wallet, rules, 1, 1_000, T0, key="b")
        wallet = reset_quota(wallet)
        assert charge_broadcast(wallet, rules, 1, 1_000, FEB, key="b")[1].quota_used == 1

    def test_usage_above_a_smaller_quota_leaves_none(self, rules: WalletRules) -> None:
        """R-BAL-3: after a downgrade mid-month, quota used beyond the new quota leaves 0."""
        wallet = attrs.evolve(fresh(), broadcast_used=800)
        wallet = credit_top_up(wallet, BCAST, idr(10_000), T0, invoice_code="I").wallet
        _, charge = charge_broadcast(wallet, rules, 2, 500, T0, key="x")
        assert (charge.quota_used, charge.amount) == (0, idr(1_300))

    @pytest.mark.parametrize("recipients", [0, -5, False])
    def test_recipients_must_be_positive(self, rules: WalletRules, recipients: Any) -> None:
        with pytest.raises(InvalidQuantity):
            charge_broadcast(fresh(), rules, recipients, 1_000, T0, key="k")


class TestTopUp:
    @pytest.mark.parametrize(
        ("balance", "amount", "allowed"),
        [
            (CONV, 9_999, False),
            (CONV, 10_000, True),
            (CONV, 1_000_000, True),
            (CONV, 1_000_001, False),
            (BCAST, 9_999, False),
            (BCAST, 10_000, True),
            (BCAST, 5_000_000, True),
            (BCAST, 5_000_001, False),
        ],
    )
    def test_limits_are_inclusive(
        self, rules: WalletRules, balance: Balance, amount: int, allowed: bool
    ) -> None:
        """R-BAL-6, R-CAT-5: top-up limits at their exact edges, carrying min and max."""
        if allowed:
            assert validate_top_up(rules, balance, idr(amount)) == idr(amount)
            return
        with pytest.raises(TopUpOutOfRange) as refused:
            validate_top_up(rules, balance, idr(amount))
        maximum = 1_000_000 if balance is CONV else 5_000_000
        assert (refused.value.minimum, refused.value.maximum) == (idr(10_000), idr(maximum))

    def test_message_says_what_is_allowed(self, rules: WalletRules) -> None:
        with pytest.raises(TopUpOutOfRange, match=r"top-up of Rp5\.000 is below the minimum"):
            validate_top_up(rules, CONV, 5_000)

    @pytest.mark.parametrize("amount", [0, -10_000])
    def test_non_positive_is_invalid(self, rules: WalletRules, amount: int) -> None:
        with pytest.raises(InvalidAmount):
            validate_top_up(rules, CONV, amount)
        with pytest.raises(InvalidAmount):
            credit_top_up(fresh(), CONV, amount, T0, invoice_code="I")

    def test_other_currency_is_refused(self, rules: WalletRules) -> None:
        with pytest.raises(CurrencyMismatch):
            validate_top_up(rules, CONV, Money(10_000, "USD"))
        with pytest.raises(CurrencyMismatch):
            credit_top_up(fresh(), CONV, Money(10_000, "USD"), T0, invoice_code="I")

    def test_top_up_is_a_never_expiring_lot_with_its_invoice(self) -> None:
        """R-BAL-1, R-BAL-7: purchased balance never expires; the entry names its invoice."""
        change = credit_top_up(fresh(), CONV, idr(50_000), T0, invoice_code="INV-202401-000001")
        (lot,) = change.wallet.lots
        assert (lot.source, lot.expires_at, lot.remaining) == (LotSource.TOP_UP, None, 50_000)
        (entry,) = change.entries
        assert (entry.kind, entry.amount, entry.invoice_code) == (
            EntryKind.TOP_UP, idr(50_000), "INV-202401-000001",
        )  # fmt: skip
        assert expire_due(change.wallet, T0 + timedelta(days=3650)).entries == ()


class TestOverdraft:
    def test_balance_goes_down_to_minus_the_limit(self, rules: WalletRules) -> None:
        """R-BAL-4: with an overdraft limit the balance may reach -limit, and no further."""
        rules = with_overdraft(rules, conversation=3_000)
        change, charge = charge_replies(fresh(), rules, 100, T0, key="a")
        assert charge.balance_after == idr(-3_000)
        assert change.wallet.debt[CONV] == 3_000
        with pytest.raises(InsufficientBalance) as refused:
            charge_replies(change.wallet, rules, 1, T0, key="b")
        assert refused.value.shortfall == idr(30)

    def test_next_top_up_pays_the_debt_first(self, rules: WalletRules) -> None:
        """R-BAL-4: a top-up first pays the debt; only the rest becomes a lot."""
        rules = with_overdraft(rules, conversation=3_000)
        ledger: list[LedgerEntry] = []
        wallet = apply(fresh(), charge_replies(fresh(), rules, 100, T0, key="a")[0], ledger)
        wallet = apply(wallet, credit_top_up(wallet, CONV, 10_000, T0, invoice_code="I"), ledger)
        assert wallet.balance(CONV) == idr(7_000)
        assert wallet.debt[CONV] == 0
        assert [lot.remaining for lot in wallet.lots] == [7_000]
        assert ledger[-1].balance_after == idr(7_000)
        assert conservation_holds(wallet, ledger)

    def test_grant_pays_the_debt_first(self, rules: WalletRules) -> None:
        """R-BAL-4: so does a grant; a grant smaller than the debt adds no lot."""
        rules = with_overdraft(rules, conversation=3_000)
        wallet = charge_replies(fresh(), rules, 100, T0, key="a")[0].wallet
        wallet = grant(wallet, CONV, 1_000, T0, expires_at=FEB).wallet
        assert (wallet.balance(CONV), wallet.lots, wallet.debt[CONV]) == (idr(-2_000), (), 2_000)

    def test_without_overdraft_balance_never_negative(self, rules: WalletRules) -> None:
        """R-BAL-8: with no overdraft a balance is never below zero."""
        with pytest.raises(InsufficientBalance):
            adjust(fresh(), rules, CONV, -1, T0, key="k", reason="r")


class TestLots:
    def test_expiring_lot_is_used_before_the_older_non_expiring_one(
        self, rules: WalletRules
    ) -> None:
        """R-BAL-1: a charge takes from the lot that expires first, then the oldest."""
        wallet = credit_top_up(fresh(), CONV, 10_000, T0, invoice_code="I").wallet
        wallet = grant(wallet, CONV, 15_000, T0 + timedelta(hours=1), expires_at=FEB).wallet
        wallet = charge_replies(wallet, rules, 10, T0 + timedelta(hours=2), key="k")[0].wallet
        by_source = {lot.source: lot.remaining for lot in wallet.lots}
        assert by_source == {LotSource.TOP_UP: 10_000, LotSource.INCLUDED: 14_700}

    def test_earliest_expiry_first_then_oldest(self, rules: WalletRules) -> None:
        """R-BAL-1: among expiring lots the earliest expiry goes first; ties go to the oldest."""
        wallet = grant(fresh(), CONV, 100, T0, expires_at=FEB + timedelta(days=5)).wallet
        wallet = grant(wallet, CONV, 100, T0, expires_at=FEB).wallet
        wallet = grant(wallet, CONV, 100, T0, expires_at=FEB).wallet
        ids = [lot.id for lot in wallet.lots_of(CONV)]
        assert ids == [2, 3, 1]
        wallet = charge_replies(wallet, rules, 5, T0, key="k")[0].wallet  # 150
        assert {lot.id: lot.remaining for lot in wallet.lots} == {3: 50, 1: 100}

    def test_crossing_lots_in_one_charge_is_one_entry(self, rules: WalletRules) -> None:
        """R-BAL-2: a charge that spans lots is still one entry."""
        wallet = grant(fresh(), CONV, 60, T0, expires_at=FEB).wallet
        wallet = credit_top_up(wallet, CONV, 60, T0, invoice_code="I").wallet
        change, charge = charge_replies(wallet, rules, 3, T0, key="k")
        assert len(change.entries) == 1 and charge.balance_after == idr(30)
        assert [(lot.source, lot.remaining) for lot in change.wallet.lots] == [
            (LotSource.TOP_UP, 30)
        ]

    def test_zero_grant_writes_nothing(self) -> None:
        """R-BAL-10: entries of zero amount are not written."""
        change = grant(fresh(), BCAST, 0, T0, expires_at=FEB)
        assert change.entries == () and change.wallet == fresh()

    def test_grant_must_expire_after_it_is_granted(self) -> None:
        with pytest.raises(InvalidTime):
            grant(fresh(), CONV, 100, FEB, expires_at=FEB)
        with pytest.raises(InvalidAmount):
            grant(fresh(), CONV, -1, T0, expires_at=None)


class TestExpiry:
    def test_expiry_entries_are_dated_at_the_lots_expiry_in_order(self) -> None:
        """R-BAL-1, R-TIME: what is left of each due lot expires, dated when it was due."""
        wallet = grant(fresh(), CONV, 15_000, T0, expires_at=FEB + timedelta(days=1)).wallet
        wallet = grant(wallet, BCAST, 5_000, T0, expires_at=FEB).wallet
        wallet = grant(wallet, CONV, 1_000, T0, expires_at=FEB + timedelta(days=60)).wallet
        wallet = credit_top_up(wallet, CONV, 10_000, T0, invoice_code="I").wallet
        change = expire_due(wallet, FEB + timedelta(days=30))
        assert [(e.at, e.balance, e.kind, e.amount) for e in change.entries] == [
            (FEB, BCAST, EntryKind.EXPIRY, idr(-5_000)),
            (FEB + timedelta(days=1), CONV, EntryKind.EXPIRY, idr(-15_000)),
        ]
        assert [e.seq for e in change.entries] == [wallet.next_seq, wallet.next_seq + 1]
        assert change.entries[1].balance_after == idr(11_000)
        assert change.wallet.balances() == {CONV: idr(11_000), BCAST: idr(0)}
        assert expire_due(change.wallet, FEB + timedelta(days=30)).entries == ()  # idempotent

    def test_a_lot_expires_at_its_instant(self) -> None:
        """R-BAL-1: expires_at <= at is due (periods are half-open)."""
        wallet = grant(fresh(), CONV, 100, T0, expires_at=FEB).wallet
        assert expire_due(wallet, FEB - timedelta(microseconds=1)).entries == ()
        assert len(expire_due(wallet, FEB).entries) == 1

    def test_charge_never_spends_expired_balance(self, rules: WalletRules) -> None:
        """R-BAL-1: a charge first expires what is due, even if the caller did not."""
        wallet = grant(fresh(), CONV, 15_000, T0, expires_at=FEB).wallet
        with pytest.raises(InsufficientBalance):
            charge_replies(wallet, rules, 1, FEB, key="late")
        topped = credit_top_up(wallet, CONV, 10_000, FEB, invoice_code="I")
        assert [e.kind for e in topped.entries] == [EntryKind.EXPIRY, EntryKind.TOP_UP]


class TestAdjust:
    def test_positive_adds_a_never_expiring_lot(self, rules: WalletRules) -> None:
        """R-BAL-9: a positive adjustment adds an ADJUSTMENT lot and one entry with its reason."""
        change = adjust(fresh(), rules, CONV, 5_000, T0, key="adj-1", reason="goodwill")
        (lot,) = change.wallet.lots
        assert (lot.source, lot.expires_at) == (LotSource.ADJUSTMENT, None)
        (entry,) = change.entries
        assert (entry.kind, entry.amount, entry.key, entry.reason) == (
            EntryKind.ADJUSTMENT, idr(5_000), "adj-1", "goodwill",
        )  # fmt: skip

    def test_negative_is_charged_all_or_nothing(self, rules: WalletRules) -> None:
        """R-BAL-9: a negative adjustment is taken like a charge."""
        wallet = credit_top_up(fresh(), CONV, 10_000, T0, invoice_code="I").wallet
        with pytest.raises(InsufficientBalance) as refused:
            adjust(wallet, rules, CONV, -10_001, T0, key="back", reason="refund")
        assert refused.value.shortfall == idr(1)
        change = adjust(wallet, rules, CONV, -10_000, T0, key="back", reason="refund")
        assert change.wallet.balance(CONV) == idr(0) and change.wallet.lots == ()
        assert change.entries[0].amount == idr(-10_000)

    def test_zero_is_refused(self, rules: WalletRules) -> None:
        with pytest.raises(InvalidAmount):
            adjust(fresh(), rules, CONV, 0, T0, key="k", reason="nothing")


# -- the state machine ----------------------------------------------------------------------

KEYS = st.sampled_from(["k1", "k2", "k3", "k4", "k5"])
BALANCES = st.sampled_from(list(Balance))


@attrs.define
class ModelLot:
    id: int
    remaining: int
    expires_at: datetime | None


class WalletMachine(RuleBasedStateMachine):
    """Drive the wallet through random operations against a plain-integer model.

    R-BAL-1..10: the model keeps lots as integers and applies the consumption order itself;
    after every step the wallet must agree with it and with its own ledger.
    """

    overdraft: ClassVar[dict[Balance, int]] = {CONV: 0, BCAST: 0}
    quota = 1_000

    def __init__(self) -> None:
        super().__init__()
        self.rules = with_overdraft(
            Catalogue.default().wallet_rules, self.overdraft[CONV], self.overdraft[BCAST]
        )
        self.wallet = open_wallet("acct-sm", "IDR")
        self.now = T0
        self.ledger: list[LedgerEntry] = []
        self.snapshot: list[tuple[Any, ...]] = []
        self.store: dict[tuple[str, str], IdempotencyRecord] = {}
        self.lots: dict[Balance, list[ModelLot]] = {b: [] for b in Balance}
        self.debt = dict.fromkeys(Balance, 0)
        self.used = 0
        self.lot_ids = 0

    # -- the model --------------------------------------------------------------------------

    def model_balance(self, balance: Balance) -> int:
        return sum(lot.remaining for lot in self.lots[balance]) - self.debt[balance]

    def model_expire(self) -> None:
        for balance in Balance:
            self.lots[balance] = [
                lot
                for lot in self.lots[balance]
                if lot.expires_at is None or lot.expires_at > self.now
            ]

    def model_credit(self, balance: Balance, amount: int, expires_at: datetime | None) -> None:
        repaid = min(amount, self.debt[balance])
        self.debt[balance] -= repaid
        self.lot_ids += 1
        if amount > repaid:
            self.lots[balance].append(ModelLot(self.lot_ids, amount - repaid, expires_at))

    def model_can_debit(self, balance: Balance, amount: int) -> bool:
        live = sum(
            lot.remaining
            for lot in self.lots[balance]
            if lot.expires_at is None or lot.expires_at > self.now
        )
        return amount <= live - self.debt[balance] + self.overdraft[balance]

    def model_debit(self, balance: Balance, amount: int) -> None:
        self.model_expire()
        far = datetime.max.replace(tzinfo=JAKARTA)
        for lot in sorted(self.lots[balance], key=lambda lot: (lot.expires_at or far, lot.id)):
            take = min(lot.remaining, amount)
            lot.remaining -= take
            amount -= take
        self.lots[balance] = [lot for lot in self.lots[balance] if lot.remaining]
        self.debt[balance] += amount

    def commit(self, change: WalletChange) -> None:
        assert [e.seq for e in change.entries] == list(
            range(self.wallet.next_seq, self.wallet.next_seq + len(change.entries))
        )
        self.wallet = change.wallet
        self.ledger.extend(change.entries)

    def keyed(
        self, scope: str, key: str, args: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        """Look the key up as the service would; check replay and conflict."""
        fp = fingerprint(**args)
        record = self.store.get((scope, key))
        if record is not None and record.fingerprint != fp:
            with pytest.raises(IdempotencyConflict):
                replay(record, fp)
            return fp, {}
        return fp, replay(record, fp)

    # -- rules ------------------------------------------------------------------------------

    @rule(
        balance=BALANCES,
        amount=st.integers(0, 40_000),
        days=st.none() | st.integers(1, 40),
    )
    def grant(self, balance: Balance, amount: int, days: int | None) -> None:
        expires_at = None if days is None else self.now + timedelta(days=days)
        change = grant(self.wallet, balance, idr(amount), self.now, expires_at=expires_at)
        self.model_expire()
        if amount:
            self.model_credit(balance, amount, expires_at)
        else:
            assert [e.kind for e in change.entries if e.kind is EntryKind.GRANT] == []
        self.commit(change)

    @rule(balance=BALANCES, amount=st.integers(10_000, 200_000))
    def top_up(self, balance: Balance, amount: int) -> None:
        change = credit_top_up(self.wallet, balance, amount, self.now, invoice_code="INV")
        self.model_expire()
        self.model_credit(balance, amount, None)
        self.commit(change)

    @rule(count=st.integers(1, 800), key=KEYS)
    def replies(self, count: int, key: str) -> None:
        fp, stored = self.keyed("reply", key, {"count": count})
        if stored is not None:
            if stored:  # a replay: the first result, and no charge
                assert (stored["key"], stored["count"]) == (key, count)
            return
        cost = 30 * count
        if not self.model_can_debit(CONV, cost):
            with pytest.raises(InsufficientBalance) as refused:
                charge_replies(self.wallet, self.rules, count, self.now, key=key)
            assert refused.value.shortfall.amount > 0
            return
        change, charge = charge_replies(self.wallet, self.rules, count, self.now, key=key)
        self.model_debit(CONV, cost)
        assert charge.amount == idr(cost)
        assert change.entries[-1].amount == idr(-cost)
        self.commit(change)
        self.store["reply", key] = IdempotencyRecord(
            "acct-sm", "reply", key, fp, attrs.asdict(charge, recurse=False)
        )

    @rule(recipients=st.integers(1, 1_500), key=KEYS)
    def broadcast(self, recipients: int, key: str) -> None:
        fp, stored = self.keyed("broadcast", key, {"recipients": recipients})
        if stored is not None:
            return
        covered = min(recipients, max(self.quota - self.used, 0))
        cost = 650 * (recipients - covered)
        if not self.model_can_debit(BCAST, cost):
            with pytest.raises(InsufficientBalance):
                charge_broadcast(self.wallet, self.rules, recipients, self.quota, self.now, key=key)
            return
        used_before = self.wallet.broadcast_used
        change, charge = charge_broadcast(
            self.wallet, self.rules, recipients, self.quota, self.now, key=key
        )
        self.model_debit(BCAST, cost)
        self.used += covered
        assert (charge.quota_used, charge.amount) == (covered, idr(cost))
        assert change.wallet.broadcast_used == used_before + covered
        charges = [e for e in change.entries if e.kind is EntryKind.BROADCAST]
        assert len(charges) == (1 if cost else 0)
        self.commit(change)
        self.store["broadcast", key] = IdempotencyRecord(
            "acct-sm", "broadcast", key, fp, attrs.asdict(charge, recurse=False)
        )

    @rule(
        balance=BALANCES,
        amount=st.integers(-60_000, 60_000).filter(bool),
        key=KEYS,
    )
    def adjust(self, balance: Balance, amount: int, key: str) -> None:
        args = {"balance": balance, "amount": idr(amount), "reason": "ops"}
        fp, stored = self.keyed("adjustment", key, args)
        if stored is not None:
            return
        if amount < 0 and not self.model_can_debit(balance, -amount):
            with pytest.raises(InsufficientBalance):
                adjust(self.wallet, self.rules, balance, amount, self.now, key=key, reason="ops")
            return
        change = adjust(self.wallet, self.rules, balance, amount, self.now, key=key, reason="ops")
        if amount > 0:
            self.model_expire()
            self.model_credit(balance, amount, None)
        else:
            self.model_debit(balance, -amount)
        self.commit(change)
        self.store["adjustment", key] = IdempotencyRecord(
            "acct-sm", "adjustment", key, fp, {"seq": change.entries[-1].seq}
        )

    @rule(hours=st.integers(0, 24 * 20), run_expiry=st.booleans())
    def time_passes(self, hours: int, run_expiry: bool) -> None:
        """Time moves on; the expiry run sometimes lags (operations must expire by themselves)."""
        self.now += timedelta(hours=hours)
        if run_expiry:
            change = expire_due(self.wallet, self.now)
            assert all(e.kind is EntryKind.EXPIRY and e.at <= self.now for e in change.entries)
            self.model_expire()
            self.commit(change)

    @precondition(lambda self: self.used > 0)
    @rule()
    def new_month(self) -> None:
        self.wallet = reset_quota(self.wallet)
        self.used = 0

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        for balance in Balance:
            # Expiry may lag in the wallet, never in value: compare after expiring both.
            assert expire_due(self.wallet, self.now).wallet.balance(balance).amount == (
                self.model_balance_after_expiry(balance)
            )
        assert self.wallet.broadcast_used == self.used

    def model_balance_after_expiry(self, balance: Balance) -> int:
        live = sum(
            lot.remaining
            for lot in self.lots[balance]
            if lot.expires_at is None or lot.expires_at > self.now
        )
        return live - self.debt[balance]

    @invariant()
    def conservation(self) -> None:
        """R-BAL-8: granted + topped up + adjusted - charged - expired == balance."""
        totals = ledger_totals(self.ledger, "IDR")
        for balance in Balance:
            t = {kind: money.amount for kind, money in totals[balance].items()}
            granted, topped, adjusted = (
                t[EntryKind.GRANT],
                t[EntryKind.TOP_UP],
                t[EntryKind.ADJUSTMENT],
            )
            charged = -(t[EntryKind.REPLY] + t[EntryKind.BROADCAST])
            expired = -t[EntryKind.EXPIRY]
            assert granted >= 0 and topped >= 0 and charged >= 0 and expired >= 0
            assert (
                granted + topped + adjusted - charged - expired
                == self.wallet.balance(balance).amount
            )
            assert self.wallet.balance(balance).amount >= -self.overdraft[balance]
            assert self.wallet.debt[balance] >= 0
            assert sum(e.amount.amount for e in self.ledger if e.balance is balance) == (
                self.wallet.balance(balance).amount
            )
        assert conservation_holds(self.wallet, self.ledger)

    @invariant()
    def ledger_is_append_only(self) -> None:
        """R-BAL-9, R-BAL-10: entries are never changed, never zero, seq strictly increasing."""
        current = [attrs.astuple(e, recurse=True) for e in self.ledger]
        assert current[: len(self.snapshot)] == self.snapshot
        self.snapshot = current
        seqs = [e.seq for e in self.ledger]
        assert seqs == sorted(set(seqs))
        assert all(not e.amount.is_zero for e in self.ledger)
        assert self.wallet.next_seq == (seqs[-1] + 1 if seqs else 1)
        assert all(lot.remaining > 0 for lot in self.wallet.lots)
        for balance in Balance:
            if self.wallet.debt[balance]:
                assert not self.wallet.lots_of(balance)


class OverdraftWalletMachine(WalletMachine):
    overdraft: ClassVar[dict[Balance, int]] = {CONV: 3_000, BCAST: 13_000}
    quota = 50


_SETTINGS = settings(max_examples=150, stateful_step_count=50)
TestWalletMachine = WalletMachine.TestCase
TestWalletMachine.settings = _SETTINGS
TestOverdraftWalletMachine = OverdraftWalletMachine.TestCase
TestOverdraftWalletMachine.settings = _SETTINGS
