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
    subkit charge --many FILE|-
    subkit change ACCOUNT PLAN [--interval monthly|annual] [--addon CODE=QTY ...] [--quote]
    subkit renew ACCOUNT [--quote]
    subkit addons ACCOUNT [buy CODE=QTY ... [--quote] | stop CODE [--quantity N]]
    subkit unsubscribe ACCOUNT | resume ACCOUNT
    subkit history ACCOUNT [--balance B] [--kind K] [--since D] [--until D | --month YYYY-MM]
                   [--limit N] [--cursor C] [--summary [--by day|month]]
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
(a :class:`~subkit.errors.SubkitError`'s message goes to stderr; with ``--json`` as a JSON
object ``{"error": {"code", "message", ...facts}}``), on usage errors and when any charge of
``charge --many`` is refused; 130 when interrupted (Ctrl-C).

Why it is long: one small handler per subcommand and the declarative argparse wiring;
each handler only parses, calls the facade and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time, tzinfo
from pathlib import Path
from typing import Any, NoReturn, TextIO

import attrs
from babel.numbers import format_decimal
from dateutil.relativedelta import relativedelta

from subkit import charges
from subkit.charges import ChargeRequest
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
from subkit.views import UsageTotal
from subkit.wallet import Balance, Charge, EntryKind

LOCALES = ("id_ID", "en")
# The views' headings are English; invoice lines and packages are said from their facts in
# the same language (documents, `invoice render`, say them in the asked locale).
WORDS = "en"
DEFAULT_DB = "subkit.sqlite"
SERVE_DB = "subkit-serve.sqlite"
#: ``run`` shows a progress counter on stderr every this many accounts.
PROGRESS_EVERY = 200
#: ``run`` counts at most this many due accounts at a time for its progress total: the count
#: is one range read of the due index, and past this many ids it would cost memory for a
#: figure nobody needs exactly (the total then shows as ``100000+`` until it is near).
COUNT_AT_MOST = 100_000
#: The fields of a line of ``charge --many``: those of :class:`~subkit.charges.ChargeRequest`.
CHARGE_FIELDS = ("account_id", "kind", "count", "key")
#: How many refused lines of ``charge --many`` the message on stderr names (all are listed
#: on stdout, and in the ``refused`` fact of the JSON error).
NAMED_REFUSALS = 10
#: Exit status of a command interrupted by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


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


def _cmd_charge(args: argparse.Namespace, out: TextIO) -> int:
    if args.many is not None:
        given = [args.account, args.what, args.count, args.key]
        if any(value is not None for value in given):
            raise _Usage(
                "charge --many FILE takes no ACCOUNT, kind, COUNT or --key: each line has its own"
            )
        return _charge_many(args, out)
    if args.account is None or args.what is None or args.count is None:
        raise _Usage("charge needs ACCOUNT {replies,broadcast} COUNT --key K, or --many FILE")
    if args.key is None:
        raise _Usage("charge needs --key K: an idempotency key, so that a retry charges nothing")
    return _with_billing(_charge)(args, out)


def _charge(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    if args.what == "replies":
        charge = s.billing.charge_replies(args.account, args.count, key=args.key)
    else:
        charge = s.billing.charge_broadcast(args.account, args.count, key=args.key)
    return charge, _charge_text(s, charge)


def _read_lines(source: str) -> tuple[str, str]:
    """The name ``charge --many`` calls its input by, and its text (``-``: stdin)."""
    if source == "-":
        return "<stdin>", sys.stdin.read()
    try:
        return source, Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise _Usage(f"cannot read {source}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise _Usage(f"cannot read {source}: not UTF-8 text") from None


def read_charges(name: str, text: str) -> list[tuple[int, ChargeRequest]]:
    """Every charge of a ``charge --many`` input, with its line number, checked whole.

    A line is a JSON object with exactly the fields of a ChargeRequest: ``account_id``,
    ``kind`` (``reply`` or ``broadcast``), ``count`` (replies, or recipients) and ``key``;
    blank lines are skipped. The whole input is checked before anything is charged, so that a
    malformed line leaves every account as it was; a refusal that depends on an account's
    state (its balance, a key used with other arguments) is that line's own result later.

    Raises:
        _Failed: the first malformed line, by number: its code is ``invalid_argument`` for
            JSON and fields, or that of the request's own check (``invalid_quantity``, ...).
    """
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            found.append((number, _charge_line(name, number, line)))
    return found


def _charge_line(name: str, number: int, line: str) -> ChargeRequest:
    def bad(message: str, code: str = "invalid_argument", **facts: Any) -> _Failed:
        return _Failed(
            code,
            f"{name} line {number}: {message}; nothing was charged",
            file=name,
            line=number,
            **facts,
        )

    fields = ", ".join(CHARGE_FIELDS)
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise bad(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(data, dict):
        raise bad(f"expected a JSON object with {fields}")
    unknown = sorted(set(data) - set(CHARGE_FIELDS))
    if unknown:
        hint = " (the account is account_id)" if "account" in unknown else ""
        raise bad(f"unknown field {', '.join(map(repr, unknown))}{hint}; a charge has {fields}")
    missing = [field for field in CHARGE_FIELDS if field not in data]
    if missing:
        raise bad(f"missing {', '.join(missing)}; a charge has {fields}")
    request = ChargeRequest(data["account_id"], data["kind"], data["count"], data["key"])
    try:
        return charges.check_request(request)
    except SubkitError as error:
        raise bad(str(error), error.code, **error.facts) from None


def _charge_many(args: argparse.Namespace, out: TextIO) -> int:
    name, text = _read_lines(args.many)
    requests = read_charges(name, text)
    with _session(args) as s:
        try:
            results = s.billing.charge_many([request for _, request in requests])
        except KeyboardInterrupt:
            raise _Failed(
                "interrupted",
                "charge --many interrupted: the lines charged before it stay charged; run the "
                "same file again, their keys make it charge each line once",
                status=INTERRUPTED,
            ) from None
        refused = [
            (number, result)
            for (number, _), result in zip(requests, results, strict=True)
            if isinstance(result, SubkitError)
        ]
        if s.json:
            for (number, request), result in zip(requests, results, strict=True):
                line: dict[str, Any] = {"line": number, **to_dict(request)}
                if isinstance(result, SubkitError):
                    line.update(_refusal(result))
                else:
                    line["charge"] = to_dict(result)
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            out.write(_charges_table(s, requests, results) + "\n")
            out.write(
                f"\n{len(results)} charge(s): {len(results) - len(refused)} charged, "
                f"{len(refused)} refused\n"
            )
    if not refused:
        return 0
    # The message names the first few; the table (or the JSON lines) has every one.
    named = refused[:NAMED_REFUSALS]
    more = f" and {len(refused) - len(named)} more" if len(refused) > len(named) else ""
    which = ", ".join(f"line {number} ({error.code})" for number, error in named)
    message = f"{len(refused)} of {len(results)} charges refused: {which}{more}"
    if not s.json:
        message += "".join(f"\n  line {number}: {error.code}: {error}" for number, error in named)
    lines = [{"line": number, "code": error.code} for number, error in refused]
    raise _Failed("charges_refused", message, refused=lines)


def _charges_table(
    s: _Session,
    requests: Sequence[tuple[int, ChargeRequest]],
    results: Sequence[Charge | SubkitError],
) -> str:
    rows = []
    for (number, request), result in zip(requests, results, strict=True):
        cells = [str(number), request.account_id, str(request.kind), request.key]
        if isinstance(result, SubkitError):
            cells += [s.show.count(request.count), "-", "-", "-", f"refused: {result.code}"]
        else:
            in_quota = result.balance is Balance.BROADCAST
            cells += [
                s.show.count(result.count),
                s.show.count(result.quota_used) if in_quota else "-",
                s.show.money(result.amount),
                s.show.money(result.balance_after),
                "charged",
            ]
        rows.append(cells)
    headers = ["Line", "Account", "Kind", "Key", "Count", "In quota", "Charged"]
    headers += ["Balance after", "Result"]
    return _table(headers, rows, numeric={0, 4, 5, 6, 7})


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


def _range(s: _Session, args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until`` or ``--month`` as instants: a date is local midnight in the
    account's time zone, a month its first day to the next month's."""
    if args.month is not None and (args.since is not None or args.until is not None):
        raise _Usage("--month is a range of its own: give it, or --since/--until, not both")
    if args.month is None and args.since is None and args.until is None:
        return None, None
    tz = zone(s.billing.subscription(args.account).timezone)

    def instant(value: date | datetime | None) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return datetime.combine(value, time(), tzinfo=tz)

    if args.month is not None:
        return _month_of(args.month, tz)
    return instant(args.since), instant(args.until)


def _month_of(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The calendar month of ``day``: its first local midnight and the next month's."""
    first = datetime.combine(day.replace(day=1), time(), tzinfo=tz)
    return first, first + relativedelta(months=1)  # wall-clock months: local midnights


def _history(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    if args.summary:
        return _summary(s, args)
    if args.by is not None:
        raise _Usage("--by groups the totals of --summary")
    since, until = _range(s, args)
    page = s.billing.usage_history(
        args.account,
        balance=args.balance,
        kind=args.kind,
        since=since,
        until=until,
        limit=50 if args.limit is None else args.limit,
        cursor=args.cursor,
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
    table = (
        _table(
            ["At", "Balance", "Kind", "Count", "Amount", "Balance after", "Invoice/key"],
            rows,
            numeric={3, 4, 5},
        )
        if rows or args.cursor is not None
        else "(no entries)"
    )
    return page, _next(table, page.next_cursor)


def _summary(s: _Session, args: argparse.Namespace) -> tuple[Any, str]:
    """``history --summary``: the usage totals per day (or month) and kind (R-VOL-3)."""
    if args.cursor is not None or args.limit is not None:
        raise _Usage("--summary has no pages: --limit and --cursor are for the entries")
    since, until = _range(s, args)
    if since is None or until is None:
        if since is not None or until is not None:
            raise _Usage("--summary needs both --since and --until, or --month")
        # Neither: the current month, in the account's time zone.
        tz = zone(s.billing.subscription(args.account).timezone)
        today = s.billing.clock.now().astimezone(tz)
        since, until = _month_of(today.date(), tz)
    by = args.by or "day"
    totals = s.billing.usage_summary(
        args.account, since=since, until=until, by=by, balance=args.balance
    )
    if args.kind is not None:
        totals = [total for total in totals if total.kind == args.kind]
    return totals, _summary_table(s, totals, by)


def _summary_table(s: _Session, totals: Sequence[UsageTotal], by: str) -> str:
    if not totals:
        return "(no usage in this range)"
    shape = "%Y-%m-%d" if by == "day" else "%Y-%m"
    rows = [
        [
            total.start.strftime(shape),
            str(total.balance),
            str(total.kind),
            s.show.count(total.count),
            s.show.money(total.amount),
        ]
        for total in totals
    ]
    heading = "Day" if by == "day" else "Month"
    return _table([heading, "Balance", "Kind", "Count", "Amount"], rows, numeric={3, 4})


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


# -- failures: what goes to stderr, as text or (with --json) as JSON ---------------------------


class _Failed(Exception):
    """A command that failed as a whole: a stable ``code``, a message, the exit status and
    the facts a script may need (printed under the code with ``--json``)."""

    def __init__(self, code: str, message: str, *, status: int = 2, **facts: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.facts = facts


class _Usage(_Failed):
    """A usage error found after parsing (exit 2, like argparse's own)."""

    def __init__(self, message: str, **facts: Any) -> None:
        super().__init__("usage", message, **facts)


class _ParseError(Exception):
    """argparse's usage error, raised instead of exiting so that ``--json`` can shape it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors raise :class:`_ParseError` (its subparsers too:
    ``add_subparsers`` makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        raise _ParseError(self, message)


def _json_fact(value: Any) -> Any:
    """A fact as JSON; one subkit cannot write (a caller's bad value may be anything) is
    given as its ``repr``, so that reporting an error never fails."""
    try:
        data = to_dict(value)
        json.dumps(data)
    except Exception:
        return repr(value)[:200]
    return data


def _error_json(code: str, message: str, facts: dict[str, Any]) -> dict[str, Any]:
    """The JSON object ``--json`` prints on stderr for a failure (and ``charge --many`` per
    refused line): ``{"error": {"code", "message", ...facts}}``."""
    return {
        "error": {
            "code": code,
            "message": message,
            **{name: _json_fact(value) for name, value in facts.items()},
        }
    }


def _refusal(error: SubkitError) -> dict[str, Any]:
    return _error_json(error.code, str(error), error.facts)


# -- the billing run, with progress ------------------------------------------------------------


class _Progress:
    """``run: 500/1200 accounts`` on stderr every ``PROGRESS_EVERY`` accounts: how many the
    run has done of how many were due.

    The total is counted from the store's due index before the run (``due_accounts``, one
    range read of ids, at most ``COUNT_AT_MOST + 1`` of them); past that many it shows as
    ``100000+`` and is counted again when the run gets there. Accounts another process
    brings up to date meanwhile make it an overestimate, so the last line shows the total
    the run actually did.
    """

    def __init__(self, stream: TextIO, count: Callable[[], int] | None) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.count = count
        self.done = 0
        self.left = count() if count is not None else None
        self.base = 0  # accounts done when ``left`` was counted
        self.shown = ""

    def total(self) -> str:
        if self.left is None:
            return ""
        if self.left > COUNT_AT_MOST:
            return f"/{self.base + COUNT_AT_MOST}+"
        return f"/{max(self.base + self.left, self.done)}"

    def account(self, done: int) -> None:
        self.done = done
        if (
            self.count is not None
            and self.left is not None
            and self.left > COUNT_AT_MOST
            and done >= self.base + COUNT_AT_MOST
        ):
            self.base, self.left = done, self.count()
        if done % PROGRESS_EVERY == 0:
            self._show()

    def _show(self) -> None:
        line = f"run: {self.done}{self.total()} accounts"
        if line == self.shown:
            return
        self.shown = line
        start, end = ("\r", "") if self.tty else ("", "\n")
        self.stream.write(f"{start}{line}{end}")
        self.stream.flush()

    def finish(self, *, complete: bool) -> None:
        """The last line: after a complete run, its total is what it did."""
        if complete:
            self.base, self.left = self.done, 0
        if self.done < PROGRESS_EVERY:
            return  # a handful of accounts: no progress to show
        self._show()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _ignore_interrupts() -> None:
    """A worker of ``run --workers`` leaves Ctrl-C to its parent, which ends the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _count_due(store: Store, until: datetime) -> int:
    """How many accounts are due at ``until``, up to ``COUNT_AT_MOST + 1`` (the due index's
    ids only, no account is read)."""
    with store.snapshot() as view:
        return len(view.due_accounts(until, limit=COUNT_AT_MOST + 1))


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
    # On Ctrl-C the pool is terminated: a worker killed inside a unit of work has committed
    # nothing of it (the database rolls the unit back), so the next run does that account.
    with spawn.Pool(args.workers, initializer=_ignore_interrupts) as pool:
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
        if args.workers == 1:
            until = s.billing.clock.now()
            progress = _Progress(sys.stderr, lambda: _count_due(s.store, until))
            complete = False
            try:
                report = s.billing.advance(until, progress=progress.account)
                complete = True
            except KeyboardInterrupt:
                raise _Failed(
                    "interrupted",
                    f"run interrupted after {progress.done}{progress.total()} accounts: each "
                    "account is brought up to date whole or not at all; run it again to finish",
                    status=INTERRUPTED,
                    done=progress.done,
                ) from None
            finally:
                progress.finish(complete=complete)
        else:
            try:
                report = _run_workers(s, args)
            except KeyboardInterrupt:
                raise _Failed(
                    "interrupted",
                    "run interrupted: each account is brought up to date whole or not at all; "
                    "run it again to finish",
                    status=INTERRUPTED,
                ) from None
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


def _entry_kind(text: str) -> EntryKind:
    try:
        return EntryKind(text.replace("-", "_"))  # `--kind top-up`, as the command is named
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown kind {text!r}; the ledger has {', '.join(EntryKind)}"
        ) from None


def _date_or_instant(text: str) -> date | datetime:
    """A day (``2026-01-31``, midnight in the account's time zone) or an instant with its
    offset."""
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    try:
        return _instant(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a day YYYY-MM-DD or an ISO 8601 instant with its offset, got {text!r}"
        ) from None


def _month(text: str) -> date:
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a month YYYY-MM, got {text!r}") from None


def _code_quantity(text: str) -> tuple[str, int]:
    code, sep, quantity = text.partition("=")
    try:
        if not sep or not code:
            raise ValueError
        return code, int(quantity)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CODE=QUANTITY, got {text!r}") from None


def _common() -> _Parser:
    """The global options, accepted before or after the command.

    Defaults are suppressed here so that a subcommand does not overwrite a value given
    before it; the top-level parser holds the real defaults.
    """
    common = _Parser(add_help=False)
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
        "--json",
        action="store_true",
        default=default(False),
        help="print JSON for scripts (a failure: a JSON object on stderr)",
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
    parser = _Parser(
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

    charge = command("charge", "charge replies or a broadcast, or many (JSON lines)", _cmd_charge)
    charge.usage = (
        "%(prog)s ACCOUNT {replies,broadcast} COUNT --key K [global options]\n"
        "       %(prog)s --many FILE [global options]"
    )
    charge.add_argument("account", metavar="ACCOUNT", nargs="?")
    charge.add_argument("what", choices=["replies", "broadcast"], nargs="?")
    charge.add_argument(
        "count", type=int, metavar="COUNT", nargs="?", help="replies, or broadcast recipients"
    )
    key(charge)
    charge.add_argument(
        "--many",
        metavar="FILE",
        help='charge every line of FILE (- for stdin), each a JSON object {"account_id": ..., '
        '"kind": "reply"|"broadcast", "count": N, "key": ...}; the file is checked whole '
        "before anything is charged",
    )

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

    history = command(
        "history",
        "the balance statement, newest first, or (--summary) its totals",
        _with_billing(_history),
    )
    account(history)
    history.add_argument("--balance", choices=[str(b) for b in Balance])
    history.add_argument(
        "--kind",
        type=_entry_kind,
        metavar="KIND",
        help=f"only entries of this kind: {', '.join(EntryKind)} (top_up: the top-up history)",
    )
    history.add_argument(
        "--since", type=_date_or_instant, metavar="DATE", help="from this day (inclusive)"
    )
    history.add_argument(
        "--until", type=_date_or_instant, metavar="DATE", help="up to this day (exclusive)"
    )
    history.add_argument("--month", type=_month, metavar="YYYY-MM", help="one calendar month")
    history.add_argument("--limit", type=int, help="entries per page (default 50)")
    history.add_argument("--cursor", help="the cursor a previous page printed")
    history.add_argument(
        "--summary",
        action="store_true",
        help="totals per day and kind instead of entries (default range: this month)",
    )
    history.add_argument(
        "--by", choices=["day", "month"], help="with --summary: totals per day (default) or month"
    )

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
    argv = list(sys.argv[1:] if argv is None else argv)
    # Whether to answer a usage error in JSON is known before parsing succeeds only from the
    # words themselves.
    as_json = "--json" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ParseError as error:
        if as_json:
            usage = error.parser.format_usage().strip()
            return _fail(_Usage(error.message, usage=usage), as_json=True)
        error.parser.print_usage(sys.stderr)
        print(f"{error.parser.prog}: error: {error.message}", file=sys.stderr)
        return 2
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        status: int = args.handler(args, sys.stdout)
    except SubkitError as error:
        return _fail(_Failed(error.code, str(error), **error.facts), as_json=args.json)
    except _Failed as error:
        return _fail(error, as_json=args.json)
    except KeyboardInterrupt:
        # Every change subkit makes commits whole or not at all: nothing is left half done.
        stopped = _Failed("interrupted", "interrupted", status=INTERRUPTED)
        return _fail(stopped, as_json=args.json)
    return status


def _fail(failure: _Failed, *, as_json: bool) -> int:
    sys.stdout.flush()  # what was printed before the failure comes first
    if as_json:
        shaped = _error_json(failure.code, failure.message, failure.facts)
        print(json.dumps(shaped, ensure_ascii=False), file=sys.stderr)
    else:
        print(f"subkit: {failure.message}", file=sys.stderr)
    return failure.status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
