"""Pages of history, newest first, with an opaque cursor."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

T = TypeVar("T")


@attrs.frozen
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is ``None`` on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None = None


__all__ = ["Page"]
