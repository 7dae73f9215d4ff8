"""Shared fixtures: a Billing facade wired to the in-memory fakes, at a fixed time."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from subkit.invoice import BillingProfile
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink

JAKARTA = ZoneInfo("Asia/Jakarta")
START = datetime(2026, 1, 10, 9, 0, tzinfo=JAKARTA)
PROFILE = BillingProfile("PT Acme Indonesia", "billing@acme.id", "Jl. Sudirman 1", "01.234.567.8")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.default()


@pytest.fixture
def billing(
    catalogue: Catalogue,
    store: InMemoryStore,
    gateway: FakeGateway,
    clock: FixedClock,
    sink: RecordingSink,
) -> Billing:
    return Billing(catalogue, store, gateway, clock=clock, events=sink)


@pytest.fixture
def account(billing: Billing) -> str:
    """The id of an account "acme" on the default plan, with a billing profile set."""
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    return "acme"
