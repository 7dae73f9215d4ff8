"""Events a host can rely on (R-EVT-2..4): stored with the change, delivered at least once, in
order per account, whatever the sink or the process does after the commit."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import PROFILE, START, pay
from subkit.errors import SubkitError
from subkit.events import DomainEvent, EventName, validate
from subkit.plans import Catalogue
from subkit.ports import Store
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink

SPAWN = multiprocessing.get_context("spawn")


class FlakySink(RecordingSink):
    """Raises on the calls whose numbers are in ``failing`` (0-based), records the others."""

    def __init__(self, failing: set[int] | None = None, *, always: bool = False) -> None:
        super().__init__()
        self.failing = failing or set()
        self.always = always
        self.calls = 0

    def publish(self, events: Sequence[DomainEvent]) -> None:
        call, self.calls = self.calls, self.calls + 1
        if self.always or call in self.failing:
            raise ConnectionError("the queue is down")
        super().publish(events)


def feed(billing: Billing, account_id: str) -> list[DomainEvent]:
    items: list[DomainEvent] = []
    cursor = None
    while True:
        page = billing.event_feed(account_id, cursor=cursor, limit=3)
        items.extend(page.items)
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def make(store: Store, sink: RecordingSink | None, clock: FixedClock) -> Billing:
    return Billing(Catalogue.default(), store, FakeGateway(), clock=clock, events=sink)


def test_a_failing_sink_never_fails_a_committed_call_and_gets_the_events_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FixedClock(START)
    sink = FlakySink(always=True)
    billing = make(InMemoryStore(), sink, clock)
    with caplog.at_level(logging.ERROR, logger="subkit"):
        opened = billing.open_account("acme")
        billing.set_billing_profile("acme", PROFILE)
        checkout = billing.top_up("acme", "conversation", 50_000)
    assert opened.plan == "free" and checkout.invoice is not None  # the calls returned
    assert sink.events == []
    assert any(r.name == "subkit" and "event sink failed" in r.message for r in caplog.records)
    sink.always = False
    # The next write hands them over, oldest first (a read writes nothing, R-CON-2).
    billing.set_billing_profile("acme", PROFILE)
    assert sink.names() == ["subscription.opened", "invoice.created"]
    assert sink.events == feed(billing, "acme")
    assert billing.deliver_events() == 0  # delivered ones are never handed out again
    pay(billing, checkout)
    assert sink.names()[2:] == ["invoice.paid", "balance.topped_up"]


def test_deliver_events_hands_over_what_calls_left_pending_and_counts_it() -> None:
    clock = FixedClock(START)
    store = InMemoryStore()
    silent = make(store, None, clock)  # a process without a sink (a web server, say)
    for n in range(3):
        silent.open_account(f"acct-{n}")
    assert silent.deliver_events() == 0
    sink = RecordingSink()
    worker = make(store, sink, clock)
    assert worker.deliver_events(limit=2) == 2
    assert worker.deliver_events() == 1
    assert worker.deliver_events() == 0
    assert sorted(e.account_id for e in sink.events) == ["acct-0", "acct-1", "acct-2"]
    with pytest.raises(SubkitError):
        worker.deliver_events(limit=0)


def test_the_feed_is_oldest_first_and_pruning_keeps_what_is_pending() -> None:
    clock = FixedClock(START)
    store = InMemoryStore()
    sink = FlakySink()
    billing = make(store, sink, clock)
    billing.open_account("acme")
    billing.adjust_balance("acme", "conversation", 1_000, key="k1", reason="goodwill")
    billing.set_billing_profile("acme", PROFILE)
    sink.always = True  # from here on the events stay pending
    billing.top_up("acme", "conversation", 50_000)
    clock.advance(timedelta(days=40))
    billing.advance()  # the invoice expires unpaid
    names = [e.name for e in feed(billing, "acme")]
    assert names == [
        EventName.SUBSCRIPTION_OPENED,
        EventName.BALANCE_ADJUSTED,
        EventName.INVOICE_CREATED,
        EventName.INVOICE_EXPIRED,
    ]
    assert billing.prune_events(clock.now()) == 2  # the two delivered ones
    assert [e.name for e in feed(billing, "acme")] == names[2:]
    sink.always = False
    assert billing.deliver_events() == len(names) - 2
    assert billing.prune_events(clock.now() + timedelta(days=1)) == len(names) - 2
    assert feed(billing, "acme") == []


def _commit_then_die(path: str, where: str) -> None:
    """Open an account on ``path`` and be killed (SIGKILL) right after the commit: before
    the events are claimed, or while the sink has them."""

    class Dying(RecordingSink):
        def publish(self, events: Sequence[DomainEvent]) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

    billing = make(SqliteStore(path), Dying(), FixedClock(START))
    if where == "before-claim":
        billing._deliver = lambda limit: os.kill(os.getpid(), signal.SIGKILL)  # type: ignore[method-assign, assignment, return-value]
    billing.open_account("acme")
    billing.adjust_balance("acme", "conversation", 500, key="k", reason="welcome")


@pytest.mark.parametrize("where", ["before-claim", "in-publish"])
def test_events_of_a_process_killed_after_its_commit_are_delivered_later(
    tmp_path: Path, where: str
) -> None:
    path = str(tmp_path / "subkit.db")
    child = SPAWN.Process(target=_commit_then_die, args=(path, where))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    sink = RecordingSink()
    # A claimed event waits for its lease (5 minutes) to end before another process takes it.
    clock = FixedClock(START + timedelta(minutes=6))
    with SqliteStore(path) as store:
        billing = make(store, sink, clock)
        assert billing.deliver_events() == 1
        assert sink.names() == ["subscription.opened"]  # exactly the committed change's
        assert sink.events == feed(billing, "acme")


ACCOUNTS = ("a", "b", "c")
calls = st.lists(
    st.tuples(
        st.sampled_from(["open", "top_up", "pay", "adjust", "bad_adjust", "days", "unsub"]),
        st.sampled_from(ACCOUNTS),
        st.booleans(),  # does the sink fail on the next publish?
    ),
    max_size=25,
)


@given(calls)
def test_every_committed_event_arrives_at_least_once_in_order_and_no_other(
    script: list[tuple[str, str, bool]],
) -> None:
    clock = FixedClock(START)
    sink = FlakySink()
    billing = make(InMemoryStore(), sink, clock)
    checkouts = {}
    for op, account, fail in script:
        if fail:
            sink.failing.add(sink.calls)
        before = {a: len(feed(billing, a)) for a in ACCOUNTS if a in checkouts}
        try:
            if op == "open":
                billing.open_account(account)
                checkouts.setdefault(account, None)
                billing.set_billing_profile(account, PROFILE)
            elif op == "top_up":
                checkouts[account] = billing.top_up(account, "conversation", 50_000)
            elif op == "pay" and checkouts.get(account) is not None:
                pay(billing, checkouts[account], f"ref-{len(sink.events)}")
            elif op == "adjust":
                billing.adjust_balance(account, "broadcast", 700, key=f"k{clock.now()}", reason="r")
            elif op == "bad_adjust":  # refused after the catch-up: the call rolls back
                billing.adjust_balance(account, "broadcast", -(10**12), key="x", reason="r")
            elif op == "days":
                clock.advance(timedelta(days=11))
            elif op == "unsub":
                billing.unsubscribe(account)
        except SubkitError:
            # A refused call stored nothing (the catch-up it did rolled back with it).
            after = {a: len(feed(billing, a)) for a in before}
            assert after == before
    sink.failing.clear()
    billing.deliver_events()
    for account in ACCOUNTS:
        if account not in checkouts:
            continue
        stored = feed(billing, account)
        received = [e for e in sink.events if e.account_id == account]
        first_seen = list({e.id: e for e in reversed(received)}.values())[::-1]
        assert first_seen == stored  # every committed event, in order, and no other
        for event in stored:
            validate(event)
