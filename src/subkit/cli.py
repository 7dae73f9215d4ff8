"""The ``subkit`` command: operate subkit on a SQLite file or a PostgreSQL database, inspect
and check catalogues.

Usage (``subkit --help`` and ``subkit COMMAND --help`` give every option)::

    subkit [--db PATH|postgresql://...] [--schema NAME] [--catalogue FILE] [--json]
           [--now ISO8601] COMMAND ...

    subkit plans [--locale id_ID|en]
    subkit open ACCOUNT [--timezone TZ]
    subkit profile ACCOUNT --name N --email E [--address A] [--tax-number T]
    subkit overview ACCOUNT
    subkit top-up ACCOUNT {conversation,broadcast} AMOUNT [--key K]
    subkit pay CODE --amount N --reference R [--status paid|failed|expired|refunded]
    subkit charge ACCOUNT {replies,broadcast} COUNT --key K
    subkit change ACCOUNT PLAN [--interval monthly|annual] [--addon CODE=QTY ...] [--quote]
    subkit renew ACCOUNT [--quote]
    subkit addons ACCOUNT [buy CODE=QTY ... [--quote] | stop CODE [--quantity N]]
    subkit unsubscribe ACCOUNT | resume ACCOUNT
    subkit history ACCOUNT [--balance B] [--limit N]
    subkit invoices ACCOUNT [--status S] [--type T] [--limit N]
    subkit invoice render ACCOUNT CODE [--format pdf|html|text] [--locale L] [--output FILE]
    subkit run [--workers N]
    subkit catalogue check FILE
    subkit demo
    subkit serve [--host 127.0.0.1] [--port 8000] [--db FILE]

The global options may also follow the command (``subkit open acme --db acme.sqlite``).
``--db`` takes a SQLite file, or a PostgreSQL URI (``postgresql://...``, with the extra
``subkit[postgres]``) whose schema ``--schema`` names (default ``subkit``).
``--now`` fixes the clock (a ``FixedClock``) for that one invocation; without it the system
clock is used. The payment gateway is :class:`~subkit.testing.FakeGateway`: a command line
cannot send a buyer to a payment page, so ``pay`` applies the gateway's result by hand.

Exit status: 0 on success, 1 when ``catalogue check`` finds problems, 2 on any other error
(a :class:`~subkit.errors.SubkitError`'s message goes to stderr) and on usage errors.

Why it is long: one small handler per subcommand and the declarative argparse wiring;
each handler only parses, calls the facade and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TextIO

import attrs
from babel.numbers import format_decimal

from subkit.cycles import Interval, zone
from subkit.errors import CatalogueError, SubkitError
from subkit.invoice import BillingProfile, Invoice, InvoiceStatus, InvoiceType, PaymentStatus
from subkit.invoice_words import line_words, package_words
from subkit.money import Money, format_money
from subkit.plans import Catalogue
from subkit.ports import Clock, ReconcilingGateway, Store
from subkit.quotes import OrderSummary
from subkit.serialize import to_dict
from subkit.service import Billing, Checkout, PaymentEvent, RunReport
from subkit.subscription import Subscription
from subkit.wallet import Balance, Charge

LOCALES = ("id_ID", "en")
# The views' headings are English; invoice lines and packages are said from their facts in
# the same language (documents, `invoice render`, say them in the asked locale).
WORDS = "en"
DEFAULT_DB = "subkit.sqlite"
SERVE_DB = "subkit-serve.sqlite"
#: ``run`` shows a progress counter on stderr every this many accounts.
PROGRESS_EVERY = 200


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("subkit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """A plain text table; columns in ``numeric`` are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def _pairs(rows: Sequence[tuple[str, str]]) -> str:
    """Label/value lines, the values aligned."""
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {value}".rstrip() for label, value in rows)


def plans_table(catalogue: Catalogue, locale: str) -> str:
    """The catalogue's plans and add-ons as two aligned text tables."""

    def count(value: int) -> str:
        return str(format_decimal(value, locale=locale))

    plan_rows = []
    for plan in catalogue.plans_by_rank():
        annual = plan.prices.get(Interval.ANNUAL)
        plan_rows.append(
            [
                plan.name,
                format_money(plan.price(Interval.MONTHLY), locale),
                format_money(annual, locale) if annual is not None else "-",
                count(plan.limits.users),
                count(plan.limits.contacts),
                count(plan.limits.broadcast_quota),
                format_money(plan.included_amount(Balance.CONVERSATION), locale),
            ]
        )
    plans = _table(
        [
            "Plan",
            "Monthly",
            "Annual",
            "Users",
            "Contacts",
            "Broadcast quota",
            "Included conversation",
        ],
        plan_rows,
        numeric={1, 2, 3, 4, 5, 6},
    )
    addon_rows = []
    for addon in catalogue.addons.values():
        adds = ", ".join(
            f"+{count(amount)} {resource[:-1] if amount == 1 else resource}"
            for resource, amount in addon.adds.items()
        )
        sold_on = ", ".join(catalogue.plans[code].name for code in addon.plans)
        addon_rows.append(
            [
                addon.name,
                format_money(addon.price(Interval.MONTHLY), locale),
                format_money(addon.price(Interval.ANNUAL), locale),
                adds,
                sold_on or "-",
            ]
        )
    parts = ["Plans", "", plans]
    if addon_rows:
        addons = _table(
            ["Add-on", "Monthly/unit", "Annual/unit", "Adds", "Sold on"],
            addon_rows,
            numeric={1, 2},
        )
        parts += ["", "Add-ons", "", addons]
    return "\n".join(parts)


def plans_json(catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue's plans and add-ons as JSON-safe data (amounts in the currency's unit)."""
    return {
        "currency": catalogue.currency,
        "default_plan": catalogue.default_plan,
        "plans": [
            {
                "code": plan.code,
                "name": plan.name,
                "rank": plan.rank,
                "price": {
                    str(i): plan.prices[i].amount if i in plan.prices else None for i in Interval
                },
                "limits": {
                    "users": plan.limits.users,
                    "contacts": plan.limits.contacts,
                    "broadcast_quota": plan.limits.broadcast_quota,
                },
                "included": {str(b): plan.included_amount(b).amount for b in Balance},
            }
            for plan in catalogue.plans_by_rank()
        ],
        "addons": [
            {
                "code": addon.code,
                "name": addon.name,
                "price": {str(i): addon.price(i).amount for i in Interval},
                "adds": dict(addon.adds),
                "max_quantity": addon.max_quantity,
                "plans": list(addon.plans),
            }
            for addon in catalogue.addons.values()
        ],
    }


def _load(path: str | None) -> Catalogue:
    return Catalogue.default() if path is None else Catalogue.from_file(path)


# -- the session: catalogue, store, clock, gateway ---------------------------------------------


class _Display:
    """Formats money in the catalogue's locale and instants in its time zone."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.locale = catalogue.policy.locale
        self.zone = zone(catalogue.policy.timezone)

    def money(self, value: Money) -> str:
        return format_money(value, self.locale)

    def when(self, at: datetime | None) -> str:
        return "-" if at is None else at.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def day(self, at: datetime) -> str:
        return at.astimezone(self.zone).strftime("%Y-%m-%d")

    def count(self, value: int) -> str:
        return str(format_decimal(value, locale=self.locale))


class _Session:
    """What one invocation works with: the facade, the store under it, and a display."""

    def __init__(self, billing: Billing, store: Store, args: argparse.Namespace) -> None:
        self.billing = billing
        self.store = store
        self.show = _Display(billing.catalogue)
        self.json: bool = args.json


def _is_postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def _open_store(db: str, schema: str) -> Store:
    """The store ``--db`` names: a PostgreSQL URI, or else a SQLite file."""
    if _is_postgres(db):
        try:
            from subkit.stores.postgres import PostgresStore
        except ImportError as error:
            raise _Usage(
                f"--db {db.split('://')[0]}://... needs psycopg: pip install 'subkit[postgres]'"
            ) from error
        return PostgresStore(db, schema=schema, pool_size=2)
    from subkit.stores.sqlite import SqliteStore

    return SqliteStore(db)


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[_Session]:
    from subkit.testing import FakeGateway, FixedClock

    catalogue = _load(args.catalogue)
    clock: Clock | None = FixedClock(args.now) if args.now is not None else None
    store = _open_store(args.db, args.schema)
    try:
        yield _Session(Billing(catalogue, store, FakeGateway(), clock=clock), store, args)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _emit_json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(to_dict(value), indent=2, ensure_ascii=False) + "\n")


def _subscription_text(s: _Session, sub: Subscription) -> str:
    catalogue = s.billing.catalogue
    rows = [
        ("Account", sub.account_id),
        ("Plan", f"{catalogue.plans[sub.plan].name} ({sub.interval})"),
        ("Status", str(sub.status)),
        (
            "Period",
            f"{s.show.when(sub.current_period.start)} - {s.show.when(sub.current_period.end)}",
        ),
        ("Paid through", s.show.when(sub.paid_through)),
    ]
    if sub.addons:
        rows.append(("Add-ons", ", ".join(f"{c} x{q}" for c, q in sub.addons.items())))
    if sub.stopping:
        rows.append(("Stopping", ", ".join(f"{c} x{q}" for c, q in sub.stopping.items())))
    change = sub.scheduled_change
    if change is not None:
        paid = "paid" if change.paid else f"awaiting payment of {change.invoice_code}"
        rows.append(
            (
                "Scheduled change",
                f"{change.plan} ({change.interval}) at {s.show.when(change.effective_at)}, {paid}",
            )
        )
    return _pairs(rows)


def _summary_text(s: _Session, quote: OrderSummary) -> str:
    rows = [
        [
            line_words(line, WORDS),
            str(line.quantity),
            s.show.money(line.unit_price),
            s.show.money(line.amount),
        ]
        for line in quote.lines
    ]
    for label, amount in (("Subtotal", quote.subtotal), ("Tax", quote.tax), ("Total", quote.total)):
        rows.append([label, "", "", s.show.money(amount)])
    parts = [
        "Order summary",
        "",
        _table(["Description", "Qty", "Unit price", "Amount"], rows, numeric={1, 2, 3}),
        "",
    ]
    info = []
    if quote.direction is not None:
        info.append(("Direction", str(quote.direction)))
    info.append(("Effective", s.show.when(quote.effective_at)))
    for cut in quote.reductions:
        in_use = "" if cut.in_use is None else f" ({cut.in_use} in use)"
        info.append((f"Fewer {cut.entitlement}", f"{cut.before} -> {cut.after}{in_use}"))
    if quote.dropped_addons:
        info.append(("Add-ons dropped", ", ".join(quote.dropped_addons)))
    return "\n".join(parts) + _pairs(info)


def _checkout_text(s: _Session, checkout: Checkout) -> str:
    invoice = checkout.invoice
    if invoice is None:
        return "Nothing to pay: the order was applied at once."
    rows = [
        ("Invoice", f"{invoice.code} ({invoice.type}, {invoice.status})"),
        ("Package", package_words(invoice, WORDS)),
        ("Total", s.show.money(invoice.total)),
        ("Expires", s.show.when(invoice.expires_at)),
    ]
    if checkout.payment is not None:
        rows += [
            ("Pay at", checkout.payment.redirect_url),
            ("Reference", checkout.payment.reference),
        ]
    reference = checkout.payment.reference if checkout.payment is not None else "REF"
    hint = (
        "The gateway is a fake: apply its result with\n"
        f"  subkit pay {invoice.code} --amount {invoice.total.amount} --reference {reference}"
    )
    return _pairs(rows) + "\n\n" + hint


def _invoice_text(s: _Session, invoice: Invoice) -> str:
    return _pairs(
        [
            ("Invoice", invoice.code),
            ("Account", invoice.account_id),
            ("Type", str(invoice.type)),
            ("Status", str(invoice.status)),
            ("Package", package_words(invoice, WORDS)),
            ("Total", s.show.money(invoice.total)),
            ("Requested", s.show.when(invoice.requested_at)),
            ("Paid", s.show.when(invoice.paid_at)),
            ("Reference", invoice.reference or "-"),
        ]
    )


def _charge_text(s: _Session, charge: Charge) -> str:
    rows = [
        ("Key", charge.key),
        ("Balance", str(charge.balance)),
        ("Messages", s.show.count(charge.count)),
    ]
    if charge.balance is Balance.BROADCAST:
        rows.append(("In quota", s.show.count(charge.quota_used)))
    rows += [
        ("Charged", s.show.money(charge.amount)),
        ("Balance after", s.show.money(charge.balance_after)),
    ]
    return _pairs(rows)


Handler = Callable[[argparse.Namespace, TextIO], int]


def _with_billing(render: Callable[[_Session, argparse.Namespace], tuple[Any, str]]) -> Handler:
    """A handler that runs ``render`` in a session and prints its value as JSON or text."""

    def handler(args: argparse.Namespace, out: TextIO) -> int:
        with _session(args) as s:
            value, text = render(s, args)
            if s.json:
                _emit_json(out, value)
            else:
                out.write(text + "\n")
        return 0

    return handler


# -- commands ----------------------------------------------------------------------------------


def _cmd_plans(args: argparse.Namespace, out: TextIO) -> int:
    catalogue = _load(args.catalogue)
    if args.json:
        out.write(json.dumps(plans_json(catalogue), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(plans_table(catalogue, args.locale or catalogue.policy.locale) + "\n")
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from subkit.demo import run_demo

    catalogue = _load(args.catalogue)
    locale = args.locale or catalogue.policy.locale
    out.write("subkit demo: the example catalogue\n\n")
    out.write(plans_table(catalogue, locale) + "\n\n")
    run_demo(Path(args.output), out, locale=locale)
    return 0


def _cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    from subkit.web.serve import run

    run(host=args.host, port=args.port, db=args.serve_db)
    return 0


def _cmd_catalogue_check(args: argparse.Namespace, out: TextIO) -> int:
    try:
        catalogue = Catalogue.from_file(args.file)
    except CatalogueError as error:
        out.write(f"{args.file}: {len(error.problems)} problem(s)\n")
        for problem in error.problems:
            out.write(f"  {problem}\n")
        return 1
    out.write(f"OK: {args.file} ({len(catalogue.plans)} plans, {len(catalogue.addons)} add-ons)\n")
    return 0


def _open(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    sub = s.billing.open_account(args.account, timezone=args.timezone)
    balances = s.billing.balances(args.account)
    text = (
        _subscription_text(s, sub)
        + "\n"
        + _pairs(
            [
                ("Conversation", s.show.money(balances.conversation)),
                ("Broadcast", s.show.money(balances.broadcast)),
            ]
        )
    )
    return sub, f"Opened account {args.account!r}\n\n{text}"


def _profile(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    profile = BillingProfile(args.name, args.email, args.address, args.tax_number)
    s.billing.set_billing_profile(args.account, profile)
    text = f"Billing profile of {args.account!r} set: {profile.name} <{profile.email}>"
    return {"account_id": args.account, "billing_profile": to_dict(profile)}, text


def _overview(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    view = s.billing.usage_overview(args.account)
    catalogue = s.billing.catalogue

    def used(value: int | None, limit: int) -> str:
        if value is None:  # no UsageSource: only the limit is known
            return f"limit {s.show.count(limit)}"
        return f"{s.show.count(value)} of {s.show.count(limit)}"

    rows = [
        ("Plan", f"{catalogue.plans[view.plan].name} ({view.interval})"),
        ("Status", str(view.status)),
        (
            "Period",
            f"{s.show.when(view.current_period.start)} - {s.show.when(view.current_period.end)}",
        ),
        ("Days left", str(view.days_left)),
        ("Paid through", s.show.when(view.paid_through)),
        ("Users", used(view.users_in_use, view.limits.users)),
        ("Contacts", used(view.contacts_in_use, view.limits.contacts)),
        ("Broadcast quota", used(view.broadcast_used, view.limits.broadcast_quota)),
    ]
    rows += [(f"{name.capitalize()} balance", s.show.money(m)) for name, m in view.balances.items()]
    if view.addons:
        rows.append(("Add-ons", ", ".join(f"{c} x{q}" for c, q in view.addons.items())))
    if view.stopping:
        rows.append(("Stopping", ", ".join(f"{c} x{q}" for c, q in view.stopping.items())))
    change = view.scheduled_change
    if change is not None:
        rows.append(
            (
                "Scheduled change",
                f"{change.plan} ({change.interval}) at {s.show.when(change.effective_at)}",
            )
        )
    return view, f"Account {args.account!r}\n\n" + _pairs(rows)


def _top_up(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    checkout = s.billing.top_up(args.account, args.balance, args.amount, idempotency_key=args.key)
    return checkout, _checkout_text(s, checkout)


def _pay(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    event = PaymentEvent(
        invoice_code=args.code,
        status=PaymentStatus(args.status),
        reference=args.reference,
        amount=s.billing.catalogue.money(args.amount),
        event_id=args.event_id,
    )
    invoice = s.billing.apply_payment(event)
    return invoice, _invoice_text(s, invoice)


def _charge(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    if args.what == "replies":
        charge = s.billing.charge_replies(args.account, args.count, key=args.key)
    else:
        charge = s.billing.charge_broadcast(args.account, args.count, key=args.key)
    return charge, _charge_text(s, charge)


def _change(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    addons = dict(args.addon) if args.addon else None
    if args.quote:
        quote = s.billing.quote_change(
            args.account, args.plan, interval=args.interval, addons=addons
        )
        return quote, _summary_text(s, quote)
    checkout = s.billing.change_plan(
        args.account, args.plan, interval=args.interval, addons=addons, idempotency_key=args.key
    )
    return checkout, _checkout_text(s, checkout)


def _renew(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    if args.quote:
        quote = s.billing.quote_renewal(args.account)
        return quote, _summary_text(s, quote)
    checkout = s.billing.renew(args.account, idempotency_key=args.key)
    return checkout, _checkout_text(s, checkout)


def _addons(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    if args.action == "buy":
        quantities = dict(args.items)
        if args.quote:
            quote = s.billing.quote_addons(args.account, quantities)
            return quote, _summary_text(s, quote)
        checkout = s.billing.buy_addons(args.account, quantities, idempotency_key=args.key)
        return checkout, _checkout_text(s, checkout)
    if args.action == "stop":
        held = s.billing.stop_addon(args.account, args.code, quantity=args.quantity)
        ends = ", ".join(f"{q} on {s.show.when(at)}" for q, at in held.stops) or "-"
        text = f"{held.name}: {held.quantity} held, {held.stopping} stopping ({ends})"
        return held, text
    held_now = s.billing.addons(args.account)
    available = s.billing.available_addons(args.account)
    held_rows = [
        [
            a.code,
            a.name,
            str(a.quantity),
            str(a.stopping),
            ", ".join(f"{q} on {s.show.day(at)}" for q, at in a.stops) or "-",
        ]
        for a in held_now
    ]
    available_rows = [
        [
            a.code,
            a.name,
            s.show.money(a.unit_price),
            ", ".join(
                f"+{s.show.count(n)} {what[:-1] if n == 1 else what}" for what, n in a.adds.items()
            ),
            str(a.can_buy),
        ]
        for a in available
    ]
    parts = ["Held", ""]
    parts.append(
        _table(["Code", "Add-on", "Held", "Stopping", "Ends"], held_rows, numeric={2, 3})
        if held_rows
        else "(none)"
    )
    parts += ["", "Available", ""]
    parts.append(
        _table(["Code", "Add-on", "Unit price", "Adds", "Can buy"], available_rows, numeric={2, 4})
        if available_rows
        else "(none on this plan)"
    )
    return {"held": held_now, "available": available}, "\n".join(parts)


def _unsubscribe(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    sub = s.billing.unsubscribe(args.account)
    return sub, _subscription_text(s, sub)


def _resume(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    sub = s.billing.resume(args.account)
    return sub, _subscription_text(s, sub)


def _next(text: str, cursor: str | None) -> str:
    return text if cursor is None else f"{text}\n\nmore: --cursor {cursor}"


def _history(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    page = s.billing.usage_history(
        args.account, balance=args.balance, limit=args.limit, cursor=args.cursor
    )
    rows = [
        [
            s.show.when(e.at),
            str(e.balance),
            str(e.kind),
            str(e.count),
            s.show.money(e.amount),
            s.show.money(e.balance_after),
            e.invoice_code or e.key or "",
        ]
        for e in page.items
    ]
    table = _table(
        ["At", "Balance", "Kind", "Count", "Amount", "Balance after", "Invoice/key"],
        rows,
        numeric={3, 4, 5},
    )
    return page, _next(table, page.next_cursor)


def _invoices(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    page = s.billing.invoices(
        args.account, type=args.type, status=args.status, limit=args.limit, cursor=args.cursor
    )
    rows = [
        [
            i.code,
            str(i.type),
            package_words(i, WORDS),
            s.show.money(i.total),
            str(i.status),
            s.show.when(i.requested_at),
            s.show.when(i.paid_at),
        ]
        for i in page.items
    ]
    table = _table(
        ["Code", "Type", "Package", "Total", "Status", "Requested", "Paid"], rows, numeric={3}
    )
    return page, _next(table, page.next_cursor)


def _invoice_show(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    invoice = s.billing.invoice(args.account, args.code)
    rows = [
        [
            line_words(line, WORDS),
            str(line.quantity),
            s.show.money(line.unit_price),
            s.show.money(line.amount),
        ]
        for line in invoice.lines
    ]
    for label, amount in (
        ("Subtotal", invoice.subtotal),
        ("Tax", invoice.tax),
        ("Total", invoice.total),
    ):
        rows.append([label, "", "", s.show.money(amount)])
    lines = _table(["Description", "Qty", "Unit price", "Amount"], rows, numeric={1, 2, 3})
    return invoice, _invoice_text(s, invoice) + "\n\n" + lines


def _cmd_invoice_render(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    if args.output is None and args.format != "text":
        raise _Usage(f"--format {args.format} needs --output FILE (only text goes to stdout)")
    with _session(args) as s:
        document = s.billing.render_invoice(
            args.account, args.code, format=args.format, locale=args.locale
        )
        if args.output is None:
            out.write(document.decode("utf-8"))
            return 0
        Path(args.output).write_bytes(document)
        if s.json:
            _emit_json(out, {"code": args.code, "format": args.format, "path": args.output})
        else:
            out.write(f"Wrote {args.output} ({len(document)} bytes)\n")
    return 0


class _Usage(Exception):
    """A usage error found after parsing (exit 2, like argparse's own)."""


# -- the billing run, with progress ------------------------------------------------------------


class _Progress:
    """A plain counter on stderr every ``PROGRESS_EVERY`` accounts: ``run: 500 accounts``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.done = 0

    def account(self, done: int) -> None:
        self.done = done
        if done % PROGRESS_EVERY == 0:
            self._show()

    def _show(self) -> None:
        start, end = ("\r", "") if self.tty else ("", "\n")
        self.stream.write(f"{start}run: {self.done} accounts{end}")
        self.stream.flush()

    def finish(self) -> None:
        if self.done < PROGRESS_EVERY:
            return  # a handful of accounts: no progress to show
        if self.done % PROGRESS_EVERY:
            self._show()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _run_worker(
    db: str, schema: str, catalogue: str | None, now: datetime | None, until: datetime
) -> RunReport:
    """One worker process of ``run --workers N``: the billing run up to ``until``."""
    from subkit.testing import FakeGateway, FixedClock

    store = _open_store(db, schema)
    try:
        clock = FixedClock(now) if now is not None else None
        billing = Billing(_load(catalogue), store, FakeGateway(), clock=clock)
        return billing.advance(until)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


def _run_workers(s: _Session, args: argparse.Namespace) -> RunReport:
    """``advance`` in ``args.workers`` processes at once, to one ``until``: each claims due
    accounts no other holds (R-CON-4), so together they do what one run would."""
    import multiprocessing

    until = s.billing.clock.now()
    spawn = multiprocessing.get_context("spawn")
    jobs = [(args.db, args.schema, args.catalogue, args.now, until)] * args.workers
    with spawn.Pool(args.workers) as pool:
        reports = pool.starmap(_run_worker, jobs)
    counts: dict[str, int] = {}
    for report in reports:
        for kind, n in report.counts.items():
            counts[kind] = counts.get(kind, 0) + n
    accounts = tuple(a for report in reports for a in report.accounts)
    return RunReport(until=until, accounts=accounts, counts=counts)


def _cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    if args.workers < 1:
        raise _Usage(f"--workers must be at least 1, got {args.workers}")
    with _session(args) as s:
        progress = _Progress(sys.stderr)
        try:
            if args.workers == 1:
                report = s.billing.advance(progress=progress.account)
            else:
                report = _run_workers(s, args)
        finally:
            progress.finish()
        if isinstance(s.billing.gateway, ReconcilingGateway):
            # Ask the gateway about pending invoices whose webhook may be lost (R-GW-3).
            found = s.billing.reconcile()
            report = attrs.evolve(
                report,
                accounts=tuple(dict.fromkeys(report.accounts + found.accounts)),
                counts={**report.counts, **{f"reconcile_{k}": n for k, n in found.counts.items()}},
            )
        if s.json:
            _emit_json(out, report)
            return 0
        rows = [[kind, str(n)] for kind, n in sorted(report.counts.items())]
        out.write(
            f"Billing run until {s.show.when(report.until)}: "
            f"{len(report.accounts)} account(s) changed\n"
        )
        if rows:
            out.write("\n" + _table(["Event", "Count"], rows, numeric={1}) + "\n")
    return 0


# -- the parser --------------------------------------------------------------------------------


def _instant(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 instant: {text!r}") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} needs a UTC offset, e.g. 2026-01-10T09:00:00+07:00"
        )
    return at


def _code_quantity(text: str) -> tuple[str, int]:
    code, sep, quantity = text.partition("=")
    try:
        if not sep or not code:
            raise ValueError
        return code, int(quantity)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CODE=QUANTITY, got {text!r}") from None


def _common() -> argparse.ArgumentParser:
    """The global options, accepted before or after the command.

    Defaults are suppressed here so that a subcommand does not overwrite a value given
    before it; the top-level parser holds the real defaults.
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("global options")
    _add_globals(group, suppress=True)
    return common


def _add_globals(group: Any, *, suppress: bool) -> None:
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group.add_argument(
        "--db",
        metavar="PATH",
        default=default(DEFAULT_DB),
        help=f"the SQLite file, or a postgresql:// URI (default: {DEFAULT_DB})",
    )
    group.add_argument(
        "--schema",
        metavar="NAME",
        default=default("subkit"),
        help="the PostgreSQL schema, with --db postgresql://... (default: subkit)",
    )
    group.add_argument(
        "--catalogue",
        metavar="FILE",
        default=default(None),
        help="a catalogue TOML file (default: built-in)",
    )
    group.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON for scripts"
    )
    group.add_argument(
        "--now",
        metavar="ISO8601",
        type=_instant,
        default=default(None),
        help="fix the clock at this instant (default: the system clock)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``subkit`` command."""
    parser = argparse.ArgumentParser(
        prog="subkit",
        description="Embeddable subscription billing: operate an account database, "
        "inspect catalogues.",
    )
    parser.add_argument("--version", action="version", version=f"subkit {_version()}")
    _add_globals(parser, suppress=False)
    common = _common()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, handler: Handler) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    def account(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("account", metavar="ACCOUNT")

    def key(sub: argparse.ArgumentParser, required: bool = False) -> None:
        sub.add_argument(
            "--key", required=required, help="an idempotency key: a retry with it is a no-op"
        )

    plans = command("plans", "show the catalogue's plans and add-ons", _cmd_plans)
    plans.add_argument("--locale", choices=LOCALES, help="display locale (default: catalogue's)")

    opened = command("open", "open an account on the default plan", _with_billing(_open))
    account(opened)
    opened.add_argument("--timezone", metavar="TZ", help="the account's time zone")

    profile = command("profile", "set who invoices are made out to", _with_billing(_profile))
    account(profile)
    profile.add_argument("--name", required=True)
    profile.add_argument("--email", required=True)
    profile.add_argument("--address")
    profile.add_argument("--tax-number", dest="tax_number")

    overview = command(
        "overview", "plan, period, limits, usage, balances", _with_billing(_overview)
    )
    account(overview)

    top_up = command("top-up", "check out a balance top-up", _with_billing(_top_up))
    account(top_up)
    top_up.add_argument("balance", choices=[str(b) for b in Balance])
    top_up.add_argument("amount", type=int, metavar="AMOUNT")
    key(top_up)

    pay = command("pay", "apply a payment gateway's result to an invoice", _with_billing(_pay))
    pay.add_argument("code", metavar="CODE")
    pay.add_argument("--amount", type=int, required=True, help="the amount the gateway took")
    pay.add_argument("--reference", required=True, help="the gateway's payment reference")
    pay.add_argument(
        "--status", choices=[str(p) for p in PaymentStatus], default=str(PaymentStatus.PAID)
    )
    pay.add_argument("--event-id", dest="event_id", help="the gateway's event id (deduplicated)")

    charge = command("charge", "charge replies or a broadcast", _with_billing(_charge))
    account(charge)
    charge.add_argument("what", choices=["replies", "broadcast"])
    charge.add_argument("count", type=int, metavar="COUNT", help="replies, or broadcast recipients")
    key(charge, required=True)

    change = command("change", "check out (or --quote) a plan change", _with_billing(_change))
    account(change)
    change.add_argument("plan", metavar="PLAN")
    change.add_argument("--interval", choices=[str(i) for i in Interval])
    change.add_argument(
        "--addon", type=_code_quantity, action="append", metavar="CODE=QTY", help="repeatable"
    )
    change.add_argument("--quote", action="store_true", help="show the order summary only")
    key(change)

    renew = command("renew", "check out (or --quote) one more period", _with_billing(_renew))
    account(renew)
    renew.add_argument("--quote", action="store_true", help="show the order summary only")
    key(renew)

    addons = command("addons", "list, buy or stop add-ons", _with_billing(_addons))
    account(addons)
    actions = addons.add_subparsers(dest="action", metavar="ACTION")
    buy = actions.add_parser("buy", help="check out add-on units", parents=[common])
    buy.add_argument("items", type=_code_quantity, nargs="+", metavar="CODE=QTY")
    buy.add_argument("--quote", action="store_true", help="show the order summary only")
    key(buy)
    stop = actions.add_parser(
        "stop", help="stop add-on units at the end of the paid time", parents=[common]
    )
    stop.add_argument("code", metavar="CODE")
    stop.add_argument("--quantity", type=int, help="units to stop (default: all)")

    unsubscribe = command(
        "unsubscribe", "cancel at the end of the paid time", _with_billing(_unsubscribe)
    )
    account(unsubscribe)
    resume = command("resume", "undo unsubscribe", _with_billing(_resume))
    account(resume)

    history = command("history", "the balance statement, newest first", _with_billing(_history))
    account(history)
    history.add_argument("--balance", choices=[str(b) for b in Balance])
    history.add_argument("--limit", type=int, default=50)
    history.add_argument("--cursor", help="the cursor a previous page printed")

    invoices = command("invoices", "the account's invoices, newest first", _with_billing(_invoices))
    account(invoices)
    invoices.add_argument("--status", choices=[str(s) for s in InvoiceStatus])
    invoices.add_argument("--type", choices=[str(t) for t in InvoiceType])
    invoices.add_argument("--limit", type=int, default=50)
    invoices.add_argument("--cursor", help="the cursor a previous page printed")

    invoice = commands.add_parser("invoice", help="show or render one invoice")
    invoice_actions = invoice.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = invoice_actions.add_parser("show", help="one invoice and its lines", parents=[common])
    show.set_defaults(handler=_with_billing(_invoice_show))
    show.add_argument("account", metavar="ACCOUNT")
    show.add_argument("code", metavar="CODE")
    render = invoice_actions.add_parser("render", help="an invoice document", parents=[common])
    render.set_defaults(handler=_cmd_invoice_render)
    render.add_argument("account", metavar="ACCOUNT")
    render.add_argument("code", metavar="CODE")
    render.add_argument("--format", choices=["pdf", "html", "text"], default="pdf")
    render.add_argument(
        "--locale", choices=LOCALES, help="document language (default: catalogue's)"
    )
    render.add_argument("--output", metavar="FILE", help="where to write (text may go to stdout)")

    run = command("run", "the billing run: apply everything due for every account", _cmd_run)
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes sharing the due accounts (for PostgreSQL; default 1)",
    )

    demo = command("demo", "a short walkthrough of subkit", _cmd_demo)
    demo.add_argument("--locale", choices=LOCALES, help="display locale (default: catalogue's)")
    demo.add_argument(
        "--output", default="demo-output", metavar="DIR", help="where the database and documents go"
    )

    serve = commands.add_parser(
        "serve",
        help="the reference Settings > Subscription page, with a demo account",
        description="Serve the reference page on the SQLite file --db (default "
        f"{SERVE_DB}) with a demo account and a fake gateway whose payment page lets you "
        "pay, fail or let an invoice expire. Needs the web extra: pip install 'subkit[web]'.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument(
        "--db", dest="serve_db", metavar="FILE", default=SERVE_DB, help="the SQLite file"
    )
    serve.set_defaults(handler=_cmd_serve)

    catalogue = commands.add_parser("catalogue", help="work with catalogue files")
    catalogue_commands = catalogue.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = catalogue_commands.add_parser("check", help="validate a catalogue TOML file")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=_cmd_catalogue_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``subkit`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        status: int = args.handler(args, sys.stdout)
    except SubkitError as error:
        print(f"subkit: {error}", file=sys.stderr)
        return 2
    except _Usage as error:
        print(f"subkit: {error}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
