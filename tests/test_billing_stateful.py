"""A stateful model of ``Billing``: random customers, orders and time (R-SUB, R-ADD, R-TIME).

Hypothesis drives a few accounts through plan changes, renewals, add-ons, top-ups, charges,
broadcast holds (held, settled, released, expired by the run), payments (in order, duplicated,
late), unsubscribe/resume and time jumps, and checks after every step what must always hold.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, settings
from hypothesis import event as note
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from helpers import PROFILE, START
from subkit.errors import SubkitError
from subkit.invoice import Effect, InvoiceStatus, InvoiceType, PaymentStatus
from subkit.plans import Catalogue
from subkit.serialize import to_dict
from subkit.service import Billing, PaymentEvent
from subkit.subscription import AddOnEventKind
from subkit.testing import FakeGateway, FixedClock, InMemoryStore
from subkit.wallet import Balance, EntryKind

NAMES = ("acme", "beta", "cora")
PLANS = ("free", "growth", "pro")
ADDONS = ("extra_user", "extra_contact")

addon_orders = st.dictionaries(st.sampled_from(ADDONS), st.integers(0, 4), max_size=2)
jumps = st.one_of(
    st.integers(1, 600).map(lambda m: timedelta(minutes=m)),
    st.integers(1, 20).map(lambda d: timedelta(days=d)),
    st.integers(1, 3).map(lambda m: relativedelta(months=m)),
)


class BillingMachine(RuleBasedStateMachine):
    invoices = Bundle("invoices")

    def __init__(self) -> None:
        super().__init__()
        self.catalogue = Catalogue.default()
        self.clock = FixedClock(START)
        self.billing = Billing(self.catalogue, InMemoryStore(), FakeGateway(), clock=self.clock)
        self.accounts: list[str] = []
        self.paid_through: dict[str, Any] = {}
        self.references: dict[str, str] = {}  # invoice code -> the reference that paid it
        self.adjustments = 0

    # -- helpers --------------------------------------------------------------------------------

    def _snapshot(self, account: str) -> tuple[Any, ...]:
        sub = to_dict(self.billing.subscription(account))
        return sub, self.billing.balances(account)

    def attempt(self, account: str, action):
        """Run ``action``; a ``SubkitError`` must leave the account exactly as it was."""
        before = self._snapshot(account)  # a read applies what is due first
        try:
            return action()
        except SubkitError as refused:
            note(f"refused {refused.code}")
            assert self._snapshot(account) == before
            return None

    # -- rules ----------------------------------------------------------------------------------

    @initialize(
        plan=st.sampled_from(PLANS),
        interval=st.sampled_from(["monthly", "annual"]),
        users=st.integers(0, 3),
    )
    def first_account(self, plan, interval, users) -> None:
        """acme starts on a random plan, bought and paid on day one."""
        self.open("acme")
        if plan != "free":
            addons = {"extra_user": users} if users else {}
            checkout = self.billing.change_plan("acme", plan, interval=interval, addons=addons)
            self._code(checkout, pay_now=True)
            assert self.billing.subscription("acme").plan == plan

    @rule(name=st.sampled_from(NAMES))
    def open(self, name: str) -> None:
        if name in self.accounts:
            self.attempt(name, lambda: self.billing.open_account(name))
            return
        self.billing.open_account(name)
        self.billing.set_billing_profile(name, PROFILE)
        self.accounts.append(name)

    def _account(self, data) -> str:
        return data.draw(st.sampled_from(self.accounts))

    @rule(
        target=invoices,
        data=st.data(),
        plan=st.sampled_from(PLANS),
        interval=st.sampled_from([None, "monthly", "annual"]),
        addons=st.one_of(st.none(), addon_orders),
        pay_now=st.booleans(),
    )
    def change_plan(self, data, plan, interval, addons, pay_now):
        account = self._account(data)
        quote = self.attempt(
            account,
            lambda: self.billing.quote_change(account, plan, interval=interval, addons=addons),
        )
        checkout = self.attempt(
            account,
            lambda: self.billing.change_plan(account, plan, interval=interval, addons=addons),
        )
        if quote is not None and checkout is not None and checkout.invoice is not None:
            assert checkout.invoice.total == quote.total
        return self._code(checkout, pay_now)

    def _code(self, checkout, pay_now: bool = False) -> tuple[str, str]:
        if checkout is None or checkout.invoice is None:
            return ("", "")
        found = (checkout.invoice.account_id, checkout.invoice.code)
        note(f"checkout {checkout.invoice.type}")
        if pay_now:
            self.pay(found, "ref-1")
        return found

    @rule(target=invoices, data=st.data(), pay_now=st.booleans())
    def renew(self, data, pay_now):
        account = self._account(data)
        quote = self.attempt(account, lambda: self.billing.quote_renewal(account))
        checkout = self.attempt(account, lambda: self.billing.renew(account))
        if quote is not None and checkout is not None:
            assert checkout.invoice.total == quote.total
        return self._code(checkout, pay_now)

    @rule(target=invoices, data=st.data(), order=addon_orders, pay_now=st.booleans())
    def buy_addons(self, data, order, pay_now):
        account = self._account(data)
        quote = self.attempt(account, lambda: self.billing.quote_addons(account, order))
        checkout = self.attempt(account, lambda: self.billing.buy_addons(account, order))
        if quote is not None and checkout is not None:
            assert checkout.invoice.total == quote.total
        return self._code(checkout, pay_now)

    @rule(
        data=st.data(),
        code=st.sampled_from(ADDONS),
        quantity=st.one_of(st.none(), st.integers(0, 3)),
    )
    def stop_addon(self, data, code, quantity):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.stop_addon(account, code, quantity=quantity))

    @rule(
        target=invoices,
        data=st.data(),
        balance=st.sampled_from(["conversation", "broadcast"]),
        amount=st.sampled_from([5_000, 10_000, 50_000, 2_000_000]),
        pay_now=st.booleans(),
    )
    def top_up(self, data, balance, amount, pay_now):
        account = self._account(data)
        checkout = self.attempt(account, lambda: self.billing.top_up(account, balance, amount))
        return self._code(checkout, pay_now)

    @rule(data=st.data(), count=st.integers(1, 600), key=st.sampled_from(["m1", "m2", "m3"]))
    def charge_replies(self, data, count, key):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.charge_replies(account, count, key=key))

    @rule(data=st.data(), recipients=st.integers(1, 3_000), key=st.sampled_from(["c1", "c2"]))
    def charge_broadcast(self, data, recipients, key):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.charge_broadcast(account, recipients, key=key))

    @rule(data=st.data(), amount=st.sampled_from([650, 13_000, 650_000, -6_500]))
    def adjust_broadcast(self, data, amount):
        """The host's lever (R-BAL-9), so broadcast holds meet balance as well as quota."""
        account = self._account(data)
        self.adjustments += 1
        key = f"adj-{self.adjustments}"
        self.attempt(
            account,
            lambda: self.billing.adjust_balance(account, "broadcast", amount, key=key, reason="t"),
        )

    @rule(
        data=st.data(),
        recipients=st.one_of(st.integers(1, 40), st.integers(1, 3_000)),
        key=st.sampled_from(["h1", "h2", "h3"]),
        hours=st.integers(1, 72),
    )
    def hold_broadcast(self, data, recipients, key, hours):
        """R-VOL-2: reserve a campaign; it expires (and is released by the run) in hours."""
        account = self._account(data)
        hold = self.attempt(
            account,
            lambda: self.billing.hold_broadcast(
                account, recipients, key=key, expires_in=timedelta(hours=hours)
            ),
        )
        if hold is not None:
            note(f"held {'on quota' if hold.amount_held.is_zero else 'balance'}")

    @rule(data=st.data(), key=st.sampled_from(["h1", "h2", "h3"]), share=st.integers(0, 4))
    def settle_broadcast(self, data, key, share):
        account = self._account(data)
        held = {hold.id: hold for hold in self.billing.holds(account)}
        if held and share:  # mostly an open hold; sometimes one that ended or never was
            key = data.draw(st.sampled_from(sorted(held)))
        sent = held[key].recipients * share // 4 if key in held else share
        charge = self.attempt(account, lambda: self.billing.settle_broadcast(account, key, sent))
        if charge is not None and key in held:
            note(f"settled {'a charge' if charge.amount.amount else 'on quota'}")
            assert charge.amount <= held[key].amount_held
            assert charge.quota_used <= held[key].quota_held

    @rule(data=st.data(), key=st.sampled_from(["h1", "h2", "h3"]))
    def release_broadcast(self, data, key):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.release_broadcast(account, key))

    @rule(invoice=invoices, reference=st.sampled_from(["ref-1", "ref-2"]))
    def pay(self, invoice, reference):
        account, code = invoice
        if not code:
            return
        current = self.billing.invoice(account, code)
        event = PaymentEvent(code, PaymentStatus.PAID, reference, current.total)
        after = self.attempt(account, lambda: self.billing.apply_payment(event))
        if after is None:
            return
        assert after.status is InvoiceStatus.PAID
        note(f"paid {after.type} {after.effect}")
        first = self.references.setdefault(code, after.reference)
        assert after.reference == first
        if reference != first:
            assert reference in after.extra_payments

    @rule(invoice=invoices)
    def fail_payment(self, invoice):
        account, code = invoice
        if not code:
            return
        current = self.billing.invoice(account, code)
        event = PaymentEvent(code, PaymentStatus.FAILED, "ref-f", current.total)
        self.attempt(account, lambda: self.billing.apply_payment(event))

    @rule(data=st.data())
    def cancel_change(self, data):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.cancel_change(account))

    @rule(data=st.data())
    def unsubscribe(self, data):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.unsubscribe(account))

    @rule(data=st.data())
    def resume(self, data):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.resume(account))

    @rule(jump=jumps, run=st.booleans())
    def time_passes(self, jump, run):
        self.clock.advance(jump)
        if run:
            self.billing.advance()
            assert self.billing.advance().counts == {}  # idempotent

    @precondition(lambda self: len(self.accounts) > 0)
    @rule(data=st.data(), total=st.integers(0, 40))
    def check_limit(self, data, total):
        account = self._account(data)
        self.attempt(account, lambda: self.billing.check_limit(account, "users", total))

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def subscriptions_are_consistent(self) -> None:
        now = self.clock.now()
        for account in self.accounts:
            sub = self.billing.subscription(account)
            plan = self.catalogue.plan(sub.plan)  # exactly one plan, from the catalogue
            assert plan.code == sub.plan
            assert sub.current_period.start <= now < sub.current_period.end
            assert sub.paid_through >= self.paid_through.get(account, sub.paid_through)
            self.paid_through[account] = sub.paid_through
            for code, quantity in sub.addons.items():
                assert quantity > 0
                assert self.catalogue.addon(code).sold_on(sub.plan)
            for code, stopping in sub.stopping.items():
                assert stopping <= sub.addons.get(code, 0)

    @invariant()
    def limits_are_plan_plus_addons(self) -> None:
        for account in self.accounts:
            view = self.billing.usage_overview(account)
            rights = self.catalogue.entitlements(view.plan, view.addons)
            assert (view.limits.users, view.limits.contacts, view.limits.broadcast_quota) == (
                rights.users,
                rights.contacts,
                rights.broadcast_quota,
            )

    @invariant()
    def balances_are_their_history(self) -> None:
        for account in self.accounts:
            balances = self.billing.balances(account)
            for balance in Balance:
                total = 0
                cursor = None
                while True:
                    page = self.billing.usage_history(
                        account, balance=balance, limit=500, cursor=cursor
                    )
                    total += sum(entry.amount.amount for entry in page.items)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
                assert getattr(balances, str(balance)).amount == total

    @invariant()
    def holds_reserve_what_they_show(self) -> None:
        """R-VOL-2: what Balances shows held is the open holds' sum; every open hold is
        before its expiry (a read releases an expired one); without an overdraft, what
        holds reserve is never more than the balance."""
        now = self.clock.now()
        for account in self.accounts:
            holds = self.billing.holds(account)
            balances = self.billing.balances(account)
            assert balances.broadcast_held.amount == sum(h.amount_held.amount for h in holds)
            assert all(h.expires_at > now for h in holds)
            assert balances.broadcast_held <= balances.broadcast
            view = self.billing.usage_overview(account)
            assert view.held["broadcast"] == balances.broadcast_held
            assert view.broadcast_held <= sum(h.quota_held for h in holds)

    @invariant()
    def no_invoice_applied_twice(self) -> None:
        for account in self.accounts:
            invoices = self.billing.invoices(account, limit=500).items
            topups = self.billing.usage_history(account, kind=EntryKind.TOP_UP, limit=500).items
            bought = [
                (e.code, e.invoice_code)
                for e in self.billing.addon_history(account)
                if e.kind is AddOnEventKind.BOUGHT and e.invoice_code
            ]
            for invoice in invoices:
                credited = [e for e in topups if e.invoice_code == invoice.code]
                if invoice.status is not InvoiceStatus.PAID:
                    assert credited == []
                    assert invoice.extra_payments == ()
                    continue
                assert invoice.reference is not None
                assert invoice.reference not in invoice.extra_payments
                if invoice.type is InvoiceType.TOP_UP:
                    expected = 1 if invoice.effect is Effect.APPLIED else 0
                    assert len(credited) == expected
                if invoice.type is InvoiceType.ADD_ON:
                    for code in invoice.order.addons:
                        assert bought.count((code, invoice.code)) <= 1


BillingMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("SUBKIT_STATEFUL_EXAMPLES", "30")),
    stateful_step_count=25,
    suppress_health_check=[HealthCheck.filter_too_much],
)
TestBilling = BillingMachine.TestCase
