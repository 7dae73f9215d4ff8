"""Domain events: facts subkit publishes to the host's ``EventSink`` after a commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs


@attrs.frozen
class DomainEvent:
    """Something that happened: ``invoice.paid``, ``subscription.lapsed``, ...

    ``facts`` holds JSON-safe values only (strings, ints, bools, None), so a host can put the
    event on a queue as it is.
    """

    name: str
    account_id: str
    at: datetime
    facts: dict[str, Any] = attrs.field(factory=dict)


__all__ = ["DomainEvent"]
