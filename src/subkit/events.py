"""Domain events: what subkit tells the host happened, stored with the change they report.

Every event has a name from :class:`EventName` and facts of exactly one typed shape per name:
the attrs class registered for it in :data:`FACTS` (``FACTS[EventName.INVOICE_PAID]`` is
:class:`InvoicePaid`, ...). Code that reports something builds the facts object and calls
:func:`make_event`; the event keeps the facts as the JSON-safe dict
:func:`subkit.serialize.to_dict` makes of them, so a host can put it on a queue as it is, and
:meth:`DomainEvent.typed_facts` builds the typed value back.

An event's ``id`` is given by the store when the event is written (``UnitOfWork.add_events``),
from a store-wide sequence that is never reused, not even after pruning: the store, not the
service, because only the store knows the order in which units of work commit, and the
delivery order ("oldest first", R-EVT-2) is that order. An event not stored yet has ``id ""``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Final

import attrs

from subkit.cycles import Interval
from subkit.kinds import InvoiceType
from subkit.money import Money
from subkit.serialize import from_dict, to_dict
from subkit.wallet import Balance


class EventName(enum.StrEnum):
    """Every name a subkit event can have (R-EVT-1)."""

    INVOICE_CREATED = "invoice.created"
    INVOICE_PAID = "invoice.paid"
    INVOICE_FAILED = "invoice.failed"
    INVOICE_EXPIRED = "invoice.expired"
    INVOICE_CANCELLED = "invoice.cancelled"
    INVOICE_REFUNDED = "invoice.refunded"
    INVOICE_UNAPPLIED = "invoice.unapplied"
    PAYMENT_DUPLICATE = "payment.duplicate"
    SUBSCRIPTION_OPENED = "subscription.opened"
    SUBSCRIPTION_CHANGE_SCHEDULED = "subscription.change_scheduled"
    SUBSCRIPTION_CHANGE_CANCELLED = "subscription.change_cancelled"
    SUBSCRIPTION_CHANGE_DROPPED = "subscription.change_dropped"
    SUBSCRIPTION_CHANGED = "subscription.changed"
    SUBSCRIPTION_RENEWED = "subscription.renewed"
    SUBSCRIPTION_PAST_DUE = "subscription.past_due"
    SUBSCRIPTION_LAPSED = "subscription.lapsed"
    SUBSCRIPTION_CANCELLING = "subscription.cancelling"
    SUBSCRIPTION_RESUMED = "subscription.resumed"
    SUBSCRIPTION_CANCELLED = "subscription.cancelled"
    SUBSCRIPTION_EXPIRING = "subscription.expiring"
    ADDON_BOUGHT = "addon.bought"
    ADDON_STOPPED = "addon.stopped"
    ADDON_RESUMED = "addon.resumed"
    ADDON_ENDED = "addon.ended"
    BALANCE_TOPPED_UP = "balance.topped_up"
    BALANCE_ADJUSTED = "balance.adjusted"
    BALANCE_LOW = "balance.low"


# -- the facts of each name -------------------------------------------------------------------
# The first line of each docstring says when the event fires; docs/events.md is checked
# against these classes by tests/test_events.py.


@attrs.frozen
class InvoiceCreated:
    """A checkout opened a pending invoice to pay."""

    invoice_code: str
    type: InvoiceType
    total: Money


@attrs.frozen
class InvoicePaid:
    """The gateway reported an invoice paid; ``at`` is the gateway's time of payment."""

    invoice_code: str
    total: Money
    reference: str


@attrs.frozen
class InvoiceFailed:
    """The gateway reported a pending invoice's payment failed; its order is dropped."""

    invoice_code: str


@attrs.frozen
class InvoiceExpired:
    """A pending invoice reached its ``expires_at`` unpaid (or the gateway said it expired)."""

    invoice_code: str


@attrs.frozen
class InvoiceCancelled:
    """A pending invoice was voided: replaced by a newer order, or what it would buy was
    cancelled or dropped."""

    invoice_code: str


@attrs.frozen
class InvoiceRefunded:
    """The gateway reported a paid invoice refunded; taking back its effect is the host's
    decision (a balance adjustment)."""

    invoice_code: str


@attrs.frozen
class InvoiceUnapplied:
    """An invoice was paid but what it bought no longer applies (the subscription changed
    meanwhile): the host should refund it."""

    invoice_code: str
    reason: str


@attrs.frozen
class PaymentDuplicate:
    """A second payment (another reference) arrived for a paid invoice; it is not applied."""

    invoice_code: str
    reference: str
    amount: Money


@attrs.frozen
class SubscriptionOpened:
    """An account was opened on the default plan."""

    plan: str


@attrs.frozen
class SubscriptionChangeScheduled:
    """A plan change was paid (or was free) and takes effect at ``effective_at``."""

    plan: str
    interval: Interval
    effective_at: datetime
    invoice_code: str | None


@attrs.frozen
class SubscriptionChangeCancelled:
    """The customer cancelled a scheduled plan change that was not paid."""

    plan: str


@attrs.frozen
class SubscriptionChangeDropped:
    """A scheduled plan change reached its boundary unpaid and was dropped."""

    plan: str


@attrs.frozen
class SubscriptionChanged:
    """The subscription moved to another plan or interval: at once (an immediate change
    paid) or at the boundary of a scheduled change."""

    plan: str
    interval: Interval
    previous_plan: str
    invoice_code: str | None


@attrs.frozen
class SubscriptionRenewed:
    """A renewal invoice was paid: the subscription is paid through ``paid_through``."""

    paid_through: datetime
    invoice_code: str | None


@attrs.frozen
class SubscriptionPastDue:
    """A period began unpaid: the subscription is past due until ``grace_until``."""

    grace_until: datetime


@attrs.frozen
class SubscriptionLapsed:
    """A past-due subscription's grace ended unpaid (or it was unsubscribed while past due):
    it fell back to the default plan."""

    plan: str
    previous_plan: str


@attrs.frozen
class SubscriptionCancelling:
    """The customer unsubscribed: the plan ends at ``ends_at``, the end of the paid time."""

    ends_at: datetime


@attrs.frozen
class SubscriptionResumed:
    """The customer undid an unsubscribe before the paid time ended."""

    plan: str


@attrs.frozen
class SubscriptionCancelled:
    """A cancelling subscription reached the end of its paid time and fell back to the
    default plan."""

    plan: str
    previous_plan: str


@attrs.frozen
class SubscriptionExpiring:
    """A reminder: a paid plan's time ends in ``days`` days and the next period is unpaid."""

    plan: str
    paid_through: datetime
    days: int


@attrs.frozen
class AddOnBought:
    """Add-on units became held: their invoice was paid, or a paid plan change carrying
    them took effect. One event per add-on code."""

    addon: str
    quantity: int
    invoice_code: str | None


@attrs.frozen
class AddOnStopped:
    """The customer stopped add-on units; they stay held until the end of the paid time."""

    addon: str
    quantity: int


@attrs.frozen
class AddOnResumed:
    """The customer undid a stop of add-on units before they ended."""

    addon: str
    quantity: int


@attrs.frozen
class AddOnEnded:
    """Add-on units stopped being held (a stop reached its end, or the plan fell back)."""

    addon: str
    quantity: int


@attrs.frozen
class BalanceToppedUp:
    """A top-up invoice was paid and its amount credited."""

    balance: Balance
    amount: Money
    invoice_code: str | None


@attrs.frozen
class BalanceAdjusted:
    """The host adjusted a balance by hand (``amount`` is negative when taken back)."""

    balance: Balance
    amount: Money
    key: str
    reason: str


@attrs.frozen
class BalanceLow:
    """A charge took a balance below its notice threshold (once per crossing)."""

    balance: Balance
    remaining: Money
    threshold: Money


#: The one facts class of every event name.
FACTS: Final[dict[EventName, type]] = {
    EventName.INVOICE_CREATED: InvoiceCreated,
    EventName.INVOICE_PAID: InvoicePaid,
    EventName.INVOICE_FAILED: InvoiceFailed,
    EventName.INVOICE_EXPIRED: InvoiceExpired,
    EventName.INVOICE_CANCELLED: InvoiceCancelled,
    EventName.INVOICE_REFUNDED: InvoiceRefunded,
    EventName.INVOICE_UNAPPLIED: InvoiceUnapplied,
    EventName.PAYMENT_DUPLICATE: PaymentDuplicate,
    EventName.SUBSCRIPTION_OPENED: SubscriptionOpened,
    EventName.SUBSCRIPTION_CHANGE_SCHEDULED: SubscriptionChangeScheduled,
    EventName.SUBSCRIPTION_CHANGE_CANCELLED: SubscriptionChangeCancelled,
    EventName.SUBSCRIPTION_CHANGE_DROPPED: SubscriptionChangeDropped,
    EventName.SUBSCRIPTION_CHANGED: SubscriptionChanged,
    EventName.SUBSCRIPTION_RENEWED: SubscriptionRenewed,
    EventName.SUBSCRIPTION_PAST_DUE: SubscriptionPastDue,
    EventName.SUBSCRIPTION_LAPSED: SubscriptionLapsed,
    EventName.SUBSCRIPTION_CANCELLING: SubscriptionCancelling,
    EventName.SUBSCRIPTION_RESUMED: SubscriptionResumed,
    EventName.SUBSCRIPTION_CANCELLED: SubscriptionCancelled,
    EventName.SUBSCRIPTION_EXPIRING: SubscriptionExpiring,
    EventName.ADDON_BOUGHT: AddOnBought,
    EventName.ADDON_STOPPED: AddOnStopped,
    EventName.ADDON_RESUMED: AddOnResumed,
    EventName.ADDON_ENDED: AddOnEnded,
    EventName.BALANCE_TOPPED_UP: BalanceToppedUp,
    EventName.BALANCE_ADJUSTED: BalanceAdjusted,
    EventName.BALANCE_LOW: BalanceLow,
}

_NAMES: Final[dict[type, EventName]] = {kind: name for name, kind in FACTS.items()}


def name_of(facts: object) -> EventName:
    """The event name whose facts class ``facts`` is an instance of."""
    try:
        return _NAMES[type(facts)]
    except KeyError:
        raise TypeError(f"{type(facts).__name__} is not the facts class of any event") from None


@attrs.frozen
class DomainEvent:
    """Something that happened: ``invoice.paid``, ``subscription.lapsed``, ...

    ``facts`` holds JSON-safe values only (the ``to_dict`` form of the name's facts class),
    so a host can put the event on a queue as it is. ``id`` is unique in the store and given
    when the event is stored (``""`` before); hosts dedupe on it (delivery is at least once).
    """

    name: EventName = attrs.field(converter=EventName)
    account_id: str
    at: datetime
    facts: dict[str, Any] = attrs.field(factory=dict)
    id: str = ""

    def typed_facts(self) -> Any:
        """The facts as their typed value (an instance of ``FACTS[self.name]``)."""
        return from_dict(FACTS[self.name], self.facts)


def make_event(account_id: str, at: datetime, facts: object) -> DomainEvent:
    """The event reporting ``facts`` (an instance of a class of :data:`FACTS`)."""
    return DomainEvent(name_of(facts), account_id, at, to_dict(facts))


def validate(event: DomainEvent) -> None:
    """Raise ``ValueError`` unless ``event.facts`` is exactly its name's shape of facts."""
    try:
        typed = event.typed_facts()
    except Exception as exc:
        raise ValueError(f"{event.name} facts {event.facts!r} do not fit: {exc}") from exc
    again = to_dict(typed)
    if again != event.facts:
        raise ValueError(f"{event.name} facts {event.facts!r} are not its shape {again!r}")


__all__ = [
    "FACTS",
    "AddOnBought",
    "AddOnEnded",
    "AddOnResumed",
    "AddOnStopped",
    "BalanceAdjusted",
    "BalanceLow",
    "BalanceToppedUp",
    "DomainEvent",
    "EventName",
    "InvoiceCancelled",
    "InvoiceCreated",
    "InvoiceExpired",
    "InvoiceFailed",
    "InvoicePaid",
    "InvoiceRefunded",
    "InvoiceUnapplied",
    "PaymentDuplicate",
    "SubscriptionCancelled",
    "SubscriptionCancelling",
    "SubscriptionChangeCancelled",
    "SubscriptionChangeDropped",
    "SubscriptionChangeScheduled",
    "SubscriptionChanged",
    "SubscriptionExpiring",
    "SubscriptionLapsed",
    "SubscriptionOpened",
    "SubscriptionPastDue",
    "SubscriptionRenewed",
    "SubscriptionResumed",
    "make_event",
    "name_of",
    "validate",
]
