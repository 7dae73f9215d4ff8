"""Shared fixtures: a Billing facade wired to the fakes and a store, at a fixed time.

The store is in memory, unless the module carries ``pytestmark = ALL_STORES`` (from
``stores.py``): then every test asking for ``store`` (or ``billing``) runs on memory, a SQLite
file and a PostgreSQL schema of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import stores

# JAKARTA, PROFILE and START live in helpers.py; the names stay importable from here too.
from helpers import JAKARTA as JAKARTA
from helpers import PROFILE, START
from subkit.plans import Catalogue
from subkit.ports import Store
from subkit.service import Billing
from subkit.testing import FakeGateway, FixedClock, RecordingSink

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames and metafunc.definition.get_closest_marker(
        "all_stores"
    ):
        metafunc.parametrize("store_kind", stores.KINDS)


@pytest.fixture
def store_kind() -> str:
    """Which store the ``store`` fixture makes; parametrised in ``ALL_STORES`` modules."""
    return "memory"


@pytest.fixture
def store(store_kind: str, tmp_path: Path) -> Iterator[Store]:
    with stores.open_store(store_kind, tmp_path) as store:
        yield store


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
    store: Store,
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
