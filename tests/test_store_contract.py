"""The store contract suite (subkit.contract) on both stores subkit ships."""

from __future__ import annotations

from pathlib import Path

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
