"""Xendit Invoices (R-GW-2): create an invoice, verify its callback, ask status, expire it.

Facts from Xendit's public documentation this adapter relies on:

- ``POST https://api.xendit.co/v2/invoices`` with ``external_id``, ``amount``,
  ``invoice_duration`` (seconds), ``payer_email``, ``description``, ``currency``; it answers
  the invoice: ``id``, ``external_id``, ``status`` (``PENDING``), ``amount``, ``invoice_url``,
  ``expiry_date`` (ISO 8601, UTC). Errors are ``{"error_code": ..., "message": ...}``.
- Auth: HTTP Basic with the secret key as user and an empty password.
- The invoice callback is a POST of the invoice (``id``, ``external_id``, ``status``
  ``PAID`` / ``SETTLED`` / ``EXPIRED``, ``amount``, ``paid_amount``, ``paid_at``) with the
  account's verification token in the ``x-callback-token`` header.
- ``GET /v2/invoices/{id}``, ``GET /v2/invoices?external_id=...`` (a list) and
  ``POST /invoices/{id}/expire!``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from subkit.errors import GatewayError, InvalidAmount, InvalidArgument, InvalidSignature
from subkit.gateways import Http, decode_body, json_object, whole_amount
from subkit.invoice import PaymentStatus
from subkit.money import Money
from subkit.ports import PaymentEvent, PaymentRequest, PaymentSession

log = logging.getLogger("subkit.gateways.xendit")

API_URL = "https://api.xendit.co"
#: Xendit's longest ``invoice_duration`` (one year, in seconds); a longer window is cut.
XENDIT_MAX_DURATION = timedelta(days=365)

_STATUS: dict[str, PaymentStatus | None] = {
    "PAID": PaymentStatus.PAID,
    "SETTLED": PaymentStatus.PAID,  # the same payment, its money now settled to the merchant
    "EXPIRED": PaymentStatus.EXPIRED,
    "PENDING": None,
}


def map_status(status: str) -> PaymentStatus | None:
    """The invoice status a Xendit invoice status means, or ``None`` (nothing to apply)."""
    if status not in _STATUS:
        raise InvalidArgument(
            f"unknown Xendit invoice status {status!r}", argument="status", value=status
        )
    return _STATUS[status]


class XenditGateway:
    """A :class:`~subkit.ports.PaymentGateway` (and ``ReconcilingGateway``) on Xendit Invoices.

    ``secret_key`` authenticates subkit's calls; ``callback_token`` is the verification token
    Xendit sends with each callback. Xendit has one host; test and live mode follow the key.
    """

    def __init__(
        self,
        secret_key: str,
        callback_token: str,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        for name, value in (("secret_key", secret_key), ("callback_token", callback_token)):
            if not isinstance(value, str) or not value:
                raise InvalidArgument(f"a Xendit {name} is required", argument=name, value=None)
        self._callback_token = callback_token
        self._http = Http(
            "Xendit", secrets=[secret_key, callback_token], client=client, sleep=sleep
        )

    def __repr__(self) -> str:
        return "XenditGateway()"

    def close(self) -> None:
        """Close the HTTP client if the gateway opened it."""
        self._http.close()

    # -- create ---------------------------------------------------------------------------
    def invoice_body(self, request: PaymentRequest) -> dict[str, Any]:
        """The ``POST /v2/invoices`` body for ``request``."""
        if request.requested_at is None:
            raise InvalidArgument(
                "Xendit needs the invoice's request time to set the invoice duration",
                argument="requested_at",
                value=None,
            )
        if request.amount.amount <= 0:
            raise InvalidAmount("a Xendit invoice needs a positive amount", amount=request.amount)
        window = min(request.expires_at - request.requested_at, XENDIT_MAX_DURATION)
        body: dict[str, Any] = {
            "external_id": request.invoice_code,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "description": request.description,
            "invoice_duration": max(1, int(window.total_seconds())),
        }
        profile = request.billing_profile
        if profile is not None:
            body["payer_email"] = profile.email
            body["customer"] = {"given_names": profile.name, "email": profile.email}
        return body

    def create_payment(self, request: PaymentRequest) -> PaymentSession:
        """Create a Xendit invoice; the session's reference is Xendit's invoice id.

        A connection error or a 5xx may have created the invoice anyway, so before trying
        again the adapter looks for a pending invoice with this ``external_id`` and returns
        it (no second invoice for one subkit invoice).
        """
        body = self.invoice_body(request)
        attempts = 2
        for attempt in range(1, attempts + 1):
            try:
                response = self._http.call(
                    "POST", f"{API_URL}/v2/invoices", body=body, idempotent=False
                )
            except GatewayError:
                if attempt == attempts:
                    raise
                response = None
            if response is not None and response.status_code < 500:
                if response.status_code >= 300:
                    raise self._http.error(response, f"the invoice for {request.invoice_code}")
                return self._session(json_object(response, self._http), request)
            if response is not None and attempt == attempts:
                raise self._http.error(response, f"the invoice for {request.invoice_code}")
            existing = self._pending(request.invoice_code)
            if existing is not None:
                return self._session(existing, request)
        raise AssertionError("unreachable")  # pragma: no cover

    def _session(self, data: Mapping[str, Any], request: PaymentRequest) -> PaymentSession:
        invoice_id, url = data.get("id"), data.get("invoice_url")
        if not isinstance(invoice_id, str) or not isinstance(url, str):
            raise GatewayError("Xendit answered without an invoice id or URL")
        expires_at = _iso(data.get("expiry_date")) or request.expires_at
        return PaymentSession(redirect_url=url, reference=invoice_id, expires_at=expires_at)

    # -- callbacks --------------------------------------------------------------------------
    def parse_callback(
        self, headers: Mapping[str, str], body: bytes | str | Mapping[str, Any]
    ) -> PaymentEvent | None:
        """Verify a Xendit invoice callback and return what it means for the invoice.

        ``headers`` is the request's headers (any case). Raises ``InvalidSignature`` unless
        ``x-callback-token`` is the callback token; ``None`` for a status with nothing to apply.
        """
        token = next((v for k, v in headers.items() if k.lower() == "x-callback-token"), None)
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode("utf-8"), self._callback_token.encode("utf-8")
        ):
            raise InvalidSignature("the Xendit callback's x-callback-token does not match")
        return self._event(decode_body(body))

    def _event(self, data: Mapping[str, Any]) -> PaymentEvent | None:
        status_text = data.get("status")
        if not isinstance(status_text, str):
            raise InvalidArgument("no invoice status", argument="status", value=None)
        status = map_status(status_text)
        if status is None:
            return None
        invoice_id, external_id = data.get("id"), data.get("external_id")
        if not isinstance(invoice_id, str) or not isinstance(external_id, str):
            raise InvalidArgument("no invoice id or external_id", argument="id", value=None)
        paid = data.get("paid_amount")
        amount = whole_amount(
            paid if status is PaymentStatus.PAID and paid is not None else data.get("amount"),
            "amount",
        )
        return PaymentEvent(
            invoice_code=external_id,
            status=status,
            # PAID and SETTLED are one payment: both carry the same invoice id.
            reference=invoice_id,
            amount=Money(amount, str(data.get("currency") or "IDR")),
            event_id=f"{invoice_id}:{status_text}",
            at=_iso(data.get("paid_at")) or _iso(data.get("updated")),
        )

    # -- status and cancel ------------------------------------------------------------------
    def _get(self, invoice_id: str) -> dict[str, Any] | None:
        response = self._http.call("GET", f"{API_URL}/v2/invoices/{invoice_id}", idempotent=True)
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise self._http.error(response, f"reading invoice {invoice_id}")
        return json_object(response, self._http)

    def _find(self, invoice_code: str) -> list[dict[str, Any]]:
        response = self._http.call(
            "GET",
            f"{API_URL}/v2/invoices",
            params={"external_id": invoice_code},
            idempotent=True,
        )
        if response.status_code == 404:
            return []
        if response.status_code >= 300:
            raise self._http.error(response, f"finding the invoices of {invoice_code}")
        data = response.json()
        if not isinstance(data, list):
            raise GatewayError("Xendit's invoice list is not a list", status=response.status_code)
        return [item for item in data if isinstance(item, dict)]

    def _pending(self, invoice_code: str) -> dict[str, Any] | None:
        return next((i for i in self._find(invoice_code) if i.get("status") == "PENDING"), None)

    def status(self, invoice_code: str, reference: str | None = None) -> PaymentEvent | None:
        """What Xendit reports for the invoice ``reference`` (else found by external_id).

        Among several invoices for one code, a paid one wins: money received is reported.
        """
        if reference is not None:
            found = self._get(reference)
            invoices = [found] if found is not None else []
        else:
            invoices = self._find(invoice_code)
        events = [self._event(i) for i in invoices]
        final = [e for e in events if e is not None]
        paid = [e for e in final if e.status is PaymentStatus.PAID]
        chosen = paid or final
        return chosen[0] if chosen else None

    def cancel(self, invoice_code: str, reference: str | None = None) -> None:
        """Expire the invoice ``reference`` (else every pending one for the code).

        An invoice Xendit does not know (404) is nothing to cancel."""
        ids = (
            [reference]
            if reference is not None
            else [str(i["id"]) for i in self._find(invoice_code) if i.get("status") == "PENDING"]
        )
        for invoice_id in ids:
            response = self._http.call(
                "POST", f"{API_URL}/invoices/{invoice_id}/expire!", idempotent=False
            )
            if response.status_code == 404:
                log.info("Xendit has no invoice %s: nothing to expire", invoice_id)
                continue
            if response.status_code >= 300:
                raise self._http.error(response, f"expiring invoice {invoice_id}")


def _iso(value: object) -> datetime | None:
    """Xendit's ``"2026-01-10T02:00:00.000Z"`` as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


__all__ = ["API_URL", "XENDIT_MAX_DURATION", "XenditGateway", "map_status"]
