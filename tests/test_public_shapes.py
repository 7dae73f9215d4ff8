"""``subkit.public.public_dict``: the shapes of SPEC section 11 without store bookkeeping (SPEC 19),
and the OpenAPI schemas subkit.web generates list exactly the fields it writes."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from helpers import pay
from subkit.invoice import Invoice
from subkit.public import derived_fields, internal_fields, public_dict
from subkit.serialize import to_record
from subkit.service import Billing
from subkit.subscription import Subscription


@pytest.fixture
def values(billing: Billing, account: str) -> dict[str, Any]:
    pay(billing, billing.change_plan("acme", "growth"))
    pay(billing, billing.buy_addons("acme", {"extra_user": 2}))
    billing.stop_addon("acme", "extra_user", quantity=1)
    billing.change_plan("acme", "pro", interval="annual")
    return {
        "Subscription": billing.subscription("acme"),
        "Invoice": billing.invoices("acme").items[0],
        "UsageOverview": billing.usage_overview("acme"),
        "LedgerEntry": billing.usage_history("acme").items[0],
        "ScheduledChange": billing.subscription("acme").scheduled_change,
        "Offers": billing.offers("acme"),
    }


def test_bookkeeping_is_left_out(values: dict[str, Any]) -> None:
    for value in values.values():
        hidden = internal_fields().get(type(value), frozenset())
        data = public_dict(value)
        assert not hidden & set(data), type(value).__name__
        assert hidden <= set(to_record(value)), "to_record (the store's form) keeps every field"


def test_derived_attributes_are_written(values: dict[str, Any]) -> None:
    subscription: Subscription = values["Subscription"]
    assert public_dict(subscription)["stopping"] == {"extra_user": 1}
    assert set(derived_fields()[Subscription]) == {"stopping"}


def test_nested_values_are_public_too(values: dict[str, Any]) -> None:
    """A Subscription inside a list, an Invoice inside a Checkout: the same shape."""
    invoice: Invoice = values["Invoice"]
    assert public_dict([invoice]) == [public_dict(invoice)]
    assert "order" not in public_dict({"invoice": invoice})["invoice"]


def test_the_openapi_schemas_name_exactly_the_public_fields(
    billing: Billing, values: dict[str, Any]
) -> None:
    pytest.importorskip("litestar")
    from litestar.testing import TestClient

    from subkit.web import create_app

    with TestClient(create_app(billing, authenticate=lambda request: "acme")) as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name, value in values.items():
        assert attrs.has(type(value))
        assert set(schemas[name]["properties"]) == set(public_dict(value)), name
