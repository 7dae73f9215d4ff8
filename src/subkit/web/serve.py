"""``subkit serve``: the reference page on the embedded SQLite store, with a demo account.

:func:`build` wires what a host would: a :class:`~subkit.service.Billing` on a
:class:`~subkit.stores.sqlite.SqliteStore`, the fake gateway with its payment page
(:mod:`subkit.web.fake_pay`), and an ``authenticate`` that signs every visitor in as the
demo account (a host's own reads its session). :func:`run` serves it with uvicorn.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from subkit.errors import AccountExists
from subkit.invoice import BillingProfile, PaymentStatus
from subkit.plans import Catalogue
from subkit.ports import Clock, PaymentEvent
from subkit.service import Billing
from subkit.web.app import create_app
from subkit.web.fake_pay import PaymentPageGateway, fake_gateway_app, http_notifier

#: An ASGI application.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

DEMO_ACCOUNT = "demo"
DEMO_PROFILE = BillingProfile("Toko Maju", "owner@tokomaju.example", "Jl. Melati 7, Bandung")
#: How many replies the demo account has sent: enough for the Usage History to page.
DEMO_REPLIES = 24


@attrs.frozen
class Served:
    """What :func:`build` made: the ASGI app and the pieces behind it."""

    app: ASGIApp
    billing: Billing
    gateway: PaymentPageGateway
    close: Callable[[], None]


def seed_demo(billing: Billing) -> bool:
    """Open the demo account with a little history; ``False`` if it is already there."""
    try:
        billing.open_account(DEMO_ACCOUNT, timezone="Asia/Jakarta")
    except AccountExists:
        return False
    billing.set_billing_profile(DEMO_ACCOUNT, DEMO_PROFILE)
    for n in range(DEMO_REPLIES):
        billing.charge_replies(DEMO_ACCOUNT, key=f"demo-reply-{n}")
    checkout = billing.top_up(DEMO_ACCOUNT, "conversation", 50_000, idempotency_key="demo-top-up")
    assert checkout.invoice is not None and checkout.payment is not None
    billing.apply_payment(
        PaymentEvent(
            checkout.invoice.code,
            PaymentStatus.PAID,
            checkout.payment.reference,
            checkout.invoice.total,
            event_id="demo-top-up-paid",
        )
    )
    return True


def build(
    db: str | Path,
    *,
    base_url: str,
    clock: Clock | None = None,
    catalogue: Catalogue | None = None,
    notify: Callable[[bytes], None] | None = None,
    authenticate: Callable[[Any], str] | None = None,
) -> Served:
    """The demo app on the SQLite file ``db``, served at ``base_url``.

    ``notify`` delivers the fake gateway's notifications (default: an HTTP POST to
    ``{base_url}/webhooks/fake``, as a real gateway would).
    """
    from subkit.stores.sqlite import SqliteStore

    base_url = base_url.rstrip("/")
    store = SqliteStore(db)
    gateway = PaymentPageGateway(base_url, return_url=base_url + "/?invoice={code}")
    billing = Billing(catalogue or Catalogue.default(), store, gateway, clock=clock)
    seed_demo(billing)
    api = create_app(
        billing,
        authenticate=authenticate or (lambda request: DEMO_ACCOUNT),
        gateways={"fake": gateway},
    )
    pay = fake_gateway_app(
        gateway,
        notify or http_notifier(base_url + "/webhooks/fake"),
        locale=billing.catalogue.policy.locale,
    )
    return Served(_beside(api, pay, "/fake-gateway/"), billing, gateway, store.close)


def _beside(app: ASGIApp, other: ASGIApp, prefix: str) -> ASGIApp:
    """``app``, with the requests under ``prefix`` sent to ``other`` (another site)."""

    async def both(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and str(scope["path"]).startswith(prefix):
            await other(scope, receive, send)
        else:
            await app(scope, receive, send)

    return both


def run(*, db: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the demo page until interrupted."""
    import uvicorn

    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    served = build(db, base_url=f"http://{shown}:{port}")
    print(f"subkit serve: http://{shown}:{port}/ (database {db}; Ctrl+C stops)", flush=True)
    try:
        uvicorn.run(served.app, host=host, port=port, log_level="warning")
    finally:
        served.close()


__all__ = ["DEMO_ACCOUNT", "DEMO_PROFILE", "Served", "build", "run", "seed_demo"]
