"""The docs stay true to the code: every error code is in the table, every page is linked."""

from __future__ import annotations

from pathlib import Path

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
