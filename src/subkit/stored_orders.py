"""How an order is read back from JSON: by its ``kind`` tag, or, for invoices written by subkit
0.1, from the one flat order shape of that release, by what its fields say.

It lives apart from :mod:`subkit.orders` and :mod:`subkit.serialize` so that neither imports the
other: :mod:`subkit.invoice` (which stores orders) imports this module, and importing it
registers the hook on the shared converter.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs

from subkit.orders import ORDER_KINDS, Order
from subkit.serialize import converter, record_converter


def _register(converter: cattrs.Converter) -> None:
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


_register(converter)
_register(record_converter)
