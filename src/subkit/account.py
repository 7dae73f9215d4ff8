"""The Account aggregate: one subscription, one wallet, and what ties them in time.

An account is what one facade call loads and saves as a whole (one ``version``). This module
walks an account through every event due up to an instant, in time order, with the result it
would have had if the billing run had been on time (R-CYC-5, R-TIME): boundaries, grace ends,
included-balance expiry and grants, quota resets, and the expiry of its open invoices.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime

import attrs

from subkit import notices
from subkit import subscription as subs
from subkit import wallet as wallets
from subkit.cycles import Period, zone
from subkit.events import AddOnBought, AddOnEnded, DomainEvent, InvoiceExpired, make_event
from subkit.invoice import BillingProfile, InvoiceLine
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.serialize import INTERNAL
from subkit.subscription import AddOnEvent, AddOnEventKind, ScheduledChange, Subscription
from subkit.wallet import Balance, LedgerEntry, Wallet


@attrs.frozen
class PaidLine:
    """What was paid for ``period``: one invoice line's amount (R-SUB-2: credit at prices paid)."""

    period: Period
    amount: Money


def paid_lines(lines: tuple[InvoiceLine, ...]) -> tuple[PaidLine, ...]:
    """The lines of a paid invoice that bought time: positive amounts with a period."""
    return tuple(
        PaidLine(line.period, line.amount)
        for line in lines
        if line.period is not None and line.amount.amount > 0
    )


@attrs.frozen
class Account:
    subscription: Subscription
    wallet: Wallet
    profile: BillingProfile | None = None
    # Open (pending) invoices of this account and when each expires: they are part of what
    # is due for the account, so the billing run finds them through the account's due time.
    pending: dict[str, datetime] = attrs.field(factory=dict)
    addon_events: tuple[AddOnEvent, ...] = ()
    # What the customer paid for the time they hold, so an immediate change credits the
    # unused part at the prices paid, not the catalogue's current ones (R-SUB-2).
    paid_lines: tuple[PaidLine, ...] = ()
    as_of: datetime | None = None  # the latest clock time a facade call wrote this account at
    # Notices (R-VOL-4): when the next one is due (so the billing run finds the account), the
    # paid-through date and smallest days of the reminders sent, and the paid-through date a
    # renewal invoice was opened ahead for.
    notice_at: datetime | None = None
    reminded: tuple[datetime, int] | None = None
    renewal_opened: datetime | None = None
    version: int = attrs.field(default=0, eq=False, metadata=INTERNAL)

    @property
    def account_id(self) -> str:
        return self.subscription.account_id

    @property
    def due_at(self) -> datetime:
        """The earliest instant at which something is due for this account."""
        times = [subs.next_event(self.subscription), *self.pending.values()]
        times.extend(lot.expires_at for lot in self.wallet.lots if lot.expires_at is not None)
        times.extend(hold.expires_at for hold in self.wallet.holds)
        if self.notice_at is not None:
            times.append(self.notice_at)
        return min(times)


@attrs.frozen
class CatchUp:
    """An account brought up to an instant, with everything that happened on the way."""

    account: Account
    entries: tuple[LedgerEntry, ...] = ()
    expired_invoices: tuple[tuple[str, datetime], ...] = ()
    cancelled_invoices: tuple[tuple[str, datetime], ...] = ()
    events: tuple[DomainEvent, ...] = ()
    counts: Mapping[str, int] = attrs.field(factory=dict)


def grant_month(
    wallet: Wallet, catalogue: Catalogue, plan: str, sub: Subscription, at: datetime
) -> wallets.WalletChange:
    """Grant ``plan``'s included balances for the month that starts at ``at`` (R-CAT-2)."""
    expires = sub.next_month_at if catalogue.policy.included_balance_expires else None
    entries: list[LedgerEntry] = []
    for balance in Balance:
        amount = catalogue.plan(plan).included[balance]
        if amount.amount > 0:
            change = wallets.grant(wallet, balance, amount, at, expires_at=expires)
            wallet = change.wallet
            entries.extend(change.entries)
    return wallets.WalletChange(wallet, tuple(entries))


def expire_included_now(wallet: Wallet, at: datetime) -> wallets.WalletChange:
    """End every included lot at ``at``: a period cut short by an immediate change (R-SUB-2)."""
    lots = tuple(
        attrs.evolve(lot, expires_at=at)
        if lot.source is wallets.LotSource.INCLUDED
        and (lot.expires_at is None or lot.expires_at > at)
        else lot
        for lot in wallet.lots
    )
    return wallets.expire_due(attrs.evolve(wallet, lots=lots), at)


def void_invoice(sub: Subscription, code: str) -> Subscription:
    """Forget an open invoice that expired, failed or was cancelled."""
    if sub.renewal_invoice == code:
        sub = attrs.evolve(sub, renewal_invoice=None)
    change: ScheduledChange | None = sub.scheduled_change
    if change is not None and change.invoice_code == code and not change.paid:
        sub = attrs.evolve(sub, scheduled_change=None)
    return sub


def forget_invoice(account: Account, code: str) -> Account:
    """An open invoice failed or was cancelled: it is no longer due, and what it would have
    bought (a scheduled change, a renewal) is dropped."""
    pending = {other: at for other, at in account.pending.items() if other != code}
    return attrs.evolve(
        account, pending=pending, subscription=void_invoice(account.subscription, code)
    )


def schedule(account: Account, catalogue: Catalogue) -> Account:
    """The account with ``notice_at``, its next notice (R-VOL-4), up to date (the same object
    when it already is), so the billing run finds it through the due index."""
    notice_at = notices.next_notice(
        account.subscription, account.reminded, account.renewal_opened, catalogue
    )
    if notice_at == account.notice_at:
        return account
    return attrs.evolve(account, notice_at=notice_at)


def catch_up(account: Account, catalogue: Catalogue, until: datetime) -> CatchUp:
    """Apply, in time order, everything due for ``account`` at or before ``until``.

    When nothing is due the result holds the very same ``account`` object, so callers can
    tell "nothing happened" with ``is`` instead of comparing aggregates.
    """
    if account.due_at > until:
        return CatchUp(account=account)
    entries: list[LedgerEntry] = []
    expired: list[tuple[str, datetime]] = []
    cancelled: list[tuple[str, datetime]] = []
    events: list[DomainEvent] = []
    counts: Counter[str] = Counter()
    account_id = account.account_id
    while True:
        sub, pending = account.subscription, dict(account.pending)
        due_invoice = min(pending.items(), key=lambda item: (item[1], item[0]), default=None)
        step_at = subs.next_event(sub)
        reminded, reminder = notices.remind(sub, account.reminded, catalogue, min(until, step_at))
        if reminder is not None:
            # A paid plan's time runs out soon and the next period is unpaid (R-VOL-4).
            events.append(reminder)
            counts["reminder_sent"] += 1
            account = attrs.evolve(account, reminded=reminded)
            continue
        due_hold = min(((r.expires_at, r.id) for r in account.wallet.holds), default=None)
        if (
            due_hold is not None
            and due_hold[0] <= min(until, step_at)
            and (due_invoice is None or due_hold[0] <= due_invoice[1])
        ):
            # A broadcast hold not settled by its expiry is released then (R-VOL-2).
            change = wallets.release_hold(account.wallet, due_hold[1], due_hold[0])
            entries.extend(change.entries)
            counts["hold_expired"] += 1
            account = attrs.evolve(account, wallet=change.wallet)
            continue
        if due_invoice is not None and due_invoice[1] <= until and due_invoice[1] <= step_at:
            code, at = due_invoice
            del pending[code]
            expired.append((code, at))
            counts["invoice_expired"] += 1
            events.append(make_event(account_id, at, InvoiceExpired(code)))
            account = attrs.evolve(account, subscription=void_invoice(sub, code), pending=pending)
            continue
        if step_at > until:
            break
        step = subs.advance_one(sub, catalogue)
        done = apply_step(account, catalogue, step)
        account = done.account
        entries.extend(done.entries)
        cancelled.extend(done.cancelled_invoices)
        events.extend(done.events)
        counts.update(done.counts)
    # Lots can also expire between boundaries (a period cut short); expire what is due.
    change = wallets.expire_due(account.wallet, until)
    if change.entries:
        entries.extend(change.entries)
        account = attrs.evolve(account, wallet=change.wallet)
    counts["balance_expired"] += sum(1 for e in entries if e.kind is wallets.EntryKind.EXPIRY)
    account = schedule(account, catalogue)
    return CatchUp(
        account=account,
        entries=tuple(entries),
        expired_invoices=tuple(expired),
        cancelled_invoices=tuple(cancelled),
        events=tuple(events),
        counts={kind: n for kind, n in counts.items() if n},
    )


def apply_step(account: Account, catalogue: Catalogue, step: subs.Step) -> CatchUp:
    """Carry one subscription step into the wallet and the account's open invoices."""
    wallet, pending = account.wallet, dict(account.pending)
    entries: list[LedgerEntry] = []
    change = wallets.expire_due(wallet, step.at)
    wallet = change.wallet
    entries.extend(change.entries)
    if step.new_month:
        wallet = wallets.reset_quota(wallet)
    if step.grant is not None:
        granted = grant_month(wallet, catalogue, step.grant, step.subscription, step.at)
        wallet = granted.wallet
        entries.extend(granted.entries)
    cancelled = []
    for code in step.cancel_invoices:
        if pending.pop(code, None) is not None:
            cancelled.append((code, step.at))
    counts = Counter(step.kinds)
    counts["invoice_cancelled"] += len(cancelled)
    account_id = account.account_id
    ended = [
        AddOnEvent(
            step.at,
            facts.addon,
            AddOnEventKind.ENDED if isinstance(facts, AddOnEnded) else AddOnEventKind.BOUGHT,
            facts.quantity,
            facts.invoice_code if isinstance(facts, AddOnBought) else None,
        )
        for facts in step.events
        if isinstance(facts, AddOnEnded | AddOnBought)
    ]
    return CatchUp(
        account=attrs.evolve(
            account,
            subscription=step.subscription,
            wallet=wallet,
            pending=pending,
            addon_events=(*account.addon_events, *ended),
            paid_lines=tuple(line for line in account.paid_lines if line.period.end > step.at),
        ),
        entries=tuple(entries),
        cancelled_invoices=tuple(cancelled),
        events=tuple(make_event(account_id, step.at, facts) for facts in step.events),
        counts={kind: n for kind, n in counts.items() if n},
    )


def open_account(
    account_id: str, catalogue: Catalogue, at: datetime, timezone: str
) -> tuple[Account, tuple[LedgerEntry, ...]]:
    """A new account on the default plan with its first month's included balance (R-SUB-1)."""
    zone(timezone)  # refuse an unknown timezone before anything is built
    sub = subs.open_subscription(account_id, catalogue, at, timezone)
    wallet = wallets.open_wallet(account_id, catalogue.currency)
    granted = grant_month(wallet, catalogue, sub.plan, sub, at)
    return Account(subscription=sub, wallet=granted.wallet), granted.entries


__all__ = [
    "Account",
    "CatchUp",
    "PaidLine",
    "apply_step",
    "catch_up",
    "expire_included_now",
    "grant_month",
    "open_account",
    "paid_lines",
    "schedule",
]
