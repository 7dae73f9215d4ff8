"""subkit: embeddable subscription billing (plans, renewals, add-ons, prepaid balances)."""

from importlib.metadata import PackageNotFoundError, version

from subkit import errors
from subkit.cycles import Interval, Period
from subkit.money import Money, Rounding, format_money
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
from subkit.wallet import Balance

try:
    __version__ = version("subkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "AddOn",
    "Balance",
    "Catalogue",
    "ChangeTiming",
    "Direction",
    "Entitlement",
    "Entitlements",
    "Interval",
    "Money",
    "Period",
    "Plan",
    "Reduction",
    "Rounding",
    "TaxMode",
    "Usage",
    "__version__",
    "errors",
    "format_money",
]
