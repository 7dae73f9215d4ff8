"""The shape of the package holds as the code grows (docs/architecture.md): the functional core
never imports the shell, and no two modules import each other, not even lazily."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "subkit"

# The shell: what talks to ports, does I/O, or adapts a framework. Every other module is core.
SHELL = frozenset(
    {
        "subkit",  # the package's face re-exports everything
        "subkit.cli",
        "subkit.contract",
        "subkit.demo",
        "subkit.fakes",
        "subkit.ports",
        "subkit.reads",  # reads a ReadUnit (a port) for the facade's snapshot reads
        "subkit.service",
        "subkit.testing",
    }
)
SHELL_PACKAGES = ("subkit.gateways", "subkit.stores", "subkit.web", "subkit.render")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_shell(name: str) -> bool:
    return name in SHELL or name.startswith(SHELL_PACKAGES)


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path, modules: frozenset[str], *, typing: bool = False) -> set[str]:
    """The subkit modules ``path`` imports at run time (anywhere in the file, lazy ones too);
    with ``typing``, also those it imports only for the type checker."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if not typing and _under_type_checking(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in modules else node.module)
    return {name for name in found if name in modules}


def import_graph(*, typing: bool = False) -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = frozenset(paths)
    return {name: imports_of(path, modules, typing=typing) - {name} for name, path in paths.items()}


def test_the_core_never_imports_the_shell() -> None:
    """Pure modules take state and time in and give values out: none imports a port, the
    service, a store, a gateway, the web app or a renderer (STYLE: functional core)."""
    offences = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if not is_shell(name)
        for target in sorted(targets)
        if is_shell(target)
    ]
    assert offences == []


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for target in sorted(graph[node]):
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    cycles = []
    for name in sorted(graph):
        cycle = _cycle_from(name, graph)
        if cycle and not any(
            a.startswith(b + ".") or b.startswith(a + ".") for a, b in itertools.pairwise(cycle)
        ):
            cycles.append(" -> ".join(cycle))
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    """No import cycle between subkit's modules: a lazy import inside a function hides a cycle
    from Python, not from the reader (a package importing its own submodules is fine)."""
    assert _cycles(import_graph()) == []


# The one pair that names each other for the type checker: Money raises InvalidAmount and
# CurrencyMismatch, and their facts (and InsufficientBalance's, ...) are Money. Breaking it
# would type those facts as something less than Money; errors imports it for types only.
TYPING_ONLY_PAIR = ("subkit.errors", "subkit.money")


def test_no_cycle_even_through_imports_for_the_type_checker() -> None:
    """Neither do imports under ``TYPE_CHECKING`` make a cycle (they hide one from Python,
    not from the reader): small shared enums live in subkit.kinds, and a module names what it
    reads, not the aggregate that calls it. Only errors -> money is let through."""
    graph = import_graph(typing=True)
    importer, imported = TYPING_ONLY_PAIR
    assert imported not in import_graph()[importer], "errors must import money for types only"
    graph[importer].discard(imported)
    assert _cycles(graph) == []


def test_the_type_checker_graph_sees_what_the_run_time_graph_leaves_out() -> None:
    """The typing graph has teeth: errors' import of money is in it and not in the other."""
    importer, imported = TYPING_ONLY_PAIR
    assert imported in import_graph(typing=True)[importer]
    assert imported not in import_graph()[importer]


@pytest.mark.parametrize("name", ["subkit.service", "subkit.money", "subkit.web.app"])
def test_shell_is_told_apart_from_core(name: str) -> None:
    """The rule above has teeth: the service and the web app are shell, money is core."""
    assert is_shell(name) == (name != "subkit.money")


LONG = 600  # lines


def test_a_long_module_says_why_at_its_top() -> None:
    """A module over ~600 lines says why in its docstring ("Why it is long: ..."), so a long
    file is a decision someone made, not an accident (issue 12)."""
    silent = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > LONG:
            docstring = ast.get_docstring(ast.parse(text)) or ""
            if "Why it is long:" not in docstring:
                silent.append(module_name(path))
    assert silent == []
