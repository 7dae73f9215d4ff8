"""Payment gateway adapters (R-GW): Midtrans Snap and Xendit Invoices, over httpx.

Install with ``pip install 'subkit[gateways]'``. The adapters live in
:mod:`subkit.gateways.midtrans` and :mod:`subkit.gateways.xendit`; this module holds what they
share: one HTTP call with timeouts, a bounded retry for idempotent calls, exact amount reading,
and turning a gateway's refusal into :class:`subkit.errors.GatewayError` with every secret
removed (R-GW-5).

Why httpx: one client API for sync code with connection pooling and per-call timeouts, and
``httpx.MockTransport``, which lets a host (and subkit's own tests) run the real adapter code
against canned answers without any network.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from subkit.errors import GatewayError, InvalidAmount, InvalidSignature, MissingExtra

try:
    import httpx
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra(
        "the payment gateways need httpx: pip install 'subkit[gateways]'", extra="gateways"
    ) from error

log = logging.getLogger("subkit.gateways")

#: Seconds to wait for a connection, and for each read, before giving up.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
#: How many times an idempotent call is tried in all (connection errors and 5xx only).
DEFAULT_ATTEMPTS = 3
_REDACTED = "[redacted]"


def basic_auth(secret: str) -> str:
    """The ``Authorization`` header value both gateways use: the key as user, no password."""
    return "Basic " + base64.b64encode(f"{secret}:".encode()).decode("ascii")


class Http:
    """One gateway's HTTP calls: base URL, auth, timeouts, bounded retries, redaction.

    ``secrets`` are every string that must never leave in an error or a log line (the key,
    and the ``Authorization`` value built from it); the gateway's own error body is scrubbed
    of them before it becomes ``GatewayError.detail``.
    """

    def __init__(
        self,
        name: str,
        *,
        secrets: Sequence[str],
        client: httpx.Client | None,
        attempts: int = DEFAULT_ATTEMPTS,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.name = name
        self._secrets = tuple(s for s in secrets if s)
        self._auth = basic_auth(self._secrets[0]) if self._secrets else ""
        self._client = client if client is not None else httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._owns_client = client is None
        self._attempts = max(1, attempts)
        self._sleep = sleep if sleep is not None else time.sleep

    def __repr__(self) -> str:
        return f"Http({self.name!r})"

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def scrub(self, text: str) -> str:
        """``text`` with every secret (and its Basic-auth form) replaced."""
        for secret in (*self._secrets, self._auth, self._auth.removeprefix("Basic ")):
            if secret:
                text = text.replace(secret, _REDACTED)
        return text

    def call(
        self,
        method: str,
        url: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; retry connection errors and 5xx answers only when ``idempotent``.

        Returns the response whatever its status (the adapter decides what a 404 means);
        raises ``GatewayError(status=None)`` when the gateway could not be reached.
        """
        all_headers = {
            "Accept": "application/json",
            "Authorization": self._auth,
            **(headers or {}),
        }
        tries = self._attempts if idempotent else 1
        for attempt in range(1, tries + 1):
            try:
                response = self._client.request(
                    method,
                    url,
                    json=dict(body) if body is not None else None,
                    params=dict(params) if params is not None else None,
                    headers=all_headers,
                )
            except httpx.TransportError as error:
                log.warning(
                    "%s %s %s: %s (try %d of %d)",
                    self.name,
                    method,
                    url,
                    type(error).__name__,
                    attempt,
                    tries,
                )
                if attempt == tries:
                    raise GatewayError(
                        f"{self.name} could not be reached: {type(error).__name__}",
                        status=None,
                        detail=self.scrub(str(error)),
                    ) from None
            else:
                log.info("%s %s %s -> %d", self.name, method, url, response.status_code)
                if response.status_code < 500 or attempt == tries:
                    return response
            # A short, growing pause: the gateway is down or overloaded, not our request.
            self._sleep(0.5 * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def error(
        self, response: httpx.Response, what: str, *, status: int | None = None
    ) -> GatewayError:
        """A ``GatewayError`` for a refused call, with the gateway's own message, scrubbed.

        ``status`` overrides the HTTP status when the gateway puts the real one in its body.
        """
        detail = self.scrub(_message_of(response))
        status = status if status is not None else response.status_code
        return GatewayError(
            f"{self.name} refused {what} (status {status}): {detail}",
            status=status,
            detail=detail,
        )


def _message_of(response: httpx.Response) -> str:
    """The human part of a gateway's error body (either gateway's shape), else the text."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(data, dict):
        for key in ("error_messages", "message", "status_message", "error_code"):
            value = data.get(key)
            if isinstance(value, list) and value:
                return "; ".join(str(v) for v in value)
            if isinstance(value, str) and value:
                return value
    return json.dumps(data)[:500]


def json_object(response: httpx.Response, http: Http) -> dict[str, Any]:
    """A gateway answer's JSON object, or ``GatewayError`` when it is anything else."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise GatewayError(
            f"{http.name} answered with a body that is not a JSON object",
            status=response.status_code,
            detail=http.scrub(response.text[:200]),
        )
    return data


def decode_body(body: bytes | str | Mapping[str, Any]) -> dict[str, Any]:
    """A notification body as a dict: raw bytes/str are parsed with exact decimals.

    A body that is not a JSON object cannot have come from the gateway: ``InvalidSignature``.
    """
    if isinstance(body, Mapping):
        return dict(body)
    try:
        data = json.loads(body, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidSignature("the notification body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidSignature("the notification body is not a JSON object")
    return data


def whole_amount(value: object, field: str) -> int:
    """Read a gateway amount exactly as whole units: ``"299000.00"`` -> 299000.

    A fraction of a unit (``"299000.50"``), a non-number or a negative is ``InvalidAmount``;
    floats are read through their shortest repr so ``299000.0`` is 299000, never 298999.
    """
    if isinstance(value, bool):
        raise InvalidAmount(f"{field} is not an amount: {value!r}")
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidAmount(f"{field} is not an amount: {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        raise InvalidAmount(f"{field} {value!r} is not a whole, non-negative amount")
    return int(number)


__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TIMEOUT",
    "Http",
    "basic_auth",
    "decode_body",
    "json_object",
    "whole_amount",
]
