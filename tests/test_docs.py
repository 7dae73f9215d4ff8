"""The docs stay true to the code: every error code is in the table, every page is linked."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from subkit import errors

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _fact(cls: type[errors.SubkitError], name: str) -> str:
    annotation = str(inspect.signature(cls.__init__).parameters[name].annotation)
    if annotation.endswith(" | None"):
        return f"`{name}?: {annotation.removesuffix(' | None')}`"
    return f"`{name}: {annotation}`"


def error_table() -> str:
    """The table docs/errors.md must hold, made from the classes themselves."""
    rows = ["| class | base | code | facts | HTTP status |", "|---|---|---|---|---|"]
    for name in errors.__all__:
        cls = getattr(errors, name)
        bases = [b.__name__ for b in cls.__bases__ if issubclass(b, errors.SubkitError)]
        mixins = [b.__name__ for b in cls.__bases__ if not issubclass(b, errors.SubkitError)]
        base = ", ".join(f"`{b}`" for b in bases + mixins)
        facts = ", ".join(_fact(cls, fact) for fact in cls.fact_names())
        rows.append(f"| `{name}` | {base} | `{cls.code}` | {facts} | {cls.http_status} |")
    return "\n".join(rows) + "\n"


def test_the_error_table_is_the_classes() -> None:
    """R-ERR: the docs' error table lists every class with its base, code, facts and status,
    exactly as the classes declare them (`python tests/test_docs.py` prints the table)."""
    page = (DOCS / "errors.md").read_text(encoding="utf-8")
    table = "".join(line + "\n" for line in page.splitlines() if line.startswith("|"))
    assert table == error_table(), "docs/errors.md's table is stale; expected:\n" + error_table()


def test_every_page_is_linked_from_the_index() -> None:
    """No page of docs/ is an orphan."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"({page.name})" in index, page.name


def test_the_readme_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's Python example runs as written and prints what its comments say."""
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    printed = capsys.readouterr().out.split()
    assert printed == ["Rp399.000", "Rp29.970"]


def _python_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        found = re.findall(r"```python\n(.*?)```", text, re.S)
        # A block of ``>>>`` lines is a doctest, run by pytest's doctest collection.
        blocks += [(page.name, block) for block in found if not block.startswith(">>>")]
    return blocks


@pytest.mark.parametrize(("page", "block"), _python_blocks())
def test_every_python_block_of_the_docs_is_python(page: str, block: str) -> None:
    """Examples that run are doctests (``>>>``, collected by pytest); the ```python blocks
    sketch a host's own code (a FastAPI or Django view, a store's test), so they must at
    least be valid Python (a signature line such as ``f(x) -> T`` belongs in ```text)."""
    compile(block, page, "exec")


def test_the_site_builds_with_its_api_reference(tmp_path: Path) -> None:
    """`make docs` works: mkdocs builds the site in strict mode, and the API reference made
    from the docstrings documents the facade's calls."""
    pytest.importorskip("mkdocstrings", reason="the docs extra (mkdocstrings) is not installed")
    import subprocess
    import sys

    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
        cwd=DOCS.parent,
        check=True,
        capture_output=True,
    )
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for call in ("change_plan", "charge_many", "usage_overview", "apply_payment"):
        assert call in api


if __name__ == "__main__":
    print(error_table(), end="")
