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
- ``GET /static/subkit/...``: the stylesheet and script.
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
    from litestar.static_files import create_static_files_router
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("the page needs Litestar: pip install 'subkit[web]'", extra="web") from error

#: The cookie that remembers the page's language.
LANG_COOKIE = "subkit_lang"
NEXT_CURSOR = "X-Subkit-Next-Cursor"

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


def page_router(page: SubscriptionPage, authenticate: Authenticate | None = None) -> Router:
    """The page's routes, for the signed-in account (R-WEB-1).

    Mounted in :func:`subkit.web.create_app` they use its ``account`` dependency; a host
    mounting them in its own Litestar app passes ``authenticate(request) -> account_id``
    (``None`` or an empty id answers 401).
    """

    def lang(request: Request[Any, Any, Any]) -> str:
        return page.locale(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))

    @get("/", sync_to_thread=True, include_in_schema=False)
    def index(request: Request[Any, Any, Any], account: AccountDep) -> Response[str]:
        account_id = account
        locale = lang(request)
        cursors = {name: request.query_params.get(name) for name in LISTS}
        try:
            html = page.render(
                account_id,
                locale=locale,
                cursors=cursors,
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

    static = create_static_files_router(
        path="/static/subkit", directories=[STATIC / "subkit"], include_in_schema=False
    )
    dependencies = {}
    if authenticate is not None:
        signed_in = authenticate

        def account(request: Request[Any, Any, Any]) -> str:
            found = signed_in(request)
            if not isinstance(found, str) or not found:
                raise NotAuthorizedException(detail="no signed-in account")
            return found

        dependencies["account"] = Provide(account, sync_to_thread=True)
    return Router(
        path="/", route_handlers=[index, summary, rows, static], dependencies=dependencies
    )


__all__ = ["LANG_COOKIE", "NEXT_CURSOR", "page_router"]
