"""A fake payment gateway with a payment page, for ``subkit serve`` and the browser tests.

:class:`PaymentPageGateway` is :class:`~subkit.testing.FakeGateway` whose payment sessions
send the buyer to a page of this app (``GET /fake-gateway/{code}``) instead of a real
gateway's. There a person pays, fails or lets the invoice expire; the page then does what a
real gateway does: it POSTs a signed notification to the app's webhook (server to server,
over HTTP), and sends the buyer back to the return address. The webhook
(``create_app(..., gateways={"fake": gateway})``) verifies the signature with
:meth:`PaymentPageGateway.parse_notification`, as it would a Midtrans notification, and
applies the event.

Nothing here talks to another site: the notification goes to the app's own address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from subkit.errors import InvalidSignature, MissingExtra
from subkit.invoice import PaymentStatus
from subkit.money import Money, format_money
from subkit.ports import PaymentEvent, PaymentRequest, PaymentSession
from subkit.testing import FakeGateway
from subkit.web.page import page_environment

try:
    import anyio
    from litestar import Litestar, Request, Response, get, post
    from litestar.enums import MediaType
    from litestar.response import Redirect
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("the page needs Litestar: pip install 'subkit[web]'", extra="web") from error

#: The outcomes a person can choose on the payment page, as the gateway reports them.
OUTCOMES = {
    "pay": PaymentStatus.PAID,
    "fail": PaymentStatus.FAILED,
    "expire": PaymentStatus.EXPIRED,
}


class PaymentPageGateway(FakeGateway):
    """A fake gateway whose buyers pay on a page of the app itself.

    Args:
        base_url: where the app is served (``http://127.0.0.1:8000``); the payment page is
            ``{base_url}/fake-gateway/{code}``.
        return_url: where the payment page sends the buyer back, ``{code}`` filled in.
        secret: the key notifications are signed with (HMAC-SHA256).
    """

    def __init__(self, base_url: str, *, return_url: str, secret: str = "subkit-demo") -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.return_url = return_url
        self._secret = secret.encode()
        self.sessions: dict[str, tuple[PaymentRequest, PaymentSession]] = {}

    def create_payment(self, request: PaymentRequest) -> PaymentSession:
        session = super().create_payment(request)
        session = attrs.evolve(
            session, redirect_url=f"{self.base_url}/fake-gateway/{request.invoice_code}"
        )
        self.sessions[request.invoice_code] = (request, session)
        return session

    def _sign(self, payload: Mapping[str, Any]) -> str:
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()

    def notification(self, invoice_code: str, status: PaymentStatus) -> bytes:
        """The signed body the gateway POSTs to the webhook when a payment ends."""
        request, session = self.sessions[invoice_code]
        payload: dict[str, Any] = {
            "invoice_code": invoice_code,
            "status": str(status),
            "reference": session.reference,
            "amount": request.amount.amount,
            "currency": request.amount.currency,
            "event_id": f"{session.reference}-{status}",
        }
        return json.dumps({**payload, "signature": self._sign(payload)}).encode()

    def parse_notification(self, body: bytes | str | Mapping[str, Any]) -> PaymentEvent:
        """Verify a notification's signature and read its event (``InvalidSignature``)."""
        try:
            data = dict(body) if isinstance(body, Mapping) else json.loads(body)
            signature = data.pop("signature")
            expected = self._sign(data)
            if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
                raise InvalidSignature("the notification's signature does not match")
            return PaymentEvent(
                invoice_code=str(data["invoice_code"]),
                status=PaymentStatus(data["status"]),
                reference=str(data["reference"]),
                amount=Money(int(data["amount"]), str(data["currency"])),
                event_id=str(data["event_id"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise InvalidSignature("the notification is not the fake gateway's") from None


def fake_gateway_app(
    gateway: PaymentPageGateway, notify: Callable[[bytes], None], *, locale: str = "id_ID"
) -> Litestar:
    """The payment page, as a site of its own; ``notify(body)`` delivers a notification to
    the app's webhook. (Its form posts are the gateway's, not the app's: the app answers only
    JSON to a state-changing request, R-WEB-4.)"""
    env = page_environment()

    @get("/fake-gateway/{code:str}", sync_to_thread=False, include_in_schema=False)
    def payment_page(request: Request[Any, Any, Any]) -> Response[str]:
        code = str(request.path_params["code"])
        found = gateway.sessions.get(code)
        html = env.get_template("subkit/fake_gateway.html").render(
            code=code,
            request=found[0] if found else None,
            amount=format_money(found[0].amount, locale) if found else None,
        )
        return Response(html, media_type=MediaType.HTML, status_code=200 if found else 404)

    @post("/fake-gateway/{code:str}", include_in_schema=False)
    async def finish(request: Request[Any, Any, Any]) -> Redirect | Response[str]:
        code = str(request.path_params["code"])
        form = await request.form()
        status = OUTCOMES.get(str(form.get("outcome", "")))
        if status is None or code not in gateway.sessions:
            return Response("unknown payment or outcome", status_code=400)
        # The notification goes over HTTP to this same app: send it from a worker thread so
        # the server stays free to answer it.
        await anyio.to_thread.run_sync(notify, gateway.notification(code, status))
        return Redirect(gateway.return_url.format(code=code), status_code=303)

    return Litestar(route_handlers=[payment_page, finish])


def http_notifier(url: str) -> Callable[[bytes], None]:
    """Deliver notifications by POSTing them to ``url`` (the app's own webhook)."""
    import httpx

    def notify(body: bytes) -> None:
        response = httpx.post(
            url, content=body, headers={"Content-Type": "application/json"}, timeout=10
        )
        response.raise_for_status()

    return notify


__all__ = ["OUTCOMES", "PaymentPageGateway", "fake_gateway_app", "http_notifier"]
