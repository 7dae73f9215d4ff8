"""The reference page over HTTP (Litestar): ``GET /``, its fragments and its static files.

:func:`page_router` gives a Litestar ``Router`` a host (or :func:`subkit.web.create_app`)
mounts next to the JSON API. Its routes only read and quote; every change the page makes
goes through the API's JSON routes (``POST /changes``, ``POST /topups``, ...), so the page
adds no state-changing route a cross-site form could post to (R-WEB-4).

- ``GET /``: the page (``?lang=id_ID|en`` picks the language and is remembered in a
  cookie; ``?usage=``, ``?topups=``, ``?invoices=`` open a list at a cursor; ``?invoice=CODE``
  shows that invoice's status, for the payment page's return address);
- ``POST /page/summary``: the Order Summary fragment of a JSON order (see
  :func:`subkit.web.page.parse_order`);
- ``GET /page/rows/{list}?cursor=``: more rows of a history, the next cursor in the
  ``X-Subkit-Next-Cursor`` header;
- ``GET /static/subkit/{subkit.css,subkit.js}``: the stylesheet and script.

:func:`page_handlers` gives the route handlers :func:`subkit.web.create_app` mounts (they
take its ``account``); :func:`page_router` wraps them for a host's own Litestar app, with
the host's ``authenticate``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from subkit.errors import MissingExtra, SubkitError
from subkit.web.page import LISTS, STATIC, SubscriptionPage

try:
    from litestar import Request, Response, Router, get, post
    from litestar.di import NamedDependency, Provide
    from litestar.enums import MediaType
    from litestar.exceptions import NotAuthorizedException
    from litestar.handlers import HTTPRouteHandler
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("the page needs Litestar: pip install 'subkit[web]'", extra="web") from error

#: The cookie that remembers the page's language.
LANG_COOKIE = "subkit_lang"
NEXT_CURSOR = "X-Subkit-Next-Cursor"
#: The page's static files and their types: nothing else is served from the folder.
STATIC_FILES = {
    "subkit.css": "text/css; charset=utf-8",
    "subkit.js": "text/javascript; charset=utf-8",
}

Authenticate = Callable[[Any], "str | None"]
#: The signed-in account: the app's ``account`` dependency (``create_app`` provides it).
AccountDep = NamedDependency[str]


def _base(request: Request[Any, Any, Any]) -> str:
    """Where the app is mounted, with a trailing slash: the page's links are relative to it."""
    root = str(request.scope.get("root_path") or "")
    return root.rstrip("/") + "/"


def _refused(error: SubkitError) -> Response[str]:
    # Plain text: the script shows it with textContent, never as markup.
    return Response(str(error), status_code=error.http_status, media_type=MediaType.TEXT)


def page_handlers(page: SubscriptionPage) -> list[HTTPRouteHandler]:
    """The page's route handlers, for the app's signed-in ``account`` (R-WEB-1)."""

    def lang(request: Request[Any, Any, Any]) -> str:
        return page.locale(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))

    @get("/", sync_to_thread=True, include_in_schema=False)
    def index(request: Request[Any, Any, Any], account: AccountDep) -> Response[str]:
        locale = lang(request)
        try:
            html = page.render(
                account,
                locale=locale,
                cursors={name: request.query_params.get(name) for name in LISTS},
                invoice=request.query_params.get("invoice"),
                base=_base(request),
            )
        except SubkitError as error:
            return _refused(error)
        response = Response(html, media_type=MediaType.HTML)
        if request.query_params.get("lang"):
            response.set_cookie(LANG_COOKIE, locale, httponly=True, samesite="lax")
        return response

    @post("/page/summary", include_in_schema=False, status_code=200)
    async def summary(request: Request[Any, Any, Any], account: AccountDep) -> Response[str]:
        # The body is read here and the quote made in a worker thread: the facade blocks.
        try:
            data = await request.json()
        except ValueError:
            data = None
        return await anyio.to_thread.run_sync(summary_of, request, account, data)

    def summary_of(request: Request[Any, Any, Any], account_id: str, data: Any) -> Response[str]:
        try:
            html = page.render_summary(account_id, data, locale=lang(request), base=_base(request))
        except SubkitError as error:
            return _refused(error)
        return Response(html, media_type=MediaType.HTML)

    @get("/page/rows/{name:str}", sync_to_thread=True, include_in_schema=False)
    def rows(request: Request[Any, Any, Any], account: AccountDep) -> Response[str]:
        try:
            html, next_cursor = page.render_rows(
                account,
                str(request.path_params["name"]),
                request.query_params.get("cursor"),
                locale=lang(request),
                base=_base(request),
            )
        except SubkitError as error:
            return _refused(error)
        headers = {NEXT_CURSOR: next_cursor} if next_cursor else {}
        return Response(html, media_type=MediaType.HTML, headers=headers)

    @get("/static/subkit/{name:str}", sync_to_thread=False, include_in_schema=False)
    def static(request: Request[Any, Any, Any]) -> Response[bytes]:
        name = str(request.path_params["name"])
        if name not in STATIC_FILES:
            return Response(b"not found", status_code=404, media_type=MediaType.TEXT)
        content = (STATIC / "subkit" / name).read_bytes()
        return Response(
            content, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"}
        )

    return [index, summary, rows, static]


def page_router(page: SubscriptionPage, authenticate: Authenticate) -> Router:
    """The page's routes for a host's own Litestar app: ``authenticate(request) ->
    account_id`` names the signed-in account (``None`` or an empty id answers 401)."""

    def account(request: Request[Any, Any, Any]) -> str:
        found = authenticate(request)
        if not isinstance(found, str) or not found:
            raise NotAuthorizedException(detail="no signed-in account")
        return found

    return Router(
        path="/",
        route_handlers=page_handlers(page),
        dependencies={"account": Provide(account, sync_to_thread=True)},
    )


__all__ = ["LANG_COOKIE", "NEXT_CURSOR", "STATIC_FILES", "page_handlers", "page_router"]
