"""The store contract suite (subkit.contract) on the three stores subkit ships."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stores import open_store
from subkit.contract import StoreContract
from subkit.ports import Store
from subkit.stores.sqlite import SqliteStore
from subkit.testing import InMemoryStore


class TestInMemoryStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return InMemoryStore()


class TestSqliteStore(StoreContract):
    def make_store(self, tmp_path: Path) -> Store:
        return SqliteStore(tmp_path / "subkit.db")


class TestPostgresStore(StoreContract):
    """The same suite on a PostgreSQL schema of its own (skipped without a server)."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        with open_store("postgres", tmp_path) as store:
            yield store
