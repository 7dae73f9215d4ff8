"""subkit: embeddable subscription billing (plans, renewals, add-ons, prepaid balances)."""

from importlib.metadata import PackageNotFoundError, version

from subkit import errors
from subkit.charges import ChargeKind, ChargeRequest
from subkit.cycles import Interval, Period
from subkit.errors import *  # noqa: F403 - SPEC section 10: errors re-exported at the top
from subkit.errors import __all__ as _error_names
from subkit.events import DomainEvent, EventName
from subkit.invoice import (
    BillingProfile,
    Effect,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineKind,
    PaymentStatus,
)
from subkit.money import Money, Rounding, format_money
from subkit.paging import Page
from subkit.plans import (
    AddOn,
    Catalogue,
    ChangeTiming,
    Direction,
    Entitlement,
    Entitlements,
    Plan,
    Reduction,
    TaxMode,
    Usage,
)
from subkit.ports import PaymentEvent, PaymentRequest, PaymentSession
from subkit.quotes import OrderSummary
from subkit.service import Balances, Billing, Checkout, RunReport
from subkit.subscription import (
    AddOnEvent,
    AddOnEventKind,
    ScheduledChange,
    Subscription,
    SubscriptionStatus,
)
from subkit.views import AvailableAddOn, HeldAddOn, UsageOverview, UsageTotal
from subkit.wallet import Balance, Charge, EntryKind, Hold, LedgerEntry

try:
    __version__ = version("subkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [  # the error names are added from subkit.errors below
    "AddOn",
    "AddOnEvent",
    "AddOnEventKind",
    "AvailableAddOn",
    "Balance",
    "Balances",
    "Billing",
    "BillingProfile",
    "Catalogue",
    "ChangeTiming",
    "Charge",
    "ChargeKind",
    "ChargeRequest",
    "Checkout",
    "Direction",
    "DomainEvent",
    "Effect",
    "Entitlement",
    "Entitlements",
    "EntryKind",
    "EventName",
    "HeldAddOn",
    "Hold",
    "Interval",
    "Invoice",
    "InvoiceLine",
    "InvoiceStatus",
    "InvoiceType",
    "LedgerEntry",
    "LineKind",
    "Money",
    "OrderSummary",
    "Page",
    "PaymentEvent",
    "PaymentRequest",
    "PaymentSession",
    "PaymentStatus",
    "Period",
    "Plan",
    "Reduction",
    "Rounding",
    "RunReport",
    "ScheduledChange",
    "Subscription",
    "SubscriptionStatus",
    "TaxMode",
    "Usage",
    "UsageOverview",
    "UsageTotal",
    "__version__",
    "errors",
    "format_money",
]
__all__ = sorted({*__all__, *_error_names})
