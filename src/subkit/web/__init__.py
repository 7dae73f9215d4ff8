"""subkit's HTTP API, an ASGI app a host runs or mounts (R-WEB): ``pip install 'subkit[web]'``.

``create_app(billing, authenticate=...)`` serves the signed-in account's Settings >
Subscription API; ``create_internal_app(billing, authenticate_service=...)`` what the host's
own services call. Both answer errors as RFC 9457 problem details and publish their OpenAPI
3.1 document at ``GET /openapi.json``. See ``docs/http-api.md``.
"""

from __future__ import annotations

from subkit.errors import MissingExtra

try:
    import litestar  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra(
        "the HTTP API needs Litestar: pip install 'subkit[web]'", extra="web"
    ) from error

from subkit.web.app import Authenticate, create_app, create_internal_app

__all__ = ["Authenticate", "create_app", "create_internal_app"]
