"""Notices (R-VOL-4): balance.low once per crossing, subscription.expiring before paid_through,
renewal invoices opened ahead by the billing run; with the test clock across month ends."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from helpers import JAKARTA, PROFILE, default_catalogue_toml, idr, pay
from subkit.charges import ChargeRequest
from subkit.errors import CatalogueError
from subkit.events import BalanceLow, SubscriptionExpiring
from subkit.invoice import InvoiceStatus, InvoiceType
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink
from subkit.wallet import Balance


def catalogue(policy: str = "") -> Catalogue:
    return Catalogue.from_toml(default_catalogue_toml() + f"\n[policy]\n{policy}\n")


def make(cat: Catalogue, start: datetime) -> tuple[Billing, FixedClock, RecordingSink]:
    clock, sink = FixedClock(start), RecordingSink()
    billing = Billing(cat, InMemoryStore(), FakeGateway(), clock=clock, events=sink)
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    return billing, clock, sink


def named(sink: RecordingSink, name: str) -> list:
    return [event for event in sink.events if event.name == name]


class TestLowBalance:
    def test_once_per_crossing_and_again_after_a_credit(self) -> None:
        billing, _, sink = make(
            catalogue("low_balance = { conversation = 3_000 }"),
            datetime(2026, 1, 5, 9, tzinfo=JAKARTA),
        )
        billing.charge_replies("acme", 390, key="a")  # Rp15.000 -> Rp3.300
        assert named(sink, "balance.low") == []
        billing.charge_replies("acme", 20, key="b")  # -> Rp2.700: crossed
        billing.charge_replies("acme", 1, key="c")  # still below: no second notice
        lows = named(sink, "balance.low")
        assert [e.typed_facts() for e in lows] == [
            BalanceLow(Balance.CONVERSATION, idr(2_700), idr(3_000))
        ]
        billing.adjust_balance("acme", "conversation", 1_000, key="gift", reason="goodwill")
        results = billing.charge_many(
            [ChargeRequest("acme", "reply", 10, "d"), ChargeRequest("acme", "reply", 30, "e")]
        )  # Rp3.670 -> Rp3.370 -> Rp2.470: one crossing in the batch
        assert all(not isinstance(r, Exception) for r in results)
        lows = named(sink, "balance.low")
        assert [e.typed_facts().remaining for e in lows] == [idr(2_700), idr(2_470)]
        billing.charge_replies("acme", 30, key="e")  # a replay charges nothing, says nothing
        assert len(named(sink, "balance.low")) == 2

    def test_off_by_default(self) -> None:
        billing, _, sink = make(Catalogue.default(), datetime(2026, 1, 5, 9, tzinfo=JAKARTA))
        billing.charge_replies("acme", 500, key="all")
        assert billing.balances("acme").conversation == idr(0)
        assert named(sink, "balance.low") == []


def paid_growth(billing: Billing) -> None:
    checkout = billing.change_plan("acme", "growth", interval="monthly")
    pay(billing, checkout)
    assert billing.subscription("acme").plan == "growth"


def run_daily(billing: Billing, clock: FixedClock, until: datetime) -> None:
    while clock.now() < until:
        clock.advance(timedelta(hours=6))
        billing.advance()


class TestReminders:
    @pytest.mark.parametrize(
        ("year", "end"),
        [
            (2027, datetime(2027, 2, 28, 9, tzinfo=JAKARTA)),
            (2028, datetime(2028, 2, 29, 9, tzinfo=JAKARTA)),
        ],
    )
    def test_seven_three_and_one_days_before_a_month_end_from_jan_31(
        self, year: int, end: datetime
    ) -> None:
        """Growth bought on Jan 31 is paid through Feb 28 (Feb 29 in a leap year): the run
        reminds 7, 3 and 1 days before, at the same local time, then nothing once it lapsed
        into past due."""
        billing, clock, sink = make(Catalogue.default(), datetime(year, 1, 31, 9, tzinfo=JAKARTA))
        paid_growth(billing)
        assert billing.subscription("acme").paid_through == end
        run_daily(billing, clock, end + timedelta(days=5))
        reminders = [e.typed_facts() for e in named(sink, "subscription.expiring")]
        assert reminders == [SubscriptionExpiring("growth", end, d) for d in (7, 3, 1)]
        assert [e.at for e in named(sink, "subscription.expiring")] == [
            end - timedelta(days=d) for d in (7, 3, 1)
        ]

    def test_a_late_run_sends_only_the_latest_reminder_due(self) -> None:
        end = datetime(2027, 2, 28, 9, tzinfo=JAKARTA)
        billing, clock, sink = make(Catalogue.default(), datetime(2027, 1, 31, 9, tzinfo=JAKARTA))
        paid_growth(billing)
        clock.set(end - timedelta(days=2, hours=12))
        assert billing.advance().counts == {"reminder_sent": 1}
        assert [e.typed_facts().days for e in named(sink, "subscription.expiring")] == [3]
        assert billing.advance().counts == {}
        clock.set(end - timedelta(hours=12))
        billing.advance()
        assert [e.typed_facts().days for e in named(sink, "subscription.expiring")] == [3, 1]

    def test_no_reminder_once_the_next_period_is_paid_or_for_a_free_plan(self) -> None:
        billing, clock, sink = make(Catalogue.default(), datetime(2027, 1, 31, 9, tzinfo=JAKARTA))
        run_daily(billing, clock, datetime(2027, 3, 5, tzinfo=JAKARTA))  # the Free plan
        assert named(sink, "subscription.expiring") == []
        paid_growth(billing)
        pay(billing, billing.renew("acme"))  # paid ahead: nothing to remind of this period
        run_daily(billing, clock, datetime(2027, 3, 28, tzinfo=JAKARTA))
        assert named(sink, "subscription.expiring") == []

    def test_an_unsubscribed_customer_is_not_reminded(self) -> None:
        billing, clock, sink = make(Catalogue.default(), datetime(2027, 1, 31, 9, tzinfo=JAKARTA))
        paid_growth(billing)
        billing.unsubscribe("acme")
        run_daily(billing, clock, datetime(2027, 3, 2, tzinfo=JAKARTA))
        assert named(sink, "subscription.expiring") == []

    def test_configured_days_and_off(self) -> None:
        billing, clock, sink = make(
            catalogue("remind_before_days = [2]"), datetime(2027, 1, 31, 9, tzinfo=JAKARTA)
        )
        paid_growth(billing)
        run_daily(billing, clock, datetime(2027, 3, 1, tzinfo=JAKARTA))
        assert [e.typed_facts().days for e in named(sink, "subscription.expiring")] == [2]
        quiet, clock, sink = make(
            catalogue("remind_before_days = []"), datetime(2027, 1, 31, 9, tzinfo=JAKARTA)
        )
        paid_growth(quiet)
        run_daily(quiet, clock, datetime(2027, 3, 1, tzinfo=JAKARTA))
        assert named(sink, "subscription.expiring") == []


class TestRenewalAhead:
    def test_the_run_opens_the_renewal_invoice_days_ahead_once(self) -> None:
        end = datetime(2028, 2, 29, 9, tzinfo=JAKARTA)
        billing, clock, _ = make(
            catalogue("renewal_invoice_days_before = 5"), datetime(2028, 1, 31, 9, tzinfo=JAKARTA)
        )
        paid_growth(billing)
        clock.set(end - timedelta(days=5, hours=1))
        assert "renewal_invoice_opened" not in billing.advance().counts
        clock.set(end - timedelta(days=5))
        assert billing.advance().counts.get("renewal_invoice_opened") == 1
        renewals = billing.invoices("acme", type=InvoiceType.RENEWAL).items
        assert [(i.status, i.payment is not None) for i in renewals] == [
            (InvoiceStatus.PENDING, True)
        ]
        # It expires unpaid after the payment window; the run does not open another.
        run_daily(billing, clock, end - timedelta(hours=1))
        renewals = billing.invoices("acme", type=InvoiceType.RENEWAL).items
        assert [i.status for i in renewals] == [InvoiceStatus.EXPIRED]

    def test_paying_the_invoice_opened_ahead_renews(self) -> None:
        end = datetime(2027, 2, 28, 9, tzinfo=JAKARTA)
        billing, clock, sink = make(
            catalogue("renewal_invoice_days_before = 3"), datetime(2027, 1, 31, 9, tzinfo=JAKARTA)
        )
        paid_growth(billing)
        clock.set(end - timedelta(days=3))
        billing.advance()
        (invoice,) = billing.invoices("acme", type=InvoiceType.RENEWAL).items
        pay(billing, type("C", (), {"invoice": invoice})())  # type: ignore[arg-type]
        assert billing.subscription("acme").paid_through == datetime(2027, 3, 31, 9, tzinfo=JAKARTA)
        # The clock jumped to 3 days before: the 7-day reminder was not sent late.
        assert [e.typed_facts().days for e in named(sink, "subscription.expiring")] == [3]


@pytest.mark.parametrize(
    "policy",
    [
        "low_balance = { conversation = -1 }",
        "low_balance = { sms = 5 }",
        "remind_before_days = [0]",
        "remind_before_days = [3, 3]",
        "remind_before_days = 7",
        "renewal_invoice_days_before = 400",
        "renewal_invoice_days_before = -1",
    ],
)
def test_bad_notice_settings_are_catalogue_errors(policy: str) -> None:
    with pytest.raises(CatalogueError):
        catalogue(policy)


def test_the_defaults() -> None:
    policy = Catalogue.default().policy
    assert policy.low_balance == {Balance.CONVERSATION: 0, Balance.BROADCAST: 0}
    assert policy.remind_before_days == (7, 3, 1)
    assert policy.renewal_invoice_days_before == 0
