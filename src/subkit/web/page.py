"""The reference Settings > Subscription page (R-WEB-5), rendered on the server.

:class:`SubscriptionPage` turns what :class:`~subkit.service.Billing` reads for one account
into HTML through Jinja2 templates: the whole page, the Order Summary fragment that the
page's JavaScript asks for when a plan is chosen or a ➕ / ➖ is pressed, and the rows a
history's "more" appends. It holds no billing rule: every figure comes from a facade call
(``quote_change``, ``quote_addons``, ``usage_overview``, ...), so the browser never computes a
total. Words come from the gettext catalogues (:func:`subkit.labels.page_labels`), money is
formatted by Babel and instants are shown in the account's time zone.

Templates are looked up by name (``subkit/page.html``, ``subkit/sections/invoices.html``,
...) first in the host's loader, then in subkit's own: a host overrides one section, or the
whole page, by shipping a template of the same name (docs/page.md).

This module needs Jinja2 (``pip install 'subkit[web]'``) but no web framework;
:mod:`subkit.web.page_routes` serves it over HTTP.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from subkit import labels
from subkit.cycles import Interval, zone
from subkit.errors import InvalidArgument, InvalidQuantity, MissingExtra, SubkitError
from subkit.invoice import Invoice, InvoiceLine
from subkit.invoice_words import line_words, package_words
from subkit.money import Money, format_money
from subkit.plans import Catalogue, Direction, Plan
from subkit.quotes import OrderSummary
from subkit.service import Billing
from subkit.wallet import Balance

try:
    import jinja2
except ImportError as error:  # pragma: no cover - exercised only without the extra
    raise MissingExtra("the page needs Jinja2: pip install 'subkit[web]'", extra="web") from error

#: Where subkit's own templates and static files live.
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
#: The languages the page offers, the first being a fallback when the catalogue's is neither.
PAGE_LOCALES = ("id_ID", "en")
#: Rows per page of each history and of the invoice list.
PAGE_SIZE = 10
#: The histories (and the invoice list) that page with "more".
LISTS = ("usage", "topups", "invoices")


def page_environment(loader: jinja2.BaseLoader | str | Path | None = None) -> jinja2.Environment:
    """The Jinja2 environment of the page: ``loader``'s templates first, then subkit's.

    ``loader`` may be a Jinja2 loader or a directory of templates. Autoescaping is on for
    every template, so a host's text (a plan name, a billing profile) is inert.
    """
    own = jinja2.FileSystemLoader(TEMPLATES)
    if loader is None:
        chosen: jinja2.BaseLoader = own
    else:
        host = loader if isinstance(loader, jinja2.BaseLoader) else jinja2.FileSystemLoader(loader)
        chosen = jinja2.ChoiceLoader([host, own])
    return jinja2.Environment(
        loader=chosen,
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Show:
    """Formats for one reader: money by Babel in ``locale``, instants in ``tz``."""

    def __init__(self, locale: str, tz: ZoneInfo) -> None:
        self.locale = locale
        self.tz = tz

    def money(self, value: Money) -> str:
        return format_money(value, self.locale)

    def count(self, value: int) -> str:
        return str(format_decimal(value, locale=self.locale))

    def date(self, at: datetime) -> str:
        return str(format_date(at.astimezone(self.tz).date(), "d MMM y", locale=self.locale))

    def when(self, at: datetime) -> str:
        return str(format_datetime(at, "d MMM y HH:mm", tzinfo=self.tz, locale=self.locale))

    def line(self, line: InvoiceLine) -> str:
        """An invoice line in the reader's words (lines are facts, R-INV-8)."""
        return line_words(line, self.locale)

    def package(self, invoice: Invoice) -> str:
        """An invoice's package in the reader's words."""
        return package_words(invoice, self.locale)

    def iso(self, at: datetime) -> str:
        return at.astimezone(self.tz).isoformat(timespec="minutes")


@attrs.frozen
class PlanChoice:
    """One plan of the Upgrade list, as the current subscription sees it."""

    plan: Plan
    current: bool  # the plan held now (choosing it switches the interval)
    direction: Direction | None  # None for the plan and interval held now


@attrs.frozen
class Order:
    """What an Order Summary is for: a plan change or an add-on purchase, as the page posts it.

    ``quantities`` are the add-on units the summary's ➕ / ➖ move, each within ``bounds``.
    """

    kind: str  # "change" or "addons"
    quantities: dict[str, int]
    plan: str | None = None
    interval: Interval | None = None

    def as_json(self) -> str:
        data: dict[str, Any] = {"kind": self.kind, "quantities": self.quantities}
        if self.kind == "change":
            data.update(plan=self.plan, interval=str(self.interval))
        return json.dumps(data, sort_keys=True)

    def checkout_body(self) -> str:
        """The JSON body of the API call that checks this order out (R-WEB-1)."""
        chosen = {code: quantity for code, quantity in self.quantities.items() if quantity}
        if self.kind == "change":
            body: dict[str, Any] = {
                "plan": self.plan,
                "interval": str(self.interval),
                "addons": chosen,
            }
        else:
            body = {"quantities": chosen}
        return json.dumps(body, sort_keys=True)


def _quantities(value: object) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(code, str) and type(quantity) is int for code, quantity in value.items()
    ):
        raise InvalidQuantity(f"quantities must map add-on codes to whole numbers, not {value!r}")
    return dict(value)


def parse_order(data: object) -> Order:
    """Read the JSON an Order Summary posts back; bad shapes are ``InvalidArgument``."""
    if not isinstance(data, Mapping):
        raise InvalidArgument("the order must be a JSON object", argument="order", value=data)
    kind = data.get("kind")
    quantities = _quantities(data.get("quantities"))
    if kind == "addons":
        return Order("addons", quantities)
    if kind != "change":
        raise InvalidArgument("kind must be 'change' or 'addons'", argument="kind", value=kind)
    plan, interval = data.get("plan"), data.get("interval", "monthly")
    if not isinstance(plan, str):
        raise InvalidArgument("a plan change names its plan", argument="plan", value=plan)
    if interval not in tuple(Interval):
        raise InvalidArgument("unknown interval", argument="interval", value=interval)
    return Order("change", quantities, plan, Interval(interval))


class SubscriptionPage:
    """Render the page, its Order Summary and its history rows for one account.

    Args:
        billing: the facade the page reads and quotes through.
        templates: the host's templates (a Jinja2 loader or a directory), looked up first.
        page_size: rows per page of each history and of the invoice list.
    """

    def __init__(
        self,
        billing: Billing,
        *,
        templates: jinja2.BaseLoader | str | Path | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.billing = billing
        self.env = page_environment(templates)
        self.page_size = page_size

    @property
    def catalogue(self) -> Catalogue:
        return self.billing.catalogue

    # -- the reader's language and formats ------------------------------------------------

    def locale(self, wanted: str | None) -> str:
        """The page locale for ``wanted`` (a ``lang`` query or cookie): one of PAGE_LOCALES."""
        offered = {labels.language(locale): locale for locale in PAGE_LOCALES}
        for candidate in (wanted, self.catalogue.policy.locale):
            asked = str(candidate or "").replace("-", "_").split("_")[0].lower()
            found = offered.get("id" if asked == "in" else asked)
            if found is not None:
                return found
        return PAGE_LOCALES[0]

    def _common(self, account_id: str, locale: str, base: str) -> dict[str, Any]:
        # What every template gets: the words, the formats and the subscription.
        sub = self.billing.subscription(account_id)
        show = Show(locale, zone(sub.timezone))
        return {
            "t": labels.page_labels(locale),
            "doc": labels.document_labels(locale),
            "label": lambda value, kind=None: labels.label(value, locale, kind=kind),
            "show": show,
            "locale": locale,
            "lang": labels.language(locale),
            "catalogue": self.catalogue,
            "subscription": sub,
            "base": base,
        }

    def _render(self, name: str, context: Mapping[str, Any]) -> str:
        return self.env.get_template(name).render(context)

    # -- the page ---------------------------------------------------------------------------

    def render(
        self,
        account_id: str,
        *,
        locale: str | None = None,
        cursors: Mapping[str, str | None] | None = None,
        invoice: str | None = None,
        base: str = "/",
    ) -> str:
        """The whole page. ``cursors`` open a history at a later page; ``invoice`` is the code
        the payment page sent the reader back with, shown in a notice; ``base`` is the URL
        the page is served at (its links and API calls are relative to it)."""
        chosen = self.locale(locale)
        context = self._common(account_id, chosen, base)
        context.update(self._page_data(account_id, cursors or {}, invoice))
        return self._render("subkit/page.html", context)

    def _page_data(
        self, account_id: str, cursors: Mapping[str, str | None], invoice: str | None
    ) -> dict[str, Any]:
        billing = self.billing
        sub = billing.subscription(account_id)
        banner = None
        if invoice:
            try:
                banner = billing.invoice(account_id, invoice)
            except SubkitError:
                banner = None  # an unknown code in the address: nothing to show
        return {
            "overview": billing.usage_overview(account_id),
            "plan": self.catalogue.plans[sub.plan],
            "choices": self.plan_choices(account_id),
            "intervals": list(Interval),
            "available": billing.available_addons(account_id),
            "held": billing.addons(account_id),
            "addon_history": billing.addon_history(account_id)[::-1][: self.page_size],
            "balances": billing.balances(account_id),
            "topup_limits": self.catalogue.topup,
            "renewal": self._renewal(account_id),
            "lists": {name: self.list_page(account_id, name, cursors.get(name)) for name in LISTS},
            "banner": banner,
            "default_plan": self.catalogue.plans[self.catalogue.default_plan],
            "balance_kinds": list(Balance),
        }

    def _renewal(self, account_id: str) -> OrderSummary | None:
        try:
            return self.billing.quote_renewal(account_id)
        except SubkitError:
            return None  # a free plan or a cancelling subscription: no Renew button

    def plan_choices(self, account_id: str) -> list[PlanChoice]:
        """The Upgrade list: every plan, with the way choosing it would go."""
        sub = self.billing.subscription(account_id)
        held = self.catalogue.plans[sub.plan]
        choices = []
        for plan in self.catalogue.plans_by_rank():
            if plan.rank > held.rank:
                direction: Direction | None = Direction.UPGRADE
            elif plan.rank < held.rank:
                direction = Direction.DOWNGRADE
            else:
                direction = Direction.INTERVAL_SWITCH if len(plan.intervals) > 1 else None
            choices.append(PlanChoice(plan, plan.code == sub.plan, direction))
        return choices

    def list_page(self, account_id: str, name: str, cursor: str | None) -> Any:
        """One page of a history (``usage``, ``topups``) or of the invoices."""
        billing, limit = self.billing, self.page_size
        if name == "usage":
            return billing.usage_history(account_id, limit=limit, cursor=cursor)
        if name == "topups":
            return billing.topup_history(account_id, limit=limit, cursor=cursor)
        if name == "invoices":
            return billing.invoices(account_id, limit=limit, cursor=cursor)
        raise InvalidArgument(f"unknown list {name!r}", argument="list", value=name)

    def render_rows(
        self,
        account_id: str,
        name: str,
        cursor: str | None,
        *,
        locale: str | None = None,
        base: str = "/",
    ) -> tuple[str, str | None]:
        """The rows of one more page of a list, for its "more" button to append, and the
        cursor of the page after it (``None`` on the last)."""
        chosen = self.locale(locale)
        context = self._common(account_id, chosen, base)
        page = self.list_page(account_id, name, cursor)
        context.update(page=page, name=name)
        return self._render(f"subkit/rows/{name}.html", context), page.next_cursor

    # -- the Order Summary ------------------------------------------------------------------

    def render_summary(
        self, account_id: str, data: object, *, locale: str | None = None, base: str = "/"
    ) -> str:
        """The Order Summary of a posted order (:func:`parse_order`), from the facade's quote."""
        order = self.complete(account_id, parse_order(data))
        chosen = self.locale(locale)
        context = self._common(account_id, chosen, base)
        context.update(order=order, bounds=self.bounds(account_id, order))
        bought = {c: q for c, q in order.quantities.items() if q}
        if order.kind == "addons" and not bought:
            context.update(summary=None)
        elif order.kind == "addons":
            context.update(summary=self.billing.quote_addons(account_id, bought))
        else:
            assert order.plan is not None
            context.update(
                summary=self.billing.quote_change(
                    account_id, order.plan, interval=order.interval, addons=order.quantities
                )
            )
        return self._render("subkit/summary.html", context)

    def complete(self, account_id: str, order: Order) -> Order:
        """``order`` with a quantity for every add-on its summary offers.

        A plan change starts from the units that would renew and that the new plan sells; an
        add-on purchase offers every add-on the plan sells, from 0.
        """
        sub = self.billing.subscription(account_id)
        if order.kind == "addons":
            offered = [a.code for a in self.billing.available_addons(account_id)]
            start: Mapping[str, int] = {}
        else:
            assert order.plan is not None
            offered = [a.code for a in self.catalogue.addons_for(order.plan)]
            start = sub.renewing_addons()
        given = order.quantities
        quantities = {code: given.get(code, start.get(code, 0)) for code in offered}
        unknown = set(given) - set(offered)
        if unknown:
            raise InvalidQuantity(f"add-ons not offered here: {', '.join(sorted(unknown))}")
        return attrs.evolve(order, quantities=quantities)

    def bounds(self, account_id: str, order: Order) -> dict[str, tuple[int, int]]:
        """The range each ➕ / ➖ moves in: 0 up to what may be held (R-ADD-3)."""
        if order.kind == "addons":
            return {a.code: (0, a.can_buy) for a in self.billing.available_addons(account_id)}
        return {code: (0, self.catalogue.addon(code).max_quantity) for code in order.quantities}


__all__ = [
    "LISTS",
    "PAGE_LOCALES",
    "PAGE_SIZE",
    "STATIC",
    "TEMPLATES",
    "Order",
    "PlanChoice",
    "Show",
    "SubscriptionPage",
    "page_environment",
    "parse_order",
]
