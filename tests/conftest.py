"""Shared fixtures: a Billing facade wired to the in-memory fakes, at a fixed time."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# JAKARTA, PROFILE and START live in helpers.py; the names stay importable from here too.
from helpers import JAKARTA as JAKARTA
from helpers import PROFILE, START
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink

# One Hypothesis profile for every property and stateful test. No deadline: the machine is
# shared and coverage tracing slows each example, so a deadline measures the machine, not
# subkit (speed targets live in bench/). A test may still ask for fewer examples, never for a
# deadline.
settings.register_profile(
    "subkit",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile("subkit")


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
