"""``Billing``: the facade a host calls. The only module that talks to the ports.

Every write follows one shape: open a unit of work, load the account, read the clock (once
the unit holds the account, R-CON-1), bring the account up to then
(:func:`subkit.account.catch_up`), call a pure decision, save, commit; then talk to the
gateway and publish events. Every read opens one snapshot instead and applies the same
catch-up in memory, saving nothing (:mod:`subkit.reads`, R-CON-2). No billing rule lives here.

Why it is long: one method per public facade call (SPEC section 11), each a load, one
pure call and a save; the rules themselves live in the core modules.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import attrs

from subkit import account as accounts
from subkit import bounds, charges, lifecycle, notices, quotes, reads, settlement, views
from subkit import checkout as checkouts
from subkit import subscription as subs
from subkit import wallet as wallets
from subkit.account import Account, CatchUp
from subkit.charges import ChargeKind, ChargeRequest
from subkit.cycles import Interval, ensure_aware, zone
from subkit.errors import (
    AccountExists,
    AccountNotFound,
    ConcurrencyConflict,
    InvalidArgument,
    InvalidQuantity,
    InvalidTime,
    InvalidTransition,
    InvoiceNotFound,
    SubkitError,
)
from subkit.events import (
    AddOnResumed,
    AddOnStopped,
    BalanceAdjusted,
    DomainEvent,
    InvoiceCancelled,
    SubscriptionOpened,
    SubscriptionResumed,
    make_event,
)
from subkit.idempotency import IdempotencyRecord, fingerprint, replay
from subkit.invoice import (
    BillingProfile,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    PaymentStatus,
)
from subkit.money import Money
from subkit.paging import Page
from subkit.plans import Catalogue, Usage
from subkit.ports import (
    Clock,
    EventSink,
    PaymentEvent,
    PaymentGateway,
    PaymentRequest,
    PaymentSession,
    ReconcilingGateway,
    Store,
    UnitOfWork,
    UsageSource,
)
from subkit.quotes import OrderSummary, Purchase
from subkit.serialize import from_record, to_record
from subkit.settlement import PaymentReport
from subkit.subscription import AddOnEvent, Subscription
from subkit.views import AvailableAddOn, HeldAddOn, Offers, UsageOverview, UsageTotal
from subkit.wallet import Balance, Charge, EntryKind, Hold, LedgerEntry

log = logging.getLogger("subkit.billing")
T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
_log = logging.getLogger("subkit")

MAX_ATTEMPTS = 5
DELIVERY_PAGE = 500  # events claimed and published at a time
EVENT_LEASE = timedelta(minutes=5)  # how long a claimed event is not handed to another
PRUNE_BATCH = 1000  # events deleted per transaction
CHARGE_BATCH = 500  # charge_many requests per unit of work
MAX_HOLD = timedelta(days=30)  # the longest a broadcast hold may stay open


def _choice(kind: type[E], value: object, name: str) -> E | None:
    """Parse an enumeration argument, refusing unknown values with ``InvalidArgument``."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidArgument(
            f"{name} must be one of {allowed}, not {value!r}", argument=name, value=value
        ) from None


def _required(kind: type[E], value: object, name: str) -> E:
    chosen = _choice(kind, value, name)
    if chosen is None:
        raise InvalidArgument(f"{name} is required", argument=name, value=value)
    return chosen


def _choice_of(allowed: Sequence[str], value: object, name: str) -> None:
    if value not in allowed:
        raise InvalidArgument(
            f"{name} must be one of {', '.join(allowed)}, not {value!r}", argument=name, value=value
        )


class SystemClock:
    """The default clock: the system's UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@attrs.frozen
class Checkout:
    """An order placed: its invoice (``None`` when nothing is to be paid) and where to pay."""

    invoice: Invoice | None
    payment: PaymentSession | None


@attrs.frozen
class Balances:
    """Both balances; ``broadcast_held`` is the part of ``broadcast`` (and of its overdraft
    room) that open broadcast holds reserve: no other charge can spend it (R-VOL-2)."""

    conversation: Money
    broadcast: Money
    broadcast_held: Money = attrs.field(
        default=attrs.Factory(lambda self: Money.zero(self.broadcast.currency), takes_self=True)
    )


@attrs.frozen
class RunReport:
    """What a billing run did: ``counts`` per kind of event, and the accounts touched."""

    until: datetime
    accounts: tuple[str, ...]
    counts: dict[str, int]


@attrs.define
class _Outcome:
    """What one unit of work leaves to do after it commits."""

    events: list[DomainEvent] = attrs.field(factory=list)
    # Payment sessions of invoices this unit cancelled or expired: the gateway is asked to
    # cancel them once the unit has committed (R-GW-4).
    dead_sessions: list[tuple[str, str]] = attrs.field(factory=list)


class Billing:
    """The subscription-billing facade (SPEC section 11)."""

    def __init__(
        self,
        catalogue: Catalogue,
        store: Store,
        gateway: PaymentGateway,
        clock: Clock | None = None,
        events: EventSink | None = None,
        usage: UsageSource | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.store = store
        self.gateway = gateway
        self.clock: Clock = clock or SystemClock()
        self.events = events
        self.usage = usage
        if not (catalogue.seller.name or "").strip():
            # Invoices go out to buyers: without a seller they name no one (R-CAT-7, R-INV-8).
            _log.warning(
                "the catalogue has no [seller] name: invoices will print a dash as the seller; "
                "an Indonesian tax invoice needs the seller's name, address and NPWP"
            )
        # Events of another process (or of a sink error) may be waiting: the first call looks.
        self._maybe_pending = True

    # -- plumbing -------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return ensure_aware(self.clock.now(), "clock.now()")

    def _write(self, work: Callable[[UnitOfWork, _Outcome], T]) -> T:
        """Run ``work`` in one transaction, retrying optimistic-lock conflicts a few times.

        ``work`` takes its time from :meth:`_load` (or :meth:`_now` when it loads no account)
        inside the unit, never before it: a call that waited for another writer is dated
        after that writer's change (R-CON-1)."""
        for attempt in range(MAX_ATTEMPTS):
            outcome = _Outcome()
            try:
                with self.store.transaction() as unit:
                    result = work(unit, outcome)
                    # The events commit with the change or not at all (R-EVT-1).
                    if outcome.events:
                        unit.add_events(outcome.events)
            except ConcurrencyConflict:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
                continue
            if outcome.events or self._maybe_pending:
                try:
                    self._deliver(DELIVERY_PAGE)
                except Exception:  # the change committed: report it, never fail the call
                    self._maybe_pending = True
                    _log.exception("delivering events after a commit failed; they stay pending")
            self._cancel_sessions(outcome.dead_sessions)
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _cancel_sessions(self, sessions: Sequence[tuple[str, str]]) -> None:
        """Ask the gateway to cancel dead invoices' payments: best effort, after the commit.

        A failure is logged and left: the invoice is already cancelled or expired in the
        store, and a payment made anyway is still applied or flagged (R-INV-5)."""
        if not sessions or not isinstance(self.gateway, ReconcilingGateway):
            return
        for code, reference in sessions:
            try:
                self.gateway.cancel(code, reference)
            except Exception as error:  # the gateway's failure must not fail the host's call
                log.warning("could not cancel the payment of %s: %s", code, type(error).__name__)

    def _deliver(self, limit: int) -> int:
        """Hand pending events to the sink, oldest first, a page at a time (R-EVT-2).

        Never raises for the sink: a committed call must not fail because of it. A sink error
        is logged on the ``subkit`` logger and its events are released for the next try.
        """
        if self.events is None or limit <= 0:
            return 0
        owner = uuid.uuid4().hex
        delivered = 0
        while delivered < limit:
            now = self._now()
            page_size = min(DELIVERY_PAGE, limit - delivered)
            with self.store.transaction() as unit:
                page = unit.claim_events(
                    owner=owner, now=now, lease_until=now + EVENT_LEASE, limit=page_size
                )
            if not page:
                self._maybe_pending = False
                break
            try:
                self.events.publish(page)
            except Exception:
                _log.exception("the event sink failed; %d events stay pending", len(page))
                self._maybe_pending = True
                with self.store.transaction() as unit:
                    unit.release_events([event.id for event in page], owner=owner)
                break
            with self.store.transaction() as unit:
                unit.mark_delivered([event.id for event in page], at=self._now())
            delivered += len(page)
            if len(page) < page_size:
                self._maybe_pending = False
                break
        return delivered

    # -- events ---------------------------------------------------------------------------------

    def deliver_events(self, *, limit: int = 1000) -> int:
        """Hand pending events to the sink, oldest first; return how many were delivered
        (R-EVT-3). Safe to run in several processes at once: each event is leased to one
        of them at a time. Without a sink, delivers nothing."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidQuantity(f"limit must be a positive int, got {limit!r}")
        return self._deliver(limit)

    def event_feed(
        self, account_id: str, *, cursor: str | None = None, limit: int = 50
    ) -> Page[DomainEvent]:
        """The account's events, oldest first, delivered or not (R-EVT-4)."""
        bounds.identifier(account_id, "account_id")
        self._check_range(None, None, limit)
        with self.store.snapshot() as view:
            if view.get_account(account_id) is None:
                raise AccountNotFound(f"no account {account_id!r}", account_id=account_id)
            return view.event_page(account_id, cursor=cursor, limit=limit)

    def prune_events(self, before: datetime) -> int:
        """Delete delivered events that happened before ``before``; return how many.
        Pending events are kept until delivered."""
        ensure_aware(before, "before")
        pruned = 0
        while True:
            with self.store.transaction() as unit:
                batch = unit.prune_events(before, limit=PRUNE_BATCH)
            pruned += batch
            if batch < PRUNE_BATCH:
                return pruned

    def _dated(self, account: Account) -> datetime:
        """The time of a call on ``account``: the clock's now, read once the call holds the
        account (R-CON-1).

        Time never runs backwards for an account (its ledger and periods are in order). A
        clock behind the account's last change by at most ``policy.max_clock_skew_seconds``
        (another server's clock, a little behind) dates the call at that change; further
        behind, the call is refused with ``InvalidTime``.
        """
        now = self._now()
        as_of = account.as_of
        if as_of is None or now >= as_of:
            return now
        if as_of - now <= timedelta(seconds=self.catalogue.policy.max_clock_skew_seconds):
            return as_of
        raise InvalidTime(
            f"the clock ({now.isoformat()}) is behind the last change of account "
            f"{account.account_id!r} ({as_of.isoformat()}) by more than "
            f"policy.max_clock_skew_seconds ({self.catalogue.policy.max_clock_skew_seconds} s)",
            now=now,
            as_of=as_of,
        )

    def _load(self, unit: UnitOfWork, account_id: str, out: _Outcome) -> tuple[Account, datetime]:
        """Load an account, date the call (:meth:`_dated`) and apply what is due for it up
        to then (R-TIME). Returns the account and the call's time."""
        account, caught, now = self._due(unit, account_id)
        if caught.account is account:
            return account, now
        return self._apply_catch_up(unit, account, caught, out, now), now

    def _due(self, unit: UnitOfWork, account_id: str) -> tuple[Account, CatchUp, datetime]:
        """Load an account, date the call and decide what is due for it, writing nothing:
        the stored account, its catch-up and the call's time (:meth:`_load` saves it)."""
        account = unit.get_account(account_id)
        if account is None:
            raise AccountNotFound(f"no account {account_id!r}", account_id=account_id)
        # Read the clock only now: the unit holds the account (SQLite's write lock is taken
        # at BEGIN IMMEDIATE, a row lock at the read), so no writer can come in between.
        now = self._dated(account)
        return account, self._catch_up(account, now), now

    def _catch_up(self, account: Account, until: datetime) -> CatchUp:
        """What is due for ``account`` up to ``until``: the one catch-up that writes save
        (:meth:`_apply_catch_up`) and reads show (:meth:`_seen`), so they cannot differ."""
        return accounts.catch_up(account, self.catalogue, until)

    @contextmanager
    def _seen(self, account_id: str) -> Iterator[reads.Seen]:
        """A read: one snapshot of the account with what is due applied in memory, saving
        nothing (R-CON-2). No write lock is taken and no writer is waited for; the call is
        dated as a write is (:meth:`_dated`)."""
        with self.store.snapshot() as view:
            account = view.get_account(account_id)
            if account is None:
                raise AccountNotFound(f"no account {account_id!r}", account_id=account_id)
            now = self._dated(account)
            yield reads.Seen.of(view, account, self._catch_up(account, now), now)

    def _apply_catch_up(
        self, unit: UnitOfWork, before: Account, caught: CatchUp, out: _Outcome, until: datetime
    ) -> Account:
        for code, at in caught.expired_invoices:
            self._void(unit, code, InvoiceStatus.EXPIRED, at, out)
        for code, at in caught.cancelled_invoices:
            self._void(unit, code, InvoiceStatus.CANCELLED, at, out)
        self._append(unit, caught.account, caught.entries)
        saved = reads.settled(before, caught, until)
        unit.update_account(saved)
        out.events.extend(caught.events)
        return saved

    def _apply_step(
        self, unit: UnitOfWork, account: Account, step: subs.Step, out: _Outcome
    ) -> Subscription:
        """Save a subscription step decided now (the same way as a boundary's)."""
        caught = accounts.apply_step(account, self.catalogue, step)
        return self._apply_catch_up(unit, account, caught, out, step.at).subscription

    def _void(
        self, unit: UnitOfWork, code: str, status: InvoiceStatus, at: datetime, out: _Outcome
    ) -> None:
        invoice = unit.get_invoice(code)
        ended = reads.voided(invoice, status, at)
        if invoice is not None and ended is not None:
            unit.update_invoice(ended)
            if invoice.payment is not None:
                out.dead_sessions.append((code, invoice.payment.reference))
            if status is InvoiceStatus.CANCELLED:  # expiries are reported by catch_up
                out.events.append(make_event(invoice.account_id, at, InvoiceCancelled(code)))

    def _save(
        self,
        unit: UnitOfWork,
        now: datetime,
        account: Account,
        entries: Sequence[LedgerEntry],
    ) -> Account:
        self._append(unit, account, entries)
        account = accounts.schedule(account, self.catalogue)
        as_of = now if account.as_of is None else max(account.as_of, now)
        saved = attrs.evolve(account, version=account.version + 1, as_of=as_of)
        unit.update_account(saved)
        return saved

    @staticmethod
    def _append(unit: UnitOfWork, account: Account, entries: Sequence[LedgerEntry]) -> None:
        """Append entries and, in the same unit, add them to the day totals (R-VOL-3)."""
        if entries:
            unit.append_entries(entries)
            unit.add_usage(
                account.account_id, views.day_totals(entries, account.subscription.timezone)
            )

    def _read(self, account_id: str) -> Account:
        """The account as it is now, with what is due applied in memory (R-CON-2)."""
        with self._seen(account_id) as seen:
            return seen.account

    # -- accounts -------------------------------------------------------------------------------

    def open_account(self, account_id: str, *, timezone: str | None = None) -> Subscription:
        """Start ``account_id`` on the default plan with its included balance (R-SUB-1)."""
        bounds.identifier(account_id, "account_id")
        tz = bounds.optional_identifier(timezone, "timezone") or self.catalogue.policy.timezone
        zone(tz)

        def work(unit: UnitOfWork, out: _Outcome) -> Subscription:
            if unit.get_account(account_id) is not None:
                raise AccountExists(f"account {account_id!r} already exists", account_id=account_id)
            now = self._now()
            account, entries = accounts.open_account(account_id, self.catalogue, now, tz)
            unit.add_account(accounts.schedule(attrs.evolve(account, as_of=now), self.catalogue))
            self._append(unit, account, entries)
            out.events.append(
                make_event(account_id, now, SubscriptionOpened(account.subscription.plan))
            )
            return account.subscription

        return self._write(work)

    def set_billing_profile(self, account_id: str, profile: BillingProfile) -> None:
        """Set who invoices are made out to; copied onto each new invoice (R-INV-9)."""
        bounds.identifier(account_id, "account_id")
        if not isinstance(profile, BillingProfile):
            raise TypeError("profile must be a BillingProfile")
        profile.check()

        def work(unit: UnitOfWork, out: _Outcome) -> None:
            account, now = self._load(unit, account_id, out)
            self._save(unit, now, attrs.evolve(account, profile=profile), ())

        self._write(work)

    def billing_profile(self, account_id: str) -> BillingProfile | None:
        """Who invoices are made out to, or ``None`` before one is set (SPEC 19)."""
        bounds.identifier(account_id, "account_id")
        return self._read(account_id).profile

    def subscription(self, account_id: str) -> Subscription:
        bounds.identifier(account_id, "account_id")
        return self._read(account_id).subscription

    def balances(self, account_id: str) -> Balances:
        bounds.identifier(account_id, "account_id")
        wallet = self._read(account_id).wallet
        return Balances(
            wallet.balance(Balance.CONVERSATION),
            wallet.balance(Balance.BROADCAST),
            wallet.held(Balance.BROADCAST),
        )

    # -- checkout -------------------------------------------------------------------------------

    def _checkout(
        self,
        account_id: str,
        idempotency_key: str | None,
        arguments: Mapping[str, Any],
        decide: Callable[[Account, datetime], Purchase],
    ) -> Checkout:
        """Place an order: a pending invoice committed first, then the gateway (R-INV-1)."""
        print_ = fingerprint(**arguments)

        def work(unit: UnitOfWork, out: _Outcome) -> tuple[Checkout, bool]:
            account, now = self._load(unit, account_id, out)
            if idempotency_key is not None:
                earlier = replay(unit.get_record(account_id, "checkout", idempotency_key), print_)
                if earlier is not None:
                    replayed = from_record(Checkout, earlier)
                    if replayed.invoice is not None:
                        # The same checkout, with its invoice as it is now (it may be paid).
                        current = unit.get_invoice(replayed.invoice.code) or replayed.invoice
                        replayed = attrs.evolve(replayed, invoice=current)
                    return replayed, False
            purchase = decide(account, now)
            placed = checkouts.place(
                account, self.catalogue, purchase, now, unit.next_invoice_number
            )
            if placed.invoice is not None:
                unit.add_invoice(placed.invoice)
            self._save(unit, now, placed.account, placed.entries)
            for old in placed.cancelled:
                self._void(unit, old, InvoiceStatus.CANCELLED, now, out)
            out.events.extend(placed.events)
            checkout = Checkout(placed.invoice, None)
            if idempotency_key is not None:
                unit.put_record(
                    IdempotencyRecord(
                        account_id, "checkout", idempotency_key, print_, to_record(checkout)
                    )
                )
            return checkout, True

        checkout, _ = self._write(work)
        invoice = checkout.invoice
        if invoice is None or checkout.payment is not None or not invoice.is_open:
            # Nothing to pay, already has a session, or no longer payable (expired, paid).
            return checkout
        return self._open_payment(invoice, idempotency_key, print_)

    def _open_payment(self, invoice: Invoice, key: str | None, print_: str) -> Checkout:
        """Ask the gateway for a session for a committed invoice; remember it under ``key``."""
        session = self.gateway.create_payment(
            PaymentRequest(
                invoice_code=invoice.code,
                account_id=invoice.account_id,
                amount=invoice.total,
                description=invoice.package,
                expires_at=invoice.expires_at,
                billing_profile=invoice.billing_profile,
                requested_at=invoice.requested_at,
            )
        )

        def remember(unit: UnitOfWork, out: _Outcome) -> Checkout:
            now = self._now()
            # The invoice keeps its session (R-GW-4), whatever happened to it meanwhile.
            current = unit.get_invoice(invoice.code) or invoice
            if current.payment is None or current.payment.expires_at <= now:
                current = attrs.evolve(current, payment=session, version=current.version + 1)
                unit.update_invoice(current)
            checkout = Checkout(current, session)
            if key is not None:
                unit.put_record(
                    IdempotencyRecord(
                        invoice.account_id, "checkout", key, print_, to_record(checkout)
                    )
                )
            return checkout

        if key is not None:
            return self._write(remember)
        try:
            return self._write(remember)
        except Exception as error:
            # Without a key the host cannot retry into this checkout, so the session the
            # gateway gave is returned anyway; the invoice just does not keep it (reconcile
            # and cancel then find the payment by invoice code).
            log.warning("could not keep the payment session of %s: %s", invoice.code, error)
            return Checkout(invoice, session)

    def top_up(
        self,
        account_id: str,
        balance: Balance | str,
        amount: Money | int,
        *,
        idempotency_key: str | None = None,
    ) -> Checkout:
        """Check out a top-up of ``balance`` by ``amount`` (R-BAL-6)."""
        bounds.identifier(account_id, "account_id")
        bounds.optional_identifier(idempotency_key, "idempotency_key")
        chosen = _required(Balance, balance, "balance")
        money = self.catalogue.money(amount)
        wallets.validate_top_up(self.catalogue.wallet_rules, chosen, money)
        return self._checkout(
            account_id,
            idempotency_key,
            {"op": "top_up", "balance": str(chosen), "amount": money.amount},
            lambda account, now: quotes.quote_top_up(self.catalogue, chosen, money),
        )

    # -- charges --------------------------------------------------------------------------------

    def _charge_one(self, request: ChargeRequest) -> Charge:
        """One charge: a batch of one, its refusal raised (R-BAL-2..5)."""
        (result,) = self.charge_many([request])
        if isinstance(result, SubkitError):
            raise result
        return result

    def charge_replies(self, account_id: str, count: int = 1, *, key: str) -> Charge:
        """Charge ``count`` replies at the reply rate from the conversation balance (R-BAL-2)."""
        return self._charge_one(ChargeRequest(account_id, ChargeKind.REPLY, count, key))

    def charge_broadcast(self, account_id: str, recipients: int, *, key: str) -> Charge:
        """Charge a broadcast: quota first, then the broadcast rate per message (R-BAL-3)."""
        return self._charge_one(ChargeRequest(account_id, ChargeKind.BROADCAST, recipients, key))

    def charge_many(self, requests: Iterable[ChargeRequest]) -> list[Charge | SubkitError]:
        """Charge many replies and broadcasts, as few commits as the store allows (R-VOL-1).

        Each request is all or nothing and idempotent under its key exactly as
        :meth:`charge_replies` / :meth:`charge_broadcast`; a refused one is its own result
        (the ``SubkitError`` it would have raised) and leaves the others alone. A refused or
        replayed request writes nothing: an account none of whose requests charged is not
        saved, not even what was due for it (the next change or the billing run writes that,
        dated when it was due). Results come in request order. Requests are charged
        ``CHARGE_BATCH`` at a time, each batch in one unit of work (one commit) that loads
        and saves each of its accounts once; a batch the store cannot commit
        (``ConcurrencyConflict`` after the retries, ``StoreError``) gives that error as the
        result of each of its requests, and changed nothing.
        """
        if isinstance(requests, str | bytes | Mapping) or not isinstance(requests, Iterable):
            raise InvalidArgument(
                "requests must be an iterable of ChargeRequest", argument="requests", value=requests
            )
        items = list(requests)
        results: list[Charge | SubkitError | None] = [None] * len(items)
        checked: list[tuple[int, ChargeRequest]] = []
        for index, request in enumerate(items):
            try:
                checked.append((index, charges.check_request(request)))
            except SubkitError as refused:
                results[index] = refused
        for start in range(0, len(checked), CHARGE_BATCH):
            batch = checked[start : start + CHARGE_BATCH]
            try:
                done = self._write(functools.partial(self._charge_batch, batch=batch))
            except SubkitError as error:
                done = [(index, error) for index, _ in batch]
            for index, result in done:
                results[index] = result
        return [result for result in results if result is not None]

    def _charge_batch(
        self,
        unit: UnitOfWork,
        out: _Outcome,
        batch: Sequence[tuple[int, ChargeRequest]],
    ) -> list[tuple[int, Charge | SubkitError]]:
        by_account: dict[str, list[tuple[int, ChargeRequest]]] = {}
        for index, request in batch:
            by_account.setdefault(request.account_id, []).append((index, request))
        done: list[tuple[int, Charge | SubkitError]] = []
        for account_id, mine in by_account.items():
            try:
                stored, caught, now = self._due(unit, account_id)
            except SubkitError as refused:  # AccountNotFound, InvalidTime: each request's own
                done.extend((index, refused) for index, _ in mine)
                continue
            # Charged on the account with what is due applied, as a read is; what is due is
            # written only with a charge: refused or replayed requests write nothing (R-VOL-1).
            account = stored if caught.account is stored else reads.settled(stored, caught, now)
            keys: dict[str, list[str]] = {}
            for _, request in mine:
                keys.setdefault(charges.scope(request.kind), []).append(request.key)
            # One read per scope for the account's keys, not one per request.
            records = {
                (where, key): record
                for where, wanted in keys.items()
                for key, record in unit.get_records(account_id, where, wanted).items()
            }
            charged = charges.charge_account(
                account, self.catalogue, [request for _, request in mine], now, records
            )
            if charged.records:
                if account is not stored:
                    self._apply_catch_up(unit, stored, caught, out, now)
                out.events.extend(charged.events)
                self._save(unit, now, charged.account, charged.entries)
                unit.put_records(charged.records)
            done.extend(zip((index for index, _ in mine), charged.results, strict=True))
        return done

    # -- broadcast holds (R-VOL-2) ------------------------------------------------------------

    def hold_broadcast(
        self,
        account_id: str,
        recipients: int,
        *,
        key: str,
        expires_in: timedelta = timedelta(hours=24),
    ) -> Hold:
        """Reserve quota and balance for a campaign to ``recipients``, all or nothing.

        The hold's id is ``key``; the same key again returns the first hold. What it reserves
        no other charge can spend; :meth:`settle_broadcast` charges what was sent,
        :meth:`release_broadcast` frees it all, and the billing run releases a hold still
        open at its expiry (``expires_in`` after now, at most 30 days).
        """
        recipients = charges.check_request(
            ChargeRequest(account_id, ChargeKind.BROADCAST, recipients, key)
        ).count
        if not isinstance(expires_in, timedelta) or not (timedelta(0) < expires_in <= MAX_HOLD):
            raise InvalidArgument(
                "expires_in must be a timedelta of more than 0 and at most 30 days",
                argument="expires_in",
                value=expires_in,
            )
        print_ = fingerprint(
            recipients=recipients, expires_in=expires_in // timedelta(microseconds=1)
        )

        def work(unit: UnitOfWork, out: _Outcome) -> Hold:
            account, now = self._load(unit, account_id, out)
            earlier = replay(unit.get_record(account_id, "hold", key), print_)
            if earlier is not None:
                return from_record(Hold, earlier)
            sub = account.subscription
            change, hold = wallets.hold_broadcast(
                account.wallet,
                self.catalogue.wallet_rules,
                recipients,
                self.catalogue.entitlements(sub.plan, sub.addons).broadcast_quota,
                now,
                hold_id=key,
                expires_at=now + expires_in,
            )
            self._save(unit, now, attrs.evolve(account, wallet=change.wallet), change.entries)
            unit.put_record(IdempotencyRecord(account_id, "hold", key, print_, to_record(hold)))
            return hold

        return self._write(work)

    def settle_broadcast(self, account_id: str, hold_id: str, sent: int) -> Charge:
        """Charge an open hold for the ``sent`` messages (quota first, then balance) and
        release the rest. Settling again with the same ``sent`` returns the same charge."""
        bounds.identifier(account_id, "account_id")
        self._hold_id(hold_id)
        bounds.count(sent, "sent", minimum=0)
        print_ = fingerprint(sent=sent)

        def work(unit: UnitOfWork, out: _Outcome) -> Charge:
            account, now = self._load(unit, account_id, out)
            earlier = replay(unit.get_record(account_id, "settle", hold_id), print_)
            if earlier is not None:
                return from_record(Charge, earlier)
            change, charge = wallets.settle_hold(account.wallet, hold_id, sent, now)
            low = notices.low_balance(
                account_id,
                charge.balance,
                account.wallet.balance(charge.balance).amount,
                change.wallet.balance(charge.balance),
                self.catalogue,
                now,
            )
            if low is not None:
                out.events.append(low)
            self._save(unit, now, attrs.evolve(account, wallet=change.wallet), change.entries)
            unit.put_record(
                IdempotencyRecord(account_id, "settle", hold_id, print_, to_record(charge))
            )
            return charge

        return self._write(work)

    def release_broadcast(self, account_id: str, hold_id: str) -> None:
        """Release an open hold: nothing is charged. A hold that already ended (settled,
        released, expired) is left as it is; an id never held raises ``HoldNotFound``."""
        bounds.identifier(account_id, "account_id")
        self._hold_id(hold_id)

        def work(unit: UnitOfWork, out: _Outcome) -> None:
            account, now = self._load(unit, account_id, out)
            if account.wallet.hold(hold_id) is None:
                if unit.get_record(account_id, "hold", hold_id) is not None:
                    return
                wallets.release_hold(account.wallet, hold_id, now)  # raises HoldNotFound
            change = wallets.release_hold(account.wallet, hold_id, now)
            self._save(unit, now, attrs.evolve(account, wallet=change.wallet), change.entries)

        self._write(work)

    def holds(self, account_id: str) -> list[Hold]:
        """The account's open broadcast holds, oldest first."""
        bounds.identifier(account_id, "account_id")
        return list(self._read(account_id).wallet.open_holds())

    @staticmethod
    def _hold_id(hold_id: object) -> None:
        bounds.identifier(hold_id, "hold_id")

    def adjust_balance(
        self, account_id: str, balance: Balance | str, amount: Money | int, *, key: str, reason: str
    ) -> LedgerEntry:
        """The host's manual lever: credit or take back balance, with a reason (R-BAL-9)."""
        bounds.identifier(account_id, "account_id")
        chosen = _required(Balance, balance, "balance")
        money = self.catalogue.money(amount)
        bounds.identifier(key, "key")
        bounds.text(reason, "reason", required=True)
        print_ = fingerprint(balance=str(chosen), amount=money.amount, reason=reason)

        def work(unit: UnitOfWork, out: _Outcome) -> LedgerEntry:
            account, now = self._load(unit, account_id, out)
            earlier = replay(unit.get_record(account_id, "adjustment", key), print_)
            if earlier is not None:
                return from_record(LedgerEntry, earlier)
            change = wallets.adjust(
                account.wallet,
                self.catalogue.wallet_rules,
                chosen,
                money,
                now,
                key=key,
                reason=reason,
            )
            self._save(unit, now, attrs.evolve(account, wallet=change.wallet), change.entries)
            entry = change.entries[-1]
            unit.put_record(
                IdempotencyRecord(account_id, "adjustment", key, print_, to_record(entry))
            )
            out.events.append(
                make_event(account_id, now, BalanceAdjusted(chosen, money, key, reason))
            )
            return entry

        return self._write(work)

    # -- history --------------------------------------------------------------------------------

    def usage_history(
        self,
        account_id: str,
        *,
        balance: Balance | str | None = None,
        kind: EntryKind | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[LedgerEntry]:
        """The balance statement, newest first, paged (R-BAL-7, R-BAL-10)."""
        bounds.identifier(account_id, "account_id")
        chosen = _choice(Balance, balance, "balance")
        kind_ = _choice(EntryKind, kind, "kind")
        self._check_range(since, until, limit)

        with self._seen(account_id) as seen:
            return seen.ledger_page(
                balance=chosen, kind=kind_, since=since, until=until, limit=limit, cursor=cursor
            )

    def topup_history(
        self, account_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[LedgerEntry]:
        """The top-ups ("Riwayat Top Up") with their invoice codes, newest first."""
        bounds.identifier(account_id, "account_id")
        return self.usage_history(account_id, kind=EntryKind.TOP_UP, limit=limit, cursor=cursor)

    def usage_summary(
        self,
        account_id: str,
        *,
        since: datetime,
        until: datetime,
        by: str = "day",
        balance: Balance | str | None = None,
    ) -> list[UsageTotal]:
        """Totals of the usage history per day or month in the account's timezone (R-VOL-3).

        Each :class:`UsageTotal` sums the entries of one balance and kind (``count`` and the
        signed ``amount``, as in the history) in the day or month starting at ``start``
        (local midnight). The days (or months) that ``[since, until)`` touches are counted
        whole. Read from the totals the store keeps with the entries, one index range per
        call: the cost does not grow with the number of messages. Oldest first, then by
        balance and kind; a balance and kind with nothing in a day has no line.
        """
        chosen = _choice(Balance, balance, "balance")
        grouping = _required(views.SummaryBy, by, "by")
        ensure_aware(since, "since")
        ensure_aware(until, "until")
        if until <= since:
            raise InvalidArgument("until must be after since", argument="until", value=until)

        with self._seen(account_id) as seen:
            tz = seen.account.subscription.timezone
            first, end = views.summary_days(since, until, grouping, tz)
            stored = seen.view.usage_totals(account_id, since=first, until=end, balance=chosen)
            # What is due but not saved yet (a read saves nothing) is added in memory.
            due = [
                total
                for total in views.day_totals(seen.entries, tz)
                if first <= total.day < end and (chosen is None or total.balance == chosen)
            ]
            return views.summarise([*stored, *due], grouping, tz)

    @staticmethod
    def _check_range(since: datetime | None, until: datetime | None, limit: int) -> None:
        if since is not None:
            ensure_aware(since, "since")
        if until is not None:
            ensure_aware(until, "until")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 500:
            raise InvalidQuantity(f"limit must be an int in 1..500, got {limit!r}")

    def invoices(
        self,
        account_id: str,
        *,
        type: InvoiceType | str | None = None,
        status: InvoiceStatus | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Invoice]:
        """The account's invoices, pending ones included, newest first (R-INV-8)."""
        bounds.identifier(account_id, "account_id")
        type_ = _choice(InvoiceType, type, "type")
        status_ = _choice(InvoiceStatus, status, "status")
        self._check_range(since, until, limit)

        with self._seen(account_id) as seen:
            return seen.invoice_page(
                type=type_, status=status_, since=since, until=until, limit=limit, cursor=cursor
            )

    def invoice(self, account_id: str, code: str) -> Invoice:
        """One invoice of the account; ``InvoiceNotFound`` when the code is not its own."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(code, "code")
        with self._seen(account_id) as seen:
            return self._own(seen, account_id, code)

    @staticmethod
    def _own(seen: reads.Seen, account_id: str, code: str) -> Invoice:
        found = seen.invoice(code)
        if found is None or found.account_id != account_id:
            raise InvoiceNotFound(
                f"account {account_id!r} has no invoice {code!r}",
                invoice_code=code,
                account_id=account_id,
            )
        return found

    def render_invoice(
        self, account_id: str, code: str, *, format: str = "pdf", locale: str | None = None
    ) -> bytes:
        """The invoice as a document to download: ``pdf``, ``html`` or ``text`` (R-INV-8)."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(code, "code")
        bounds.optional_identifier(locale, "locale")
        from subkit.render import FORMATS, render_invoice

        _choice_of(FORMATS, format, "format")
        with self._seen(account_id) as seen:  # the invoice and the account from one snapshot
            invoice = self._own(seen, account_id, code)
            timezone = seen.account.subscription.timezone
        return render_invoice(
            invoice, self.catalogue, format=format, locale=locale, timezone=timezone
        )

    def pay_invoice(self, account_id: str, code: str) -> Checkout:
        """A payment session for a pending invoice ("continue to payment", SPEC 19).

        The invoice keeps its session (R-GW-4), handed out again while it is valid, so a
        customer clicking twice pays one session; a new one is opened once it has expired.
        """
        bounds.identifier(account_id, "account_id")
        bounds.identifier(code, "code")

        def work(unit: UnitOfWork, out: _Outcome) -> tuple[Invoice, Checkout | None]:
            _, now = self._load(unit, account_id, out)
            found = self._own_invoice(unit, account_id, code)
            if not found.is_open:
                raise InvalidTransition(
                    f"invoice {code} is {found.status}: only a pending invoice can be paid",
                    invoice_code=code,
                    current=found.status,
                    target=InvoiceStatus.PAID,
                )
            session = found.payment
            if session is not None and session.expires_at > now:
                return found, Checkout(found, session)
            return found, None

        invoice, reused = self._write(work)
        if reused is not None:
            return reused
        return self._open_payment(invoice, None, "")

    def cancel_invoice(self, account_id: str, code: str) -> Invoice:
        """The customer abandons a pending order: the invoice is cancelled and what it would
        have bought is dropped, as for a replaced one (SPEC 19, R-SUB-2). Cancelling an
        invoice already cancelled returns it unchanged."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(code, "code")

        def work(unit: UnitOfWork, out: _Outcome) -> Invoice:
            account, now = self._load(unit, account_id, out)
            found = self._own_invoice(unit, account_id, code)
            if found.status is InvoiceStatus.CANCELLED:
                return found
            if not found.is_open:
                raise InvalidTransition(
                    f"invoice {code} is {found.status}: only a pending invoice can be cancelled",
                    invoice_code=code,
                    current=found.status,
                    target=InvoiceStatus.CANCELLED,
                )
            self._void(unit, code, InvoiceStatus.CANCELLED, now, out)
            self._save(unit, now, accounts.forget_invoice(account, code), ())
            out.events.append(make_event(account_id, now, InvoiceCancelled(code)))
            return unit.get_invoice(code) or found

        return self._write(work)

    @staticmethod
    def _own_invoice(unit: UnitOfWork, account_id: str, code: str) -> Invoice:
        found = unit.get_invoice(code)
        if found is None or found.account_id != account_id:
            raise InvoiceNotFound(
                f"account {account_id!r} has no invoice {code!r}",
                invoice_code=code,
                account_id=account_id,
            )
        return found

    # -- payments -------------------------------------------------------------------------------

    def apply_payment(self, event: PaymentEvent) -> Invoice:
        """Apply a gateway's payment result, exactly once (R-INV-4, R-INV-5, R-INV-6)."""
        if not isinstance(event, PaymentEvent):
            raise TypeError("apply_payment takes a PaymentEvent")
        bounds.identifier(event.invoice_code, "event.invoice_code")
        bounds.identifier(event.reference, "event.reference")
        bounds.optional_identifier(event.event_id, "event.event_id")
        status = _required(PaymentStatus, event.status, "event.status")
        amount = self.catalogue.money(event.amount)
        if event.at is not None:
            ensure_aware(event.at, "event.at")

        def work(unit: UnitOfWork, out: _Outcome) -> Invoice:
            invoice = unit.get_invoice(event.invoice_code)
            if invoice is None:
                raise InvoiceNotFound(
                    f"no invoice {event.invoice_code!r}", invoice_code=event.invoice_code
                )
            account, now = self._load(unit, invoice.account_id, out)
            invoice = unit.get_invoice(event.invoice_code) or invoice  # catch-up may expire it
            if event.event_id is not None:
                # Event ids are scoped to their invoice: one seen for another invoice is not a
                # replay (R-INV-4).
                record_key = f"{invoice.code}/{event.event_id}"
                if unit.get_record(invoice.account_id, "payment_event", record_key) is not None:
                    return invoice
            report = PaymentReport(status, event.reference, amount, event.at or now)
            outcome = settlement.settle(account, self.catalogue, invoice, report, now)
            if outcome.invoice is not invoice:
                unit.update_invoice(attrs.evolve(outcome.invoice, version=invoice.version + 1))
            if outcome.account is not account or outcome.entries:
                self._save(unit, now, outcome.account, outcome.entries)
            if event.event_id is not None:
                unit.put_record(
                    IdempotencyRecord(invoice.account_id, "payment_event", record_key, "", {})
                )
            out.events.extend(outcome.events)
            return unit.get_invoice(invoice.code) or outcome.invoice

        return self._write(work)

    # -- plan changes, renewals, add-ons ----------------------------------------------------------

    def _in_use(self, account_id: str) -> Usage | None:
        return self.usage.in_use(account_id) if self.usage is not None else None

    def quote_change(
        self,
        account_id: str,
        plan: str,
        *,
        interval: Interval | str | None = None,
        addons: Mapping[str, int] | None = None,
    ) -> OrderSummary:
        """The Order Summary of a plan change, without buying anything (R-SUB-2, R-SUB-3)."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(plan, "plan")
        interval = _choice(Interval, interval, "interval")
        addons = None if addons is None else bounds.quantities(addons, "addons", minimum=0)
        usage = self._in_use(account_id)

        with self._seen(account_id) as seen:
            return quotes.quote_change(
                seen.account, self.catalogue, plan, interval, addons, seen.now, usage
            ).summary

    def change_plan(
        self,
        account_id: str,
        plan: str,
        *,
        interval: Interval | str | None = None,
        addons: Mapping[str, int] | None = None,
        idempotency_key: str | None = None,
    ) -> Checkout:
        """Check out a plan change: the quote's lines become the invoice (R-SUB-2)."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(plan, "plan")
        interval = _choice(Interval, interval, "interval")
        addons = None if addons is None else bounds.quantities(addons, "addons", minimum=0)
        bounds.optional_identifier(idempotency_key, "idempotency_key")
        arguments = {"op": "change", "plan": plan, "interval": interval, "addons": addons}
        return self._checkout(
            account_id,
            idempotency_key,
            arguments,
            lambda account, now: (
                quotes.quote_change(account, self.catalogue, plan, interval, addons, now).purchase
            ),
        )

    def cancel_change(self, account_id: str) -> Subscription:
        """Cancel a scheduled change that is not paid yet; its invoice is cancelled."""
        bounds.identifier(account_id, "account_id")

        def work(unit: UnitOfWork, out: _Outcome) -> Subscription:
            account, now = self._load(unit, account_id, out)
            step = lifecycle.cancel_change(account.subscription, now)
            return self._apply_step(unit, account, step, out)

        return self._write(work)

    def quote_renewal(self, account_id: str) -> OrderSummary:
        """The price of one more period of the current plan (R-SUB-4)."""
        bounds.identifier(account_id, "account_id")

        with self._seen(account_id) as seen:
            return quotes.quote_renewal(seen.account, self.catalogue, seen.now).summary

    def renew(self, account_id: str, *, idempotency_key: str | None = None) -> Checkout:
        """Check out one more period of the current plan and add-ons (R-SUB-4)."""
        bounds.identifier(account_id, "account_id")
        bounds.optional_identifier(idempotency_key, "idempotency_key")
        return self._checkout(
            account_id,
            idempotency_key,
            {"op": "renew"},
            lambda account, now: quotes.quote_renewal(account, self.catalogue, now).purchase,
        )

    def quote_addons(self, account_id: str, quantities: Mapping[str, int]) -> OrderSummary:
        """Price add-on units, prorated for the rest of the period (R-ADD-3)."""
        bounds.identifier(account_id, "account_id")
        quantities = bounds.quantities(quantities, "quantities")

        with self._seen(account_id) as seen:
            return quotes.quote_addons(seen.account, self.catalogue, quantities, seen.now).summary

    def buy_addons(
        self,
        account_id: str,
        quantities: Mapping[str, int],
        *,
        idempotency_key: str | None = None,
    ) -> Checkout:
        """Check out add-on units; they are active once the invoice is paid (R-ADD-3)."""
        bounds.identifier(account_id, "account_id")
        quantities = bounds.quantities(quantities, "quantities")
        bounds.optional_identifier(idempotency_key, "idempotency_key")
        return self._checkout(
            account_id,
            idempotency_key,
            {"op": "addons", "quantities": dict(quantities)},
            lambda account, now: (
                quotes.quote_addons(account, self.catalogue, quantities, now).purchase
            ),
        )

    def available_addons(self, account_id: str) -> list[AvailableAddOn]:
        """The add-ons the current plan sells and how many more can be bought (R-ADD-4)."""
        bounds.identifier(account_id, "account_id")
        return views.available_addons(self.subscription(account_id), self.catalogue)

    def addons(self, account_id: str) -> list[HeldAddOn]:
        """Add-ons held now, with the units stopping and when they end (R-ADD-4)."""
        bounds.identifier(account_id, "account_id")
        return views.held_addons(self.subscription(account_id), self.catalogue)

    def stop_addon(self, account_id: str, addon: str, *, quantity: int | None = None) -> HeldAddOn:
        """Stop add-on units at the end of the paid time; no refund (R-ADD-4)."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(addon, "addon")

        def work(unit: UnitOfWork, out: _Outcome) -> None:
            account, now = self._load(unit, account_id, out)
            sub, event = lifecycle.stop_addon(
                account.subscription, self.catalogue, addon, quantity, now
            )
            history = (*account.addon_events, event)
            self._save(unit, now, attrs.evolve(account, subscription=sub, addon_events=history), ())
            out.events.append(make_event(account_id, now, AddOnStopped(addon, event.quantity)))

        self._write(work)
        return next(held for held in self.addons(account_id) if held.code == addon)

    def resume_addon(
        self, account_id: str, addon: str, *, quantity: int | None = None
    ) -> HeldAddOn:
        """Undo a stop before the units end: they are held and renewed again (SPEC 19)."""
        bounds.identifier(account_id, "account_id")
        bounds.identifier(addon, "addon")

        def work(unit: UnitOfWork, out: _Outcome) -> None:
            account, now = self._load(unit, account_id, out)
            sub, event = lifecycle.resume_addon(
                account.subscription, self.catalogue, addon, quantity, now
            )
            history = (*account.addon_events, event)
            resumed = attrs.evolve(account, subscription=sub, addon_events=history)
            renewal = sub.renewal_invoice
            if renewal is not None:
                # The open renewal was priced without these units: drop it.
                self._void(unit, renewal, InvoiceStatus.CANCELLED, now, out)
                resumed = accounts.forget_invoice(resumed, renewal)
            self._save(unit, now, resumed, ())
            out.events.append(make_event(account_id, now, AddOnResumed(addon, event.quantity)))

        self._write(work)
        return next(held for held in self.addons(account_id) if held.code == addon)

    def addon_history(self, account_id: str) -> list[AddOnEvent]:
        """Every add-on purchase, stop and end, oldest first (R-ADD-6)."""
        bounds.identifier(account_id, "account_id")
        return list(self._read(account_id).addon_events)

    # -- cancellation ---------------------------------------------------------------------------

    def unsubscribe(self, account_id: str) -> Subscription:
        """Cancel at the end of the paid time; past due lapses at once (R-SUB-6)."""
        bounds.identifier(account_id, "account_id")

        def work(unit: UnitOfWork, out: _Outcome) -> Subscription:
            account, now = self._load(unit, account_id, out)
            step = lifecycle.unsubscribe(account.subscription, self.catalogue, now)
            return self._apply_step(unit, account, step, out)

        return self._write(work)

    def resume(self, account_id: str) -> Subscription:
        """Undo ``unsubscribe`` before the paid time ends (R-SUB-6)."""
        bounds.identifier(account_id, "account_id")

        def work(unit: UnitOfWork, out: _Outcome) -> Subscription:
            account, now = self._load(unit, account_id, out)
            sub = lifecycle.resume(account.subscription)
            self._save(unit, now, attrs.evolve(account, subscription=sub), ())
            out.events.append(make_event(account_id, now, SubscriptionResumed(sub.plan)))
            return sub

        return self._write(work)

    # -- usage ----------------------------------------------------------------------------------

    def usage_overview(self, account_id: str) -> UsageOverview:
        """Plan, period, limits, usage, balances and add-ons in one value (R-USE-1)."""
        bounds.identifier(account_id, "account_id")
        usage = self._in_use(account_id)
        with self._seen(account_id) as seen:
            return views.overview(seen.account, self.catalogue, seen.now, usage)

    def offers(self, account_id: str) -> Offers:
        """What the upgrade page lists: plans, add-ons, top-up ranges and the current plan."""
        return views.offers(self.subscription(account_id), self.catalogue)

    def check_limit(self, account_id: str, resource: str, wanted_total: int) -> None:
        """Raise ``LimitExceeded`` when ``wanted_total`` users or contacts is over the limit."""
        bounds.identifier(account_id, "account_id")
        sub = self.subscription(account_id)
        views.check_limit(self.catalogue, sub, resource, wanted_total)

    # -- the billing run ------------------------------------------------------------------------

    def advance(
        self,
        now: datetime | None = None,
        *,
        progress: Callable[[int], None] | None = None,
    ) -> RunReport:
        """Apply everything due up to ``now`` for every account (R-TIME); idempotent.

        Each account is brought up to date in its own transaction, so a run stopped half way
        resumes where it stopped. ``progress``, when given, is called with the number of
        accounts processed so far after each one (for a progress bar).
        """
        clock_now = self._now()
        until = clock_now if now is None else ensure_aware(now, "now")
        if until > clock_now:
            raise InvalidTime(f"cannot run to {until.isoformat()}, later than the clock's now")
        counts: Counter[str] = Counter()
        touched: list[str] = []
        # Each unit claims the next due account no other run holds (R-CON-4), so several runs
        # at once share the due set. An account brought up to date leaves it; one that did not
        # change (a store whose index lags) is not claimed again in this run.
        unchanged: set[str] = set()
        processed = 0
        while (claimed := self._advance_next(until, unchanged)) is not None:
            account_id, caught = claimed
            if caught.pop("renewal_due", 0):
                caught = {**caught, **self._renew_ahead(account_id)}
            if caught:
                counts.update(caught)
                touched.append(account_id)
            else:
                unchanged.add(account_id)
            processed += 1
            if progress is not None:
                progress(processed)
        return RunReport(until=until, accounts=tuple(touched), counts=dict(counts))

    def reconcile(
        self, *, older_than: timedelta = timedelta(minutes=15), limit: int = 500
    ) -> RunReport:
        """Ask the gateway about pending invoices requested more than ``older_than`` ago and
        apply what it reports through :meth:`apply_payment` (R-GW-3): a lost webhook costs
        minutes, not money.

        Needs a :class:`~subkit.ports.ReconcilingGateway`; with any other gateway it does
        nothing. ``counts`` has ``checked``, one count per status applied (``paid``,
        ``failed``, ...), ``unchanged`` (nothing final at the gateway yet), ``errors`` (the
        gateway failed; the invoice is asked again next time) and ``refused`` (the report was
        refused, e.g. ``PaymentAmountMismatch``). Idempotent: run it from cron.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgument("limit must be a positive int", argument="limit", value=limit)
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise InvalidArgument(
                "older_than must be a non-negative timedelta",
                argument="older_than",
                value=older_than,
            )
        now = self._now()
        try:
            requested_before = now - older_than
        except OverflowError:  # before year 1: a typed refusal, not the builtin
            raise InvalidArgument(
                f"older_than reaches before year 1 from {now.isoformat()}",
                argument="older_than",
                value=older_than,
            ) from None
        counts: Counter[str] = Counter()
        touched: list[str] = []
        gateway = self.gateway
        if not isinstance(gateway, ReconcilingGateway):
            return RunReport(until=now, accounts=(), counts={})
        with self.store.transaction() as unit:
            pending = unit.pending_invoices(requested_before, limit=limit)
        for invoice in pending:
            counts["checked"] += 1
            reference = invoice.payment.reference if invoice.payment is not None else None
            try:
                event = gateway.status(invoice.code, reference)
            except Exception as error:  # one gateway failure must not stop the run
                log.warning(
                    "reconcile: status of %s failed: %s", invoice.code, type(error).__name__
                )
                counts["errors"] += 1
                continue
            if event is None or event.invoice_code != invoice.code:
                counts["unchanged"] += 1
                continue
            try:
                self.apply_payment(event)
            except SubkitError as error:
                log.warning("reconcile: %s refused: %s", invoice.code, error.code)
                counts["refused"] += 1
                continue
            counts[str(event.status)] += 1
            if invoice.account_id not in touched:
                touched.append(invoice.account_id)
        return RunReport(until=now, accounts=tuple(touched), counts=dict(counts))

    def _advance_next(self, until: datetime, skip: set[str]) -> tuple[str, dict[str, int]] | None:
        """Claim the next due account and bring it up to date in one unit; ``None`` when no
        due account is left for this run."""

        def work(unit: UnitOfWork, out: _Outcome) -> tuple[str, dict[str, int]] | None:
            account = unit.claim_due_account(until, skip=skip)
            if account is None:
                return None
            caught = accounts.catch_up(account, self.catalogue, until)
            saved = account
            counts = dict(caught.counts)
            if caught.account is not account:
                saved = self._apply_catch_up(unit, account, caught, out, until)
            opening = notices.renewal_at(saved.subscription, saved.renewal_opened, self.catalogue)
            if opening is not None and opening <= until:
                counts["renewal_due"] = 1
            return account.account_id, counts

        return self._write(work)

    def _renew_ahead(self, account_id: str) -> dict[str, int]:
        """Open the renewal invoice ahead (policy.renewal_invoice_days_before, R-VOL-4), once
        per paid-through date: the key makes a repeated run find the same checkout."""
        paid_through = self.subscription(account_id).paid_through
        key = f"renewal-ahead/{paid_through.isoformat()}"
        counts: dict[str, int] = {}
        try:
            checkout = self.renew(account_id, idempotency_key=key)
            if checkout.invoice is not None:
                counts["renewal_invoice_opened"] = 1
        except SubkitError as refused:  # not renewable now: do not try again this period
            log.info("renewal of %s not opened ahead: %s", account_id, refused.code)

        def mark(unit: UnitOfWork, out: _Outcome) -> None:
            account, now = self._load(unit, account_id, out)
            self._save(unit, now, attrs.evolve(account, renewal_opened=paid_through), ())

        self._write(mark)
        return counts


__all__ = ["Balances", "Billing", "Checkout", "PaymentEvent", "RunReport", "SystemClock"]
