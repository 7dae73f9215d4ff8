"""Plan purchases, changes, renewals and add-on orders (R-SUB, R-ADD): quoting and applying."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from subkit.invoice import InvoiceType, Order
from subkit.plans import Catalogue

if TYPE_CHECKING:
    from subkit.account import Account
    from subkit.orders import Applied


def apply_order(
    account: Account,
    catalogue: Catalogue,
    type: InvoiceType,
    order: Order,
    invoice_code: str | None,
    at: datetime,
) -> Applied:
    """Apply a paid subscription order."""
    from subkit.orders import Applied

    return Applied(account, applied=False, reason=f"{type} orders are not supported yet")
