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

import attrs
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
    _register_orders(converter)
    return converter


def _register_orders(converter: cattrs.Converter) -> None:
    """Orders are told apart by their ``kind``; invoices written by subkit 0.1 kept one flat
    order shape without it, read here by what its fields say."""
    from subkit.orders import ORDER_KINDS, Order

    by_kind: dict[str, type[Any]] = {str(attrs.fields(k).kind.default): k for k in ORDER_KINDS}

    def structure(data: Any, _: Any) -> Any:
        if "kind" in data:
            return converter.structure(data, by_kind[data["kind"]])
        return converter.structure(_legacy_order(data), by_kind[_legacy_kind(data)])

    converter.register_structure_hook(Order, structure)


def _legacy_basis(data: dict[str, Any]) -> dict[str, Any]:
    parts = str(data.get("basis") or "").split("|")
    basis: dict[str, Any] = {
        "plan": parts[0],
        "interval": parts[1] if len(parts) > 1 else "monthly",
    }
    if len(parts) >= 4:
        basis.update(paid_through=parts[2], status=parts[3])
    return basis


def _legacy_kind(data: dict[str, Any]) -> str:
    if data.get("balance") is not None:
        return "top_up"
    if data.get("plan") is None:
        return "add_on"
    basis = _legacy_basis(data)
    if data.get("immediate"):
        return "plan_purchase" if "paid_through" not in basis else "plan_change"
    if (basis["plan"], basis["interval"]) == (data["plan"], data["interval"]):
        return "renewal"  # a change to the same plan and interval is refused, so a renewal
    return "plan_change"


def _legacy_order(data: dict[str, Any]) -> dict[str, Any]:
    kind = _legacy_kind(data)
    if kind == "top_up":
        return {"balance": data["balance"], "amount": data["amount"]}
    common = {"addons": data.get("addons") or {}, "priced_on": _legacy_basis(data)}
    if kind == "add_on":
        return common
    plan = {"plan": data["plan"], "interval": data["interval"], **common}
    if kind == "plan_purchase":
        return plan
    if kind == "renewal":
        return {**plan, "start": data["start"], "end": data["end"]}
    if not data.get("immediate"):
        starts = "boundary"
    else:
        starts = "grace" if data.get("start") else "payment"
    return {**plan, "starts": starts, "start": data.get("start"), "end": data.get("end")}


converter = _make()


def to_dict(value: Any) -> Any:
    """Turn a subkit value (or a list/tuple of them) into JSON-safe data."""
    return converter.unstructure(value)


def from_dict(type_: type[T], data: Any) -> T:
    """Build a ``type_`` from data made by :func:`to_dict`."""
    return converter.structure(data, type_)


__all__ = ["converter", "from_dict", "to_dict"]
