"""The account's routes (R-WEB-1): the Settings > Subscription API of the signed-in account.

Every handler gets ``account`` from the host's ``authenticate`` (never from the client) and
``billing`` from the app, calls one facade method and answers with its value in the public
JSON shape. Handlers are sync and run in Litestar's thread pool: the facade does blocking I/O.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from litestar import Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, HeaderParameter, JSONBody, PathParameter, QueryParameter

from subkit.errors import InvalidArgument
from subkit.invoice import BillingProfile, Invoice, InvoiceStatus, InvoiceType
from subkit.paging import Page
from subkit.quotes import OrderSummary
from subkit.service import Balances, Billing, Checkout
from subkit.subscription import AddOnEvent, Subscription
from subkit.views import AvailableAddOn, HeldAddOn, Offers, SummaryBy, UsageOverview, UsageTotal
from subkit.wallet import Balance, EntryKind, LedgerEntry
from subkit.web.bodies import AddOnsRequest, ChangeRequest, NoBody, QuantityRequest, TopUpRequest
from subkit.web.documents import DocumentOperation, document_response
from subkit.web.responses import answer, blocking, ok, problems

#: The facade, from the app (not a request parameter).
BillingDep = NamedDependency[Billing]
#: The signed-in account, from the host's ``authenticate`` (never from the client).
AccountDep = NamedDependency[str]

#: The ``Idempotency-Key`` header of the routes that create a checkout (R-IDEM): the same key
#: with the same body answers the same checkout, with other arguments 409.
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Replays the checkout made with this key instead of placing another",
    ),
]
#: An optional empty object: what a state-changing route without arguments takes.
Empty = JSONBody[NoBody | None]
Code = Annotated[str, PathParameter(min_length=1, max_length=64)]
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Items per page, 1..500")]
Cursor = Annotated[
    str | None,
    QueryParameter(max_length=500, description="The `next_cursor` of the previous page"),
]
# Instants are read strictly as RFC 3339 text (Litestar's own datetime parsing also takes a
# bare number as a Unix time); a naive one is subkit's ``naive_datetime``.
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?")
Since = Annotated[
    str | None,
    QueryParameter(
        description="From this instant on (RFC 3339, with its offset)",
        max_length=40,
        schema_extra={"format": "date-time"},
    ),
]
Until = Annotated[
    str | None,
    QueryParameter(
        description="Before this instant (RFC 3339, with its offset)",
        max_length=40,
        schema_extra={"format": "date-time"},
    ),
]


def instant(name: str, text: str | None) -> datetime | None:
    """``text`` as a datetime, or ``InvalidArgument`` naming the query field."""
    if text is None:
        return None
    if _INSTANT.fullmatch(text):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidArgument(
        f"{name} must be an RFC 3339 date-time, not {text!r}", argument=name, value=text
    )


READ = problems(404)
CHANGE = problems(404, 409, state_changing=True)
CHECKOUT = problems(404, 409, state_changing=True)  # a gateway down is 503, always listed


# -- the subscription --------------------------------------------------------------------------


@get("/subscription", responses=READ, tags=["subscription"])
async def subscription(billing: BillingDep, account: AccountDep) -> Response[Subscription]:
    """The account's subscription: plan, interval, status, period, scheduled change."""
    return await answer(lambda: billing.subscription(account))


@get("/overview", responses=READ, tags=["subscription"])
async def overview(billing: BillingDep, account: AccountDep) -> Response[UsageOverview]:
    """The Usage Overview: plan, period, days left, limits and usage, balances, add-ons."""
    return await answer(lambda: billing.usage_overview(account))


@get("/profile", responses=READ, tags=["subscription"])
async def profile(billing: BillingDep, account: AccountDep) -> Response[BillingProfile | None]:
    """Who invoices are made out to (`null` before one is set)."""
    return await answer(lambda: billing.billing_profile(account))


@put("/profile", responses=CHANGE, tags=["subscription"])
async def set_profile(
    billing: BillingDep, account: AccountDep, data: JSONBody[BillingProfile]
) -> Response[BillingProfile]:
    """Set who invoices are made out to; copied onto each new invoice."""
    await blocking(lambda: billing.set_billing_profile(account, data))
    return ok(data)


@post("/unsubscribe", status_code=200, responses=CHANGE, tags=["subscription"])
async def unsubscribe(
    billing: BillingDep, account: AccountDep, data: Empty = None
) -> Response[Subscription]:
    """Cancel at the end of the paid time (past due: at once)."""
    return await answer(lambda: billing.unsubscribe(account))


@post("/resume", status_code=200, responses=CHANGE, tags=["subscription"])
async def resume(
    billing: BillingDep, account: AccountDep, data: Empty = None
) -> Response[Subscription]:
    """Undo an unsubscribe before the paid time ends."""
    return await answer(lambda: billing.resume(account))


# -- plans: changes and renewals ---------------------------------------------------------------


@get("/plans", responses=READ, tags=["plans"])
async def plans(billing: BillingDep, account: AccountDep) -> Response[Offers]:
    """What the upgrade page lists: plans with prices per interval and limits, add-ons."""
    return await answer(lambda: billing.offers(account))


@post("/quotes/change", status_code=200, responses=CHANGE, tags=["plans"])
async def quote_change(
    billing: BillingDep, account: AccountDep, data: JSONBody[ChangeRequest]
) -> Response[OrderSummary]:
    """The Order Summary of a plan change, buying nothing."""
    return await answer(
        lambda: billing.quote_change(account, data.plan, interval=data.interval, addons=data.addons)
    )


@post("/changes", status_code=200, responses=CHECKOUT, tags=["plans"])
async def change_plan(
    billing: BillingDep,
    account: AccountDep,
    data: JSONBody[ChangeRequest],
    idempotency_key: IdempotencyKey = None,
) -> Response[Checkout]:
    """Check out a plan change: the invoice and where to pay it."""
    return await answer(
        lambda: billing.change_plan(
            account,
            data.plan,
            interval=data.interval,
            addons=data.addons,
            idempotency_key=idempotency_key,
        )
    )


@delete("/changes/scheduled", status_code=200, responses=CHANGE, tags=["plans"])
async def cancel_change(
    billing: BillingDep, account: AccountDep, data: Empty = None
) -> Response[Subscription]:
    """Cancel a scheduled change not paid yet; its invoice is cancelled."""
    return await answer(lambda: billing.cancel_change(account))


@post("/quotes/renewal", status_code=200, responses=CHANGE, tags=["plans"])
async def quote_renewal(
    billing: BillingDep, account: AccountDep, data: Empty = None
) -> Response[OrderSummary]:
    """The price of one more period of the current plan and add-ons."""
    return await answer(lambda: billing.quote_renewal(account))


@post("/renewals", status_code=200, responses=CHECKOUT, tags=["plans"])
async def renew(
    billing: BillingDep,
    account: AccountDep,
    data: Empty = None,
    idempotency_key: IdempotencyKey = None,
) -> Response[Checkout]:
    """Check out one more period of the current plan and add-ons."""
    return await answer(lambda: billing.renew(account, idempotency_key=idempotency_key))


# -- add-ons -----------------------------------------------------------------------------------


@get("/addons/available", responses=READ, tags=["addons"])
async def available_addons(
    billing: BillingDep, account: AccountDep
) -> Response[list[AvailableAddOn]]:
    """The add-ons the plan sells and how many more units can be bought."""
    return await answer(lambda: billing.available_addons(account))


@get("/addons", responses=READ, tags=["addons"])
async def addons(billing: BillingDep, account: AccountDep) -> Response[list[HeldAddOn]]:
    """Add-ons held now, with the units stopping and when they end."""
    return await answer(lambda: billing.addons(account))


@get("/addons/history", responses=READ, tags=["addons"])
async def addon_history(billing: BillingDep, account: AccountDep) -> Response[list[AddOnEvent]]:
    """Every add-on purchase, stop, resume and end, oldest first."""
    return await answer(lambda: billing.addon_history(account))


@post("/quotes/addons", status_code=200, responses=CHANGE, tags=["addons"])
async def quote_addons(
    billing: BillingDep, account: AccountDep, data: JSONBody[AddOnsRequest]
) -> Response[OrderSummary]:
    """The Order Summary of add-on units, prorated for the rest of the period."""
    return await answer(lambda: billing.quote_addons(account, data.quantities))


@post("/addons/orders", status_code=200, responses=CHECKOUT, tags=["addons"])
async def buy_addons(
    billing: BillingDep,
    account: AccountDep,
    data: JSONBody[AddOnsRequest],
    idempotency_key: IdempotencyKey = None,
) -> Response[Checkout]:
    """Check out add-on units; they are active once the invoice is paid."""
    return await answer(
        lambda: billing.buy_addons(account, data.quantities, idempotency_key=idempotency_key)
    )


@post(
    "/addons/{code:str}/stop",
    status_code=200,
    responses=CHANGE,
    tags=["addons"],
)
async def stop_addon(
    billing: BillingDep,
    account: AccountDep,
    code: Code,
    data: JSONBody[QuantityRequest | None] = None,
) -> Response[HeldAddOn]:
    """Stop add-on units (all when `quantity` is left out) at the end of the paid time."""
    return await answer(
        lambda: billing.stop_addon(account, code, quantity=data.quantity if data else None)
    )


@post(
    "/addons/{code:str}/resume",
    status_code=200,
    responses=CHANGE,
    tags=["addons"],
)
async def resume_addon(
    billing: BillingDep,
    account: AccountDep,
    code: Code,
    data: JSONBody[QuantityRequest | None] = None,
) -> Response[HeldAddOn]:
    """Undo a stop before the units end (all stopping units when `quantity` is left out)."""
    return await answer(
        lambda: billing.resume_addon(account, code, quantity=data.quantity if data else None)
    )


# -- balances ----------------------------------------------------------------------------------


@get("/balances", responses=READ, tags=["balances"])
async def balances(billing: BillingDep, account: AccountDep) -> Response[Balances]:
    """The conversation and broadcast balances."""
    return await answer(lambda: billing.balances(account))


@post("/topups", status_code=200, responses=CHECKOUT, tags=["balances"])
async def top_up(
    billing: BillingDep,
    account: AccountDep,
    data: JSONBody[TopUpRequest],
    idempotency_key: IdempotencyKey = None,
) -> Response[Checkout]:
    """Check out a top-up of a balance (within its minimum and maximum)."""
    return await answer(
        lambda: billing.top_up(account, data.balance, data.amount, idempotency_key=idempotency_key)
    )


@get("/usage", responses=READ, tags=["balances"])
async def usage(
    billing: BillingDep,
    account: AccountDep,
    balance: FromQuery[Balance | None] = None,
    kind: FromQuery[EntryKind | None] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response[Page[LedgerEntry]]:
    """The balance statement ("Usage History"), newest first, a page at a time."""
    return await answer(
        lambda: billing.usage_history(
            account,
            balance=balance,
            kind=kind,
            since=instant("since", since),
            until=instant("until", until),
            limit=limit,
            cursor=cursor,
        )
    )


@get("/usage/summary", responses=READ, tags=["balances"])
async def usage_summary(
    billing: BillingDep,
    account: AccountDep,
    since: Annotated[
        str,
        QueryParameter(
            description="From this instant on (RFC 3339, with its offset)",
            max_length=40,
            schema_extra={"format": "date-time"},
        ),
    ],
    until: Annotated[
        str,
        QueryParameter(
            description="Before this instant (RFC 3339, with its offset)",
            max_length=40,
            schema_extra={"format": "date-time"},
        ),
    ],
    by: FromQuery[SummaryBy] = SummaryBy.DAY,
    balance: FromQuery[Balance | None] = None,
) -> Response[list[UsageTotal]]:
    """Usage totals per day or month in the account's timezone (R-VOL-3)."""
    return await answer(
        lambda: billing.usage_summary(
            account,
            since=_required_instant("since", since),
            until=_required_instant("until", until),
            by=by,
            balance=balance,
        )
    )


def _required_instant(name: str, text: str) -> datetime:
    found = instant(name, text)
    assert found is not None  # text is given
    return found


@get("/topups", responses=READ, tags=["balances"])
async def topups(
    billing: BillingDep, account: AccountDep, limit: Limit = 50, cursor: Cursor = None
) -> Response[Page[LedgerEntry]]:
    """The top-ups ("Riwayat Top Up") with their invoice codes, newest first."""
    return await answer(lambda: billing.topup_history(account, limit=limit, cursor=cursor))


# -- invoices ----------------------------------------------------------------------------------


@get("/invoices", responses=READ, tags=["invoices"])
async def invoices(
    billing: BillingDep,
    account: AccountDep,
    type_: Annotated[InvoiceType | None, QueryParameter(name="type")] = None,
    status: FromQuery[InvoiceStatus | None] = None,
    since: Since = None,
    until: Until = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response[Page[Invoice]]:
    """The account's invoices, pending ones included, newest first."""
    return await answer(
        lambda: billing.invoices(
            account,
            type=type_,
            status=status,
            since=instant("since", since),
            until=instant("until", until),
            limit=limit,
            cursor=cursor,
        )
    )


@get("/invoices/{code:str}", responses=READ, tags=["invoices"])
async def invoice(billing: BillingDep, account: AccountDep, code: Code) -> Response[Invoice]:
    """One of the account's invoices (404 for another account's)."""
    return await answer(lambda: billing.invoice(account, code))


@get(
    "/invoices/{code:str}/document",
    responses=READ,
    tags=["invoices"],
    operation_class=DocumentOperation,
)
async def invoice_document(
    billing: BillingDep,
    account: AccountDep,
    code: Code,
    format: FromQuery[Literal["pdf", "html", "text"]] = "pdf",
    locale: Annotated[
        str | None,
        QueryParameter(max_length=35, description="`id_ID` or `en`; the catalogue's by default"),
    ] = None,
) -> Response[bytes]:
    """The invoice as a document to download, with its content type and a file name."""
    found: bytes = await blocking(
        lambda: billing.render_invoice(account, code, format=format, locale=locale)
    )
    return document_response(code, format, found)


@post(
    "/invoices/{code:str}/pay",
    status_code=200,
    responses=CHECKOUT,
    tags=["invoices"],
)
async def pay_invoice(
    billing: BillingDep, account: AccountDep, code: Code, data: Empty = None
) -> Response[Checkout]:
    """A payment session for a pending invoice, reused while it is valid."""
    return await answer(lambda: billing.pay_invoice(account, code))


@post(
    "/invoices/{code:str}/cancel",
    status_code=200,
    responses=CHANGE,
    tags=["invoices"],
)
async def cancel_invoice(
    billing: BillingDep, account: AccountDep, code: Code, data: Empty = None
) -> Response[Invoice]:
    """Abandon a pending order: the invoice is cancelled and its order dropped."""
    return await answer(lambda: billing.cancel_invoice(account, code))


ROUTES = [
    subscription,
    overview,
    profile,
    set_profile,
    unsubscribe,
    resume,
    plans,
    quote_change,
    change_plan,
    cancel_change,
    quote_renewal,
    renew,
    available_addons,
    addons,
    addon_history,
    quote_addons,
    buy_addons,
    stop_addon,
    resume_addon,
    balances,
    top_up,
    usage,
    usage_summary,
    topups,
    invoices,
    invoice,
    invoice_document,
    pay_invoice,
    cancel_invoice,
]

__all__ = ["ROUTES", "AccountDep", "BillingDep", "IdempotencyKey"]
