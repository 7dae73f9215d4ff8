"""Midtrans Snap (R-GW-1): create a Snap transaction, verify HTTP notifications, ask status.

Facts from Midtrans's public documentation this adapter relies on:

- Snap: ``POST {app host}/snap/v1/transactions`` with ``transaction_details`` (``order_id``,
  integer ``gross_amount``), optional ``customer_details`` and ``expiry``
  (``start_time`` ``"yyyy-MM-dd HH:mm:ss Z"``, ``unit``, ``duration``); it answers
  ``{"token": ..., "redirect_url": ...}``, or ``{"error_messages": [...]}`` with a 4xx.
- Hosts: ``app.sandbox.midtrans.com`` / ``app.midtrans.com`` for Snap,
  ``api.sandbox.midtrans.com`` / ``api.midtrans.com`` for the Core API.
- Auth: HTTP Basic with the server key as user and an empty password.
- Notification: ``signature_key = sha512(order_id + status_code + gross_amount + server_key)``
  as a hex digest; ``gross_amount`` is a string with two decimals (``"299000.00"``).
- ``GET /v2/{order_id}/status`` and ``POST /v2/{order_id}/expire`` on the Core API host; a
  Snap page on which the customer started no transaction has nothing there (404).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from subkit.errors import GatewayError, InvalidAmount, InvalidArgument, InvalidSignature
from subkit.gateways import Http, decode_body, json_object, whole_amount
from subkit.invoice import PaymentStatus
from subkit.money import Money
from subkit.ports import PaymentEvent, PaymentRequest, PaymentSession

log = logging.getLogger("subkit.gateways.midtrans")

#: Midtrans's own time zone (WIB); its timestamps carry no offset and mean this one.
WIB = timezone(timedelta(hours=7))
#: The longest Snap expiry subkit asks for: Midtrans documents 7 days as Snap's maximum
#: page expiry. A longer ``payment_window_hours`` is cut to this (and logged).
SNAP_MAX_EXPIRY = timedelta(days=7)

# transaction_status -> what it means for the invoice (R-GW-1); capture depends on fraud_status.
_STATUS: dict[str, PaymentStatus | None] = {
    "settlement": PaymentStatus.PAID,
    "deny": PaymentStatus.FAILED,
    "cancel": PaymentStatus.FAILED,
    "failure": PaymentStatus.FAILED,
    "expire": PaymentStatus.EXPIRED,
    "refund": PaymentStatus.REFUNDED,
    "chargeback": PaymentStatus.REFUNDED,
    "pending": None,
    "authorize": None,
    "partial_refund": None,  # the host's to handle: the invoice stays paid
    "partial_chargeback": None,
}
_CAPTURE: dict[str, PaymentStatus | None] = {
    "accept": PaymentStatus.PAID,
    "deny": PaymentStatus.FAILED,
    "challenge": None,
}


def signature(order_id: str, status_code: str, gross_amount: str, server_key: str) -> str:
    """Midtrans's notification signature: sha512 of the four strings joined, hex."""
    text = order_id + status_code + gross_amount + server_key
    return hashlib.sha512(text.encode("utf-8")).hexdigest()


def map_status(transaction_status: str, fraud_status: str | None) -> PaymentStatus | None:
    """The invoice status a Midtrans status means, or ``None`` (nothing to apply)."""
    if transaction_status == "capture":
        if fraud_status not in _CAPTURE:
            raise InvalidArgument(
                f"unknown Midtrans fraud_status {fraud_status!r}",
                argument="fraud_status",
                value=fraud_status,
            )
        return _CAPTURE[fraud_status]
    if transaction_status not in _STATUS:
        raise InvalidArgument(
            f"unknown Midtrans transaction_status {transaction_status!r}",
            argument="transaction_status",
            value=transaction_status,
        )
    return _STATUS[transaction_status]


class MidtransGateway:
    """A :class:`~subkit.ports.PaymentGateway` (and ``ReconcilingGateway``) on Midtrans Snap.

    ``production=False`` talks to the sandbox hosts. ``client`` is an ``httpx.Client`` the
    host may share (tests pass one on ``httpx.MockTransport``); without one the gateway opens
    its own with subkit's timeouts.
    """

    def __init__(
        self,
        server_key: str,
        *,
        production: bool = False,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if not isinstance(server_key, str) or not server_key:
            raise InvalidArgument(
                "a Midtrans server key is required", argument="server_key", value=None
            )
        self._server_key = server_key
        self.production = production
        self.snap_url = (
            "https://app.midtrans.com" if production else "https://app.sandbox.midtrans.com"
        )
        self.api_url = (
            "https://api.midtrans.com" if production else "https://api.sandbox.midtrans.com"
        )
        self._http = Http("Midtrans", secrets=[server_key], client=client, sleep=sleep)

    def __repr__(self) -> str:
        return f"MidtransGateway(production={self.production!r})"

    def close(self) -> None:
        """Close the HTTP client if the gateway opened it."""
        self._http.close()

    # -- create ---------------------------------------------------------------------------
    def snap_body(self, request: PaymentRequest) -> tuple[dict[str, Any], datetime]:
        """The Snap request body for ``request`` and when that Snap session expires."""
        if request.amount.currency != "IDR":
            raise InvalidAmount(
                f"Midtrans collects IDR, not {request.amount.currency}", amount=request.amount
            )
        if request.requested_at is None:
            raise InvalidArgument(
                "Midtrans needs the invoice's request time to set the Snap expiry",
                argument="requested_at",
                value=None,
            )
        window = request.expires_at - request.requested_at
        if window > SNAP_MAX_EXPIRY:
            log.warning(
                "invoice %s: payment window %s exceeds Snap's maximum %s; the Snap page "
                "expires first",
                request.invoice_code,
                window,
                SNAP_MAX_EXPIRY,
            )
            window = SNAP_MAX_EXPIRY
        # Whole minutes, rounded down, so Snap never outlives the invoice; at least one.
        minutes = max(1, int(window.total_seconds() // 60))
        body: dict[str, Any] = {
            "transaction_details": {
                "order_id": request.invoice_code,
                "gross_amount": request.amount.amount,
            },
            "expiry": {
                "start_time": request.requested_at.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S %z"),
                "unit": "minute",
                "duration": minutes,
            },
        }
        if request.description:
            body["item_details"] = [
                {
                    "id": request.invoice_code,
                    "name": request.description[:50],  # Snap's item name limit
                    "price": request.amount.amount,
                    "quantity": 1,
                }
            ]
        profile = request.billing_profile
        if profile is not None:
            customer: dict[str, Any] = {"first_name": profile.name, "email": profile.email}
            if profile.address:
                customer["billing_address"] = {"address": profile.address}
            body["customer_details"] = customer
        return body, request.requested_at + timedelta(minutes=minutes)

    def create_payment(self, request: PaymentRequest) -> PaymentSession:
        """Create a Snap transaction; the session's reference is the Snap token.

        Not retried: Snap refuses a second transaction with the same ``order_id``, so a
        retry after a lost answer would fail anyway; the host retries the checkout.
        """
        body, expires_at = self.snap_body(request)
        response = self._http.call(
            "POST", f"{self.snap_url}/snap/v1/transactions", body=body, idempotent=False
        )
        if response.status_code >= 300:
            raise self._http.error(response, f"the Snap transaction for {request.invoice_code}")
        data = json_object(response, self._http)
        token, url = data.get("token"), data.get("redirect_url")
        if not isinstance(token, str) or not isinstance(url, str):
            raise GatewayError(
                "Midtrans answered without a Snap token", status=response.status_code
            )
        return PaymentSession(redirect_url=url, reference=token, expires_at=expires_at)

    # -- notifications ----------------------------------------------------------------------
    def parse_notification(self, body: bytes | str | Mapping[str, Any]) -> PaymentEvent | None:
        """Verify a Midtrans HTTP notification and return what it means for the invoice.

        Raises ``InvalidSignature`` unless ``signature_key`` checks (nothing is applied);
        returns ``None`` for a status with nothing to apply (pending, challenge, ...).
        """
        data = decode_body(body)
        fields = {}
        for name in ("order_id", "status_code", "gross_amount", "signature_key"):
            value = data.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                raise InvalidSignature(f"the Midtrans notification has no {name}")
            fields[name] = value
        expected = signature(
            fields["order_id"], fields["status_code"], fields["gross_amount"], self._server_key
        )
        if not hmac.compare_digest(
            expected.encode("ascii"), fields["signature_key"].lower().encode("utf-8")
        ):
            raise InvalidSignature("the Midtrans notification's signature_key does not match")
        return self._event(data)

    def _event(self, data: Mapping[str, Any]) -> PaymentEvent | None:
        transaction_status = data.get("transaction_status")
        if not isinstance(transaction_status, str):
            raise InvalidArgument(
                "no transaction_status", argument="transaction_status", value=None
            )
        fraud = data.get("fraud_status")
        status = map_status(transaction_status, fraud if isinstance(fraud, str) else None)
        if status is None:
            return None
        transaction_id = data.get("transaction_id")
        if not isinstance(transaction_id, str) or not transaction_id:
            raise InvalidArgument("no transaction_id", argument="transaction_id", value=None)
        amount = whole_amount(data.get("gross_amount"), "gross_amount")
        at = _wib(data.get("settlement_time")) if status is PaymentStatus.PAID else None
        return PaymentEvent(
            invoice_code=str(data["order_id"]),
            status=status,
            # One payment per Midtrans transaction: a capture and its settlement share it.
            reference=transaction_id,
            amount=Money(amount, str(data.get("currency") or "IDR")),
            event_id=f"{transaction_id}:{transaction_status}",
            at=at or _wib(data.get("transaction_time")),
        )

    # -- status and cancel ------------------------------------------------------------------
    def status(self, invoice_code: str, reference: str | None = None) -> PaymentEvent | None:
        """The Core API status of the order ``invoice_code`` (``None``: none started yet)."""
        response = self._http.call(
            "GET", f"{self.api_url}/v2/{invoice_code}/status", idempotent=True
        )
        code = _midtrans_code(response)
        if code == 404:
            return None
        if code >= 300 and code != 407:  # 407 is "expired", an answer, not a refusal
            raise self._http.error(response, f"the status of {invoice_code}", status=code)
        return self._event(json_object(response, self._http))

    def cancel(self, invoice_code: str, reference: str | None = None) -> None:
        """Expire the pending transaction of ``invoice_code``.

        A Snap page on which the customer started nothing has no transaction: Midtrans
        answers 404, which means "nothing to cancel" (the page lapses at its own expiry).
        """
        response = self._http.call(
            "POST", f"{self.api_url}/v2/{invoice_code}/expire", idempotent=False
        )
        code = _midtrans_code(response)
        if code == 404:
            log.info("Midtrans has no transaction for %s: nothing to expire", invoice_code)
            return
        if code >= 300 and code != 407:
            raise self._http.error(response, f"expiring {invoice_code}", status=code)


def _midtrans_code(response: httpx.Response) -> int:
    """The status that counts: Midtrans's Core API may answer HTTP 200 with a body
    ``status_code`` of 404 (or 4xx), so the body's code wins when it is an error."""
    if response.status_code >= 300:
        return response.status_code
    try:
        data = response.json()
        body_code = int(data.get("status_code", response.status_code))
    except (ValueError, AttributeError, TypeError):
        return response.status_code
    return body_code if body_code >= 300 else response.status_code


def _wib(value: object) -> datetime | None:
    """Midtrans's ``"2026-01-10 09:00:00"`` (WIB, no offset) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)
    except ValueError:
        return None


__all__ = ["SNAP_MAX_EXPIRY", "WIB", "MidtransGateway", "map_status", "signature"]
