"""Fakes of the clock, gateway, event sink and usage ports: ``FixedClock``, ``FakeGateway``,
``RecordingSink``, ``StaticUsage``.

Hosts import them from :mod:`subkit.testing`. They live here, apart, so that the store
contract suite (:mod:`subkit.contract`, which needs them) imports this module and not
:mod:`subkit.testing`, which offers the contract suite in turn: no import cycle.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from subkit.cycles import ensure_aware
from subkit.errors import InvalidTime
from subkit.events import DomainEvent, validate
from subkit.plans import Usage
from subkit.ports import PaymentEvent, PaymentRequest, PaymentSession


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start, "start")

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | relativedelta) -> datetime:
        """Move forward by ``delta`` (a ``timedelta`` or a calendar ``relativedelta``)."""
        moved = self._now + delta
        if moved < self._now:
            raise InvalidTime("a clock does not go backwards")
        self._now = moved
        return moved

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (never backwards)."""
        when = ensure_aware(when, "when")
        if when < self._now:
            raise InvalidTime("a clock does not go backwards")
        self._now = when
        return when


class FakeGateway:
    """A payment gateway that records every request and answers with a made-up session.

    It is also a :class:`~subkit.ports.ReconcilingGateway`: set ``statuses[code]`` to the
    event ``status`` should report for an invoice (a lost webhook), and read ``cancelled``
    for the ``(invoice_code, reference)`` pairs subkit asked it to cancel; ``fail_status`` /
    ``fail_cancel`` make the next such call raise.
    """

    def __init__(self) -> None:
        self.requests: list[PaymentRequest] = []
        self.fail_next: Exception | None = None
        self.statuses: dict[str, PaymentEvent | None] = {}
        self.status_calls: list[tuple[str, str | None]] = []
        self.cancelled: list[tuple[str, str | None]] = []
        self.fail_status: Exception | None = None
        self.fail_cancel: Exception | None = None
        self._numbers = itertools.count(1)

    def status(self, invoice_code: str, reference: str | None = None) -> PaymentEvent | None:
        self.status_calls.append((invoice_code, reference))
        if self.fail_status is not None:
            error, self.fail_status = self.fail_status, None
            raise error
        return self.statuses.get(invoice_code)

    def cancel(self, invoice_code: str, reference: str | None = None) -> None:
        if self.fail_cancel is not None:
            error, self.fail_cancel = self.fail_cancel, None
            raise error
        self.cancelled.append((invoice_code, reference))

    def create_payment(self, request: PaymentRequest) -> PaymentSession:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        self.requests.append(request)
        reference = f"PAY-{next(self._numbers):06d}"
        return PaymentSession(
            redirect_url=f"https://pay.invalid/checkout/{request.invoice_code}",
            reference=reference,
            expires_at=request.expires_at,
        )


class RecordingSink:
    """An event sink that keeps what it receives, in order.

    It checks each event as it arrives: stored (a non-empty ``id``) and with exactly its
    name's shape of facts (:func:`subkit.events.validate`), so every test that records
    events also checks every event subkit made in it.
    """

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if not event.id:
                raise ValueError(f"{event.name} was published without a store id")
            validate(event)
        self.events.extend(events)

    def names(self) -> list[str]:
        """The names of the events received, in order, as plain strings."""
        return [str(event.name) for event in self.events]


class StaticUsage:
    """A usage source with fixed numbers per account (default 0 users, 0 contacts)."""

    def __init__(self, usage: dict[str, Usage] | None = None) -> None:
        self.usage = dict(usage or {})

    def in_use(self, account_id: str) -> Usage:
        return self.usage.get(account_id, Usage(0, 0))


__all__ = ["FakeGateway", "FixedClock", "RecordingSink", "StaticUsage"]
