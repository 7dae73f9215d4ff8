"""R-CON-2: reads go through ``Store.snapshot()`` and apply what is due in memory.

Every read call listed in R-CON-2 saves nothing (the store is the same before and after it),
and returns what the same read returns once the next write has saved the catch-up: a stateful
Hypothesis test drives an account through orders, payments, charges and time, and at any
step compares every read (paged histories and invoice lists walked to the end with small
pages and every filter) before and after a billing run saves what was due. The test that a
writer holding SQLite's write lock in another process blocks no read is
tests/test_snapshot_reads_processes.py.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from helpers import PROFILE, START, pay
from stores import KINDS, open_store
from subkit import serialize
from subkit.errors import AccountNotFound, SubkitError
from subkit.invoice import InvoiceStatus
from subkit.plans import Catalogue
from subkit.ports import Store
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import EntryKind

ACCOUNT = "acme"
STATUSES = (None, "pending", "paid", "expired", "cancelled")
LEDGER_FILTERS = (
    {},
    {"balance": "conversation"},
    {"kind": "expiry"},
    {"kind": "grant", "balance": "broadcast"},
)


def outcome(call: Callable[[], Any]) -> Any:
    """A read's result, or the refusal it raised (its class and code)."""
    try:
        return call()
    except SubkitError as refused:
        return ("refused", type(refused).__name__, refused.code)


def walk(read: Callable[[str | None], Any]) -> list[Any]:
    """Every page of a paged read, following cursors from the first page to the last."""
    pages, cursor = [], None
    while True:
        page = read(cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            return pages


def every_read(billing: Billing, account: str = ACCOUNT, limit: int = 2) -> dict[str, Any]:
    """The result of every read call of R-CON-2 for ``account`` (pages walked at ``limit``)."""
    seen: dict[str, Any] = {
        "subscription": outcome(lambda: billing.subscription(account)),
        "balances": outcome(lambda: billing.balances(account)),
        "billing_profile": outcome(lambda: billing.billing_profile(account)),
        "usage_overview": outcome(lambda: billing.usage_overview(account)),
        "check_limit": outcome(lambda: billing.check_limit(account, "users", 2)),
        "available_addons": outcome(lambda: billing.available_addons(account)),
        "addons": outcome(lambda: billing.addons(account)),
        "addon_history": outcome(lambda: billing.addon_history(account)),
        "quote_renewal": outcome(lambda: billing.quote_renewal(account)),
        "quote_change": outcome(lambda: billing.quote_change(account, "pro")),
        "quote_addons": outcome(lambda: billing.quote_addons(account, {"extra_user": 1})),
        "topup_history": walk(lambda c: billing.topup_history(account, limit=limit, cursor=c)),
    }
    for number, filters in enumerate(LEDGER_FILTERS):
        seen[f"usage_history {number}"] = walk(
            lambda c, f=filters: billing.usage_history(account, limit=limit, cursor=c, **f)
        )
    for status in STATUSES:
        seen[f"invoices {status}"] = walk(
            lambda c, s=status: billing.invoices(account, status=s, limit=limit, cursor=c)
        )
    codes = [i.code for page in seen["invoices None"] for i in page.items]
    for code in codes:
        seen[f"invoice {code}"] = billing.invoice(account, code)
    if codes:
        seen["render_invoice"] = billing.render_invoice(account, codes[0], format="text")
    return seen


def stored(store: Store, account: str = ACCOUNT) -> dict[str, Any]:
    """What the store holds for ``account``, read through a snapshot of its own."""
    with store.snapshot() as view:
        found = view.get_account(account)
        entries = view.ledger_page(
            account, balance=None, kind=None, since=None, until=None, limit=500, cursor=None
        )
        invoices = view.invoice_page(
            account, type=None, status=None, since=None, until=None, limit=500, cursor=None
        )
        events = view.event_page(account, cursor=None, limit=500)
    return {
        "account": serialize.to_dict(found),
        "entries": entries,
        "invoices": invoices,
        "events": [(e.id, e.name) for e in events.items],
    }


class ReadsShowWhatTheNextWriteSaves(RuleBasedStateMachine):
    """An account's life on one store; reads checked against what a write then saves."""

    def make_store(self) -> Store:
        return InMemoryStore()

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(START)
        self.store = self.make_store()
        self.billing = Billing(Catalogue.default(), self.store, FakeGateway(), clock=self.clock)
        self.keys = itertools.count()

    def teardown(self) -> None:
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    def attempt(self, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except SubkitError:
            return None

    def settle(self, checkout: Any, paid: bool) -> None:
        if paid and checkout is not None and checkout.invoice is not None:
            self.attempt(lambda: pay(self.billing, checkout, f"ref-{next(self.keys)}"))

    @initialize(plan=st.sampled_from(["free", "growth"]), paid=st.booleans())
    def open(self, plan: str, paid: bool) -> None:
        self.billing.open_account(ACCOUNT)
        self.billing.set_billing_profile(ACCOUNT, PROFILE)
        if plan != "free":
            self.settle(self.attempt(lambda: self.billing.change_plan(ACCOUNT, plan)), paid)

    @rule(
        plan=st.sampled_from(["free", "growth", "pro"]),
        interval=st.sampled_from([None, "monthly", "annual"]),
        paid=st.booleans(),
    )
    def change_plan(self, plan: str, interval: str | None, paid: bool) -> None:
        checkout = self.attempt(lambda: self.billing.change_plan(ACCOUNT, plan, interval=interval))
        self.settle(checkout, paid)

    @rule(paid=st.booleans())
    def renew(self, paid: bool) -> None:
        self.settle(self.attempt(lambda: self.billing.renew(ACCOUNT)), paid)

    @rule(quantity=st.integers(1, 3), paid=st.booleans())
    def buy_addons(self, quantity: int, paid: bool) -> None:
        checkout = self.attempt(lambda: self.billing.buy_addons(ACCOUNT, {"extra_user": quantity}))
        self.settle(checkout, paid)

    @rule()
    def stop_addon(self) -> None:
        self.attempt(lambda: self.billing.stop_addon(ACCOUNT, "extra_user"))

    @rule(amount=st.sampled_from([10_000, 50_000]), paid=st.booleans())
    def top_up(self, amount: int, paid: bool) -> None:
        checkout = self.attempt(lambda: self.billing.top_up(ACCOUNT, "conversation", amount))
        self.settle(checkout, paid)

    @rule(count=st.integers(1, 400))
    def charge(self, count: int) -> None:
        key = f"c{next(self.keys)}"
        self.attempt(lambda: self.billing.charge_replies(ACCOUNT, count, key=key))

    @rule()
    def unsubscribe(self) -> None:
        self.attempt(lambda: self.billing.unsubscribe(ACCOUNT))

    @rule(
        jump=st.one_of(
            st.integers(1, 48).map(lambda h: timedelta(hours=h)),
            st.integers(1, 40).map(lambda d: timedelta(days=d)),
            st.integers(1, 3).map(lambda m: relativedelta(months=m)),
        )
    )
    def wait(self, jump: timedelta | relativedelta) -> None:
        self.clock.advance(jump)

    @invariant()
    def reads_save_nothing_and_show_what_the_run_then_saves(self) -> None:
        before = stored(self.store)
        shown = every_read(self.billing)
        assert stored(self.store) == before, "a read changed the store"
        self.billing.advance()  # saves exactly what was due, at the same time
        assert every_read(self.billing) == shown


ReadsShowWhatTheNextWriteSaves.TestCase.settings = settings(max_examples=25, stateful_step_count=12)
TestReadsInMemory = ReadsShowWhatTheNextWriteSaves.TestCase


class ReadsShowWhatTheNextWriteSavesOnSqlite(ReadsShowWhatTheNextWriteSaves):
    def make_store(self) -> Store:
        self.directory = tempfile.TemporaryDirectory(prefix="subkit-reads-")
        return SqliteStore(Path(self.directory.name) / "reads.db")

    def teardown(self) -> None:
        super().teardown()
        self.directory.cleanup()


class ReadsShowWhatTheNextWriteSavesOnPostgres(ReadsShowWhatTheNextWriteSaves):
    def make_store(self) -> Store:
        self.stack = contextlib.ExitStack()
        self.directory = tempfile.TemporaryDirectory(prefix="subkit-reads-")
        return self.stack.enter_context(open_store("postgres", Path(self.directory.name)))

    def teardown(self) -> None:
        self.stack.close()
        self.directory.cleanup()


# Fewer examples on SQLite and PostgreSQL: each opens a file or creates a schema.
ReadsShowWhatTheNextWriteSavesOnSqlite.TestCase.settings = settings(
    max_examples=8, stateful_step_count=10
)
TestReadsOnSqlite = ReadsShowWhatTheNextWriteSavesOnSqlite.TestCase
ReadsShowWhatTheNextWriteSavesOnPostgres.TestCase.settings = settings(
    max_examples=5, stateful_step_count=10
)
TestReadsOnPostgres = ReadsShowWhatTheNextWriteSavesOnPostgres.TestCase


class TestScenarios:
    def test_a_read_after_a_boundary_shows_the_new_month_and_saves_nothing(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-CON-2: past the first month's boundary, balances, overview and history show the
        expired included balance and the new grant; the store still holds the account as it
        was, and the run then saves exactly those entries."""
        billing.charge_replies(account, 10, key="k")
        before = stored(billing.store, account)
        clock.advance(relativedelta(months=1, hours=1))
        shown = billing.usage_history(account).items
        assert [e.kind for e in shown[:2]] == [EntryKind.GRANT, EntryKind.EXPIRY]
        assert shown[0].at == shown[1].at == START + relativedelta(months=1)
        assert billing.balances(account).conversation == shown[0].balance_after
        assert billing.usage_overview(account).current_period.start == START + relativedelta(
            months=1
        )
        assert stored(billing.store, account) == before
        assert billing.advance().counts == {"period": 1, "balance_expired": 1}
        assert billing.usage_history(account).items == shown

    def test_a_pending_invoice_past_its_window_reads_as_expired_in_every_list(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-CON-2: an unpaid top-up past its payment window is expired in `invoice`, in
        the unfiltered list and under the `expired` filter, and gone from `pending`, while
        the store still holds it pending."""
        paid = billing.top_up(account, "conversation", 10_000)
        pay(billing, paid)
        waiting = billing.top_up(account, "conversation", 50_000)
        assert waiting.invoice is not None
        code = waiting.invoice.code
        clock.advance(timedelta(hours=25))
        shown = billing.invoice(account, code)
        assert shown.status is InvoiceStatus.EXPIRED
        assert shown.status_at == START + timedelta(hours=24)
        assert [i.code for i in billing.invoices(account, status="expired").items] == [code]
        assert billing.invoices(account, status="pending").items == ()
        assert billing.invoices(account).items[0] == shown
        with billing.store.snapshot() as view:
            kept = view.get_invoice(code)
        assert kept is not None and kept.status is InvoiceStatus.PENDING
        billing.advance()
        assert billing.invoice(account, code) == shown

    def test_an_expired_filter_page_cut_in_the_middle_keeps_the_stores_cursor(
        self, billing: Billing, account: str, clock: FixedClock
    ) -> None:
        """R-CON-2 paging: three invoices expire in memory among paid ones; pages of one
        under the `expired` filter give each once, newest first, with cursors that page on
        the same after the run saved the expiries."""
        codes = []
        for n in range(3):
            pay(billing, billing.top_up(account, "conversation", 10_000))
            waiting = billing.top_up(account, "conversation", 10_000 + n)
            assert waiting.invoice is not None
            codes.append(waiting.invoice.code)
        clock.advance(timedelta(days=2))
        read = lambda c: billing.invoices(account, status="expired", limit=1, cursor=c)  # noqa: E731
        pages = walk(read)
        assert [i.code for p in pages for i in p.items] == codes[::-1]
        billing.advance()
        assert walk(read) == pages

    @pytest.mark.parametrize(
        "read",
        [
            lambda b: b.subscription("nobody"),
            lambda b: b.balances("nobody"),
            lambda b: b.billing_profile("nobody"),
            lambda b: b.usage_overview("nobody"),
            lambda b: b.addon_history("nobody"),
            lambda b: b.quote_renewal("nobody"),
            lambda b: b.usage_history("nobody"),
            lambda b: b.invoices("nobody", status="pending"),
            lambda b: b.invoice("nobody", "INV-1"),
        ],
    )
    def test_an_unknown_account_is_not_found(self, billing: Billing, read: Any) -> None:
        """R-CON-2: the snapshot read refuses an unknown account as the write path did."""
        with pytest.raises(AccountNotFound):
            read(billing)


def mixed(store: Store) -> tuple[Billing, FixedClock]:
    """Paid and pending top-ups and a pending plan change, a day on: three expire in memory,
    one top-up stays open."""
    clock = FixedClock(START)
    billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
    billing.open_account(ACCOUNT)
    billing.set_billing_profile(ACCOUNT, PROFILE)
    for n in range(4):
        checkout = billing.top_up(ACCOUNT, "conversation", 10_000 + n)
        if n % 2:
            pay(billing, checkout)
    billing.change_plan(ACCOUNT, "growth")
    clock.advance(timedelta(hours=12))
    billing.top_up(ACCOUNT, "conversation", 20_000)
    clock.advance(timedelta(hours=13))
    return billing, clock


@pytest.mark.parametrize("limit", [1, 2, 50])
@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("kind", KINDS)
def test_invoice_pages_under_every_filter(
    tmp_path: Path, kind: str, status: str | None, limit: int
) -> None:
    """R-CON-2 paging: the invoice list under each status filter, in pages of 1, 2 and 50,
    reads the same (items and cursors) before and after the run saves the expiries."""
    with open_store(kind, tmp_path) as store:
        check_invoice_pages(store, status, limit)


def check_invoice_pages(store: Store, status: str | None, limit: int) -> None:
    billing, _ = mixed(store)
    pages = walk(lambda c: billing.invoices(ACCOUNT, status=status, limit=limit, cursor=c))
    listed = [i.code for p in pages for i in p.items]
    assert len(listed) == len(set(listed))
    if status == "expired":
        assert len(listed) == 3
    billing.advance()
    assert walk(lambda c: billing.invoices(ACCOUNT, status=status, limit=limit, cursor=c)) == (
        pages
    )
