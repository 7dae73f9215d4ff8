"""The internal app's routes: what the host's own services call and a customer must not
(R-WEB-1 item 3): charges, balance adjustments, opening accounts, the billing run, event
delivery and reconciliation. Each names the account in its body; the caller is the service
``authenticate_service`` named, which every route depends on."""

from __future__ import annotations

from datetime import timedelta

import attrs
from litestar import Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from subkit.charges import ChargeRequest
from subkit.errors import InvalidArgument, SubkitError
from subkit.service import Billing, RunReport
from subkit.subscription import Subscription
from subkit.wallet import Charge, LedgerEntry
from subkit.web.bodies import (
    AdjustmentRequest,
    AdvanceRequest,
    BatchRequest,
    BroadcastRequest,
    Delivered,
    DeliverRequest,
    OpenAccountRequest,
    ReconcileRequest,
    RepliesRequest,
)
from subkit.web.problems import Problem, from_error
from subkit.web.responses import answer, blocking, ok, problems
from subkit.web.routes import BillingDep, instant

#: The calling service, from ``authenticate_service``.
ServiceDep = NamedDependency[str]


@post(
    "/accounts",
    status_code=201,
    responses=problems(409, state_changing=True),
    tags=["accounts"],
)
async def open_account(
    billing: BillingDep, service: ServiceDep, data: JSONBody[OpenAccountRequest]
) -> Response[Subscription]:
    """Start an account on the default plan with its included balance."""
    return await answer(
        lambda: billing.open_account(data.account_id, timezone=data.timezone), status_code=201
    )


@post(
    "/charges/replies",
    status_code=200,
    responses=problems(402, 404, 409, state_changing=True),
    tags=["charges"],
)
async def charge_replies(
    billing: BillingDep, service: ServiceDep, data: JSONBody[RepliesRequest]
) -> Response[Charge]:
    """Charge replies from the conversation balance, once per key."""
    return await answer(lambda: billing.charge_replies(data.account_id, data.count, key=data.key))


@post(
    "/charges/broadcast",
    status_code=200,
    responses=problems(402, 404, 409, state_changing=True),
    tags=["charges"],
)
async def charge_broadcast(
    billing: BillingDep, service: ServiceDep, data: JSONBody[BroadcastRequest]
) -> Response[Charge]:
    """Charge a broadcast: quota first, then the broadcast balance, once per key."""
    return await answer(
        lambda: billing.charge_broadcast(data.account_id, data.recipients, key=data.key)
    )


@attrs.frozen
class BatchResult:
    """One request's result: its charge, or the problem that refused it (and nothing else)."""

    charge: Charge | None = None
    problem: Problem | None = None


#: Requests one batch call takes; more is refused (split the batch).
MAX_BATCH = 5000


def _charge_many(billing: Billing, data: BatchRequest) -> list[BatchResult]:
    if len(data.requests) > MAX_BATCH:
        raise InvalidArgument(
            f"a batch takes at most {MAX_BATCH} requests, got {len(data.requests)}",
            argument="requests",
            value=len(data.requests),
        )
    requests = [ChargeRequest(r.account_id, r.kind, r.count, r.key) for r in data.requests]
    return [
        BatchResult(problem=from_error(found))
        if isinstance(found, SubkitError)
        else BatchResult(found)
        for found in billing.charge_many(requests)
    ]


@post(
    "/charges/batch",
    status_code=200,
    responses=problems(409, state_changing=True),
    tags=["charges"],
)
async def charge_many(
    billing: BillingDep, service: ServiceDep, data: JSONBody[BatchRequest]
) -> Response[list[BatchResult]]:
    """Charge many replies and broadcasts; each request's refusal is its own result."""
    return await answer(lambda: _charge_many(billing, data))


@post(
    "/balances/adjust",
    status_code=200,
    responses=problems(402, 404, 409, state_changing=True),
    tags=["charges"],
)
async def adjust_balance(
    billing: BillingDep, service: ServiceDep, data: JSONBody[AdjustmentRequest]
) -> Response[LedgerEntry]:
    """Credit or take back balance by hand, with a reason, once per key."""
    return await answer(
        lambda: billing.adjust_balance(
            data.account_id, data.balance, data.amount, key=data.key, reason=data.reason
        )
    )


@post(
    "/advance",
    status_code=200,
    responses=problems(409, state_changing=True),
    tags=["runs"],
)
async def advance(
    billing: BillingDep, service: ServiceDep, data: JSONBody[AdvanceRequest | None] = None
) -> Response[RunReport]:
    """The billing run: apply everything due up to `now` for every account."""
    now = data.now if data else None
    return await answer(lambda: billing.advance(instant("now", now)))


@post(
    "/events/deliver",
    status_code=200,
    responses=problems(state_changing=True),
    tags=["runs"],
)
async def deliver_events(
    billing: BillingDep, service: ServiceDep, data: JSONBody[DeliverRequest | None] = None
) -> Response[Delivered]:
    """Hand pending events to the sink, oldest first."""
    limit = data.limit if data else 1000
    return ok(Delivered(await blocking(lambda: billing.deliver_events(limit=limit))))


@post(
    "/reconcile",
    status_code=200,
    responses=problems(state_changing=True),
    tags=["runs"],
)
async def reconcile(
    billing: BillingDep, service: ServiceDep, data: JSONBody[ReconcileRequest | None] = None
) -> Response[RunReport]:
    """Ask the gateway about pending invoices and apply what it reports (lost webhooks)."""
    found = data or ReconcileRequest()
    return await answer(
        lambda: billing.reconcile(
            older_than=timedelta(seconds=found.older_than_seconds), limit=found.limit
        )
    )


INTERNAL_ROUTES = [
    open_account,
    charge_replies,
    charge_broadcast,
    charge_many,
    adjust_balance,
    advance,
    deliver_events,
    reconcile,
]

__all__ = ["INTERNAL_ROUTES", "MAX_BATCH", "BatchResult", "ServiceDep"]
