"""The public JSON shapes of subkit's values (SPEC sections 11 and 19): what a host hands to
its own clients, and what the HTTP API of :mod:`subkit.web` answers with.

:func:`subkit.serialize.to_dict` leaves out the fields marked ``INTERNAL`` (versions, the
order an invoice buys). :func:`public_dict` writes the same JSON forms (money as
``{"amount", "currency"}``, instants as ISO 8601 with their offset, enumerations as their
values) for the shapes of section 11 only: the other bookkeeping :func:`internal_fields` names
(the allowance month, stop records, the tax and seller an invoice keeps for its documents) is
left out too, and the attributes :func:`derived_fields` names (``Subscription.stopping``) are
written as fields. Both tables also drive the OpenAPI schemas :mod:`subkit.web` generates,
so the document and the JSON cannot drift apart.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from subkit.invoice import Invoice
from subkit.serialize import INTERNAL, converter
from subkit.subscription import ScheduledChange, Subscription
from subkit.wallet import LedgerEntry

#: The attrs metadata key of :data:`subkit.serialize.INTERNAL` (fields ``to_dict`` omits).
INTERNAL_KEY = next(iter(INTERNAL))


@functools.cache
def internal_fields() -> dict[type[Any], frozenset[str]]:
    """Per class, the fields ``public_dict`` leaves out (SPEC 19: no store bookkeeping leaks)."""
    return {
        # The order an invoice buys, what paying it did, optimistic-lock versions and the tax
        # and seller kept for its documents are subkit's bookkeeping, not the invoice's shape.
        Invoice: frozenset(
            {"order", "effect", "extra_payments", "version", "tax_setting", "seller"}
        ),
        # The allowance month, the stop records (``stopping`` says it as code -> units) and
        # the open renewal's code are how subkit keeps the subscription, not what it is.
        Subscription: frozenset({"month_index", "stops", "renewal_invoice"}),
        ScheduledChange: frozenset({"ordered"}),
        LedgerEntry: frozenset({"seq"}),
    }


@functools.cache
def derived_fields() -> dict[type[Any], dict[str, Any]]:
    """Per class, the derived attributes (name -> type) ``public_dict`` writes as fields."""
    return {Subscription: {"stopping": dict[str, int]}}


def public_fields(cls: type[Any]) -> list[attrs.Attribute[Any]]:
    """The attrs fields of ``cls`` that its public shape writes, in declaration order."""
    hidden = internal_fields().get(cls, frozenset())
    return [
        field
        for field in attrs.fields(cls)
        if field.name not in hidden and not field.metadata.get(INTERNAL_KEY)
    ]


@functools.cache
def public_converter() -> cattrs.Converter:
    """``converter`` with the public shapes: internal fields left out, derived ones added."""
    public = converter.copy()
    for cls, hidden in internal_fields().items():
        omitted: dict[str, Any] = {name: override(omit=True) for name in hidden}
        base = make_dict_unstructure_fn(cls, public, **omitted)
        derived = derived_fields().get(cls, {})

        def unstructure(value: Any, base: Any = base, derived: Any = derived) -> Any:
            data = base(value)
            for name in derived:
                data[name] = public.unstructure(getattr(value, name))
            return data

        public.register_unstructure_hook(cls, unstructure)
    return public


def public_dict(value: Any) -> Any:
    """Turn a subkit value (or a list, tuple or dict of them) into JSON-safe data in its
    public shape."""
    return public_converter().unstructure(value)


__all__ = ["derived_fields", "internal_fields", "public_converter", "public_dict", "public_fields"]
