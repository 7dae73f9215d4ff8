"""The public surface: sorted, complete __all__ lists (SPEC section 11, R-ERR).

Kept generic on purpose: these tests hold as other modules add names.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

import subkit
from subkit import errors
from subkit.errors import SubkitError


def _module_names() -> list[str]:
    """Names of every subkit module, found without importing the plain modules."""
    found = pkgutil.walk_packages(subkit.__path__, prefix="subkit.")
    return ["subkit", *sorted(info.name for info in found)]


MODULE_NAMES = _module_names()


def _load(name: str) -> ModuleType:
    """Import ``name``; skip when only an optional third-party dependency is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] != "subkit":
            pytest.skip(f"{name} needs the optional dependency {error.name}")
        raise


def _isort_key(name: str) -> tuple[int, list[int | str]]:
    """Ruff's RUF022 order: CONSTANTS, then CamelCase, then the rest, each naturally sorted."""
    if name.isupper() and len(name) > 1:
        category = 0
    elif name[:1].isupper():
        category = 1
    else:
        category = 2
    natural: list[int | str] = [
        int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)
    ]
    return category, natural


def is_sorted(names: list[str]) -> bool:
    """Sorted plainly, or in the isort style ruff's RUF022 (enabled for this repo) enforces."""
    return names in (sorted(names), sorted(names, key=_isort_key))


def test_is_sorted_helper() -> None:
    """The sortedness check accepts both orders and refuses an unsorted list."""
    assert is_sorted(["Money", "Plan", "errors"])
    assert is_sorted(["TRANSITIONS", "Invoice", "render"])
    assert not is_sorted(["Plan", "Money"])
    assert not is_sorted(["errors", "Money"])


def test_top_level_all_is_sorted() -> None:
    """SPEC 11: subkit.__all__ is sorted and has no duplicates."""
    assert is_sorted(list(subkit.__all__))
    assert len(set(subkit.__all__)) == len(subkit.__all__)


def test_top_level_names_exist() -> None:
    """SPEC 11: every name in subkit.__all__ is an attribute of the package."""
    missing = [name for name in subkit.__all__ if not hasattr(subkit, name)]
    assert not missing


def test_core_names_are_exported() -> None:
    """SPEC 11: Catalogue, Money and the errors module are reachable from the top level."""
    for name in ("Catalogue", "Money", "Interval", "errors"):
        assert name in subkit.__all__
    assert subkit.errors is errors


def test_version_is_a_string() -> None:
    """SPEC 11: subkit.__version__ is a version string."""
    assert isinstance(subkit.__version__, str) and subkit.__version__


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_module_all_sorted_and_present(name: str) -> None:
    """SPEC 11: each module imports; its __all__ (if any) is sorted, unique and present."""
    module = _load(name)
    if not hasattr(module, "__all__"):
        return
    names = list(module.__all__)
    assert is_sorted(names), names
    assert len(set(names)) == len(names)
    assert [name for name in names if not hasattr(module, name)] == []


def _all_subkit_errors() -> set[type[SubkitError]]:
    seen: set[type[SubkitError]] = set()
    pending: list[type[SubkitError]] = [SubkitError]
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
    return seen


def test_every_public_error_is_reachable_via_errors() -> None:
    """R-ERR: every public SubkitError subclass in any subkit module is in subkit.errors."""
    for name in MODULE_NAMES:
        try:
            _load(name)
        except pytest.skip.Exception:
            continue
    stray = sorted(
        f"{cls.__module__}.{cls.__name__}"
        for cls in _all_subkit_errors()
        if cls.__module__.startswith("subkit")
        and not cls.__name__.startswith("_")
        and getattr(errors, cls.__name__, None) is not cls
    )
    assert stray == []


def test_errors_all_lists_only_errors() -> None:
    """R-ERR: subkit.errors.__all__ holds only SubkitError classes."""
    for name in errors.__all__:
        value = getattr(errors, name)
        assert inspect.isclass(value) and issubclass(value, SubkitError), name
