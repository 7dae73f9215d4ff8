"""The error tree: one root, stable codes, facts as attributes (R-ERR)."""

from __future__ import annotations

import inspect
import json
import pickle
import re
from datetime import UTC, datetime

import pytest

from subkit import errors
from subkit.cycles import Interval
from subkit.errors import (
    CatalogueError,
    InsufficientBalance,
    LimitExceeded,
    PaymentAmountMismatch,
    SubkitError,
    TopUpOutOfRange,
)
from subkit.invoice import InvoiceStatus
from subkit.money import Money
from subkit.serialize import to_dict
from subkit.wallet import Balance

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
EXPORTED = [getattr(errors, name) for name in errors.__all__]

# The classes SPEC section 10 requires at least.
REQUIRED = [
    "CatalogueError",
    "UnknownPlan",
    "UnknownAddOn",
    "AddOnNotAvailable",
    "InvalidQuantity",
    "InvalidAmount",
    "CurrencyMismatch",
    "NaiveDatetime",
    "AccountNotFound",
    "AccountExists",
    "BillingProfileRequired",
    "TopUpOutOfRange",
    "InsufficientBalance",
    "IdempotencyConflict",
    "AlreadyPaidAhead",
    "ChangeAlreadyPaid",
    "NothingToCancel",
    "InvoiceNotFound",
    "PaymentAmountMismatch",
    "LimitExceeded",
    "ConcurrencyConflict",
    "StoreError",
    "SamePlan",
    "IntervalNotOffered",
    "ChangeScheduled",
    "NotRenewable",
    "NotCancelling",
    "AddOnNotHeld",
    "InvalidTime",
]


def _name(cls: type) -> str:
    return cls.__name__


@pytest.mark.parametrize("cls", EXPORTED, ids=_name)
def test_every_exported_error_is_a_subkit_error(cls: type) -> None:
    """R-ERR: every class in subkit.errors.__all__ is SubkitError or a subclass of it."""
    assert inspect.isclass(cls)
    assert issubclass(cls, SubkitError)


@pytest.mark.parametrize("cls", EXPORTED, ids=_name)
def test_every_error_has_its_own_snake_case_code(cls: type[SubkitError]) -> None:
    """R-ERR: each class declares its own non-empty snake_case `code`."""
    assert "code" in vars(cls), f"{cls.__name__} inherits its code instead of declaring one"
    assert isinstance(cls.code, str) and cls.code
    assert SNAKE_CASE.match(cls.code), cls.code


def test_codes_are_unique() -> None:
    """R-ERR: no two error classes share a code, so a host can map codes one to one."""
    codes = [cls.code for cls in EXPORTED]
    duplicates = {code for code in codes if codes.count(code) > 1}
    assert not duplicates


def test_spec_codes() -> None:
    """R-ERR: the codes the spec names are the ones used."""
    assert errors.InsufficientBalance.code == "insufficient_balance"
    assert errors.TopUpOutOfRange.code == "top_up_out_of_range"
    assert errors.UnknownPlan.code == "unknown_plan"


def test_required_classes_exist() -> None:
    """R-ERR: every class SPEC section 10 lists lives in subkit.errors and is exported."""
    missing = [name for name in REQUIRED if name not in errors.__all__]
    assert not missing


def test_all_is_sorted_and_complete() -> None:
    """R-ERR: subkit.errors.__all__ is sorted and names every SubkitError class defined there."""
    assert errors.__all__ == sorted(errors.__all__)
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value)
        and issubclass(value, SubkitError)
        and value.__module__ == errors.__name__
        and not name.startswith("_")
    }
    assert defined == set(errors.__all__)


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("CatalogueError", ValueError),
        ("CurrencyMismatch", TypeError),
        ("NaiveDatetime", ValueError),
        ("InvalidQuantity", ValueError),
        ("InvalidAmount", ValueError),
        ("UnknownPlan", LookupError),
        ("AccountNotFound", LookupError),
        ("TopUpOutOfRange", ValueError),
        ("InvalidArgument", ValueError),
        ("InvalidCursor", ValueError),
        ("InvalidTime", ValueError),
        ("UnknownAddOn", LookupError),
        ("InvoiceNotFound", LookupError),
        ("MissingExtra", ImportError),
    ],
)
def test_builtin_mixins(name: str, builtin: type[Exception]) -> None:
    """R-ERR: where the meaning matches, an error also is the builtin (caught either way)."""
    assert issubclass(getattr(errors, name), builtin)


def test_facts_are_attributes() -> None:
    """R-ERR: facts passed as keywords are kept as attributes; the message is str()."""
    shortfall = Money(4_500, "IDR")
    error = InsufficientBalance(
        "balance is Rp4.500 short",
        shortfall=shortfall,
        balance=Balance.CONVERSATION,
        required=Money(5_000, "IDR"),
        available=Money(500, "IDR"),
    )
    assert error.shortfall == shortfall
    assert error.balance is Balance.CONVERSATION
    assert str(error) == error.message == "balance is Rp4.500 short"
    assert error.code == "insufficient_balance"
    assert error.facts == {
        "shortfall": shortfall,
        "balance": Balance.CONVERSATION,
        "required": Money(5_000, "IDR"),
        "available": Money(500, "IDR"),
    }


def test_money_and_count_facts() -> None:
    """R-ERR: TopUpOutOfRange keeps minimum/maximum, LimitExceeded an int limit, etc."""
    low, high = Money(10_000, "IDR"), Money(1_000_000, "IDR")
    out_of_range = TopUpOutOfRange("too small", minimum=low, maximum=high)
    assert (out_of_range.minimum, out_of_range.maximum) == (low, high)
    exceeded = LimitExceeded("too many users", limit=5, resource="users", wanted=6)
    assert (exceeded.limit, exceeded.resource, exceeded.wanted) == (5, "users", 6)
    mismatch = PaymentAmountMismatch("wrong amount", expected=low, received=high)
    assert (mismatch.expected, mismatch.received) == (low, high)
    assert mismatch.invoice_code is None


def test_catalogue_error_keeps_problems() -> None:
    """R-CAT-5, R-ERR: CatalogueError keeps every problem in `problems`, in order."""
    error = CatalogueError(["a: bad", "b.c: worse"])
    assert error.problems == ["a: bad", "b.c: worse"]
    assert "a: bad" in str(error) and "b.c: worse" in str(error)


# One example value per fact type, to build every class with every fact it declares.
EXAMPLES: dict[str, object] = {
    "str": "x-1",
    "int": 7,
    "object": "v",
    "Money": Money(1_500, "IDR"),
    "datetime": datetime(2026, 1, 10, 9, 0, tzinfo=UTC),
    "Balance": Balance.BROADCAST,
    "Interval": Interval.ANNUAL,
    "InvoiceStatus": InvoiceStatus.PAID,
    "Sequence[str]": ["a: bad"],
}


def _example(cls: type[SubkitError]) -> SubkitError:
    """An instance of ``cls`` with every declared fact set to an example of its type."""
    parameters = inspect.signature(cls.__init__).parameters
    values = {
        name: EXAMPLES[str(parameters[name].annotation).removesuffix(" | None")]
        for name in cls.fact_names()
    }
    if cls is CatalogueError:
        return CatalogueError(values["problems"])  # type: ignore[arg-type]
    return cls("boom", **values)


@pytest.mark.parametrize("cls", EXPORTED, ids=_name)
def test_errors_can_be_raised_and_caught_by_root(cls: type[SubkitError]) -> None:
    """R-ERR: a host can catch every subkit refusal with one except SubkitError."""
    with pytest.raises(SubkitError) as caught:
        raise _example(cls)
    assert caught.value.code == cls.code
    assert type(caught.value) is cls


# SPEC section 10: the intermediate bases and the statuses.
TREE: dict[str, tuple[type[SubkitError], int]] = {
    **{
        name: (errors.InvalidInput, 422)
        for name in (
            "InvalidArgument",
            "InvalidAmount",
            "InvalidQuantity",
            "NaiveDatetime",
            "TopUpOutOfRange",
            "UnknownPlan",
            "UnknownAddOn",
            "IntervalNotOffered",
            "CurrencyMismatch",
        )
    },
    "InvalidCursor": (errors.InvalidArgument, 422),
    **{
        name: (errors.NotFound, 404)
        for name in ("AccountNotFound", "InvoiceNotFound", "HoldNotFound")
    },
    **{
        name: (errors.Conflict, 409)
        for name in (
            "AccountExists",
            "IdempotencyConflict",
            "ConcurrencyConflict",
            "AlreadyPaidAhead",
            "ChangeAlreadyPaid",
            "ChangeScheduled",
            "SamePlan",
            "NotRenewable",
            "NothingToCancel",
            "NotCancelling",
            "AddOnNotHeld",
            "AddOnNotAvailable",
            "PaymentAmountMismatch",
            "InvalidTime",
            "BillingProfileRequired",
            "InvalidTransition",
        )
    },
    "InvalidInput": (SubkitError, 422),
    "NotFound": (SubkitError, 404),
    "Conflict": (SubkitError, 409),
    "InsufficientBalance": (SubkitError, 402),
    "LimitExceeded": (SubkitError, 403),
    "InvalidSignature": (SubkitError, 401),
    "GatewayError": (SubkitError, 503),
    "StoreError": (SubkitError, 503),
    "CatalogueError": (SubkitError, 500),
    "MissingExtra": (SubkitError, 500),
}


def test_the_tree_is_the_specs() -> None:
    """R-ERR: every class sits under the base SPEC section 10 names, with its HTTP status."""
    assert set(TREE) == set(errors.__all__) - {"SubkitError"}
    for name, (base, status) in TREE.items():
        cls = getattr(errors, name)
        subkit_bases = [b for b in cls.__bases__ if issubclass(b, SubkitError)]
        assert subkit_bases == [base], name
        assert cls.http_status == status, name
    assert SubkitError.http_status == 400


@pytest.mark.parametrize("cls", EXPORTED, ids=_name)
def test_facts_are_declared_typed_and_complete(cls: type[SubkitError]) -> None:
    """R-ERR: facts are the __init__'s typed keyword arguments; `facts` returns exactly them,
    every one kept as an attribute; nothing else is accepted (no **facts)."""
    assert isinstance(vars(cls).get("http_status", cls.http_status), int)
    parameters = inspect.signature(cls.__init__).parameters
    kinds = {parameter.kind for parameter in parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds
    assert inspect.Parameter.VAR_POSITIONAL not in kinds
    for name in cls.fact_names():
        assert parameters[name].annotation is not inspect.Parameter.empty, name
    error = _example(cls)
    assert list(error.facts) == list(cls.fact_names())
    for name, value in error.facts.items():
        assert getattr(error, name) is value
    with pytest.raises(TypeError):
        cls("boom", not_a_fact=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("cls", EXPORTED, ids=_name)
def test_facts_serialise_to_json(cls: type[SubkitError]) -> None:
    """R-ERR: a host's problem details can carry the facts: to_dict makes them JSON-safe."""
    error = _example(cls)
    data = to_dict(error.facts)
    assert json.loads(json.dumps(data)) == data
    if "shortfall" in data:
        assert data["shortfall"] == {"amount": 1_500, "currency": "IDR"}


@pytest.mark.parametrize("cls", EXPORTED, ids=_name)
def test_errors_pickle_with_their_facts(cls: type[SubkitError]) -> None:
    """An error crosses a process boundary (a worker pool) with its message and facts."""
    error = _example(cls)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert str(copy) == str(error)
    assert copy.facts == error.facts


def test_invalid_cursor_is_an_invalid_argument() -> None:
    """R-LIM-4: a bad cursor is an InvalidArgument naming the cursor argument."""
    error = errors.InvalidCursor("bad cursor", value="zzz")
    assert isinstance(error, errors.InvalidArgument)
    assert (error.argument, error.value) == ("cursor", "zzz")


def test_a_branch_catches_its_leaves() -> None:
    """R-ERR: a host can catch a whole branch, and the builtin mix-ins still catch."""
    with pytest.raises(errors.Conflict):
        raise errors.SamePlan("already on it", plan="pro")
    with pytest.raises(errors.InvalidInput):
        raise errors.UnknownPlan("no such plan", plan="nope")
    with pytest.raises(LookupError):
        raise errors.UnknownPlan("no such plan", plan="nope")
    with pytest.raises(errors.NotFound):
        raise errors.InvoiceNotFound("no such invoice", invoice_code="INV-1")


def test_the_drawn_tree_is_the_class_tree() -> None:
    """The tree drawn in subkit.errors' docstring names every class under its real base."""
    drawn: dict[str, str] = {}
    parents: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        found = re.match(r"^\s*((?:[│ ] {3})*)(?:[├└]── )?([A-Z]\w+)(?:\s|$)", line)
        if not found or not (found.group(1) or "──" in line or found.group(2) == "SubkitError"):
            continue
        depth = len(found.group(1)) // 4 + (1 if "──" in line else 0)
        name = found.group(2)
        del parents[depth:]
        if parents:
            drawn[name] = parents[-1]
        parents.append(name)
    real = {
        name: next(
            b for b in getattr(errors, name).__bases__ if issubclass(b, SubkitError)
        ).__name__
        for name in errors.__all__
        if name != "SubkitError"
    }
    assert drawn == real
