"""Schemathesis against the API's own OpenAPI document (R-WEB-3): for any request generated
from it (valid and invalid bodies, queries, headers and paths), the app answers no 5xx, the
status is one the document lists, and the body matches the schema documented for it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from helpers import PROFILE
from subkit.invoice import PaymentStatus
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.testing import FixedClock, InMemoryStore

schemathesis = pytest.importorskip("schemathesis")

from schemathesis.config import SchemathesisConfig  # noqa: E402

from helpers import START  # noqa: E402
from subkit.web import create_app, create_internal_app  # noqa: E402
from subkit.web.fake_pay import PaymentPageGateway  # noqa: E402

PAID = PaymentStatus.PAID


def _billing() -> Billing:
    """An account with something in every list: an add-on held, invoices, a top-up."""
    gateway = PaymentPageGateway("http://testserver", return_url="http://testserver/")
    billing = Billing(Catalogue.default(), InMemoryStore(), gateway, clock=FixedClock(START))
    billing.open_account("acme")
    billing.set_billing_profile("acme", PROFILE)
    for checkout in (
        billing.change_plan("acme", "growth"),
        billing.top_up("acme", "conversation", 50_000),
    ):
        assert checkout.invoice is not None
        billing.apply_payment(
            gateway.parse_notification(gateway.notification(checkout.invoice.code, PAID))
        )
    billing.buy_addons("acme", {"extra_user": 1})
    return billing


BILLING = _billing()
APP = create_app(BILLING, authenticate=lambda request: "acme", gateways={"fake": BILLING.gateway})
INTERNAL = create_internal_app(BILLING, authenticate_service=lambda request: "tests")

# A request the schema allows may still be refused by the catalogue or the account's state:
# an unknown plan code is a string like any other (422, R-ERR), a change to the plan held
# is 409, a charge beyond the balance 402. Those answers are the API working, so schema-valid
# data may get them; a 5xx never.
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 402, 403, 404, 409, 422]}
        }
    }
)
api = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
internal_api = schemathesis.openapi.from_asgi("/openapi.json", INTERNAL, config=CONFIG)

# Bounded in examples (25 per operation, about 1,100 requests, near a minute here); no
# deadline, as for every Hypothesis test of the suite (conftest.py: the machine is shared).
FUZZ = settings(max_examples=25, suppress_health_check=list(HealthCheck), derandomize=True)


@api.parametrize()
@FUZZ
def test_the_account_api_keeps_its_document(case: Any) -> None:
    case.call_and_validate()


@internal_api.parametrize()
@FUZZ
def test_the_internal_api_keeps_its_document(case: Any) -> None:
    case.call_and_validate()
