"""History paging: one 50-entry page of ``Billing.usage_history`` on SQLite, for an account
with 10 000 ledger entries and for one with 1 000 000.

Setup: each account gets its own database, opened through ``Billing.open_account``; its
entries (replies, one a minute, ending before the clock's now) are then inserted in bulk
with one ``INSERT ... SELECT`` over a recursive counter, the stored JSON built by
``printf``. A page read back is checked to be the newest 50, in order, with a cursor. The
two sizes are timed back to back in each round and the ratio is taken per round; the
second page (through the first page's cursor) is timed too.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import START, Section, bench_dir, median, rate_for

ACCOUNT = "history-account"
LIMIT = 50


def build(path: Path, entries: int) -> float:
    """Make a database whose one account has ``entries`` + 1 ledger entries; return seconds."""
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore, to_us
    from subkit.testing import FakeGateway, FixedClock

    store = SqliteStore(path)
    Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START)).open_account(ACCOUNT)
    store.close()
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    # Entry i (seq i + 1) is i minutes after the first; the newest is a minute before now.
    first_us = to_us(START) - entries * 60_000_000
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?),"
        " e(seq, at_us, after) AS (SELECT i + 1, ? + (i - 1) * 60000000, 15000 - 30 * i FROM n)"
        " INSERT INTO ledger (account_id, seq, at_us, balance, kind, count, amount,"
        " balance_after, currency, key, invoice_code, data)"
        " SELECT ?, seq, at_us, 'conversation', 'reply', 1, -30, after, 'IDR', 'k' || seq, NULL,"
        ' printf(\'{"account_id":"%s","seq":%d,"at":"%s","balance":"conversation",'
        '"kind":"reply","count":1,"amount":{"amount":-30,"currency":"IDR"},'
        '"balance_after":{"amount":%d,"currency":"IDR"},"key":"k%d",'
        '"invoice_code":null,"reason":null}\', ?, seq,'
        " strftime('%Y-%m-%dT%H:%M:%S+00:00', at_us / 1000000, 'unixepoch'), after, seq)"
        " FROM e",
        (entries, first_us, ACCOUNT, ACCOUNT),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def run(*, sizes: tuple[int, int], rounds: int, seconds: float) -> Section:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway, FixedClock

    section = Section("History paging, SQLite")
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        stores: list[Any] = []
        billings: dict[int, Billing] = {}
        for size in sizes:
            path = Path(tmp) / f"history-{size}.sqlite"
            took = build(path, size)
            section.notes.append(
                f"{size:,} entries inserted with SQL in {took:.1f} s; database "
                f"{path.stat().st_size / 2**20:.0f} MiB."
            )
            store = SqliteStore(path)
            stores.append(store)
            billings[size] = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
            page = billings[size].usage_history(ACCOUNT, limit=LIMIT)
            seqs = [entry.seq for entry in page.items]
            # The opening grant (seq 1, at now) is the newest, then the bulk entries.
            newest = [1, *range(size + 1, size + 2 - LIMIT, -1)]
            if seqs != newest or page.next_cursor is None:
                raise RuntimeError(f"the first page of {size:,} entries is wrong: {seqs[:3]}...")

        first: dict[int, list[float]] = {size: [] for size in sizes}
        second: dict[int, list[float]] = {size: [] for size in sizes}
        ratios = []
        for r in range(rounds):
            order = sizes if r % 2 == 0 else sizes[::-1]
            for size in order:
                billing = billings[size]
                cursor = billing.usage_history(ACCOUNT, limit=LIMIT).next_cursor
                per_s, _ = rate_for(
                    lambda i, b=billing: b.usage_history(ACCOUNT, limit=LIMIT), seconds, batch=10
                )
                first[size].append(1000 / per_s)
                per_s, _ = rate_for(
                    lambda i, b=billing, c=cursor: b.usage_history(ACCOUNT, limit=LIMIT, cursor=c),
                    seconds / 2,
                    batch=10,
                )
                second[size].append(1000 / per_s)
            ratios.append(first[sizes[1]][-1] / first[sizes[0]][-1])
        for store in stores:
            store.close()
    for size in sizes:
        section.add(f"first page, {size:,} entries", first[size], "ms")
    for size in sizes:
        section.add(f"second page (cursor), {size:,} entries", second[size], "ms")
    small, large = sizes
    section.add(
        f"ratio {large:,} / {small:,} (first page)",
        ratios,
        "x",
        target="<= 2",
        met=median(ratios) <= 2,
    )
    section.notes.append(
        f"{rounds} rounds; each round times {seconds} s of first-page reads and {seconds / 2} s "
        "of second-page reads per size; ratio taken per round."
    )
    return section
