"""Orders: what each checkout buys, one frozen class per kind (R-INV-1, R-INV-6).

An invoice carries its order, so that paying it applies exactly what was quoted. The kinds
form a tagged union (:data:`Order`, told apart by ``kind`` in JSON):

- :class:`PlanPurchase`: a paid plan bought from a free one; its period starts at payment;
- :class:`Renewal`: one more period of the current plan, ``[start, end)``;
- :class:`PlanChange`: a change of plan or interval, starting at a boundary
  (:attr:`ChangeStart.BOUNDARY`), at payment (:attr:`ChangeStart.PAYMENT`, with the
  unused-time credit) or at the old boundary of a past-due subscription
  (:attr:`ChangeStart.GRACE`);
- :class:`AddOnPurchase`: add-on units, active on payment;
- :class:`TopUp`: balance credited on payment.

Each subscription order keeps the :class:`PricedOn` it was quoted on: a late payment applies
only while that still holds (R-INV-5). Pure values; no I/O.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

import attrs

from subkit.cycles import Interval
from subkit.money import Money
from subkit.subscription import ScheduledChange, Subscription, SubscriptionStatus
from subkit.wallet import Balance


@attrs.frozen
class PricedOn:
    """The state of the subscription an order was priced on (R-INV-5).

    ``paid_through`` and ``status`` are ``None`` for an order priced on the plan alone (a
    purchase from a free plan: Free rolling into its next month before the payment does not
    change what is bought).
    """

    plan: str
    interval: Interval
    paid_through: datetime | None = None
    status: SubscriptionStatus | None = None

    @classmethod
    def of(cls, sub: Subscription) -> PricedOn:
        """The full basis of ``sub``: plan, interval, paid time and status."""
        return cls(sub.plan, sub.interval, sub.paid_through, sub.status)

    @classmethod
    def plan_of(cls, sub: Subscription) -> PricedOn:
        """A basis on the plan and interval alone."""
        return cls(sub.plan, sub.interval)

    def holds_for(self, sub: Subscription) -> bool:
        """Whether ``sub`` is still in the state this order was priced on."""
        if (sub.plan, sub.interval) != (self.plan, self.interval):
            return False
        if self.paid_through is None:
            return True
        return sub.paid_through == self.paid_through and sub.status == self.status


class ChangeStart(enum.StrEnum):
    """When a paid plan change takes effect."""

    BOUNDARY = "boundary"  # at the end of the paid time (scheduled)
    PAYMENT = "payment"  # at payment, a new period with the unused-time credit
    GRACE = "grace"  # bought in the grace: the period started at the old boundary


@attrs.frozen
class PlanPurchase:
    """A paid plan bought from a free one; a new period starts at payment (R-SUB-2)."""

    plan: str
    interval: Interval
    addons: dict[str, int]
    priced_on: PricedOn
    kind: Literal["plan_purchase"] = "plan_purchase"


@attrs.frozen
class Renewal:
    """One more period ``[start, end)`` of the current plan and add-ons (R-SUB-4)."""

    plan: str
    interval: Interval
    addons: dict[str, int]
    start: datetime
    end: datetime
    priced_on: PricedOn
    kind: Literal["renewal"] = "renewal"


@attrs.frozen
class PlanChange:
    """A change of plan or interval with the add-on quantities it is bought with (R-SUB-2).

    ``start``/``end`` are the bought period for :attr:`ChangeStart.BOUNDARY` and
    :attr:`ChangeStart.GRACE`; ``None`` for :attr:`ChangeStart.PAYMENT` (it starts when paid).
    """

    plan: str
    interval: Interval
    addons: dict[str, int]
    starts: ChangeStart
    priced_on: PricedOn
    start: datetime | None = None
    end: datetime | None = None
    kind: Literal["plan_change"] = "plan_change"

    def scheduled(self, invoice_code: str | None, *, paid: bool) -> ScheduledChange:
        """The scheduled change this order makes (the one place it is built)."""
        if self.start is None:
            raise ValueError("only a change that starts at a boundary is scheduled")
        return ScheduledChange(
            self.plan,
            self.interval,
            dict(self.addons),
            self.start,
            invoice_code,
            paid=paid,
            ordered=dict(self.addons),
        )


@attrs.frozen
class AddOnPurchase:
    """Add-on units bought mid-period, active as soon as paid (R-ADD-3)."""

    addons: dict[str, int]
    priced_on: PricedOn
    kind: Literal["add_on"] = "add_on"


@attrs.frozen
class TopUp:
    """A top-up of ``amount`` to ``balance``, credited when paid (R-BAL-6)."""

    balance: Balance
    amount: Money
    kind: Literal["top_up"] = "top_up"


Order = PlanPurchase | Renewal | PlanChange | AddOnPurchase | TopUp
#: The order kinds, by their ``kind`` tag.
ORDER_KINDS: tuple[type[Order], ...] = (PlanPurchase, Renewal, PlanChange, AddOnPurchase, TopUp)

__all__ = [
    "ORDER_KINDS",
    "AddOnPurchase",
    "ChangeStart",
    "Order",
    "PlanChange",
    "PlanPurchase",
    "PricedOn",
    "Renewal",
    "TopUp",
]
