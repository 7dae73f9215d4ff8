"""A catalogue without a seller loads, but the facade warns once that invoices name no one."""

from __future__ import annotations

import logging
import tomllib

import pytest

from helpers import default_catalogue_toml
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FakeGateway, InMemoryStore


def without_seller() -> Catalogue:
    data = tomllib.loads(default_catalogue_toml())
    del data["seller"]
    return Catalogue.from_dict(data)


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "subkit" and r.levelno == logging.WARNING]


def test_default_catalogue_ships_an_example_seller() -> None:
    seller = Catalogue.default().seller
    assert seller.name and seller.address and seller.tax_number


def test_no_seller_logs_one_warning_at_construction(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = without_seller()
    assert catalogue.seller.name is None
    with caplog.at_level(logging.WARNING, logger="subkit"):
        Billing(catalogue, InMemoryStore(), FakeGateway())
    [record] = warnings(caplog)
    assert "[seller]" in record.getMessage() and "NPWP" in record.getMessage()


@pytest.mark.parametrize("name", [None, "", "   "])
def test_a_blank_seller_name_counts_as_none(
    caplog: pytest.LogCaptureFixture, name: str | None
) -> None:
    data = tomllib.loads(default_catalogue_toml())
    data["seller"] = {} if name is None else {"name": name}
    with caplog.at_level(logging.WARNING, logger="subkit"):
        Billing(Catalogue.from_dict(data), InMemoryStore(), FakeGateway())
    assert len(warnings(caplog)) == 1


def test_a_seller_means_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="subkit"):
        Billing(Catalogue.default(), InMemoryStore(), FakeGateway())
    assert warnings(caplog) == []
