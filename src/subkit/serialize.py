"""JSON-safe dicts in and out of every value subkit returns (cattrs).

``to_dict(value)`` gives plain dicts, lists, strings, ints, bools and ``None``: datetimes as
ISO 8601 strings with their offset, ``Money`` as ``{"amount": int, "currency": str}``,
fractions as ``"n/d"`` strings, enumerations as their values. ``from_dict(type, data)`` builds
the value back, equal to the original.

``to_dict`` writes the public shapes only (SPEC section 19): fields with :data:`INTERNAL`
metadata (store bookkeeping such as ``version``, and the order an invoice carries) are left
out, and read back as their defaults. Stores and idempotency records keep everything, through
:func:`to_record` and :func:`from_record`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.preconf.json import make_converter

from subkit.cycles import ensure_aware
from subkit.kinds import LineKind
from subkit.money import Money

T = TypeVar("T")

_INTERNAL = "subkit.internal"
#: attrs metadata of a field that is a store's bookkeeping, not part of the public JSON shape:
#: ``version: int = attrs.field(default=0, metadata=INTERNAL)``.
INTERNAL: Final = {_INTERNAL: True}


def _internal_fields(type_: Any) -> list[str]:
    return [field.name for field in attrs.fields(type_) if field.metadata.get(_INTERNAL)]


def _public_unstructure(converter: cattrs.Converter) -> None:
    """Leave internal fields out of what ``converter`` writes."""

    def factory(type_: Any) -> Any:
        omitted: dict[str, Any] = {name: override(omit=True) for name in _internal_fields(type_)}
        return make_dict_unstructure_fn(type_, converter, **omitted)

    converter.register_unstructure_hook_factory(
        lambda type_: attrs.has(type_) and bool(_internal_fields(type_)), factory
    )


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        return ensure_aware(value)
    return ensure_aware(datetime.fromisoformat(value))


def _make() -> cattrs.Converter:
    converter = make_converter()
    converter.register_unstructure_hook(datetime, lambda value: ensure_aware(value).isoformat())
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(Fraction, str)
    converter.register_structure_hook(Fraction, lambda value, _: Fraction(value))
    converter.register_unstructure_hook(
        Money, lambda money: {"amount": money.amount, "currency": money.currency}
    )
    converter.register_structure_hook(
        Money, lambda data, _: Money(int(data["amount"]), str(data["currency"]))
    )
    return converter


# What a host gets: the public shapes.
converter = _make()
_public_unstructure(converter)
# What a store keeps: every field.
record_converter = _make()


def read_old_shapes(
    type_: type[Any], is_old: Callable[[Any], bool], upgrade: Callable[[Any], Any]
) -> None:
    """Read ``type_`` from its current shape, or through ``upgrade`` from data
    ``is_old`` recognises as written by an earlier release (stores keep old rows)."""
    for each in (converter, record_converter):
        current = make_dict_structure_fn(type_, each)

        def structure(data: Any, _: Any, current: Any = current) -> Any:
            return current(upgrade(data) if is_old(data) else data, type_)

        each.register_structure_hook(type_, structure)


# -- invoice lines stored as English texts ------------------------------------------------------
# Until lines became facts, an invoice line kept only a ``description``, subkit's English
# words around the host's names: ``Growth (Monthly)`` (Plan.label), ``Unused time on Growth
# (Monthly)``, ``Conversation balance top-up``; any other text was an add-on's name.

_OLD_INTERVALS = {"Monthly": "monthly", "Annual": "annual"}
_OLD_CREDIT = re.compile(r"Unused time on (?P<name>.+) \((?P<interval>Monthly|Annual)\)")
_OLD_PLAN = re.compile(r"(?P<name>.+) \((?P<interval>Monthly|Annual)\)")
_OLD_TOP_UPS = {
    "Conversation balance top-up": "conversation",
    "Broadcast balance top-up": "broadcast",
}


def is_text_line(data: Any) -> bool:
    """Whether ``data`` is an invoice line stored as an English text (no ``kind``)."""
    return isinstance(data, dict) and "kind" not in data and "description" in data


def line_from_text(data: dict[str, Any]) -> dict[str, Any]:
    """The facts an invoice line stored as an English text said, in the current shape.

    >>> line_from_text({"description": "Unused time on Growth (Monthly)", "quantity": 1})
    {'quantity': 1, 'kind': 'credit', 'name': 'Growth', 'interval': 'monthly'}
    >>> line_from_text({"description": "Additional User", "quantity": 2})
    {'quantity': 2, 'kind': 'add_on', 'name': 'Additional User'}
    """
    facts = {key: value for key, value in data.items() if key != "description"}
    text = str(data["description"])
    balance = _OLD_TOP_UPS.get(text)
    if balance is not None:
        return {**facts, "kind": LineKind.TOP_UP.value, "name": "", "code": balance}
    for pattern, kind in ((_OLD_CREDIT, LineKind.CREDIT), (_OLD_PLAN, LineKind.PLAN)):
        match = pattern.fullmatch(text)
        if match is not None:
            interval = _OLD_INTERVALS[match["interval"]]
            return {**facts, "kind": kind.value, "name": match["name"], "interval": interval}
    return {**facts, "kind": LineKind.ADD_ON.value, "name": text}


def to_dict(value: Any) -> Any:
    """Turn a subkit value (or a list/tuple of them) into JSON-safe data, public fields only."""
    return converter.unstructure(value)


def from_dict(type_: type[T], data: Any) -> T:
    """Build a ``type_`` from data made by :func:`to_dict` (internal fields at their defaults)."""
    return converter.structure(data, type_)


def to_record(value: Any) -> Any:
    """JSON-safe data holding every field, for a store to keep (:func:`from_record` reads it)."""
    return record_converter.unstructure(value)


def from_record(type_: type[T], data: Any) -> T:
    """Build a ``type_`` from data made by :func:`to_record` (or by :func:`to_dict`)."""
    return record_converter.structure(data, type_)


__all__ = [
    "INTERNAL",
    "converter",
    "from_dict",
    "from_record",
    "is_text_line",
    "line_from_text",
    "read_old_shapes",
    "record_converter",
    "to_dict",
    "to_record",
]
