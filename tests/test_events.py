"""Event names and their facts (R-EVT-1): one enumeration, one typed shape per name."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import pytest

from subkit import events
from subkit.events import FACTS, DomainEvent, EventName, make_event, name_of, validate
from subkit.money import Money
from subkit.serialize import from_dict, to_dict

AT = datetime(2025, 1, 2, 3, tzinfo=UTC)

SPEC_NAMES = (
    "invoice.created",
    "invoice.paid",
    "invoice.failed",
    "invoice.expired",
    "invoice.cancelled",
    "invoice.refunded",
    "invoice.unapplied",
    "payment.duplicate",
    "subscription.opened",
    "subscription.change_scheduled",
    "subscription.change_cancelled",
    "subscription.change_dropped",
    "subscription.changed",
    "subscription.renewed",
    "subscription.past_due",
    "subscription.lapsed",
    "subscription.cancelling",
    "subscription.resumed",
    "subscription.cancelled",
    "subscription.expiring",
    "addon.bought",
    "addon.stopped",
    "addon.resumed",
    "addon.ended",
    "balance.topped_up",
    "balance.adjusted",
    "balance.low",
)


def test_every_name_of_the_spec_is_an_event_name() -> None:
    assert sorted(SPEC_NAMES) == sorted(name.value for name in EventName)


def test_every_name_has_its_own_frozen_attrs_facts_class() -> None:
    assert set(FACTS) == set(EventName)
    assert len(set(FACTS.values())) == len(FACTS)
    for name, kind in FACTS.items():
        assert attrs.has(kind) and kind.__attrs_attrs__ is not None
        assert getattr(events, kind.__name__) is kind, name
        assert kind.__doc__ and kind.__doc__.strip(), f"{kind.__name__} says when it fires"
        assert attrs.fields(kind), f"{kind.__name__} has facts"
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(object.__new__(kind), attrs.fields(kind)[0].name, None)


def test_make_event_names_the_event_after_its_facts_and_keeps_them_as_json() -> None:
    facts = events.PaymentDuplicate("INV-1", "PAY-2", Money(5_000, "IDR"))
    event = make_event("acme", AT, facts)
    assert event == DomainEvent(
        EventName.PAYMENT_DUPLICATE,
        "acme",
        AT,
        {
            "invoice_code": "INV-1",
            "reference": "PAY-2",
            "amount": {"amount": 5000, "currency": "IDR"},
        },
    )
    assert event.id == ""
    assert event.typed_facts() == facts
    assert name_of(facts) is EventName.PAYMENT_DUPLICATE
    validate(event)
    assert from_dict(DomainEvent, to_dict(event)) == event


def test_a_name_is_an_event_name_or_refused() -> None:
    assert DomainEvent("invoice.paid", "acme", AT).name is EventName.INVOICE_PAID  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DomainEvent("invoice.lost", "acme", AT)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not the facts class"):
        make_event("acme", AT, {"invoice_code": "INV-1"})


@pytest.mark.parametrize(
    "facts",
    [
        {"invoice_code": "INV-1"},  # missing total and reference
        {"invoice_code": "INV-1", "total": 5, "reference": "P"},  # money is not an int
        {
            "invoice_code": "INV-1",
            "total": {"amount": 5, "currency": "IDR"},
            "reference": "P",
            "x": 1,
        },
    ],
)
def test_validate_refuses_facts_of_another_shape(facts: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"invoice\.paid"):
        validate(DomainEvent(EventName.INVOICE_PAID, "acme", AT, facts))
