"""Helpers many test files share: the zone and the start instant, a billing profile, rupiah,
the shipped catalogue's text, paying a checkout, and what a ``subkit`` command printed.

Import them as ``from helpers import idr, pay`` (pytest puts ``tests/`` on ``sys.path``, as
for ``strategies.py``); ``conftest.py`` builds its fixtures from the same values.
"""

from __future__ import annotations

import json
import tomllib
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from subkit.invoice import BillingProfile, Invoice, PaymentStatus
from subkit.money import Money
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent
from subkit.service import Billing, Checkout

JAKARTA = ZoneInfo("Asia/Jakarta")
START = datetime(2026, 1, 10, 9, 0, tzinfo=JAKARTA)
PROFILE = BillingProfile("PT Acme Indonesia", "billing@acme.id", "Jl. Sudirman 1", "01.234.567.8")
FREE_GRANT = 15_000  # the Free plan's included conversation balance, in rupiah


def idr(amount: int) -> Money:
    """``amount`` whole rupiah."""
    return Money(amount, "IDR")


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    """A wall-clock time in Jakarta (09:00 unless told)."""
    return datetime(year, month, day, hour, minute, tzinfo=JAKARTA)


def default_catalogue_toml() -> str:
    """The text of the shipped default catalogue, to extend or edit per test."""
    return resources.files("subkit.data").joinpath("default_catalogue.toml").read_text("utf-8")


def catalogue_with_skew(seconds: int) -> Catalogue:
    """The shipped catalogue with ``policy.max_clock_skew_seconds = seconds`` (R-CON-1)."""
    data = tomllib.loads(default_catalogue_toml())
    data.setdefault("policy", {})["max_clock_skew_seconds"] = seconds
    return Catalogue.from_dict(data)


def pay(
    billing: Billing,
    checkout: Checkout,
    reference: str = "ref",
    *,
    status: PaymentStatus = PaymentStatus.PAID,
    amount: Money | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
) -> Invoice:
    """Apply the gateway's report for a checkout's invoice (paid, in full, by default)."""
    invoice = checkout.invoice
    assert invoice is not None
    return billing.apply_payment(
        PaymentEvent(
            invoice.code, status, reference, amount or invoice.total, event_id=event_id, at=at
        )
    )


class CliResult:
    """What one ``subkit`` command (``subkit.cli.main``) returned and printed."""

    def __init__(self, status: int, out: str, err: str) -> None:
        self.status, self.out, self.err = status, out, err

    def json(self) -> Any:
        """The ``--json`` output of a command that succeeded."""
        assert self.status == 0, self.err
        return json.loads(self.out)

    def error(self) -> dict[str, Any]:
        """The JSON error object ``--json`` prints on stderr (one line)."""
        (line,) = self.err.splitlines()
        data: dict[str, Any] = json.loads(line)["error"]
        return data
