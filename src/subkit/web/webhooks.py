"""Gateway webhooks (R-WEB-1, R-GW): ``POST /webhooks/<name>`` for each configured gateway.

No account authentication: the gateway proves itself by the notification's signature
(Midtrans, the fake gateway) or callback token (Xendit), which the adapter checks; a bad one
is 401 and nothing is applied. The answer tells the gateway whether to retry: 2xx means "do
not send it again", so 200 is given for a replay (applying it again changes nothing), for an
invoice that is not this app's, and for a report subkit refuses for good (an amount that does
not match); a store that is down (503) or a write that lost a race (409) is worth a retry.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import attrs
from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, Operation, RequestBody, Schema
from litestar.openapi.spec.enums import OpenAPIType

from subkit.errors import (
    InvalidAmount,
    InvalidArgument,
    InvalidTransition,
    InvoiceNotFound,
    PaymentAmountMismatch,
)
from subkit.ports import PaymentEvent
from subkit.service import Billing
from subkit.web.responses import answer, problems

log = logging.getLogger("subkit.web")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")

Parse = Callable[[Mapping[str, str], bytes], "PaymentEvent | None"]


@attrs.frozen
class WebhookResult:
    """What a notification did: ``applied`` (or replayed), ``ignored`` (nothing to apply, or
    not this app's invoice) or ``refused`` (``code`` says why; retrying cannot help)."""

    status: Literal["applied", "ignored", "refused"]
    invoice_code: str | None = None
    code: str | None = None


def parser_of(name: str, gateway: Any) -> Parse:
    """How to read ``gateway``'s notifications: ``parse_callback(headers, body)`` (Xendit) or
    ``parse_notification(body)`` (Midtrans, the fake gateway)."""
    if callable(getattr(gateway, "parse_callback", None)):
        return lambda headers, body: gateway.parse_callback(headers, body)
    if callable(getattr(gateway, "parse_notification", None)):
        return lambda headers, body: gateway.parse_notification(body)
    raise InvalidArgument(
        f"gateway {name!r} has neither parse_notification nor parse_callback",
        argument="gateways",
        value=name,
    )


def receive(
    billing: Billing, parse: Parse, headers: Mapping[str, str], body: bytes
) -> WebhookResult:
    event = parse(headers, body)
    if event is None:
        return WebhookResult("ignored")
    try:
        invoice = billing.apply_payment(event)
    except InvoiceNotFound:
        log.info("webhook for %s: not this app's invoice", event.invoice_code)
        return WebhookResult("ignored", event.invoice_code)
    except (PaymentAmountMismatch, InvalidAmount, InvalidTransition) as error:
        log.warning("webhook for %s refused: %s", event.invoice_code, error.code)
        return WebhookResult("refused", event.invoice_code, error.code)
    return WebhookResult("applied", invoice.code)


@dataclass
class WebhookOperation(Operation):
    """A webhook takes the gateway's JSON object as it is (its adapter reads it); the route
    reads raw bytes, so the request body is described here rather than by a type."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))},
            description="The gateway's notification, as it sent it",
            required=True,
        )


def _handler(billing: Billing, parse: Parse) -> Callable[..., Awaitable[Response[WebhookResult]]]:
    async def webhook(request: Request[Any, Any, Any]) -> Response[WebhookResult]:
        # The raw bytes: a signature is checked over exactly what the gateway sent.
        body = await request.body()
        headers = dict(request.headers)
        return await answer(lambda: receive(billing, parse, headers, body))

    return webhook


def webhook_routes(billing: Billing, gateways: Mapping[str, Any]) -> list[HTTPRouteHandler]:
    """One ``POST /webhooks/<name>`` per gateway; a gateway that cannot read notifications is
    refused when the app is built, not when the first notification arrives."""
    made = []
    for name, gateway in gateways.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidArgument(
                f"a gateway name must be a path segment of a-z, 0-9, - and _, not {name!r}",
                argument="gateways",
                value=name,
            )
        made.append(
            post(
                f"/webhooks/{name}",
                status_code=200,
                name=f"webhook:{name}",
                summary=f"Webhook{name.title()}",
                description=f"The {name} gateway's payment notifications",
                responses=problems(409, state_changing=True),
                tags=["webhooks"],
                operation_class=WebhookOperation,
            )(_handler(billing, parser_of(name, gateway)))
        )
    return made


__all__ = ["WebhookResult", "parser_of", "receive", "webhook_routes"]
