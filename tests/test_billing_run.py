"""R-TIME, R-CON-4: the billing run claims the due accounts one at a time, each once, on
every store."""

from __future__ import annotations

from datetime import timedelta

from dateutil.relativedelta import relativedelta

from stores import ALL_STORES
from subkit.service import Billing
from subkit.testing import FixedClock

pytestmark = ALL_STORES


def test_a_run_brings_every_account_up_to_date_once(billing: Billing, clock: FixedClock) -> None:
    """Ten accounts: every one crosses its boundary exactly once, progress counts each
    account, and a second run finds nothing due."""
    names = [f"shop-{n:02d}" for n in range(10)]
    for name in names:
        billing.open_account(name)
        clock.advance(timedelta(minutes=1))
    clock.advance(relativedelta(months=1))
    seen: list[int] = []
    report = billing.advance(progress=seen.append)
    assert sorted(report.accounts) == names
    assert report.counts["period"] == 10
    assert seen == list(range(1, 11))
    assert billing.advance().accounts == ()
    for name in names:
        assert billing.subscription(name).current_period.start > billing.subscription(name).anchor


def test_accounts_are_taken_earliest_due_first(billing: Billing, clock: FixedClock) -> None:
    """The store hands out the earliest due first, so a run stopped half way has done the
    oldest work."""
    for name in ("late", "early"):
        billing.open_account(name)
        clock.advance(timedelta(days=1))
    # "late" was opened first, so its boundary is due first.
    clock.advance(relativedelta(months=1))
    order: list[str] = []
    with billing.store.transaction() as unit:
        order = unit.due_accounts(clock.now(), limit=5)
    assert order == ["late", "early"]
    assert billing.advance().accounts == ("late", "early")
