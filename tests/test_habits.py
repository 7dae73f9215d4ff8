"""The project's habits, checked: the testing module stays free of pytest, one Hypothesis
profile sets every property test's settings, shared test helpers are defined once."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

import subkit

TESTS = Path(__file__).resolve().parent
SRC = Path(subkit.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_importing_subkit_testing_does_not_import_pytest() -> None:
    """A host's app may import subkit.testing's fakes without pytest installed; the contract
    suite is still reachable as subkit.testing.StoreContract, loaded when asked for."""
    code = (
        "import sys, subkit.testing\n"
        "assert 'pytest' not in sys.modules and 'subkit.contract' not in sys.modules\n"
        "import subkit.contract\n"
        "assert subkit.testing.StoreContract is subkit.contract.StoreContract\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_contract_and_testing_do_not_import_each_other() -> None:
    """subkit.contract takes its fakes from subkit.fakes; only subkit.testing names it."""
    assert "subkit.testing" not in _imports(SRC / "contract.py")
    assert not {"subkit.testing", "subkit.contract"} & _imports(SRC / "fakes.py")


def test_one_hypothesis_profile_without_deadline() -> None:
    """conftest.py loads the one profile; no test file sets a deadline of its own."""
    assert settings.default.deadline is None
    offenders = [
        path.name
        for path in TESTS.glob("*.py")
        if path.name != "conftest.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.keyword) and node.arg == "deadline"
    ]
    assert offenders == []


SHARED = {"idr", "at", "JAKARTA", "START", "PROFILE", "FREE_GRANT", "default_catalogue_toml"}
LOCAL_AT = {"test_immediate_changes.py"}  # its at(day) means a day of January 2026


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
    return names


def test_shared_helpers_are_defined_once() -> None:
    """idr, JAKARTA, START, PROFILE, ... live in tests/helpers.py; no test file redefines them."""
    redefined = {}
    for path in TESTS.glob("test_*.py"):
        clash = _top_level_names(path) & SHARED
        if path.name in LOCAL_AT:
            clash -= {"at"}
        if clash:
            redefined[path.name] = sorted(clash)
    assert redefined == {}
