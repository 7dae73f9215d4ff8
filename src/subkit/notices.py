"""Notices a host sends its customers (R-VOL-4): a balance running low, a paid plan about to
run out, and the renewal invoice the billing run opens ahead.

Pure: each reads a subscription and what was already sent for it (or a wallet before and
after a charge) and the catalogue's policy, and says what to publish, or what is due when.
The catch-up (:mod:`subkit.account`, which keeps what was sent on the account) sends the
reminders, the charges the low-balance notices; the service opens renewal invoices in the
billing run.

- ``policy.low_balance`` (per balance, 0 = off): ``balance.low`` when a charge takes the
  balance from at least the threshold to below it, so once per crossing; a credit that brings
  it back up arms it again.
- ``policy.remind_before_days`` (default ``[7, 3, 1]``): ``subscription.expiring`` that many
  days before ``paid_through`` (same wall-clock time in the account's timezone) for an active
  paid plan whose next period is not paid. A billing run that comes late sends only the
  latest reminder due, never a stale "7 days left" next to "1 day left".
- ``policy.renewal_invoice_days_before`` (0 = off): from that many days before
  ``paid_through`` the billing run opens the renewal invoice (with its payment session), once
  per paid-through date.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

from dateutil.relativedelta import relativedelta

from subkit.cycles import zone
from subkit.events import BalanceLow, DomainEvent, SubscriptionExpiring, make_event
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.subscription import Subscription, SubscriptionStatus
from subkit.wallet import Balance

#: The last reminder sent: the paid-through date it was for and its days (``Account.reminded``).
Reminded: TypeAlias = tuple[datetime, int] | None


def low_balance(
    account_id: str,
    balance: Balance,
    was: int,
    left: Money,
    catalogue: Catalogue,
    at: datetime,
) -> DomainEvent | None:
    """``balance.low`` when a charge took ``balance`` from ``was`` to ``left``, below its
    threshold, else ``None``."""
    threshold = catalogue.policy.low_balance.get(balance, 0)
    if threshold <= 0:
        return None
    if was >= threshold > left.amount:
        facts = BalanceLow(balance, left, Money(threshold, left.currency))
        return make_event(account_id, at, facts)
    return None


def _renewable(sub: Subscription, catalogue: Catalogue) -> bool:
    # An active paid plan whose paid time ends with this period: the next one is not paid.
    return (
        sub.status is SubscriptionStatus.ACTIVE
        and not catalogue.plan(sub.plan).is_free
        and not sub.paid_ahead
    )


def _before_end(sub: Subscription, days: int) -> datetime:
    end = sub.paid_through.astimezone(zone(sub.timezone))
    return max(end - relativedelta(days=days), sub.current_period.start)


def reminders(
    sub: Subscription, reminded: Reminded, catalogue: Catalogue
) -> list[tuple[int, datetime]]:
    """The reminders still to send for the current paid-through date: ``(days, at)``."""
    if not _renewable(sub, catalogue):
        return []
    return [
        (days, _before_end(sub, days))
        for days in catalogue.policy.remind_before_days
        if reminded is None or reminded[0] != sub.paid_through or days < reminded[1]
    ]


def remind(
    sub: Subscription, reminded: Reminded, catalogue: Catalogue, until: datetime
) -> tuple[Reminded, DomainEvent | None]:
    """The latest reminder due at ``until``, if any, and what is then sent (the earlier ones
    count as sent); ``(reminded, None)`` when none is due."""
    due = [(days, at) for days, at in reminders(sub, reminded, catalogue) if at <= until]
    if not due:
        return reminded, None
    days, at = min(due)
    event = make_event(sub.account_id, at, SubscriptionExpiring(sub.plan, sub.paid_through, days))
    return (sub.paid_through, days), event


def renewal_at(
    sub: Subscription, renewal_opened: datetime | None, catalogue: Catalogue
) -> datetime | None:
    """When the billing run opens the renewal invoice ahead, or ``None`` (off, not renewable,
    already opened for this paid-through date, or one is open)."""
    days = catalogue.policy.renewal_invoice_days_before
    if (
        days <= 0
        or not _renewable(sub, catalogue)
        or sub.renewal_invoice is not None
        or renewal_opened == sub.paid_through
    ):
        return None
    return _before_end(sub, days)


def next_notice(
    sub: Subscription,
    reminded: Reminded,
    renewal_opened: datetime | None,
    catalogue: Catalogue,
) -> datetime | None:
    """When the next notice is due (``Account.notice_at``, which the due index reads)."""
    times = [at for _, at in reminders(sub, reminded, catalogue)]
    opening = renewal_at(sub, renewal_opened, catalogue)
    if opening is not None:
        times.append(opening)
    return min(times, default=None)


__all__ = ["Reminded", "low_balance", "next_notice", "remind", "reminders", "renewal_at"]
