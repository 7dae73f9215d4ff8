"""The docs stay true to the code: every error code is in the table, every page is linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from subkit import errors

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_error_code_is_in_the_error_table() -> None:
    """R-ERR: the docs' error table lists every class and its stable code."""
    table = (DOCS / "errors.md").read_text(encoding="utf-8")
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert f"`{name}`" in table and f"`{cls.code}`" in table, name


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
