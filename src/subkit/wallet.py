"""The Wallet aggregate: two prepaid WhatsApp balances kept as lots, with a ledger (R-BAL).

Every account has a ``conversation`` and a ``broadcast`` balance. Each balance is a set of
:class:`Lot` s (included, top-up or adjustment credit, some expiring) less any overdraft
``debt``. Every function here is pure: it takes a :class:`Wallet` and a time and returns a
:class:`WalletChange` (the new wallet and the ledger entries that explain it) or raises, in
which case nothing changed. Storing the wallet, the entries and idempotency records is the
service's job.

Rules kept here:

- a charge takes from the lot that expires first, then the oldest (R-BAL-1);
- a charge is all-or-nothing, and may go down to ``-overdraft`` at most (R-BAL-4);
- the next credit pays the debt before it adds a lot (R-BAL-4);
- a balance changes only through a ledger entry, and zero entries are never written
  (R-BAL-9, R-BAL-10), so ``sum(entry.amount) == wallet.balance(b)`` always (R-BAL-8).

Every operation that takes a time ``at`` first expires what is due at ``at`` (its EXPIRY
entries come first in the change), so a charge can never spend balance that had already
expired, whether or not the caller ran :func:`expire_due` before.

Why it is long: every function that changes a wallet keeps the same invariants (lots,
debt, quota, holds, the ledger sequence); they are read and checked together.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from datetime import datetime
from typing import NoReturn

import attrs

from subkit.cycles import ensure_aware
from subkit.errors import (
    CurrencyMismatch,
    HoldNotFound,
    InsufficientBalance,
    InvalidAmount,
    InvalidQuantity,
    InvalidTime,
    TopUpOutOfRange,
)
from subkit.kinds import Balance
from subkit.money import Money


@attrs.frozen
class TopUpLimit:
    """The inclusive range a single top-up of one balance must fall in (R-CAT-5)."""

    minimum: Money
    maximum: Money


@attrs.frozen
class WalletRules:
    """What the catalogue decides for wallets: rates, top-up limits, overdraft, expiry."""

    currency: str
    reply_rate: Money
    broadcast_rate: Money
    topup: dict[Balance, TopUpLimit]
    overdraft: dict[Balance, Money]
    included_balance_expires: bool = True


class LotSource(enum.StrEnum):
    """Where the credit of a lot came from (R-BAL-1)."""

    INCLUDED = "included"
    TOP_UP = "top_up"
    ADJUSTMENT = "adjustment"


class EntryKind(enum.StrEnum):
    """What a ledger entry records (R-BAL-7)."""

    GRANT = "grant"
    TOP_UP = "top_up"
    REPLY = "reply"
    BROADCAST = "broadcast"
    EXPIRY = "expiry"
    ADJUSTMENT = "adjustment"


@attrs.frozen
class Lot:
    """Credit of one origin in one balance; ``remaining`` is in the wallet's currency unit."""

    id: int
    balance: Balance
    source: LotSource
    remaining: int
    created_at: datetime
    expires_at: datetime | None

    def less(self, amount: int) -> Lot:
        """This lot with ``amount`` taken from it (built directly: a charge does this for
        every message, and ``attrs.evolve`` costs several times as much)."""
        return Lot(
            self.id,
            self.balance,
            self.source,
            self.remaining - amount,
            self.created_at,
            self.expires_at,
        )


@attrs.frozen
class LedgerEntry:
    """One line of the balance statement; never edited once written (R-BAL-9).

    ``amount`` is signed (credits positive, debits negative) and ``balance_after`` is the
    balance of ``balance`` right after this entry. ``count`` is the number of messages a
    REPLY or BROADCAST entry paid for (for a broadcast: the messages beyond the quota), 0
    for the other kinds. ``seq`` is the wallet's order of writing.
    """

    account_id: str
    seq: int
    at: datetime
    balance: Balance
    kind: EntryKind
    count: int
    amount: Money
    balance_after: Money
    key: str | None
    invoice_code: str | None = None
    reason: str | None = None


@attrs.frozen
class Charge:
    """The result of a reply or broadcast charge, as the host sees it.

    ``count`` is the messages asked for (replies or recipients), ``quota_used`` how many of
    them the monthly broadcast quota covered, and ``amount`` the positive amount taken from
    the balance for the rest.
    """

    key: str
    balance: Balance
    count: int
    amount: Money
    quota_used: int
    balance_after: Money


@attrs.frozen
class Hold:
    """A broadcast hold as the host sees it (R-VOL-2): ``recipients`` messages reserved, of
    which ``quota_held`` from the month's quota and ``amount_held`` from the balance."""

    id: str
    account_id: str
    recipients: int
    quota_held: int
    amount_held: Money
    expires_at: datetime


@attrs.frozen
class HeldCredit:
    """Credit a hold took out of one lot: given back as it was (source, expiry) if unused."""

    source: LotSource
    amount: int
    created_at: datetime
    expires_at: datetime | None


@attrs.frozen
class Reservation:
    """An open hold inside the wallet.

    ``credit`` is what it took from the lots (it still counts in the balance, but no charge
    can spend it and no expiry takes it); ``unfunded`` is the part the lots did not cover,
    reserved on the overdraft (no charge can use that room). ``rate`` is the price per
    message at the time of the hold; ``month`` the quota month its ``quota_held`` counts in.
    """

    id: str
    balance: Balance
    recipients: int
    quota_held: int
    rate: int
    credit: tuple[HeldCredit, ...]
    unfunded: int
    month: int
    created_at: datetime
    expires_at: datetime

    @property
    def amount(self) -> int:
        return sum(part.amount for part in self.credit) + self.unfunded


def _balance_dict() -> dict[Balance, int]:
    return dict.fromkeys(Balance, 0)


@attrs.frozen
class Wallet:
    """The lots, overdraft debt and broadcast quota use of one account.

    A balance is the sum of its lots' ``remaining`` less its ``debt``. While a balance has
    debt it has no lots: every credit pays the debt first. Fully used lots are dropped.
    """

    account_id: str
    currency: str
    lots: tuple[Lot, ...] = ()
    debt: dict[Balance, int] = attrs.field(factory=_balance_dict)
    broadcast_used: int = 0
    next_seq: int = 1
    next_lot_id: int = 1
    holds: tuple[Reservation, ...] = ()
    quota_month: int = 0  # counts the monthly quota resets, so a hold knows its month

    def balance(self, balance: Balance) -> Money:
        """The balance ``balance`` now, held credit included; negative only in overdraft."""
        return Money(self._spendable(balance) + self._held_credit(balance), self.currency)

    def _held_credit(self, balance: Balance) -> int:
        if not self.holds:  # the common case: no campaign in flight
            return 0
        return sum(part.amount for r in self.holds if r.balance == balance for part in r.credit)

    def _spendable(self, balance: Balance) -> int:
        left = sum(lot.remaining for lot in self.lots if lot.balance == balance)
        return left - self.debt.get(balance, 0)

    def held(self, balance: Balance) -> Money:
        """What open holds reserve of ``balance`` (credit taken and overdraft room)."""
        return Money(sum(r.amount for r in self.holds if r.balance == balance), self.currency)

    def quota_held(self) -> int:
        """Broadcast quota of this month reserved by open holds."""
        return sum(r.quota_held for r in self.holds if r.month == self.quota_month)

    def unfunded(self, balance: Balance) -> int:
        return sum(r.unfunded for r in self.holds if r.balance == balance)

    def hold(self, hold_id: str) -> Reservation | None:
        """The open hold ``hold_id``, or ``None``."""
        return next((r for r in self.holds if r.id == hold_id), None)

    def open_holds(self) -> tuple[Hold, ...]:
        """The open holds, as the host sees them, oldest first."""
        return tuple(
            Hold(
                r.id,
                self.account_id,
                r.recipients,
                r.quota_held,
                Money(r.amount, self.currency),
                r.expires_at,
            )
            for r in self.holds
        )

    def balances(self) -> dict[Balance, Money]:
        """Both balances, keyed by :class:`Balance`."""
        return {b: self.balance(b) for b in Balance}

    def lots_of(self, balance: Balance) -> tuple[Lot, ...]:
        """The lots of ``balance`` in the order a charge consumes them (R-BAL-1)."""
        return tuple(sorted((lot for lot in self.lots if lot.balance == balance), key=_use_order))


@attrs.frozen
class WalletChange:
    """A new wallet and the ledger entries, in order of writing, that lead to it."""

    wallet: Wallet
    entries: tuple[LedgerEntry, ...] = ()


def _use_order(lot: Lot) -> tuple[bool, datetime | int, int]:
    # Expiring lots first, earliest expiry first, then the oldest (lowest id).
    if lot.expires_at is None:
        return (True, 0, lot.id)
    return (False, lot.expires_at, lot.id)


# -- building blocks ------------------------------------------------------------------------


def open_wallet(account_id: str, currency: str) -> Wallet:
    """Return an empty wallet: both balances at zero, no quota used."""
    Money.zero(currency)  # validates the currency code
    return Wallet(account_id=account_id, currency=currency)


def _amount(wallet: Wallet, amount: Money | int) -> Money:
    return Money.of(amount, wallet.currency)


def _positive(wallet: Wallet, amount: Money | int, what: str) -> Money:
    money = _amount(wallet, amount)
    if money.amount <= 0:
        raise InvalidAmount(f"{what} must be positive, got {money}", amount=money)
    return money


def _quantity(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQuantity(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise InvalidQuantity(f"{name} must be at least 1, got {value}", quantity=value)
    return value


def _balance(value: Balance | str) -> Balance:
    try:
        return Balance(value)
    except ValueError:
        allowed = ", ".join(b.value for b in Balance)
        raise InvalidAmount(f"unknown balance {value!r}; expected one of {allowed}") from None


#: ``Money`` of the amounts charged: a reply always costs the same few amounts, and an
#: immutable value can be shared; this spares most of a charge's validated ``Money`` builds.
_money = functools.lru_cache(maxsize=1024)(Money)


def _overdraft(rules: WalletRules, balance: Balance) -> int:
    """The overdraft ``balance`` may go down to, as a positive amount (R-BAL-4)."""
    allowed = rules.overdraft.get(balance)
    return 0 if allowed is None else allowed.amount


def _check_rules(wallet: Wallet, rules: WalletRules) -> None:
    if rules.currency != wallet.currency:
        raise CurrencyMismatch(
            f"wallet rules are in {rules.currency}, the wallet in {wallet.currency}",
            expected=wallet.currency,
            received=rules.currency,
        )


class _Writer:
    """Accumulates one change: the wallet as it evolves and the entries written."""

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet
        self.entries: list[LedgerEntry] = []

    def write(
        self,
        at: datetime,
        balance: Balance,
        kind: EntryKind,
        amount: int,
        *,
        count: int = 0,
        key: str | None = None,
        invoice_code: str | None = None,
        reason: str | None = None,
    ) -> LedgerEntry | None:
        if amount == 0:  # R-BAL-10: zero entries are never written
            return None
        entry = LedgerEntry(
            account_id=self.wallet.account_id,
            seq=self.wallet.next_seq,
            at=at,
            balance=balance,
            kind=kind,
            count=count,
            amount=Money(amount, self.wallet.currency),
            balance_after=self.wallet.balance(balance),
            key=key,
            invoice_code=invoice_code,
            reason=reason,
        )
        self.wallet = attrs.evolve(self.wallet, next_seq=self.wallet.next_seq + 1)
        self.entries.append(entry)
        return entry

    def expire(self, at: datetime) -> None:
        due = [
            lot for lot in self.wallet.lots if lot.expires_at is not None and lot.expires_at <= at
        ]
        if not due:  # the common case, kept cheap: most calls expire nothing
            return
        due.sort(key=_use_order)
        for lot in due:
            assert lot.expires_at is not None
            self.wallet = attrs.evolve(
                self.wallet, lots=tuple(other for other in self.wallet.lots if other.id != lot.id)
            )
            self.write(lot.expires_at, lot.balance, EntryKind.EXPIRY, -lot.remaining)

    def credit(
        self,
        at: datetime,
        balance: Balance,
        amount: int,
        source: LotSource,
        expires_at: datetime | None,
    ) -> None:
        """Pay the debt first, then keep what is left as a new lot."""
        debt = self.wallet.debt.get(balance, 0)
        repaid = min(debt, amount)
        left = amount - repaid
        wallet = attrs.evolve(self.wallet, debt={**self.wallet.debt, balance: debt - repaid})
        if left > 0:
            lot = Lot(
                id=wallet.next_lot_id,
                balance=balance,
                source=source,
                remaining=left,
                created_at=at,
                expires_at=expires_at,
            )
            wallet = attrs.evolve(
                wallet, lots=(*wallet.lots, lot), next_lot_id=wallet.next_lot_id + 1
            )
        self.wallet = wallet

    def debit(
        self, balance: Balance, amount: int, overdraft: Money, *, reserved: bool = False
    ) -> None:
        """Take ``amount`` from the lots in use order, the rest as debt, or refuse it all.

        ``reserved``: a hold being settled already reserved the room for ``amount``.
        """
        lots, debt = self._debited(balance, amount, overdraft.amount, reserved=reserved)
        if lots is not self.wallet.lots or debt is not self.wallet.debt:
            self.wallet = attrs.evolve(self.wallet, lots=lots, debt=debt)

    def _debited(
        self, balance: Balance, amount: int, overdraft: int, *, reserved: bool = False
    ) -> tuple[tuple[Lot, ...], dict[Balance, int]]:
        """The lots and debt after taking ``amount`` from ``balance``, or refuse it all."""
        wallet = self.wallet
        if amount == 0:  # a broadcast the quota covers never needs the balance
            return wallet.lots, wallet.debt
        # What holds reserve is not there to spend: their credit is out of the lots, and the
        # overdraft room they reserved is taken off the allowance.
        available = wallet._spendable(balance) + overdraft
        if wallet.holds:
            available -= wallet.unfunded(balance)
        if amount > available and not reserved:
            currency = wallet.currency
            shortfall = Money(amount - max(available, 0), currency)
            wanted = Money(amount, currency)
            allowance = f" and an overdraft of {Money(overdraft, currency)}" if overdraft else ""
            held = wallet.held(balance)
            on_hold = f" ({held} of it held)" if held.amount else ""
            raise InsufficientBalance(
                f"{balance} balance {wallet.balance(balance)}{on_hold}{allowance} is short of "
                f"{wanted} by {shortfall}",
                shortfall=shortfall,
                balance=balance,
                required=wanted,
                available=Money(max(available, 0), currency),
            )
        rest = amount
        used: dict[int, int] = {}
        for lot in wallet.lots_of(balance):
            if rest == 0:
                break
            take = min(lot.remaining, rest)
            used[lot.id] = take
            rest -= take
        lots = tuple(
            lot if lot.id not in used else lot.less(used[lot.id])
            for lot in wallet.lots
            if lot.remaining - used.get(lot.id, 0) > 0
        )
        debt = wallet.debt
        if rest:
            debt = {**debt, balance: debt.get(balance, 0) + rest}
        return lots, debt

    def take(self, balance: Balance, amount: int) -> tuple[tuple[HeldCredit, ...], int]:
        """Take up to ``amount`` out of the lots in use order for a hold; return the credit
        taken and the part the lots did not cover (checked against the room by the caller)."""
        rest = amount
        taken: list[HeldCredit] = []
        kept: list[Lot] = []
        for lot in self.wallet.lots_of(balance):
            share = min(lot.remaining, rest)
            rest -= share
            if share:
                taken.append(HeldCredit(lot.source, share, lot.created_at, lot.expires_at))
            if lot.remaining > share:
                kept.append(attrs.evolve(lot, remaining=lot.remaining - share))
        others = tuple(lot for lot in self.wallet.lots if lot.balance != balance)
        self.wallet = attrs.evolve(self.wallet, lots=(*others, *kept))
        return tuple(taken), rest

    def give_back(self, balance: Balance, part: HeldCredit) -> None:
        """Return unused held credit: it pays any debt first, the rest goes back into the
        lot it was taken from (the lot of ``balance`` with its source, creation and expiry)
        or, when that lot was used up, is a lot again with them (an expiry already past is
        taken by the next ``expire``)."""
        debt = self.wallet.debt.get(balance, 0)
        repaid = min(debt, part.amount)
        wallet = attrs.evolve(self.wallet, debt={**self.wallet.debt, balance: debt - repaid})
        back = part.amount - repaid
        if back > 0:
            origin = (part.source, part.created_at, part.expires_at)
            same = next(
                (
                    lot
                    for lot in wallet.lots_of(balance)
                    if (lot.source, lot.created_at, lot.expires_at) == origin
                ),
                None,
            )
            if same is not None:
                # Not a lot per give-back: that grew the wallet by a lot at each partial
                # settle or release, and with it the cost of every later call on the account.
                lots = tuple(
                    attrs.evolve(lot, remaining=lot.remaining + back) if lot is same else lot
                    for lot in wallet.lots
                )
                wallet = attrs.evolve(wallet, lots=lots)
            else:
                lot = Lot(
                    id=wallet.next_lot_id,
                    balance=balance,
                    source=part.source,
                    remaining=back,
                    created_at=part.created_at,
                    expires_at=part.expires_at,
                )
                lots = (*wallet.lots, lot)
                wallet = attrs.evolve(wallet, lots=lots, next_lot_id=wallet.next_lot_id + 1)
        self.wallet = wallet

    def drop_hold(self, hold_id: str) -> None:
        holds = tuple(r for r in self.wallet.holds if r.id != hold_id)
        self.wallet = attrs.evolve(self.wallet, holds=holds)

    def change(self) -> WalletChange:
        return WalletChange(wallet=self.wallet, entries=tuple(self.entries))


# -- operations -----------------------------------------------------------------------------


def expire_due(wallet: Wallet, at: datetime) -> WalletChange:
    """Expire every lot with ``expires_at <= at`` (R-BAL-1).

    Each writes an EXPIRY entry for what was left of it, dated at the lot's expiry (not at
    ``at``), in order of expiry; the lot is removed.
    """
    writer = _Writer(wallet)
    writer.expire(ensure_aware(at, "at"))
    return writer.change()


def grant(
    wallet: Wallet,
    balance: Balance,
    amount: Money | int,
    at: datetime,
    *,
    expires_at: datetime | None,
    key: str | None = None,
) -> WalletChange:
    """Credit a plan's included balance as an INCLUDED lot with a GRANT entry.

    The grant pays any overdraft debt first. A zero amount (a plan with nothing included)
    writes nothing.

    Raises:
        InvalidAmount: ``amount`` is negative.
        InvalidTime: ``expires_at`` is not after ``at``.
    """
    balance = _balance(balance)
    at = ensure_aware(at, "at")
    money = _amount(wallet, amount)
    if money.amount < 0:
        raise InvalidAmount(f"a grant cannot be negative, got {money}", amount=money)
    if expires_at is not None and ensure_aware(expires_at, "expires_at") <= at:
        raise InvalidTime(
            f"a grant at {at.isoformat()} must expire after it, not at {expires_at.isoformat()}"
        )
    writer = _Writer(wallet)
    writer.expire(at)
    writer.credit(at, balance, money.amount, LotSource.INCLUDED, expires_at)
    writer.write(at, balance, EntryKind.GRANT, money.amount, key=key)
    return writer.change()


def credit_top_up(
    wallet: Wallet, balance: Balance, amount: Money | int, at: datetime, *, invoice_code: str
) -> WalletChange:
    """Credit a paid top-up as a never-expiring TOP_UP lot; it pays any debt first (R-BAL-6).

    The limits are checked at checkout (:func:`validate_top_up`), not here: a payment that
    succeeded is credited with the amount chosen whatever the catalogue says now.
    """
    balance = _balance(balance)
    at = ensure_aware(at, "at")
    money = _positive(wallet, amount, "a top-up")
    writer = _Writer(wallet)
    writer.expire(at)
    writer.credit(at, balance, money.amount, LotSource.TOP_UP, None)
    writer.write(at, balance, EntryKind.TOP_UP, money.amount, key=None, invoice_code=invoice_code)
    return writer.change()


class Charger:
    """Charges replies and broadcasts one after another to one wallet at one instant: what
    a batch does to an account (R-VOL-1), and what each single charge does (R-BAL-2..4).

    Each charge is all or nothing: a refused one (``InsufficientBalance``, a bad count)
    leaves the charger as it was. What is due to expire at ``at`` is expired once, up front
    (its EXPIRY entries come first). The balances are kept as integers and the wallet is
    built once, by :meth:`change`, so a charge costs a few objects, not a new wallet (the
    hot path of every message). Mutable, but private to the pure call that makes it: no
    wallet is ever changed in place.
    """

    def __init__(self, wallet: Wallet, rules: WalletRules, at: datetime) -> None:
        _check_rules(wallet, rules)
        self._at = ensure_aware(at, "at")
        writer = _Writer(wallet)
        writer.expire(self._at)
        self._start = start = writer.wallet
        self._entries = writer.entries
        self._rules = rules
        self._currency = start.currency
        self._lots = list(start.lots)
        self._debt = dict(start.debt)
        self._next_seq = start.next_seq
        self._broadcast_used = start.broadcast_used
        self._quota_held = start.quota_held() if start.holds else 0
        self._changed = False
        # Per balance, made when a charge first needs it (most batches charge one balance):
        # what the lots hold less the debt, the credit holds took, and the overdraft room
        # (the allowance less what open holds reserved of it).
        self._spendable: dict[Balance, int] = {}
        self._held: dict[Balance, int] = {}
        self._room: dict[Balance, int] = {}
        self._order: dict[Balance, list[int]] = {}  # lot positions in use order (R-BAL-1)

    def _ready(self, balance: Balance) -> None:
        if balance not in self._spendable:
            start = self._start
            self._spendable[balance] = start._spendable(balance)
            self._held[balance] = start._held_credit(balance)
            unfunded = start.unfunded(balance) if start.holds else 0
            self._room[balance] = _overdraft(self._rules, balance) - unfunded

    def balance(self, balance: Balance) -> int:
        """The balance ``balance`` now (held credit included), as an amount."""
        self._ready(balance)
        return self._spendable[balance] + self._held[balance]

    def reply(self, count: int, *, key: str) -> Charge:
        """Charge ``count * reply_rate`` to the conversation balance (R-BAL-2)."""
        count = _quantity(count, "count")
        balance = Balance.CONVERSATION
        cost = self._rules.reply_rate.amount * count
        self._debit(balance, cost)
        after = self._write(balance, EntryKind.REPLY, cost, count, key)
        return Charge(key, balance, count, _money(cost, self._currency), 0, after)

    def broadcast(self, recipients: int, quota: int, *, key: str) -> Charge:
        """Charge a broadcast: the month's ``quota`` first, then ``broadcast_rate`` for each
        message beyond it (R-BAL-3); a broadcast the quota covers writes no entry."""
        recipients = _quantity(recipients, "recipients")
        if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
            raise InvalidQuantity(f"quota must be an int >= 0, got {quota!r}")
        balance = Balance.BROADCAST
        covered = min(recipients, max(quota - self._broadcast_used - self._quota_held, 0))
        extra = recipients - covered
        cost = self._rules.broadcast_rate.amount * extra
        self._debit(balance, cost)
        self._broadcast_used += covered
        after = self._write(balance, EntryKind.BROADCAST, cost, extra, key)
        return Charge(key, balance, recipients, _money(cost, self._currency), covered, after)

    def _debit(self, balance: Balance, amount: int) -> None:
        # Lots in use order, the rest as debt within the overdraft room, or refuse it all.
        if amount == 0:
            return
        self._ready(balance)
        if amount > self._spendable[balance] + self._room[balance]:
            self._refuse(balance, amount)
        order = self._order.get(balance)
        if order is None:
            ranked = sorted(
                (i for i, lot in enumerate(self._lots) if lot.balance == balance),
                key=lambda i: _use_order(self._lots[i]),
            )
            order = self._order[balance] = ranked
        lots = self._lots
        rest = amount
        for i in order:
            if rest == 0:
                break
            lot = lots[i]
            take = min(lot.remaining, rest)
            if take:
                lots[i] = lot.less(take)
                rest -= take
        if rest:
            self._debt[balance] = self._debt.get(balance, 0) + rest
        self._spendable[balance] -= amount
        self._changed = True

    def _refuse(self, balance: Balance, amount: int) -> NoReturn:
        # The same refusal, worded the same way, as every other debit of a wallet.
        _Writer(self._wallet())._debited(balance, amount, _overdraft(self._rules, balance))
        raise AssertionError("a debit beyond the room was not refused")  # pragma: no cover

    def _write(self, balance: Balance, kind: EntryKind, cost: int, count: int, key: str) -> Money:
        after = Money(self.balance(balance), self._currency)
        if cost:  # R-BAL-10: zero entries are never written
            self._entries.append(
                LedgerEntry(
                    account_id=self._start.account_id,
                    seq=self._next_seq,
                    at=self._at,
                    balance=balance,
                    kind=kind,
                    count=count,
                    amount=_money(-cost, self._currency),
                    balance_after=after,
                    key=key,
                )
            )
            self._next_seq += 1
        return after

    def _wallet(self) -> Wallet:
        start = self._start
        if not self._changed and self._broadcast_used == start.broadcast_used:
            return start
        # Fully used lots are dropped (R-BAL-1), the others keep their order.
        return attrs.evolve(
            start,
            lots=tuple(lot for lot in self._lots if lot.remaining > 0),
            debt=dict(self._debt),
            next_seq=self._next_seq,
            broadcast_used=self._broadcast_used,
        )

    def change(self) -> WalletChange:
        """The wallet after every charge so far, and their entries in order of writing."""
        return WalletChange(wallet=self._wallet(), entries=tuple(self._entries))


def charge_replies(
    wallet: Wallet, rules: WalletRules, count: int, at: datetime, *, key: str
) -> tuple[WalletChange, Charge]:
    """Charge ``count * reply_rate`` to the conversation balance, all or nothing (R-BAL-2, 4).

    Raises:
        InvalidQuantity: ``count`` is not an int of at least 1.
        InsufficientBalance: the balance plus the overdraft does not cover it.
    """
    _check_rules(wallet, rules)
    _quantity(count, "count")  # refused before ``at`` is looked at, as always
    charger = Charger(wallet, rules, at)
    charge = charger.reply(count, key=key)
    return charger.change(), charge


def charge_broadcast(
    wallet: Wallet, rules: WalletRules, recipients: int, quota: int, at: datetime, *, key: str
) -> tuple[WalletChange, Charge]:
    """Charge a broadcast: the month's quota first, then ``broadcast_rate`` each (R-BAL-3).

    ``quota`` is the plan's monthly ``broadcast_quota``; what is left of it this month is
    ``quota - wallet.broadcast_used`` (less what open holds reserve). The messages beyond it
    are one BROADCAST entry; a broadcast the quota covers entirely writes no entry, only the
    quota use. A refused broadcast consumes no quota either (R-BAL-4).

    Raises:
        InvalidQuantity: ``recipients`` is not an int of at least 1, or ``quota`` < 0.
        InsufficientBalance: the balance plus the overdraft does not cover the extra.
    """
    _check_rules(wallet, rules)
    _quantity(recipients, "recipients")  # refused before ``at`` is looked at, as always
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
        raise InvalidQuantity(f"quota must be an int >= 0, got {quota!r}")
    charger = Charger(wallet, rules, at)
    charge = charger.broadcast(recipients, quota, key=key)
    return charger.change(), charge


def hold_broadcast(
    wallet: Wallet,
    rules: WalletRules,
    recipients: int,
    quota: int,
    at: datetime,
    *,
    hold_id: str,
    expires_at: datetime,
) -> tuple[WalletChange, Hold]:
    """Reserve quota and balance for a broadcast to ``recipients``, all or nothing (R-VOL-2).

    The quota left this month (less what other holds reserve) covers what it can; the rest
    is reserved at ``broadcast_rate`` each: taken out of the lots in use order (so no other
    charge can spend it and no expiry takes it while it is held), and on the overdraft for
    what the lots do not cover. A hold writes no ledger entry: the balance is unchanged
    until it is settled. Only what expired at ``at`` is written (EXPIRY entries).

    Raises:
        InvalidQuantity: ``recipients`` is not an int of at least 1, or ``quota`` < 0.
        InvalidTime: ``expires_at`` is not after ``at``.
        InsufficientBalance: the balance plus the overdraft, less what other holds reserve,
            does not cover the messages beyond the quota.
    """
    _check_rules(wallet, rules)
    recipients = _quantity(recipients, "recipients")
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 0:
        raise InvalidQuantity(f"quota must be an int >= 0, got {quota!r}")
    at = ensure_aware(at, "at")
    if ensure_aware(expires_at, "expires_at") <= at:
        raise InvalidTime(f"a hold must expire after it is made ({at.isoformat()})")
    balance = Balance.BROADCAST
    writer = _Writer(wallet)
    writer.expire(at)
    wallet = writer.wallet
    covered = min(recipients, max(quota - wallet.broadcast_used - wallet.quota_held(), 0))
    rate = rules.broadcast_rate.amount
    cost = rate * (recipients - covered)
    overdraft = rules.overdraft.get(balance, Money.zero(wallet.currency))
    # The same all-or-nothing check as a charge of ``cost``: refuse before taking anything.
    _Writer(wallet).debit(balance, cost, overdraft)
    credit, unfunded = writer.take(balance, cost)
    reservation = Reservation(
        id=hold_id,
        balance=balance,
        recipients=recipients,
        quota_held=covered,
        rate=rate,
        credit=credit,
        unfunded=unfunded,
        month=wallet.quota_month,
        created_at=at,
        expires_at=expires_at,
    )
    writer.wallet = attrs.evolve(writer.wallet, holds=(*writer.wallet.holds, reservation))
    hold = next(h for h in writer.wallet.open_holds() if h.id == hold_id)
    return writer.change(), hold


def settle_hold(
    wallet: Wallet, hold_id: str, sent: int, at: datetime
) -> tuple[WalletChange, Charge]:
    """Charge an open hold for the ``sent`` messages that went out and release the rest.

    Quota first (what the hold reserved of it), then the hold's rate per message, from the
    credit it took (expiring first) and then the overdraft room it reserved; one BROADCAST
    entry at most, as for a broadcast charge (R-BAL-3). Unused credit goes back to its lots
    as it was (paying any debt first); an expiry already past is written at once, dated at
    that expiry. Quota reserved in an earlier month is used up with that month, never
    counted in this one's.

    Raises:
        HoldNotFound: no open hold ``hold_id``.
        InvalidQuantity: ``sent`` is not an int in 0..recipients.
    """
    at = ensure_aware(at, "at")
    writer = _Writer(wallet)
    writer.expire(at)
    held = _open(writer.wallet, hold_id)
    if isinstance(sent, bool) or not isinstance(sent, int) or not 0 <= sent <= held.recipients:
        raise InvalidQuantity(
            f"sent must be an int in 0..{held.recipients} (the recipients held), got {sent!r}",
            quantity=sent if isinstance(sent, int) else None,
            maximum=held.recipients,
        )
    balance = held.balance
    quota_used = min(sent, held.quota_held)
    paid = sent - quota_used
    cost = held.rate * paid
    writer.drop_hold(hold_id)
    rest = cost
    for part in sorted(held.credit, key=_credit_order):
        spent = min(part.amount, rest)
        rest -= spent
        if part.amount > spent:
            writer.give_back(balance, attrs.evolve(part, amount=part.amount - spent))
    # What the credit did not cover was reserved on the overdraft room: the hold guaranteed
    # it, so it is taken (lots first, then debt) without checking the room again.
    writer.debit(balance, rest, Money.zero(wallet.currency), reserved=True)
    if held.month == writer.wallet.quota_month:
        used = writer.wallet.broadcast_used + quota_used
        writer.wallet = attrs.evolve(writer.wallet, broadcast_used=used)
    writer.write(at, balance, EntryKind.BROADCAST, -cost, count=paid, key=hold_id)
    writer.expire(at)
    charge = Charge(
        key=hold_id,
        balance=balance,
        count=sent,
        amount=Money(cost, wallet.currency),
        quota_used=quota_used,
        balance_after=writer.wallet.balance(balance),
    )
    return writer.change(), charge


def release_hold(wallet: Wallet, hold_id: str, at: datetime) -> WalletChange:
    """Release an open hold: its quota and credit are free again, nothing is charged.

    ``at`` is when it is released (an expired hold is released at its ``expires_at`` by the
    billing run); credit whose lot expired meanwhile expires at once, dated at its expiry.

    Raises:
        HoldNotFound: no open hold ``hold_id``.
    """
    at = ensure_aware(at, "at")
    writer = _Writer(wallet)
    held = _open(writer.wallet, hold_id)
    writer.drop_hold(hold_id)
    for part in held.credit:
        writer.give_back(held.balance, part)
    writer.expire(at)
    return writer.change()


def _open(wallet: Wallet, hold_id: str) -> Reservation:
    held = wallet.hold(hold_id)
    if held is None:
        raise HoldNotFound(
            f"account {wallet.account_id!r} has no open hold {hold_id!r}",
            hold_id=hold_id,
            account_id=wallet.account_id,
        )
    return held


def _credit_order(part: HeldCredit) -> tuple[bool, datetime, datetime]:
    # As lots are used: expiring credit first, earliest expiry first, then the oldest.
    if part.expires_at is None:
        return (True, part.created_at, part.created_at)
    return (False, part.expires_at, part.created_at)


def adjust(
    wallet: Wallet,
    rules: WalletRules,
    balance: Balance,
    amount: Money | int,
    at: datetime,
    *,
    key: str,
    reason: str,
) -> WalletChange:
    """Apply the host's manual correction as one ADJUSTMENT entry (R-BAL-9).

    A positive amount adds a never-expiring ADJUSTMENT lot (paying any debt first); a
    negative one is taken like a charge: expiring lots first, all or nothing, overdraft
    allowed.

    Raises:
        InvalidAmount: ``amount`` is zero.
        InsufficientBalance: a negative amount the balance plus overdraft does not cover.
    """
    _check_rules(wallet, rules)
    balance = _balance(balance)
    at = ensure_aware(at, "at")
    money = _amount(wallet, amount)
    if money.is_zero:
        raise InvalidAmount("an adjustment must not be zero", amount=money)
    writer = _Writer(wallet)
    writer.expire(at)
    if money.amount > 0:
        writer.credit(at, balance, money.amount, LotSource.ADJUSTMENT, None)
    else:
        overdraft = rules.overdraft.get(balance, Money.zero(wallet.currency))
        writer.debit(balance, -money.amount, overdraft)
    writer.write(at, balance, EntryKind.ADJUSTMENT, money.amount, key=key, reason=reason)
    return writer.change()


def reset_quota(wallet: Wallet) -> Wallet:
    """Start a new month of broadcast quota (called at each monthly allowance boundary)."""
    return attrs.evolve(wallet, broadcast_used=0, quota_month=wallet.quota_month + 1)


def validate_top_up(rules: WalletRules, balance: Balance, amount: Money | int) -> Money:
    """Return ``amount`` as Money when a top-up of it is allowed (R-BAL-6, R-CAT-5).

    Raises:
        InvalidAmount: ``amount`` is zero or negative.
        TopUpOutOfRange: ``amount`` is outside the balance's inclusive min..max.
    """
    balance = _balance(balance)
    money = Money.of(amount, rules.currency)
    if money.amount <= 0:
        raise InvalidAmount(f"a top-up must be positive, got {money}", amount=money)
    limit = rules.topup[balance]
    if money < limit.minimum:
        raise TopUpOutOfRange(
            f"top-up of {money} is below the minimum {limit.minimum} for the {balance} balance",
            minimum=limit.minimum,
            maximum=limit.maximum,
        )
    if money > limit.maximum:
        raise TopUpOutOfRange(
            f"top-up of {money} is above the maximum {limit.maximum} for the {balance} balance",
            minimum=limit.minimum,
            maximum=limit.maximum,
        )
    return money


# -- conservation (R-BAL-8) -----------------------------------------------------------------


def ledger_totals(
    entries: Iterable[LedgerEntry], currency: str
) -> dict[Balance, dict[EntryKind, Money]]:
    """Sum the entries' signed amounts per balance and kind."""
    totals = {b: {k: Money.zero(currency) for k in EntryKind} for b in Balance}
    for entry in entries:
        totals[entry.balance][entry.kind] = totals[entry.balance][entry.kind] + entry.amount
    return totals


def conservation_holds(wallet: Wallet, entries: Iterable[LedgerEntry]) -> bool:
    """Whether granted + topped up + adjusted - charged - expired == balance, per balance.

    ``entries`` must be the wallet's whole ledger. Also checks that each entry's
    ``balance_after`` is the running sum of its balance's amounts in order of writing.
    """
    running = dict.fromkeys(Balance, 0)
    for entry in sorted(entries, key=lambda e: e.seq):
        running[entry.balance] += entry.amount.amount
        if entry.balance_after.amount != running[entry.balance]:
            return False
    return all(wallet.balance(b).amount == running[b] for b in Balance)


__all__ = [
    "Balance",
    "Charge",
    "Charger",
    "EntryKind",
    "HeldCredit",
    "Hold",
    "LedgerEntry",
    "Lot",
    "LotSource",
    "Reservation",
    "TopUpLimit",
    "Wallet",
    "WalletChange",
    "WalletRules",
    "adjust",
    "charge_broadcast",
    "charge_replies",
    "conservation_holds",
    "credit_top_up",
    "expire_due",
    "grant",
    "hold_broadcast",
    "ledger_totals",
    "open_wallet",
    "release_hold",
    "reset_quota",
    "settle_hold",
    "validate_top_up",
]
