"""Building the ASGI apps: :func:`create_app` (the account's API) and
:func:`create_internal_app` (what the host's own services call).

Why Litestar: it is a well-kept ASGI framework whose request bodies, queries and headers are
checked against the handler's type hints (a wrong field is refused before subkit runs), it
serves attrs classes (subkit's values) without a second set of models, and it generates the
OpenAPI 3.1 document from those same type hints; a plugin (:mod:`subkit.web.schemas`) gives
subkit's values the public shape :func:`subkit.public.public_dict` writes.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, cast

import anyio.to_thread
import msgspec
from litestar import Litestar, Request, get, route
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.params import RawBody
from litestar.response import Response
from litestar.types import Guard

import subkit
from subkit.service import Billing
from subkit.web.internal import INTERNAL_ROUTES
from subkit.web.page import SubscriptionPage
from subkit.web.page_routes import page_handlers
from subkit.web.problems import EXCEPTION_HANDLERS
from subkit.web.routes import ROUTES
from subkit.web.schemas import SubkitSchemaPlugin
from subkit.web.webhooks import webhook_routes

#: ``authenticate(request) -> account_id`` (sync or async); ``None`` or an empty id is 401.
Authenticate = Callable[[Request[Any, Any, Any]], "Awaitable[str | None] | str | None"]

MAX_BODY = 64 * 1024
MAX_INTERNAL_BODY = 1024 * 1024
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def json_only(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Refuse a state-changing request that is not ``application/json`` (R-WEB-4): a
    cross-site form can only send form-encoded, multipart or plain text bodies, and a
    cross-site script sending JSON must pass the browser's CORS preflight first.

    The body is then checked strictly against the route's body type: Litestar converts
    bodies leniently (``"2"`` for an int, a number for a datetime), which would let a
    field of the wrong type through."""
    if connection.scope.get("method") not in _STATE_CHANGING:
        return
    if not _is_json(connection.headers.get("content-type", "")):
        raise HTTPException(
            status_code=415, detail="a state-changing request must be sent as application/json"
        )
    if isinstance(connection, Request):
        await _check_body(connection, handler)


async def _check_body(request: Request[Any, Any, Any], handler: BaseRouteHandler) -> None:
    field = handler.parsed_fn_signature.parameters.get("data")
    if field is None or field.annotation in (bytes, RawBody):
        return
    body = await request.body()
    if not body.strip():
        return  # Litestar answers a missing required body; an optional one is None
    try:
        msgspec.json.decode(body, type=field.annotation, strict=True)
    except msgspec.ValidationError as error:
        message, _, where = str(error).partition(" - at `")
        key = _FIELD.sub("", where.rstrip("`").removeprefix("$").lstrip(".")) or "data"
        raise ValidationException(
            detail="the body does not match its schema",
            extra=[{"message": message, "key": key, "source": "body"}],
        ) from None
    except msgspec.DecodeError as error:
        raise ValidationException(
            detail="the body is not JSON",
            extra=[{"message": str(error), "key": "data", "source": "body"}],
        ) from None


# ``$.quantities["extra_user"]`` and ``$.requests[3].kind`` name the top-level field.
_FIELD = re.compile(r"[.\[].*$")


def _authentication(authenticate: Authenticate, name: str) -> Guard:
    """A guard that asks ``authenticate`` who is calling, before anything else is read, for
    the routes that take ``name`` (``account`` or ``service``); the route's dependency of
    that name then reads the answer. Webhooks and ``/openapi.json`` do not take it."""
    is_async = inspect.iscoroutinefunction(authenticate)

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if name not in handler.parsed_fn_signature.parameters:
            return
        request = cast("Request[Any, Any, Any]", connection)  # an HTTP route's connection
        if is_async:
            found = await authenticate(request)  # type: ignore[misc]
        else:
            # A host's authenticate may read its session store: keep it off the event loop.
            found = await anyio.to_thread.run_sync(authenticate, request)
            if inspect.isawaitable(found):
                found = await found
        if not isinstance(found, str) or not found:
            raise NotAuthorizedException(detail=f"no signed-in {name}")
        connection.state[name] = found

    return guard


def _named(name: str) -> Provide:
    def provide(request: Request[Any, Any, Any]) -> str:
        return str(request.state[name])

    return Provide(provide, sync_to_thread=False)


def _options_handlers(handlers: Sequence[HTTPRouteHandler]) -> list[HTTPRouteHandler]:
    """An explicit OPTIONS handler per path, answering with every method the path serves.

    Litestar's own OPTIONS handler reports only the methods of the first handler registered
    for a path (``OPTIONS /profile`` said ``GET, OPTIONS`` although PUT is served too)."""
    methods: dict[str, set[str]] = {}
    for handler in handlers:
        for path in handler.paths:
            methods.setdefault(path, set()).update(handler.http_methods)
    made = []
    for path, served in methods.items():
        allow = ", ".join(sorted({*served, "OPTIONS"}))
        made.append(
            route(
                path,
                http_method=["OPTIONS"],
                include_in_schema=False,
                sync_to_thread=False,
                name=f"options:{path}",
                signature_namespace={"Response": Response},
            )(_bind(allow))
        )
    return made


def _bind(allow: str) -> Callable[[], Response[None]]:
    def options() -> Response[None]:
        return Response(None, status_code=204, headers={"Allow": allow})

    return options


@get("/openapi.json", include_in_schema=False, sync_to_thread=False, media_type="application/json")
def openapi_document(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document Litestar generated for this app."""
    document: dict[str, Any] = request.app.openapi_schema.to_schema()
    return _finish(document)


def _finish(document: dict[str, Any]) -> dict[str, Any]:
    """Litestar documents a 400 for its validation errors; this app answers those 422."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("400", None)
    return document


def _build(
    handlers: Sequence[HTTPRouteHandler],
    billing: Billing,
    guard: Guard,
    title: str,
    max_body: int = MAX_BODY,
) -> Litestar:
    return Litestar(
        route_handlers=[*_options_handlers(handlers), *handlers, openapi_document],
        dependencies={
            "billing": Provide(lambda: billing, use_cache=True, sync_to_thread=False),
            "account": _named("account"),
            "service": _named("service"),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        # Who is calling first (401), then what they sent (415, 422).
        guards=[guard, json_only],
        # Bodies are small JSON objects; a larger one is refused (413) before it is read.
        request_max_body_size=max_body,
        plugins=[SubkitSchemaPlugin()],
        openapi_config=OpenAPIConfig(
            title=title,
            version=subkit.__version__,
            path="/_schema",
            render_plugins=[JsonRenderPlugin()],
        ),
    )


def create_app(
    billing: Billing,
    *,
    authenticate: Authenticate,
    gateways: Mapping[str, Any] | None = None,
    page: SubscriptionPage | bool = True,
) -> Litestar:
    """The account's HTTP API as an ASGI app (R-WEB-1), with the reference page at ``GET /``.

    Args:
        billing: the facade every route calls.
        authenticate: ``authenticate(request) -> account_id`` (sync or async), the host's:
            the request is Litestar's (``.headers``, ``.cookies``); ``None`` or an empty id
            answers 401. No route takes an account id from the client.
        gateways: a gateway per name (``{"midtrans": MidtransGateway(...)}``); a webhook
            route ``POST /webhooks/<name>`` is served for each.
        page: the reference Settings > Subscription page (R-WEB-5): ``True`` serves subkit's,
            a :class:`~subkit.web.page.SubscriptionPage` the host's (its own templates),
            ``False`` none (docs/page.md).
    """
    handlers = [*ROUTES, *webhook_routes(billing, gateways or {})]
    if page is not False:
        chosen = page if isinstance(page, SubscriptionPage) else SubscriptionPage(billing)
        handlers += page_handlers(chosen)
    return _build(handlers, billing, _authentication(authenticate, "account"), "subkit")


def create_internal_app(billing: Billing, *, authenticate_service: Authenticate) -> Litestar:
    """What the host's own services call and a customer must not (charges, balance
    adjustments, opening accounts, the billing run): never mount it where customers reach.

    ``authenticate_service(request)`` names the calling service (``None`` answers 401)."""
    return _build(
        INTERNAL_ROUTES,
        billing,
        _authentication(authenticate_service, "service"),
        "subkit internal",
        max_body=MAX_INTERNAL_BODY,  # a batch of charges is larger than a customer's request
    )


__all__ = ["Authenticate", "create_app", "create_internal_app"]
