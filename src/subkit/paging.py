"""Pages of history, newest first, and the cursor codec every store uses (R-LIM-4).

A cursor is opaque to the host and bound to what made it: the list (ledger, invoices,
events), the account and the filters of the query. It reads ``c1.<position>.<check>``, where
the position is one or two integers (an instant in microseconds and an order number, or an
event id) and the check is a SHA-256 over the query and the position. A cursor that is not
of that form, whose numbers are out of range, that was edited, or that another account's or
another filter's page handed out is refused with :class:`~subkit.errors.InvalidCursor` (an
``InvalidArgument``) before a store reads anything with it; every store decodes with this one
codec, so a cursor means the same on each.

The check guards against edits and mix-ups, not against a host that forges cursors on
purpose: anyone can compute it. That is enough, because a cursor only ever selects rows of
the account and the query the host asked for, and its numbers are range-checked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Final, Generic, TypeVar

import attrs

from subkit.errors import InvalidCursor

T = TypeVar("T")

_VERSION: Final = "c1"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_NUMBER: Final = re.compile(r"-?[0-9]{1,19}")
_INT64: Final = 2**63
_LONGEST: Final = 128  # no cursor subkit makes is longer


@attrs.frozen
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is ``None`` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None


def instant_us(at: datetime) -> int:
    """``at`` as integer microseconds since the Unix epoch (UTC): a cursor's instant."""
    return (at - _EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    """The UTC instant of :func:`instant_us`."""
    return _EPOCH + timedelta(microseconds=us)


def _canonical(value: object) -> object:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return instant_us(value)
    return value


@attrs.frozen
class Query:
    """What a cursor is bound to: the list, the account and the query's filters."""

    text: str

    @classmethod
    def of(cls, listing: str, account_id: str, **filters: object) -> Query:
        parts = [
            listing,
            account_id,
            *([name, _canonical(value)] for name, value in sorted(filters.items())),
        ]
        return cls(json.dumps(parts, ensure_ascii=True, separators=(",", ":")))

    def _check(self, position: str) -> str:
        data = f"{self.text}\n{position}".encode("ascii")
        return hashlib.sha256(data).hexdigest()[:32]

    def encode(self, *position: int) -> str:
        """The cursor of ``position`` for this query."""
        text = ".".join(str(number) for number in position)
        return f"{_VERSION}.{text}.{self._check(text)}"

    def position(self, cursor: object, size: int) -> tuple[int, ...] | None:
        """``None`` for the first page (no cursor, or an empty one: a web page's empty
        query parameter), else what :meth:`decode` reads."""
        if cursor is None or cursor == "":
            return None
        return self.decode(cursor, size)

    def decode(self, cursor: object, size: int) -> tuple[int, ...]:
        """The ``size`` numbers of a cursor :meth:`encode` made for this query.

        Raises:
            InvalidCursor: anything else (malformed, edited, out of range, or another
                query's or account's cursor).
        """
        if not isinstance(cursor, str) or not cursor.isascii() or len(cursor) > _LONGEST:
            raise InvalidCursor(f"invalid cursor {cursor!r}", value=cursor)
        parts = cursor.split(".")
        numbers = parts[1:-1]
        if (
            len(parts) != size + 2
            or parts[0] != _VERSION
            or not all(_NUMBER.fullmatch(number) for number in numbers)
        ):
            raise InvalidCursor(f"invalid cursor {cursor!r}", value=cursor)
        position = tuple(int(number) for number in numbers)
        if any(not -_INT64 < number < _INT64 for number in position):
            raise InvalidCursor(f"invalid cursor {cursor!r}: out of range", value=cursor)
        if not hmac.compare_digest(parts[-1], self._check(".".join(numbers))):
            raise InvalidCursor(
                f"cursor {cursor!r} was not handed out for this account and query",
                value=cursor,
            )
        return position


def ledger_query(
    account_id: str,
    *,
    balance: object,
    kind: object,
    since: datetime | None,
    until: datetime | None,
) -> Query:
    """A usage-history query; its cursors hold ``(at_us, seq)``."""
    return Query.of("ledger", account_id, balance=balance, kind=kind, since=since, until=until)


def invoice_query(
    account_id: str,
    *,
    type: object,
    status: object,
    since: datetime | None,
    until: datetime | None,
) -> Query:
    """An invoice-list query; its cursors hold ``(requested_at_us, order)``."""
    return Query.of("invoices", account_id, type=type, status=status, since=since, until=until)


def event_query(account_id: str) -> Query:
    """An event-feed query; its cursors hold ``(event id,)``."""
    return Query.of("events", account_id)


__all__ = [
    "Page",
    "Query",
    "event_query",
    "from_us",
    "instant_us",
    "invoice_query",
    "ledger_query",
]
