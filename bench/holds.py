"""Settle of a broadcast hold (R-VOL-2): ``Billing.settle_broadcast`` of a 10 000-recipient
hold on an account whose ledger has 10 000 entries and on one whose ledger has 1 000 000,
and of a 1-recipient hold on the 10 000-entry account.

Setup: each account has a database (or a PostgreSQL schema) of its own, opened through
``Billing.open_account``; its entries (replies, one a minute, ending before the clock's now)
are inserted in bulk with one ``INSERT ... SELECT`` over a counter (SQLite:
``bench.history.build``), the wallet's next entry number then set past them, and the
broadcast balance topped up through ``adjust_balance``. Each timed call is the settle alone:
a hold (``hold_broadcast``, untimed) then its settle, 9 000 of the 10 000 recipients sent (the
other 1 000 released), or 1 of 1. Every settle is checked: the charge is for what was sent at
the broadcast rate, its ``balance_after`` is the balance before the hold less that, and
after each round the newest ledger entry of each account is its newest settle's one
BROADCAST entry, no hold is left open and nothing is held. In each round the three sides
take turns settle by settle (the order turning); a side's figure is the median of its
settles in the round, in wall time (the commit's fsync included) and in the process's CPU
time (what subkit and SQLite compute, without the wait for the disk); ratios are taken per
round. ``python -m bench.holds`` measures, apart, a settle on a fresh account and again
after 2 000 partial settles, with the wallet's lots and the size of the stored account.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import history
from bench._common import START, Section, bench_dir, median

ACCOUNT = history.ACCOUNT
RECIPIENTS = 10_000
SENT = 9_000  # a campaign rarely reaches every recipient: the rest is released
BROADCAST_RATE = 650  # the default catalogue's broadcast rate, IDR
TOP_UP = 10**13
DSN = os.environ.get("SUBKIT_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def build_sqlite(path: Path, entries: int) -> float:
    """``bench.history.build``, then the wallet numbered past the bulk entries; seconds."""
    took = history.build(path, entries)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "UPDATE accounts SET data = json_set(data, '$.wallet.next_seq',"
        " (SELECT max(seq) + 1 FROM ledger WHERE account_id = ?)) WHERE account_id = ?",
        (ACCOUNT, ACCOUNT),
    )
    conn.close()
    return took


def build_postgres(schema: str, entries: int) -> float:
    """The same account and entries in a PostgreSQL schema; return the seconds it took."""
    import psycopg

    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.postgres import PostgresStore
    from subkit.testing import FakeGateway, FixedClock

    store = PostgresStore(DSN, schema=schema, pool_size=1)
    Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START)).open_account(ACCOUNT)
    store.close()
    started = time.perf_counter()
    s = f'"{schema}"'
    with psycopg.connect(DSN, autocommit=True) as conn, conn.transaction():
        conn.execute(
            f"INSERT INTO {s}.ledger (account_id, seq, at, balance, kind, count, amount,"  # type: ignore[arg-type]
            " balance_after, currency, key, invoice_code, data)"
            " SELECT %(a)s, i + 1, %(start)s - (%(n)s - i + 1) * interval '1 minute',"
            " 'conversation', 'reply', 1, -30, 15000 - 30 * i, 'IDR', 'k' || (i + 1), NULL,"
            " jsonb_build_object('account_id', %(a)s::text, 'seq', i + 1,"
            " 'at', to_char((%(start)s - (%(n)s - i + 1) * interval '1 minute')"
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+00:00\"'),"
            " 'balance', 'conversation', 'kind', 'reply', 'count', 1,"
            " 'amount', jsonb_build_object('amount', -30, 'currency', 'IDR'),"
            " 'balance_after', jsonb_build_object('amount', 15000 - 30 * i, 'currency', 'IDR'),"
            " 'key', 'k' || (i + 1), 'invoice_code', NULL, 'reason', NULL)"
            " FROM generate_series(1, %(n)s) AS i",
            {"a": ACCOUNT, "start": START, "n": entries},
        )
        conn.execute(
            f"UPDATE {s}.accounts SET data = jsonb_set(data, '{{wallet,next_seq}}',"  # type: ignore[arg-type]
            f" to_jsonb((SELECT max(seq) + 1 FROM {s}.ledger WHERE account_id = %(a)s)))"
            " WHERE account_id = %(a)s",
            {"a": ACCOUNT},
        )
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"VACUUM ANALYZE {s}.ledger")  # type: ignore[arg-type]
    return time.perf_counter() - started


@dataclass
class Side:
    """One account's billing and what its broadcast balance must be."""

    billing: Any
    expected: int
    settles: int = 0
    last: tuple[str, int] = ("", 0)  # the key and the sent of the newest settle

    @classmethod
    def of(cls, store: Any) -> Side:
        from subkit.plans import Catalogue
        from subkit.service import Billing
        from subkit.testing import FakeGateway, FixedClock

        billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
        billing.adjust_balance(ACCOUNT, "broadcast", TOP_UP, key="bench-top-up", reason="bench")
        return cls(billing, billing.balances(ACCOUNT).broadcast.amount)

    def settle(self, key: str, recipients: int, sent: int) -> tuple[float, float]:
        """Hold ``recipients`` (untimed), settle ``sent`` of them; return the settle's wall
        and CPU seconds."""
        hold = self.billing.hold_broadcast(ACCOUNT, recipients, key=key)
        started, cpu = time.perf_counter(), time.process_time()
        charge = self.billing.settle_broadcast(ACCOUNT, hold.id, sent)
        took = (time.perf_counter() - started, time.process_time() - cpu)
        cost = BROADCAST_RATE * sent  # the free plan has no broadcast quota
        self.expected -= cost
        if (
            charge.count != sent
            or charge.quota_used != 0
            or charge.amount.amount != cost
            or charge.balance_after.amount != self.expected
        ):
            raise RuntimeError(f"settle {key} is wrong: {charge} (expected {self.expected})")
        self.settles += 1
        self.last = (key, sent)
        return took

    def check(self) -> None:
        """The newest entry is the newest settle's, and nothing is held any more."""
        key, sent = self.last
        billing = self.billing
        newest = billing.usage_history(ACCOUNT, limit=1).items[0]
        balances = billing.balances(ACCOUNT)
        if (
            newest.key != key
            or str(newest.kind) != "broadcast"
            or newest.count != sent
            or newest.amount.amount != -BROADCAST_RATE * sent
            or newest.balance_after.amount != self.expected
            or billing.holds(ACCOUNT)
            or balances.broadcast.amount != self.expected
            or balances.broadcast_held.amount != 0
        ):
            raise RuntimeError(f"after settle {key}: {newest}, {balances}")

    def lots(self) -> int:
        with self.billing.store.snapshot() as view:
            return len(view.get_account(ACCOUNT).wallet.lots)


def _rounds(
    section: Section, sides: dict[int, Side], *, rounds: int, settles: int, store: str
) -> None:
    small, large = sorted(sides)
    # (label, side, recipients, sent)
    plan = [
        (f"{RECIPIENTS:,} recipients, {small:,} entries", sides[small], RECIPIENTS, SENT),
        (f"{RECIPIENTS:,} recipients, {large:,} entries", sides[large], RECIPIENTS, SENT),
        (f"1 recipient, {small:,} entries", sides[small], 1, 1),
    ]
    for _label, side, recipients, sent in plan:  # warm the caches and check the path once
        key = f"warm-{recipients}-{id(side)}"
        side.settle(key, recipients, sent)
        side.check()
    wall: dict[str, list[float]] = {label: [] for label, *_ in plan}
    cpu: dict[str, list[float]] = {label: [] for label, *_ in plan}
    for r in range(rounds):
        took: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in plan}
        # The sides take turns settle by settle (the order turning), so a slow moment of the
        # shared machine or of the disk falls on all three alike.
        for i in range(settles):
            for label, side, recipients, sent in plan[i % 3 :] + plan[: i % 3]:
                took[label].append(
                    side.settle(f"r{r}-{recipients}-{id(side)}-{i}", recipients, sent)
                )
        for side in sides.values():
            side.check()
        for label, *_ in plan:
            wall[label].append(1000 * median([w for w, _ in took[label]]))
            cpu[label].append(1000 * median([c for _, c in took[label]]))

    def ratios(of: dict[str, list[float]], a: int, b: int) -> list[float]:
        return [x / y for x, y in zip(of[plan[a][0]], of[plan[b][0]], strict=True)]

    for label, *_ in plan:
        section.add(f"settle, {label}", wall[label], "ms")
    for label, *_ in plan:
        section.add(f"settle CPU, {label}", cpu[label], "ms")
    volume = ratios(wall, 1, 0)
    section.add(
        f"ratio {large:,} / {small:,} entries", volume, "x", target="<= 2", met=median(volume) <= 2
    )
    section.add(f"ratio {large:,} / {small:,} entries, CPU", ratios(cpu, 1, 0), "x")
    section.add(f"ratio {RECIPIENTS:,} / 1 recipients ({small:,} entries)", ratios(wall, 0, 2), "x")
    section.add(
        f"ratio {RECIPIENTS:,} / 1 recipients ({small:,} entries), CPU", ratios(cpu, 0, 2), "x"
    )
    section.notes.append(
        f"{rounds} rounds of {settles} settles per side, the sides taking turns; a side's "
        "figure is its median settle in the round (wall time, and the process's CPU time, "
        "which leaves out the wait for the disk), ratios per round. The free plan has no "
        f"broadcast quota, so every message sent is paid at {BROADCAST_RATE} IDR from the "
        "broadcast balance."
    )
    lots = {size: side.lots() for size, side in sides.items()}
    done = {size: side.settles for size, side in sides.items()}
    section.notes.append(
        f"{store}: after {done[small]:,} and {done[large]:,} settles the wallets hold "
        f"{lots[small]} and {lots[large]} lots (credit a partial settle gives back goes back "
        "into the lot it came from)."
    )


def run(*, sizes: tuple[int, int], rounds: int, settles: int) -> Section:
    from subkit.stores.sqlite import SqliteStore

    section = Section("Broadcast settle, SQLite")
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        stores = []
        sides = {}
        for size in sizes:
            path = Path(tmp) / f"holds-{size}.sqlite"
            took = build_sqlite(path, size)
            section.notes.append(
                f"{size:,} entries inserted with SQL in {took:.1f} s; database "
                f"{path.stat().st_size / 2**20:.0f} MiB."
            )
            store = SqliteStore(path)
            stores.append(store)
            sides[size] = Side.of(store)
        _rounds(section, sides, rounds=rounds, settles=settles, store="SQLite")
        for store in stores:
            store.close()
    return section


@contextmanager
def _schemas(count: int) -> Iterator[list[str]]:
    import psycopg

    names = [f"bench_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    try:
        yield names
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]


def run_postgres(*, sizes: tuple[int, int], rounds: int, settles: int) -> Section:
    from subkit.stores.postgres import PostgresStore

    section = Section("Broadcast settle, PostgreSQL")
    with _schemas(len(sizes)) as names:
        stores = []
        sides = {}
        for size, name in zip(sizes, names, strict=True):
            took = build_postgres(name, size)
            section.notes.append(f"{size:,} entries inserted with SQL in {took:.1f} s.")
            store = PostgresStore(DSN, schema=name, pool_size=1)
            stores.append(store)
            sides[size] = Side.of(store)
        _rounds(section, sides, rounds=rounds, settles=settles, store="PostgreSQL")
        for store in stores:
            store.close()
    section.notes.append(
        f"Informational (no target): the server at {DSN.rsplit('@', 1)[-1]}, "
        "each size in a schema of its own, dropped after."
    )
    return section


def fragmentation(*, settles: int, sample: int) -> dict[str, Any]:
    """Settle time and wallet size before and after ``settles`` partial settles (SQLite, a
    fresh account): what a settle costs once earlier settles have given credit back."""
    from subkit.stores.sqlite import SqliteStore

    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        path = Path(tmp) / "fragments.sqlite"
        build_sqlite(path, 1)
        store = SqliteStore(path)
        side = Side.of(store)
        out: dict[str, Any] = {}

        def measure(name: str) -> None:
            took = [side.settle(f"{name}-{i}", RECIPIENTS, SENT)[0] for i in range(sample)]
            row = store.connection().execute("SELECT length(data) FROM accounts").fetchone()
            out[name] = {"ms": 1000 * median(took), "lots": side.lots(), "json": row[0]}

        measure("first")
        for i in range(settles):
            side.settle(f"fill-{i}", RECIPIENTS, SENT)
        measure("after")
        store.close()
    return out


if __name__ == "__main__":
    print(json.dumps(fragmentation(settles=2_000, sample=20), indent=2))
