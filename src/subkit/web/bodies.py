"""The JSON bodies the HTTP API accepts: what a caller sends, typed, for Litestar to check.

They hold request arguments only (the values subkit answers with are its own classes); a field
of the wrong type is a 422 naming it before subkit is called, and the facade checks the rest
(an unknown plan, a quantity out of range) with its typed errors.
"""

from __future__ import annotations

from typing import Annotated

import attrs
from msgspec import Meta

from subkit.charges import ChargeKind
from subkit.cycles import Interval
from subkit.wallet import Balance

#: The oldest a pending invoice ``reconcile`` is asked about may be: a year.
MAX_AGE_SECONDS = 366 * 24 * 3600


@attrs.frozen
class NoBody:
    """An empty JSON object: what a state-changing route without arguments takes."""


@attrs.frozen
class ChangeRequest:
    """A plan change: the plan, optionally the interval and the add-on quantities with it."""

    plan: str
    interval: Interval | None = None
    addons: dict[str, int] | None = None


@attrs.frozen
class AddOnsRequest:
    """Add-on units to quote or buy, code -> quantity."""

    quantities: dict[str, int]


@attrs.frozen
class QuantityRequest:
    """How many units to stop or resume; all of them when left out."""

    quantity: int | None = None


@attrs.frozen
class TopUpRequest:
    """A top-up of ``balance`` by ``amount`` in the catalogue's currency."""

    balance: Balance
    amount: int


# -- the internal app's bodies -----------------------------------------------------------------


@attrs.frozen
class OpenAccountRequest:
    """A new account on the default plan; ``timezone`` defaults to the catalogue's."""

    account_id: str
    timezone: str | None = None


@attrs.frozen
class RepliesRequest:
    """``count`` replies of ``account_id`` to charge, once per ``key``."""

    account_id: str
    key: str
    count: int = 1


@attrs.frozen
class BroadcastRequest:
    """A broadcast to ``recipients`` of ``account_id`` to charge, once per ``key``."""

    account_id: str
    key: str
    recipients: int


@attrs.frozen
class BatchItem:
    """One charge of a batch: ``count`` replies or broadcast recipients, once per ``key``."""

    account_id: str
    kind: ChargeKind
    count: int
    key: str


@attrs.frozen
class BatchRequest:
    """Charges to make together, in as few commits as the store allows (R-VOL-1)."""

    requests: list[BatchItem]


@attrs.frozen
class AdjustmentRequest:
    """A manual credit (positive) or debit (negative) of a balance, with its reason."""

    account_id: str
    balance: Balance
    amount: int
    key: str
    reason: str


@attrs.frozen
class AdvanceRequest:
    """Run the billing up to ``now``, an RFC 3339 date-time (the clock's now when left out).

    Text rather than a ``datetime`` field: the framework's conversion would also take a bare
    number as a Unix time; :func:`subkit.web.routes.instant` reads it strictly."""

    now: str | None = attrs.field(default=None, metadata={"format": "date-time"})


@attrs.frozen
class DeliverRequest:
    """Hand at most ``limit`` pending events to the sink."""

    limit: Annotated[int, Meta(ge=1, le=100_000)] = 1000


@attrs.frozen
class ReconcileRequest:
    """Ask the gateway about pending invoices older than ``older_than_seconds``."""

    older_than_seconds: Annotated[int, Meta(ge=0, le=MAX_AGE_SECONDS)] = 900
    limit: Annotated[int, Meta(ge=1, le=10_000)] = 500


@attrs.frozen
class Delivered:
    """How many events were handed to the sink."""

    delivered: int


__all__ = [
    "AddOnsRequest",
    "AdjustmentRequest",
    "AdvanceRequest",
    "BatchItem",
    "BatchRequest",
    "BroadcastRequest",
    "ChangeRequest",
    "DeliverRequest",
    "Delivered",
    "NoBody",
    "OpenAccountRequest",
    "QuantityRequest",
    "ReconcileRequest",
    "RepliesRequest",
    "TopUpRequest",
]
