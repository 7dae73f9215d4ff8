"""The error tree: one root, stable codes, facts as attributes (R-ERR)."""

from __future__ import annotations

import inspect
import re

import pytest

from subkit import errors
from subkit.errors import (
    CatalogueError,
    InsufficientBalance,
    LimitExceeded,
    PaymentAmountMismatch,
    SubkitError,
    TopUpOutOfRange,
)
from subkit.money import Money

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
    ],
)
def test_builtin_mixins(name: str, builtin: type[Exception]) -> None:
    """R-ERR: where the meaning matches, an error also is the builtin (caught either way)."""
    assert issubclass(getattr(errors, name), builtin)


def test_facts_are_attributes() -> None:
    """R-ERR: facts passed as keywords are kept as attributes; the message is str()."""
    shortfall = Money(4_500, "IDR")
    error = InsufficientBalance("balance is Rp4.500 short", shortfall=shortfall, balance="x")
    assert error.shortfall == shortfall
    assert error.balance == "x"  # type: ignore[attr-defined]
    assert str(error) == error.message == "balance is Rp4.500 short"
    assert error.code == "insufficient_balance"


def test_money_and_count_facts() -> None:
    """R-ERR: TopUpOutOfRange keeps minimum/maximum, LimitExceeded an int limit, etc."""
    low, high = Money(10_000, "IDR"), Money(1_000_000, "IDR")
    out_of_range = TopUpOutOfRange("too small", minimum=low, maximum=high)
    assert (out_of_range.minimum, out_of_range.maximum) == (low, high)
    assert LimitExceeded("too many users", limit=5).limit == 5
    mismatch = PaymentAmountMismatch("wrong amount", expected=low, received=high)
    assert (mismatch.expected, mismatch.received) == (low, high)


def test_catalogue_error_keeps_problems() -> None:
    """R-CAT-5, R-ERR: CatalogueError keeps every problem in `problems`, in order."""
    error = CatalogueError(["a: bad", "b.c: worse"])
    assert error.problems == ["a: bad", "b.c: worse"]
    assert "a: bad" in str(error) and "b.c: worse" in str(error)


def test_errors_can_be_raised_and_caught_by_root() -> None:
    """R-ERR: a host can catch every subkit refusal with one except SubkitError."""
    for cls in EXPORTED:
        if cls is CatalogueError:
            continue
        with pytest.raises(SubkitError) as caught:
            raise cls("boom")
        assert caught.value.code == cls.code
