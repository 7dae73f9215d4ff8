"""Idempotency keys: replay the first result, refuse a reused key with other arguments (R-BAL-5).

Pure helpers; the service looks records up in the store and saves new ones in the same unit
of work as the change they record. A key is scoped to ``(account_id, scope, key)``, where the
scope is the kind of operation (``"reply"``, ``"broadcast"``, ``"adjustment"``,
``"checkout"``, ...), so one message id may key a reply and a broadcast alike.

A refused operation (``InsufficientBalance``, bad input) records nothing: the same key may be
retried after the cause is fixed.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import attrs

from subkit.errors import IdempotencyConflict
from subkit.money import Money


@attrs.frozen
class IdempotencyRecord:
    """The first result of an operation under one key, with the fingerprint of its arguments."""

    account_id: str
    scope: str
    key: str
    fingerprint: str
    result: dict[str, Any]


def _canonical(value: Any) -> Any:
    # Only types with one obvious, stable JSON form; anything else is refused rather than
    # hashed through repr(), which can differ between runs and versions.
    if value is None or isinstance(value, bool | int | str):
        return str(value) if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        raise TypeError("floats are not fingerprinted; billing arguments are never floats")
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if isinstance(value, Money):
        return {"amount": value.amount, "currency": value.currency}
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            # One instant, one fingerprint, whatever the zone it was written in.
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(_canonical(k)): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_canonical(item) for item in value), key=repr)
    if attrs.has(type(value)):
        return {f.name: _canonical(getattr(value, f.name)) for f in attrs.fields(type(value))}
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


# One encoder for every fingerprint (``json.dumps`` with options builds one per call).
_canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def fingerprint(**arguments: Any) -> str:
    """Return a stable hash of an operation's arguments (sha256 hex of canonical JSON).

    Keyword order does not matter; ``Money``, enums, aware datetimes (compared as instants),
    mappings, sequences, sets and attrs values are supported.

    Raises:
        TypeError: an argument of a type with no stable form (floats among them).
    """
    text = _canonical_json(_canonical(arguments))
    return hashlib.sha256(text.encode()).hexdigest()


def replay(record: IdempotencyRecord | None, fingerprint: str) -> dict[str, Any] | None:
    """Return what to do with a keyed call given the record stored for its key.

    Returns:
        ``None`` when the key is new (perform the operation, then store a record), or the
        stored result when the key was used with the same arguments (return it, change
        nothing).

    Raises:
        IdempotencyConflict: the key was used with other arguments.
    """
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"idempotency key {record.key!r} was already used for another {record.scope} "
            f"on account {record.account_id!r}; use a new key for a different request",
            key=record.key,
            scope=record.scope,
            account_id=record.account_id,
        )
    return record.result


__all__ = ["IdempotencyRecord", "fingerprint", "replay"]
