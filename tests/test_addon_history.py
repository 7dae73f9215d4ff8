"""R-ADD-6: the add-on history dates purchases at payment, and a change order's add-ons at
the moment the change applies."""

from __future__ import annotations

from datetime import datetime, timedelta

from helpers import JAKARTA, pay
from stores import ALL_STORES
from subkit.service import Billing
from subkit.subscription import AddOnEventKind
from subkit.testing import FixedClock

pytestmark = ALL_STORES


def test_change_order_addons_are_dated_when_the_change_applies(
    billing: Billing, account: str, clock: FixedClock
) -> None:
    """Growth with 1 extra user now; Pro annual with 3 extra users ordered on Jan 20 and
    applied on Feb 10; an extra contact bought on Jan 25 joins the order, dated at payment."""
    growth = pay(billing, billing.change_plan(account, "growth", addons={"extra_user": 1})).code
    clock.set(datetime(2026, 1, 20, 9, tzinfo=JAKARTA))
    pro = pay(
        billing, billing.change_plan(account, "pro", interval="annual", addons={"extra_user": 3})
    ).code
    clock.set(datetime(2026, 1, 25, 9, tzinfo=JAKARTA))
    contact = pay(billing, billing.buy_addons(account, {"extra_contact": 1})).code
    boundary = datetime(2026, 2, 10, 9, tzinfo=JAKARTA)
    clock.set(boundary + timedelta(hours=1))
    billing.advance()
    history = [
        (e.at, e.code, e.kind, e.quantity, e.invoice_code) for e in billing.addon_history(account)
    ]
    assert history == [
        (datetime(2026, 1, 10, 9, tzinfo=JAKARTA), "extra_user", AddOnEventKind.BOUGHT, 1, growth),
        (
            datetime(2026, 1, 25, 9, tzinfo=JAKARTA),
            "extra_contact",
            AddOnEventKind.BOUGHT,
            1,
            contact,
        ),
        (boundary, "extra_user", AddOnEventKind.BOUGHT, 3, pro),
    ]
    assert billing.subscription(account).addons == {"extra_user": 3, "extra_contact": 1}
