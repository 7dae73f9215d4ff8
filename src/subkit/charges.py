"""Charging messages: one request or a batch of them against one account (R-BAL-2..5, R-VOL-1).

A :class:`ChargeRequest` names an account, a kind (``reply`` or ``broadcast``), a count
(replies, or recipients) and the caller's key. :func:`charge_account` applies an account's
requests in order to the account as it evolves, each one exactly as a single
``charge_replies`` / ``charge_broadcast`` would: through :func:`subkit.wallet.charge_replies`
and :func:`subkit.wallet.charge_broadcast`, all or nothing, replayed under its key. One
request's refusal is its own result and leaves the account as the request before it did.

Pure: the service reads the idempotency records of the keys, calls this, and saves the
account, the entries and the new records in one unit of work.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs

from subkit import bounds, notices
from subkit import wallet as wallets
from subkit.account import Account
from subkit.errors import InvalidArgument, InvalidQuantity, SubkitError
from subkit.events import DomainEvent
from subkit.idempotency import IdempotencyRecord, fingerprint, replay
from subkit.plans import Catalogue
from subkit.serialize import from_record, to_record
from subkit.wallet import Balance, Charge, LedgerEntry

#: The most messages one request may charge (R-LIM-1).
MAX_COUNT = bounds.MAX_COUNT


class ChargeKind(enum.StrEnum):
    """What a request charges for: replies (conversation) or broadcast messages."""

    REPLY = "reply"
    BROADCAST = "broadcast"


@attrs.frozen
class ChargeRequest:
    """One charge of ``billing.charge_many``: ``count`` replies, or a broadcast to ``count``
    recipients, under the caller's ``key`` (the message or campaign id)."""

    account_id: str
    kind: ChargeKind | str
    count: int
    key: str


def check_request(request: object) -> ChargeRequest:
    """Return the request with its ``kind`` as a :class:`ChargeKind`, or refuse it.

    Raises:
        InvalidArgument: not a ChargeRequest, or its account id, kind or key is not one.
        InvalidQuantity: ``count`` is not an int in 1..1,000,000.
    """
    if not isinstance(request, ChargeRequest):
        raise InvalidArgument(
            f"charge_many takes ChargeRequest items, not {type(request).__name__}",
            argument="requests",
            value=request,
        )
    bounds.identifier(request.account_id, "account_id")
    try:
        if not isinstance(request.kind, str):
            raise ValueError
        kind = ChargeKind(request.kind)
    except ValueError:
        raise InvalidArgument(
            f"kind must be one of reply, broadcast, not {request.kind!r}",
            argument="kind",
            value=request.kind,
        ) from None
    bounds.identifier(request.key, "key")
    count = request.count
    name = "count" if kind is ChargeKind.REPLY else "recipients"
    if isinstance(count, bool) or not isinstance(count, int):
        raise InvalidQuantity(f"{name} must be an int, not {type(count).__name__}")
    if count < 1:
        raise InvalidQuantity(f"{name} must be at least 1, got {count}", quantity=count)
    if count > MAX_COUNT:
        raise InvalidQuantity(
            f"{name} must be at most {MAX_COUNT:,} per charge, got {count:,}",
            quantity=count,
            maximum=MAX_COUNT,
        )
    return request if request.kind is kind else attrs.evolve(request, kind=kind)


def _kind(kind: ChargeKind | str) -> ChargeKind:
    # Checked requests carry a ChargeKind already; the enum lookup is for the others.
    return kind if isinstance(kind, ChargeKind) else ChargeKind(kind)


def scope(kind: ChargeKind | str) -> str:
    """The idempotency scope of a kind of charge: keys are scoped per kind (R-BAL-5)."""
    return _kind(kind).value


def request_fingerprint(request: ChargeRequest) -> str:
    """The fingerprint a charge's key is recorded with (the same as the single calls')."""
    return _count_fingerprint(_kind(request.kind), request.count)


@functools.lru_cache(maxsize=4096)
def _count_fingerprint(kind: ChargeKind, count: int) -> str:
    # Pure and asked for every message, mostly with the same few counts: hashed once each.
    if kind is ChargeKind.REPLY:
        return fingerprint(count=count)
    return fingerprint(recipients=count)


@attrs.frozen
class Charged:
    """An account after its requests: what to save, and one result per request, in order."""

    account: Account
    entries: tuple[LedgerEntry, ...]
    records: tuple[IdempotencyRecord, ...]
    results: tuple[Charge | SubkitError, ...]
    events: tuple[DomainEvent, ...] = ()


def charge_account(
    account: Account,
    catalogue: Catalogue,
    requests: Sequence[ChargeRequest],
    at: datetime,
    records: Mapping[tuple[str, str], IdempotencyRecord | None],
) -> Charged:
    """Apply ``requests`` (checked, all of ``account``) in order at ``at``.

    ``records`` holds the stored record of each request's ``(scope, key)`` (absent or ``None`` when
    new). A key already used replays its first result, or is refused with
    ``IdempotencyConflict`` when the arguments differ; a key used twice in ``requests``
    replays the first use the same way. A request refused (``InsufficientBalance``, ...)
    changes nothing and records nothing, so its key may be used again.
    """
    known = dict(records)
    # One charger for all the account's requests: the wallet is rebuilt once, at the end.
    charger = wallets.Charger(account.wallet, catalogue.wallet_rules, at)
    quota: int | None = None
    new: list[IdempotencyRecord] = []
    results: list[Charge | SubkitError] = []
    events: list[DomainEvent] = []
    for request in requests:
        kind = _kind(request.kind)
        where = (kind.value, request.key)
        print_ = request_fingerprint(request)
        balance = Balance.CONVERSATION if kind is ChargeKind.REPLY else Balance.BROADCAST
        was = charger.balance(balance)
        try:
            earlier = replay(known.get(where), print_)
            if earlier is not None:
                results.append(from_record(Charge, earlier))
                continue
            if kind is ChargeKind.REPLY:
                charge = charger.reply(request.count, key=request.key)
            else:
                if quota is None:
                    sub = account.subscription
                    quota = catalogue.entitlements(sub.plan, sub.addons).broadcast_quota
                charge = charger.broadcast(request.count, quota, key=request.key)
        except SubkitError as refused:
            results.append(refused)
            continue
        low = notices.low_balance(
            account.account_id, balance, was, charge.balance_after, catalogue, at
        )
        if low is not None:
            events.append(low)
        record = IdempotencyRecord(
            account.account_id, where[0], request.key, print_, to_record(charge)
        )
        known[where] = record
        new.append(record)
        results.append(charge)
    if not new:  # nothing charged, nothing to save (an expiry waits for the next charge)
        return Charged(account, (), (), tuple(results), tuple(events))
    change = charger.change()
    account = attrs.evolve(account, wallet=change.wallet)
    return Charged(account, change.entries, tuple(new), tuple(results), tuple(events))


__all__ = [
    "MAX_COUNT",
    "ChargeKind",
    "ChargeRequest",
    "Charged",
    "charge_account",
    "check_request",
    "request_fingerprint",
    "scope",
]
