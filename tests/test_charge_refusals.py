"""A refused charge changes nothing, not even what was due for its account (R-VOL-1, R-ERR).

``charge_replies`` / ``charge_broadcast`` are batches of one of ``charge_many``, so both are
checked: a request refused (``InsufficientBalance``, ``IdempotencyConflict``) or replayed
writes no row and no event; what was due (an invoice's expiry, the month's included balance)
is written, dated when it was due, with the next change, as after any other refused call
(before charge_many, a refused charge_replies rolled its unit of work back the same way).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import stores
from helpers import idr
from stores import ALL_STORES
from subkit.charges import ChargeRequest
from subkit.errors import IdempotencyConflict, InsufficientBalance
from subkit.events import EventName
from subkit.invoice import InvoiceStatus
from subkit.ports import Store
from subkit.service import Billing
from subkit.testing import FixedClock, RecordingSink
from subkit.wallet import Charge, EntryKind

pytestmark = ALL_STORES


def stored(billing: Billing, store: Store, sink: RecordingSink) -> Any:
    """Every row of the store, the account's events and what the sink was handed."""
    return stores.contents(store), billing.event_feed("acme", limit=500), list(sink.events)


@pytest.fixture
def due(billing: Billing, account: str, clock: FixedClock) -> str:
    """acme charged once, with a pending top-up, then 40 days on: the top-up invoice has
    expired and the period's included balance gave way to the next one's (the boundary of
    Feb 10), all due but not yet saved."""
    assert billing.charge_replies(account, 1, key="m1").amount == idr(30)
    pending = billing.top_up(account, "conversation", 50_000)
    assert pending.invoice is not None
    clock.advance(timedelta(days=40))
    return pending.invoice.code


REFUSED = [
    ("more-than-the-balance", ChargeRequest("acme", "reply", 600, "too-many")),
    ("a-key-used-for-another-count", ChargeRequest("acme", "reply", 2, "m1")),
    ("a-replay", ChargeRequest("acme", "reply", 1, "m1")),
]
EXPECTED = [InsufficientBalance, IdempotencyConflict, Charge]


@pytest.mark.parametrize(
    ("request_", "expected"),
    [(request, expected) for (_, request), expected in zip(REFUSED, EXPECTED, strict=True)],
    ids=[name for name, _ in REFUSED],
)
def test_a_single_charge_refused_or_replayed_writes_nothing(
    billing: Billing,
    store: Store,
    sink: RecordingSink,
    due: str,
    request_: ChargeRequest,
    expected: type,
) -> None:
    before = stored(billing, store, sink)
    try:
        result: object = billing.charge_replies("acme", request_.count, key=request_.key)
    except (InsufficientBalance, IdempotencyConflict) as refused:
        result = refused
    assert type(result) is expected
    assert stored(billing, store, sink) == before
    # What the read shows is what the refusal was decided on: the expiry applied in memory.
    assert billing.invoice("acme", due).status is InvoiceStatus.EXPIRED


def test_a_batch_whose_requests_are_all_refused_or_replayed_writes_nothing(
    billing: Billing, store: Store, sink: RecordingSink, due: str
) -> None:
    before = stored(billing, store, sink)
    results = billing.charge_many([request for _, request in REFUSED])
    assert [type(result) for result in results] == EXPECTED
    # Refused on the new period's balance (the catch-up applied in memory): 15.000, not 14.970.
    short = results[0]
    assert isinstance(short, InsufficientBalance) and short.available == idr(15_000)
    assert stored(billing, store, sink) == before


def test_the_catch_up_is_written_with_the_first_charge(
    billing: Billing, store: Store, sink: RecordingSink, due: str, clock: FixedClock
) -> None:
    """The next charge writes what was due, dated when it was due, then itself."""
    billing.charge_many([request for _, request in REFUSED])
    charged, refused = billing.charge_many(
        [ChargeRequest("acme", "reply", 2, "m2"), ChargeRequest("acme", "reply", 600, "m3")]
    )
    assert isinstance(charged, Charge) and charged.balance_after == idr(15_000 - 60)
    assert isinstance(refused, InsufficientBalance)
    with store.snapshot() as view:
        assert view.get_invoice(due).status is InvoiceStatus.EXPIRED  # type: ignore[union-attr]
    kinds = [entry.kind for entry in billing.usage_history("acme").items]
    assert kinds[:3] == [EntryKind.REPLY, EntryKind.GRANT, EntryKind.EXPIRY]
    names = [event.name for event in billing.event_feed("acme", limit=500).items]
    assert names.count(EventName.INVOICE_EXPIRED) == 1
    assert clock.now() > billing.usage_history("acme").items[1].at  # dated when due
