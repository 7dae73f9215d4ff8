"""Problem details (RFC 9457) for every error the HTTP API answers with (R-WEB-2).

A :class:`~subkit.errors.SubkitError` becomes ``application/problem+json`` with ``type``
``urn:subkit:error:<code>``, its stable ``code``, a ``title``, ``status`` (the error's
``http_status``), ``detail`` (its message) and its facts under ``facts``, written by
:func:`subkit.public.public_dict`. What the framework refuses before subkit is called (a
body or query that does not parse, an unknown route, a method or media type not served) gets
the same shape with a code of its own; a bad body or query is 422 ``invalid_argument`` naming
the field, like the ``InvalidArgument`` subkit raises. Anything else is a bug: it is logged
and answered 500 ``internal_error`` without its text.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import attrs
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec

from subkit.errors import SubkitError
from subkit.public import public_dict

log = logging.getLogger("subkit.web")

PROBLEM_JSON = "application/problem+json"


@attrs.frozen
class FieldError:
    """One field a request got wrong: where (``body``, ``query``, ``header``, ``path``)."""

    field: str
    source: str
    message: str


@attrs.frozen
class Problem:
    """An RFC 9457 problem: what every error response of the API carries."""

    type: str
    code: str
    title: str
    status: int
    detail: str
    facts: dict[str, Any] = attrs.field(factory=dict)
    errors: tuple[FieldError, ...] = ()


def title_of(code: str) -> str:
    """``insufficient_balance`` -> ``Insufficient balance``."""
    return code.replace("_", " ").capitalize()


def problem(
    code: str,
    status: int,
    detail: str,
    facts: dict[str, Any] | None = None,
    errors: tuple[FieldError, ...] = (),
) -> Problem:
    return Problem(
        type=f"urn:subkit:error:{code}",
        code=code,
        title=title_of(code),
        status=status,
        detail=detail,
        facts=facts or {},
        errors=errors,
    )


def _json_safe(value: Any) -> Any:
    """A fact as JSON; a value subkit cannot write (an argument a caller got wrong may be
    anything) is given as its ``repr`` rather than failing the error response."""
    try:
        data = public_dict(value)
        json.dumps(data)
    except Exception:
        return repr(value)[:200]
    return data


def from_error(error: SubkitError) -> Problem:
    facts = {name: _json_safe(value) for name, value in error.facts.items()}
    return problem(error.code, error.http_status, str(error), facts)


# Litestar says where a bad value was as ``addons[...]`` or ``data``: the field's name.
_KEY = re.compile(r"\[.*$")
# Litestar names a missing parameter only in its message.
_MISSING = re.compile(r"Missing required (?P<source>\w+) parameter '(?P<name>[^']+)'")


def _field_errors(error: ValidationException) -> tuple[FieldError, ...]:
    found = []
    for item in error.extra if isinstance(error.extra, list) else []:
        if not isinstance(item, dict):
            continue
        key = _KEY.sub("", str(item.get("key") or "body"))
        source = str(item.get("source") or "body")
        found.append(FieldError("body" if key == "data" else key, source, str(item.get("message"))))
    return tuple(found)


def from_http(error: HTTPException) -> Problem:
    """A framework refusal (routing, parsing, media type) as a problem."""
    status = error.status_code
    if isinstance(error, ValidationException) or status == 400:
        errors = _field_errors(error) if isinstance(error, ValidationException) else ()
        if not errors:
            missing = _MISSING.search(str(error.detail))
            errors = (
                FieldError(missing["name"], missing["source"], "is required")
                if missing
                else FieldError("body", "body", str(error.detail)),
            )
        first = errors[0]
        detail = f"{first.source} field {first.field!r}: {first.message}"
        return problem(
            "invalid_argument", 422, detail, {"argument": first.field, "value": None}, errors
        )
    codes = {
        401: "not_authenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
        415: "unsupported_media_type",
    }
    return problem(codes.get(status, "http_error"), status, str(error.detail))


def respond(found: Problem, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(
        content=public_dict(found),
        status_code=found.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def on_subkit_error(request: Request[Any, Any, Any], error: SubkitError) -> Response[Any]:
    if error.http_status >= 500:
        log.warning("%s %s answered %s: %s", request.method, request.url.path, error.code, error)
    return respond(from_error(error))


def on_http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    return respond(from_http(error), headers=dict(error.headers or {}))


def on_crash(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    log.exception("%s %s failed", request.method, request.url.path)
    return respond(problem("internal_error", 500, "the server failed this request"))


def problem_response(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem,
        media_type=PROBLEM_JSON,
        description=description,
        generate_examples=False,
    )


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    SubkitError: on_subkit_error,
    HTTPException: on_http_error,
    Exception: on_crash,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "PROBLEM_JSON",
    "FieldError",
    "Problem",
    "from_error",
    "from_http",
    "problem",
    "problem_response",
    "respond",
]
