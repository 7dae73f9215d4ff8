"""The bad-input catalogue (issue 13, R-LIM, R-ERR): hundreds of malformed arguments across
every facade call, on the in-memory store and on SQLite. Each must be a typed refusal with
its stable code and, where R-LIM names one, the argument it names; and the store must be
exactly as it was (every stored row, not just what the facade shows)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest

import stores
from helpers import PROFILE, START, idr, pay
from subkit.errors import (
    AccountNotFound,
    InvalidAmount,
    InvalidArgument,
    InvalidCursor,
    InvalidQuantity,
    NaiveDatetime,
    SubkitError,
)
from subkit.invoice import BillingProfile, PaymentStatus
from subkit.plans import Catalogue
from subkit.ports import PaymentEvent, Store
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock, InMemoryStore, RecordingSink

ACCOUNT = "acme"
# Filled in by the world fixture: the code of a paid and of a pending invoice.
CODES: dict[str, str] = {}


class World:
    """A Billing on one store, with an account that has history to lose."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = FixedClock(START)
        self.billing = Billing(
            Catalogue.default(), store, FakeGateway(), clock=self.clock, events=RecordingSink()
        )
        b = self.billing
        b.open_account(ACCOUNT)
        b.set_billing_profile(ACCOUNT, PROFILE)
        paid = b.top_up(ACCOUNT, "conversation", 50_000, idempotency_key="first")
        pay(b, paid)
        b.charge_replies(ACCOUNT, 3, key="replies-1")
        b.adjust_balance(ACCOUNT, "broadcast", 20_000, key="gift", reason="welcome")
        pay(b, b.change_plan(ACCOUNT, "growth", addons={"extra_user": 2}))
        pending = b.top_up(ACCOUNT, "broadcast", 10_000)
        b.hold_broadcast(ACCOUNT, 5, key="campaign-1")
        assert paid.invoice is not None and pending.invoice is not None
        CODES["paid"] = paid.invoice.code
        CODES["pending"] = pending.invoice.code

    def snapshot(self) -> Any:
        """Everything stored, compared exactly: every row of a SQLite file, the whole state
        of the in-memory store, every table of the PostgreSQL schema the suite compares."""
        store = self.store
        if isinstance(store, SqliteStore):
            conn = sqlite3.connect(store.path)
            try:
                return list(conn.iterdump())
            finally:
                conn.close()
        if isinstance(store, InMemoryStore):
            state = store._state
            return (
                dict(state.accounts),
                dict(state.invoices),
                {k: list(v) for k, v in state.invoice_order.items()},
                {k: list(v) for k, v in state.ledger.items()},
                dict(state.records),
                state.sequence,
                dict(state.events),
                dict(state.delivered),
            )
        return stores.contents(store), self.billing.event_feed(ACCOUNT, limit=500)


@pytest.fixture(scope="module", params=stores.KINDS)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with stores.open_store(request.param, tmp_path_factory.mktemp(request.param)) as store:
        yield World(store)


# -- the table ---------------------------------------------------------------------------------

Call = Callable[[Billing], object]


@attrs.frozen
class Case:
    name: str
    call: Call
    error: type[SubkitError]
    argument: str | None = None  # the argument an InvalidArgument must name


NAIVE = datetime(2026, 1, 10, 9, 0)

# Values that are not identifiers (R-LIM-2), each with a readable name.
BAD_IDS: list[tuple[str, object]] = [
    ("empty", ""),
    ("blank", "   "),
    ("none", None),
    ("int", 7),
    ("float", 1.5),
    ("bool", True),
    ("list", ["acme"]),
    ("dict", {"id": "acme"}),
    ("bytes", b"acme"),
    ("too-long", "a" * 256),
    ("lone-surrogate", "ac\ud800me"),
    ("nul", "ac\x00me"),
    ("newline", "acme\nPAID"),
    ("escape", "\x1b[2Jacme"),
    ("del", "acme\x7f"),
    ("c1-control", "acme\x9b"),
    ("line-separator", "acme\u2028x"),
]


def _account_calls() -> list[tuple[str, Callable[[Billing, Any], object]]]:
    """Every facade call that takes an account id, with valid other arguments."""
    profile = BillingProfile("PT Baru", "baru@example.com")
    return [
        ("open_account", lambda b, a: b.open_account(a)),
        ("set_billing_profile", lambda b, a: b.set_billing_profile(a, profile)),
        ("billing_profile", lambda b, a: b.billing_profile(a)),
        ("subscription", lambda b, a: b.subscription(a)),
        ("balances", lambda b, a: b.balances(a)),
        ("quote_change", lambda b, a: b.quote_change(a, "pro")),
        ("change_plan", lambda b, a: b.change_plan(a, "pro")),
        ("cancel_change", lambda b, a: b.cancel_change(a)),
        ("quote_renewal", lambda b, a: b.quote_renewal(a)),
        ("renew", lambda b, a: b.renew(a)),
        ("quote_addons", lambda b, a: b.quote_addons(a, {"extra_user": 1})),
        ("buy_addons", lambda b, a: b.buy_addons(a, {"extra_user": 1})),
        ("available_addons", lambda b, a: b.available_addons(a)),
        ("addons", lambda b, a: b.addons(a)),
        ("stop_addon", lambda b, a: b.stop_addon(a, "extra_user")),
        ("resume_addon", lambda b, a: b.resume_addon(a, "extra_user")),
        ("addon_history", lambda b, a: b.addon_history(a)),
        ("top_up", lambda b, a: b.top_up(a, "conversation", 10_000)),
        ("charge_replies", lambda b, a: b.charge_replies(a, 1, key="k-new")),
        ("charge_broadcast", lambda b, a: b.charge_broadcast(a, 1, key="k-new")),
        (
            "adjust_balance",
            lambda b, a: b.adjust_balance(a, "conversation", 1, key="k-new", reason="r"),
        ),
        ("usage_history", lambda b, a: b.usage_history(a)),
        ("topup_history", lambda b, a: b.topup_history(a)),
        ("usage_overview", lambda b, a: b.usage_overview(a)),
        ("check_limit", lambda b, a: b.check_limit(a, "users", 1)),
        ("invoices", lambda b, a: b.invoices(a)),
        ("invoice", lambda b, a: b.invoice(a, CODES["paid"])),
        ("render_invoice", lambda b, a: b.render_invoice(a, CODES["paid"], format="text")),
        ("pay_invoice", lambda b, a: b.pay_invoice(a, CODES["pending"])),
        ("cancel_invoice", lambda b, a: b.cancel_invoice(a, CODES["pending"])),
        ("unsubscribe", lambda b, a: b.unsubscribe(a)),
        ("resume", lambda b, a: b.resume(a)),
        ("event_feed", lambda b, a: b.event_feed(a)),
        ("hold_broadcast", lambda b, a: b.hold_broadcast(a, 1, key="k-new")),
        ("settle_broadcast", lambda b, a: b.settle_broadcast(a, "campaign-1", 1)),
        ("release_broadcast", lambda b, a: b.release_broadcast(a, "campaign-1")),
        ("holds", lambda b, a: b.holds(a)),
    ]


def _bind(call: Callable[[Billing, Any], object], value: object) -> Call:
    return lambda billing: call(billing, value)


def account_id_cases() -> list[Case]:
    return [
        Case(
            f"{call_name}-account_id-{value_name}",
            _bind(call, value),
            InvalidArgument,
            "account_id",
        )
        for call_name, call in _account_calls()
        for value_name, value in BAD_IDS
    ]


def _keyed(name: str, call: Callable[[Billing, Any], object], argument: str) -> list[Case]:
    return [
        Case(f"{name}-{argument}-{value_name}", _bind(call, value), InvalidArgument, argument)
        for value_name, value in BAD_IDS
        if value is not None  # None means "no key" where a key is optional
    ]


def key_cases() -> list[Case]:
    cases: list[Case] = []
    cases += _keyed("charge_replies", lambda b, k: b.charge_replies(ACCOUNT, 1, key=k), "key")
    cases += _keyed("charge_broadcast", lambda b, k: b.charge_broadcast(ACCOUNT, 1, key=k), "key")
    cases += _keyed(
        "adjust_balance",
        lambda b, k: b.adjust_balance(ACCOUNT, "conversation", 1, key=k, reason="r"),
        "key",
    )
    for name, call in [
        ("top_up", lambda b, k: b.top_up(ACCOUNT, "conversation", 10_000, idempotency_key=k)),
        ("renew", lambda b, k: b.renew(ACCOUNT, idempotency_key=k)),
        ("change_plan", lambda b, k: b.change_plan(ACCOUNT, "pro", idempotency_key=k)),
        ("buy_addons", lambda b, k: b.buy_addons(ACCOUNT, {"extra_user": 1}, idempotency_key=k)),
    ]:
        cases += _keyed(name, call, "idempotency_key")
    for name, call in [
        ("invoice", lambda b, c: b.invoice(ACCOUNT, c)),
        ("render_invoice", lambda b, c: b.render_invoice(ACCOUNT, c, format="text")),
        ("pay_invoice", lambda b, c: b.pay_invoice(ACCOUNT, c)),
        ("cancel_invoice", lambda b, c: b.cancel_invoice(ACCOUNT, c)),
    ]:
        cases += _keyed(name, call, "code")
    cases += _keyed("hold_broadcast", lambda b, k: b.hold_broadcast(ACCOUNT, 1, key=k), "key")
    cases += _keyed("settle_broadcast", lambda b, h: b.settle_broadcast(ACCOUNT, h, 1), "hold_id")
    cases += _keyed("release_broadcast", lambda b, h: b.release_broadcast(ACCOUNT, h), "hold_id")
    cases += _keyed("quote_change", lambda b, p: b.quote_change(ACCOUNT, p), "plan")
    cases += _keyed("change_plan", lambda b, p: b.change_plan(ACCOUNT, p), "plan")
    cases += _keyed("stop_addon", lambda b, c: b.stop_addon(ACCOUNT, c), "addon")
    cases += _keyed("resume_addon", lambda b, c: b.resume_addon(ACCOUNT, c), "addon")
    cases += _keyed("open_account", lambda b, tz: b.open_account("new", timezone=tz), "timezone")
    return cases


def _event(**changes: Any) -> PaymentEvent:
    base: dict[str, Any] = {
        "invoice_code": CODES.get("pending", "INV-1"),
        "status": PaymentStatus.PAID,
        "reference": "ref-bad",
        "amount": idr(10_000),
        "event_id": None,
        "at": None,
    }
    return PaymentEvent(**{**base, **changes})


def payment_cases() -> list[Case]:
    cases: list[Case] = []
    for field in ("invoice_code", "reference", "event_id"):
        for value_name, value in BAD_IDS:
            if value is None and field != "invoice_code" and field != "reference":
                continue
            cases.append(
                Case(
                    f"apply_payment-{field}-{value_name}",
                    lambda b, f=field, v=value: b.apply_payment(_event(**{f: v})),
                    InvalidArgument,
                    f"event.{field}",
                )
            )
    for value_name, value in [("none", None), ("unknown", "settled"), ("int", 1), ("list", [])]:
        cases.append(
            Case(
                f"apply_payment-status-{value_name}",
                lambda b, v=value: b.apply_payment(_event(status=v)),
                InvalidArgument,
                "event.status",
            )
        )
    for value_name, value in [("huge", 10**28), ("2**63", 2**63), ("negative-huge", -(10**16))]:
        cases.append(
            Case(
                f"apply_payment-amount-{value_name}",
                lambda b, v=value: b.apply_payment(_event(amount=v)),
                InvalidAmount,
            )
        )
    cases.append(
        Case(
            "apply_payment-at-naive",
            lambda b: b.apply_payment(_event(at=NAIVE)),
            NaiveDatetime,
        )
    )
    return cases


BAD_COUNTS: list[tuple[str, object]] = [
    ("zero", 0),
    ("negative", -1),
    ("over", 1_000_001),
    ("2**63", 2**63),
    ("float", 1.5),
    ("float-whole", 2.0),
    ("bool", True),
    ("str", "3"),
    ("none", None),
    ("list", [1]),
]

BAD_AMOUNTS: list[tuple[str, object]] = [
    ("over", 10**15 + 1),
    ("under", -(10**15) - 1),
    ("10**28", 10**28),
    ("2**63", 2**63),
    ("-2**63", -(2**63)),
    ("googol", 10**100),
]


def count_and_amount_cases() -> list[Case]:
    cases: list[Case] = []
    for value_name, value in BAD_COUNTS:
        cases.append(
            Case(
                f"charge_replies-count-{value_name}",
                lambda b, v=value: b.charge_replies(ACCOUNT, v, key="k-count"),
                InvalidQuantity,
            )
        )
        cases.append(
            Case(
                f"hold_broadcast-recipients-{value_name}",
                lambda b, v=value: b.hold_broadcast(ACCOUNT, v, key="k-count"),
                InvalidQuantity,
            )
        )
        if value_name != "zero":  # settling 0 sent is a settlement
            cases.append(
                Case(
                    f"settle_broadcast-sent-{value_name}",
                    lambda b, v=value: b.settle_broadcast(ACCOUNT, "campaign-1", v),
                    InvalidQuantity,
                )
            )
        cases.append(
            Case(
                f"charge_broadcast-recipients-{value_name}",
                lambda b, v=value: b.charge_broadcast(ACCOUNT, v, key="k-count"),
                InvalidQuantity,
            )
        )
        for name, call in [
            ("usage_history", lambda b, v: b.usage_history(ACCOUNT, limit=v)),
            ("topup_history", lambda b, v: b.topup_history(ACCOUNT, limit=v)),
            ("invoices", lambda b, v: b.invoices(ACCOUNT, limit=v)),
            ("event_feed", lambda b, v: b.event_feed(ACCOUNT, limit=v)),
        ]:
            if value is not None:
                cases.append(
                    Case(f"{name}-limit-{value_name}", _bind(call, value), InvalidQuantity)
                )
    for value_name, value in BAD_AMOUNTS:
        cases.append(
            Case(
                f"top_up-amount-{value_name}",
                lambda b, v=value: b.top_up(ACCOUNT, "conversation", v),
                InvalidAmount,
            )
        )
        cases.append(
            Case(
                f"adjust_balance-amount-{value_name}",
                lambda b, v=value: b.adjust_balance(
                    ACCOUNT, "broadcast", v, key="k-amt", reason="r"
                ),
                InvalidAmount,
            )
        )
    # The balance after an adjustment is bounded too: 20.000 + 10**15 is beyond it.
    cases.append(
        Case(
            "adjust_balance-balance-beyond-the-bound",
            lambda b: b.adjust_balance(ACCOUNT, "broadcast", 10**15, key="k-amt", reason="r"),
            InvalidAmount,
        )
    )
    return cases


BAD_QUANTITY_MAPS: list[tuple[str, object, type[SubkitError]]] = [
    ("string", "extra_user", InvalidArgument),
    ("list", ["extra_user"], InvalidArgument),
    ("tuple-pairs", (("extra_user", 1),), InvalidArgument),
    ("int", 3, InvalidArgument),
    ("set", {"extra_user"}, InvalidArgument),
    ("int-key", {7: 1}, InvalidArgument),
    ("empty-key", {"": 1}, InvalidArgument),
    ("surrogate-key", {"extra\ud800": 1}, InvalidArgument),
    ("float-quantity", {"extra_user": 1.5}, InvalidQuantity),
    ("bool-quantity", {"extra_user": True}, InvalidQuantity),
    ("str-quantity", {"extra_user": "1"}, InvalidQuantity),
    ("none-quantity", {"extra_user": None}, InvalidQuantity),
    ("negative-quantity", {"extra_user": -1}, InvalidQuantity),
    ("huge-quantity", {"extra_user": 2**63}, InvalidQuantity),
    ("over-max-quantity", {"extra_user": 101}, InvalidQuantity),
]


def quantity_cases() -> list[Case]:
    cases: list[Case] = []
    for value_name, value, error in BAD_QUANTITY_MAPS:
        for name, argument, call in [
            ("quote_addons", "quantities", lambda b, v: b.quote_addons(ACCOUNT, v)),
            ("buy_addons", "quantities", lambda b, v: b.buy_addons(ACCOUNT, v)),
            ("quote_change", "addons", lambda b, v: b.quote_change(ACCOUNT, "pro", addons=v)),
            ("change_plan", "addons", lambda b, v: b.change_plan(ACCOUNT, "pro", addons=v)),
        ]:
            named = None
            if error is InvalidArgument:
                named = f"{argument} key" if "key" in value_name else argument
            cases.append(Case(f"{name}-{argument}-{value_name}", _bind(call, value), error, named))
    cases.append(
        Case(
            "buy_addons-quantities-zero",
            lambda b: b.buy_addons(ACCOUNT, {"extra_user": 0}),
            InvalidQuantity,
        )
    )
    return cases


# Not a count whatever is held (the world holds 2 extra users, none stopping): these were
# AddOnNotHeld, the holdings looked at before the argument.
BAD_ADDON_QUANTITIES: list[tuple[str, object]] = [
    ("bool", True),
    ("zero", 0),
    ("negative", -1),
    ("float", 1.5),
    ("float-whole", 1.0),
    ("str", "1"),
    ("2**63", 2**63),
]


def addon_quantity_cases() -> list[Case]:
    cases: list[Case] = []
    for value_name, value in BAD_ADDON_QUANTITIES:
        for name, call in [
            ("stop_addon", lambda b, v: b.stop_addon(ACCOUNT, "extra_user", quantity=v)),
            ("resume_addon", lambda b, v: b.resume_addon(ACCOUNT, "extra_user", quantity=v)),
        ]:
            cases.append(Case(f"{name}-quantity-{value_name}", _bind(call, value), InvalidQuantity))
    return cases


def choice_cases() -> list[Case]:
    cases: list[Case] = []
    for value_name, value in [
        ("unknown", "weekly"),
        ("int", 12),
        ("list", ["monthly"]),
        ("upper", "MONTHLY"),
    ]:
        for name, call in [
            ("quote_change", lambda b, v: b.quote_change(ACCOUNT, "pro", interval=v)),
            ("change_plan", lambda b, v: b.change_plan(ACCOUNT, "pro", interval=v)),
        ]:
            cases.append(
                Case(
                    f"{name}-interval-{value_name}", _bind(call, value), InvalidArgument, "interval"
                )
            )
    for value_name, value in [
        ("unknown", "sms"),
        ("none", None),
        ("int", 0),
        ("list", ["conversation"]),
    ]:
        cases.append(
            Case(
                f"top_up-balance-{value_name}",
                lambda b, v=value: b.top_up(ACCOUNT, v, 10_000),
                InvalidArgument,
                "balance",
            )
        )
        cases.append(
            Case(
                f"adjust_balance-balance-{value_name}",
                lambda b, v=value: b.adjust_balance(ACCOUNT, v, 1, key="k-b", reason="r"),
                InvalidArgument,
                "balance",
            )
        )
    for value_name, value in [("unknown", "lost"), ("int", 1), ("list", ["paid"])]:
        cases.append(
            Case(
                f"invoices-status-{value_name}",
                lambda b, v=value: b.invoices(ACCOUNT, status=v),
                InvalidArgument,
                "status",
            )
        )
        cases.append(
            Case(
                f"invoices-type-{value_name}",
                lambda b, v=value: b.invoices(ACCOUNT, type=v),
                InvalidArgument,
                "type",
            )
        )
        cases.append(
            Case(
                f"usage_history-kind-{value_name}",
                lambda b, v=value: b.usage_history(ACCOUNT, kind=v),
                InvalidArgument,
                "kind",
            )
        )
        cases.append(
            Case(
                f"usage_history-balance-{value_name}",
                lambda b, v=value: b.usage_history(ACCOUNT, balance=v),
                InvalidArgument,
                "balance",
            )
        )
    for value_name, value in [("docx", "docx"), ("none", None), ("int", 1)]:
        cases.append(
            Case(
                f"render_invoice-format-{value_name}",
                lambda b, v=value: b.render_invoice(ACCOUNT, CODES["paid"], format=v),
                InvalidArgument,
                "format",
            )
        )
    for name, call in [
        ("usage_history-since", lambda b: b.usage_history(ACCOUNT, since=NAIVE)),
        ("usage_history-until", lambda b: b.usage_history(ACCOUNT, until=NAIVE)),
        ("invoices-since", lambda b: b.invoices(ACCOUNT, since=NAIVE)),
        ("invoices-until", lambda b: b.invoices(ACCOUNT, until=NAIVE)),
        ("advance-now", lambda b: b.advance(NAIVE)),
        ("prune_events-before", lambda b: b.prune_events(NAIVE)),
    ]:
        cases.append(Case(f"{name}-naive", call, NaiveDatetime))
    return cases


def text_cases() -> list[Case]:
    """Host text (R-LIM-3): a reason and every field of a billing profile."""
    bad_texts: list[tuple[str, object]] = [
        ("int", 123),
        ("too-long", "x" * 501),
        ("newline", "PT X\nLUNAS / PAID"),
        ("carriage-return", "PT X\rPAID"),
        ("escape", "\x1b[31mPT X"),
        ("nul", "PT\x00X"),
        ("surrogate", "PT \udc00X"),
        ("line-separator", "PT X\u2028PAID"),
        ("bell", "PT X\x07"),
    ]
    cases: list[Case] = []
    for value_name, value in [*bad_texts, ("empty", ""), ("blank", "  "), ("none", None)]:
        cases.append(
            Case(
                f"adjust_balance-reason-{value_name}",
                lambda b, v=value: b.adjust_balance(
                    ACCOUNT, "conversation", 1, key="k-r", reason=v
                ),
                InvalidArgument,
                "reason",
            )
        )
    fields = {"name": "PT Baru", "email": "baru@example.com", "address": None, "tax_number": None}
    for field in fields:
        values = list(bad_texts)
        if field in ("name", "email"):
            values += [("empty", ""), ("blank", " "), ("none", None)]
        if field == "address":
            # An address may hold line breaks, and be up to 1,000 characters.
            values = [v for v in values if v[0] not in ("newline", "carriage-return", "too-long")]
            values.append(("too-long", "x" * 1001))
        for value_name, value in values:

            def call(b: Billing, f: str = field, v: object = value) -> object:
                return b.set_billing_profile(ACCOUNT, BillingProfile(**{**fields, f: v}))

            cases.append(
                Case(
                    f"set_billing_profile-{field}-{value_name}",
                    call,
                    InvalidArgument,
                    f"profile.{field}",
                )
            )
    return cases


def cursor_cases() -> list[Case]:
    """R-LIM-4: a malformed, tampered or foreign cursor is InvalidCursor naming "cursor" (the
    issue's forged history cursor crashed the SQLite store)."""
    import base64

    old_style = base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|9223372036854775808")
    bad: list[tuple[str, object]] = [
        ("garbage", "garbage"),
        ("int", 123),
        ("list", ["c1"]),
        ("old-format-huge-seq", old_style.decode().rstrip("=")),
        ("huge-numbers", f"c1.{2**63}.{2**63}.{'0' * 32}"),
        ("unchecked", "c1.1.2.00000000000000000000000000000000"),
        ("surrogate", "c1.\ud800"),
        ("long", "c1." + "1" * 500),
    ]
    cases: list[Case] = []
    for value_name, value in bad:
        for name, call in [
            ("usage_history", lambda b, v: b.usage_history(ACCOUNT, cursor=v)),
            ("topup_history", lambda b, v: b.topup_history(ACCOUNT, cursor=v)),
            ("invoices", lambda b, v: b.invoices(ACCOUNT, cursor=v)),
            ("event_feed", lambda b, v: b.event_feed(ACCOUNT, cursor=v)),
        ]:
            cases.append(
                Case(f"{name}-cursor-{value_name}", _bind(call, value), InvalidCursor, "cursor")
            )

    def foreign_ledger(b: Billing) -> object:
        cursor = b.usage_history(ACCOUNT, balance="conversation", limit=1).next_cursor
        assert cursor is not None
        return b.usage_history(ACCOUNT, limit=1, cursor=cursor)

    def foreign_invoices(b: Billing) -> object:
        cursor = b.invoices(ACCOUNT, type="top_up", limit=1).next_cursor
        assert cursor is not None
        return b.invoices(ACCOUNT, limit=1, cursor=cursor)

    def ledger_to_invoices(b: Billing) -> object:
        return b.invoices(ACCOUNT, cursor=b.usage_history(ACCOUNT, limit=1).next_cursor)

    cases += [
        Case("usage_history-cursor-another-query", foreign_ledger, InvalidCursor, "cursor"),
        Case("invoices-cursor-another-query", foreign_invoices, InvalidCursor, "cursor"),
        Case("invoices-cursor-another-list", ledger_to_invoices, InvalidCursor, "cursor"),
    ]
    return cases


def other_cases() -> list[Case]:
    return [
        Case(
            "check_limit-resource",
            lambda b: b.check_limit(ACCOUNT, "seats", 1),
            InvalidArgument,
            "resource",
        ),
        Case(
            "check_limit-resource-list",
            lambda b: b.check_limit(ACCOUNT, ["users"], 1),
            InvalidArgument,
            "resource",
        ),
        Case(
            "check_limit-total-float",
            lambda b: b.check_limit(ACCOUNT, "users", 1.5),
            InvalidQuantity,
        ),
        Case(
            "check_limit-total-negative",
            lambda b: b.check_limit(ACCOUNT, "users", -1),
            InvalidQuantity,
        ),
        Case("deliver_events-limit-zero", lambda b: b.deliver_events(limit=0), InvalidQuantity),
        Case("deliver_events-limit-float", lambda b: b.deliver_events(limit=1.5), InvalidQuantity),
        Case("reconcile-limit-zero", lambda b: b.reconcile(limit=0), InvalidArgument, "limit"),
        Case(
            "reconcile-older_than-negative",
            lambda b: b.reconcile(older_than=timedelta(seconds=-1)),
            InvalidArgument,
            "older_than",
        ),
        # now - older_than before year 1 raised the builtin OverflowError.
        Case(
            "reconcile-older_than-max",
            lambda b: b.reconcile(older_than=timedelta.max),
            InvalidArgument,
            "older_than",
        ),
        Case(
            "reconcile-older_than-before-year-1",
            lambda b: b.reconcile(older_than=timedelta(days=366 * 2026)),
            InvalidArgument,
            "older_than",
        ),
        Case("subscription-unknown-account", lambda b: b.subscription("nobody"), AccountNotFound),
    ]


CASES: list[Case] = [
    *account_id_cases(),
    *key_cases(),
    *payment_cases(),
    *count_and_amount_cases(),
    *quantity_cases(),
    *addon_quantity_cases(),
    *choice_cases(),
    *text_cases(),
    *cursor_cases(),
    *other_cases(),
]


def test_the_table_is_large_and_its_names_unique() -> None:
    """Issue 13 asks for at least 150 distinct bad inputs across every facade call."""
    names = [case.name for case in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 300
    called = {case.name.split("-")[0] for case in CASES}
    facade = {name for name, _ in _account_calls()} | {"apply_payment", "advance", "prune_events"}
    assert facade <= called


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_bad_input_is_a_typed_refusal_that_changes_nothing(world: World, case: Case) -> None:
    """R-LIM-6, R-ERR: the typed error with its stable code (and the argument it names), and
    every stored row as it was, on both stores."""
    before = world.snapshot()
    with pytest.raises(SubkitError) as caught:
        case.call(world.billing)
    error = caught.value
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    assert error.code == case.error.code
    if case.argument is not None:
        assert isinstance(error, InvalidArgument)
        assert error.argument == case.argument
    assert world.snapshot() == before


def test_the_world_still_works_after_the_refusals(world: World) -> None:
    """The refusals left the account usable: a good call after them succeeds."""
    charge = world.billing.charge_replies(ACCOUNT, 1, key="after-the-table")
    assert charge.count == 1
