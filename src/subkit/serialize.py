"""JSON-safe dicts in and out of every value subkit returns (cattrs).

``to_dict(value)`` gives plain dicts, lists, strings, ints, bools and ``None``: datetimes as
ISO 8601 strings with their offset, ``Money`` as ``{"amount": int, "currency": str}``,
fractions as ``"n/d"`` strings, enumerations as their values. ``from_dict(type, data)`` builds
the value back, equal to the original.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any, TypeVar

import cattrs
from cattrs.preconf.json import make_converter

from subkit.cycles import ensure_aware
from subkit.money import Money

T = TypeVar("T")


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


converter = _make()


def to_dict(value: Any) -> Any:
    """Turn a subkit value (or a list/tuple of them) into JSON-safe data."""
    return converter.unstructure(value)


def from_dict(type_: type[T], data: Any) -> T:
    """Build a ``type_`` from data made by :func:`to_dict`."""
    return converter.structure(data, type_)


__all__ = ["converter", "from_dict", "to_dict"]
