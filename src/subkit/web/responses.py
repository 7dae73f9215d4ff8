"""Answering with subkit values: JSON in their public shape, and the errors each route
documents in the OpenAPI document (made from the error tree, so a new error class is listed
without anyone editing a table)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar, cast

import anyio.to_thread
from litestar import Response
from litestar.openapi.datastructures import ResponseSpec

from subkit import errors
from subkit.public import public_dict
from subkit.web.problems import problem_response

T = TypeVar("T")


def ok(value: T, *, status_code: int = 200) -> Response[T]:
    """``value`` as JSON, written by :func:`subkit.public.public_dict`.

    The annotation ``Response[T]`` is what Litestar reads to generate the route's schema."""
    return Response(cast(T, public_dict(value)), status_code=status_code)


async def blocking(call: Callable[[], T]) -> T:
    """Run a facade call in a worker thread: it does blocking I/O (the store, the gateway).

    The handlers are async and hand their facade call here rather than being declared sync
    with ``sync_to_thread``: Litestar 2.x (2.25 measured) double-wraps the first sync handler
    registered on a path that has two methods when it returns ``Response[T]``, and answers
    500 for it."""
    return await anyio.to_thread.run_sync(call)


async def answer(call: Callable[[], T], *, status_code: int = 200) -> Response[T]:
    """``call()`` in a worker thread, answered as JSON in its public shape."""
    return ok(await blocking(call), status_code=status_code)


# What the framework itself answers with before subkit is called.
_FRAMEWORK = {
    401: "not_authenticated: `authenticate` did not name an account",
    413: "request_too_large: the body is larger than the app takes",
    415: "unsupported_media_type: a state-changing request must be `application/json`",
    422: "invalid_argument: a body, query or header field is missing or of the wrong type",
}


def _codes_by_status() -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        found.setdefault(cls.http_status, []).append(cls.code)
    return found


_CODES = _codes_by_status()


def problems(*statuses: int, state_changing: bool = False) -> dict[int, ResponseSpec]:
    """The problem responses of a route: 401, 422 and 503 always, 413 and 415 on
    state-changing routes, and the ``statuses`` given (codes listed from subkit.errors)."""
    wanted: Iterable[int] = {401, 422, 503, *statuses, *((413, 415) if state_changing else ())}
    specs: dict[int, ResponseSpec] = {}
    for status in sorted(wanted):
        parts = [_FRAMEWORK[status]] if status in _FRAMEWORK else []
        if status != 401 and status in _CODES:
            parts.append(", ".join(sorted(_CODES[status])))
        specs[status] = problem_response("; ".join(parts) or "a problem")
    return specs


__all__ = ["answer", "blocking", "ok", "problems"]
