"""Event names and their facts (R-EVT-1): one enumeration, one typed shape per name."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

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


# -- the docs' table of events -----------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _fact(owner: type, field: attrs.Attribute[object]) -> str:
    # The annotation as written: cattrs resolves ``field.type`` to the class once it has
    # built the facts, and its repr is no name.
    kind = str(owner.__annotations__[field.name])
    if kind.endswith(" | None"):  # a pipe would split the table's cell
        return f"`{field.name}?: {kind.removesuffix(' | None')}`"
    return f"`{field.name}: {kind}`"


def event_table() -> str:
    """The table docs/events.md must hold, made from :data:`FACTS` itself: every name, its
    facts with their types, and when it fires (the first paragraph of the facts class's
    docstring)."""
    rows = ["| name | facts | when it fires |", "|---|---|---|"]
    for name in EventName:
        kind = FACTS[name]
        facts = ", ".join(_fact(kind, field) for field in attrs.fields(kind))
        when = " ".join((kind.__doc__ or "").split("\n\n")[0].split()).replace("``", "`")
        rows.append(f"| `{name.value}` | {facts} | {when} |")
    return "\n".join(rows) + "\n"


def test_the_event_table_is_the_facts_classes() -> None:
    """R-EVT-1: docs/events.md lists every event name with exactly its facts and when it
    fires, as events.py declares them (`python tests/test_events.py` prints the table)."""
    page = (DOCS / "events.md").read_text(encoding="utf-8")
    table = "".join(line + "\n" for line in page.splitlines() if line.startswith("| `"))
    expected = "".join(line + "\n" for line in event_table().splitlines()[2:])
    assert table == expected, "docs/events.md's table is stale; expected:\n" + event_table()


def _code_outside_events() -> list[tuple[str, ast.AST]]:
    """(module, node) of every node of src/subkit's modules, events.py left out."""
    source = Path(events.__file__).resolve().parent
    nodes: list[tuple[str, ast.AST]] = []
    for module in sorted(source.rglob("*.py")):
        if module.name != "events.py":
            tree = ast.parse(module.read_text(encoding="utf-8"))
            nodes.extend((module.name, node) for node in ast.walk(tree))
    return nodes


def test_every_event_is_made_from_its_typed_facts() -> None:
    """One shape per name wherever it is made: no module builds a ``DomainEvent`` by hand
    (with a name and a dict); they all go through ``make_event(facts)``."""
    by_hand = [
        (module, node.lineno)
        for module, node in _code_outside_events()
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "DomainEvent"
    ]
    assert by_hand == []


def test_the_docs_say_exactly_which_names_subkit_does_not_make_yet() -> None:
    """A name whose facts class no module uses (outside its import) is not made by subkit:
    docs/events.md must list it in its "not made yet" line, so the table never promises an
    event that never comes; and it must list only those, so a name made now is not said to
    be missing (the line goes when every name is made)."""
    built = {node.id for _, node in _code_outside_events() if isinstance(node, ast.Name)}
    unmade = {name.value for name in EventName if FACTS[name].__name__ not in built}
    page = (DOCS / "events.md").read_text(encoding="utf-8")
    lines = [line for line in page.splitlines() if "not made yet" in line]
    assert len(lines) <= 1, "one 'not made yet' line at most"
    listed = set(re.findall(r"`([a-z_]+\.[a-z_]+)`", lines[0])) if lines else set()
    assert listed == unmade, f"docs/events.md lists {sorted(listed)}; unmade: {sorted(unmade)}"


if __name__ == "__main__":
    print(event_table(), end="")
