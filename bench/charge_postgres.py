"""Reply charges on PostgreSQL: ``Billing.charge_replies`` on ``PostgresStore`` against raw
psycopg, and charges by 1, 2 and 4 processes on PostgreSQL and on SQLite.

The baseline does, by hand, what a durable reply charge needs, in one transaction per charge
on one autocommit connection (as the store's own pool hands out): ``BEGIN``, the account's row
lock (``SELECT ... FOR UPDATE``), the balance update, a ledger insert and an idempotency
insert, ``COMMIT``; its ledger has the same secondary indexes as subkit's. Charges go
round-robin over a few accounts topped up through ``adjust_balance``; each round times subkit
and the baseline back to back (the order alternating) and the ratio is taken per round.

Scaling: N processes (spawned, each with its own store and accounts) start together and
charge for a fixed time; the figure is their charges per second added up, for PostgreSQL and
for one SQLite file. The server is the one at ``SUBKIT_PG_DSN`` (default
``postgresql://postgres@127.0.0.1:5432/test``), each run in a schema of its own, dropped after.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench._common import START, Section, bench_dir, median, rate, rate_for

DSN = os.environ.get("SUBKIT_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ACCOUNTS = 50
REPLY_RATE = 30  # the default catalogue's reply rate, IDR
PROCESSES = (1, 2, 4)

_RAW_SCHEMA = (
    "CREATE TABLE {s}.balances (account_id text PRIMARY KEY, balance bigint NOT NULL,"
    " next_seq bigint NOT NULL)",
    "CREATE TABLE {s}.ledger (account_id text NOT NULL REFERENCES {s}.balances,"
    " seq bigint NOT NULL, at timestamptz NOT NULL, balance text NOT NULL, kind text NOT NULL,"
    " count bigint NOT NULL, amount bigint NOT NULL, balance_after bigint NOT NULL,"
    " key text, data jsonb NOT NULL, PRIMARY KEY (account_id, seq))",
    "CREATE INDEX ON {s}.ledger (account_id, at DESC, seq DESC)",
    "CREATE INDEX ON {s}.ledger (account_id, kind, at DESC, seq DESC)",
    "CREATE INDEX ON {s}.ledger (account_id, balance, at DESC, seq DESC)",
    "CREATE INDEX ON {s}.ledger (account_id, balance, kind, at DESC, seq DESC)",
    "CREATE TABLE {s}.idempotency (account_id text NOT NULL, scope text NOT NULL,"
    " key text NOT NULL, fingerprint text NOT NULL, result jsonb NOT NULL,"
    " PRIMARY KEY (account_id, scope, key))",
)


@contextmanager
def schema() -> Iterator[str]:
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')  # type: ignore[arg-type]


class RawCharger:
    """Reply charges written by hand against psycopg: the floor for subkit."""

    def __init__(self, name: str) -> None:
        import psycopg

        self.conn = psycopg.connect(DSN, autocommit=True)
        self.s = f'"{name}"'
        self.conn.execute(f"CREATE SCHEMA {self.s}")  # type: ignore[arg-type]
        for statement in _RAW_SCHEMA:
            self.conn.execute(statement.replace("{s}", self.s))  # type: ignore[arg-type]

    def open(self, account_id: str, balance: int) -> None:
        self.conn.execute(
            f"INSERT INTO {self.s}.balances VALUES (%s, %s, 1)",  # type: ignore[arg-type]
            (account_id, balance),
        )

    def charge(self, account_id: str, key: str, count: int = 1) -> int:
        from psycopg.types.json import Jsonb

        amount = REPLY_RATE * count
        conn, s = self.conn, self.s
        conn.execute("BEGIN")
        try:
            row = conn.execute(
                f"SELECT balance, next_seq FROM {s}.balances"  # type: ignore[arg-type]
                " WHERE account_id = %s FOR UPDATE",
                (account_id,),
            ).fetchone()
            if row is None or row[0] < amount:
                raise ValueError(f"{account_id} is short of {amount}")
            after, seq = row[0] - amount, row[1]
            conn.execute(
                f"UPDATE {s}.balances SET balance = %s, next_seq = %s"  # type: ignore[arg-type]
                " WHERE account_id = %s",
                (after, seq + 1, account_id),
            )
            conn.execute(
                f"INSERT INTO {s}.ledger (account_id, seq, at, balance, kind, count,"  # type: ignore[arg-type]
                " amount, balance_after, key, data)"
                " VALUES (%s, %s, %s, 'conversation', 'reply', %s, %s, %s, %s, %s)",
                (account_id, seq, START, count, -amount, after, key, Jsonb({"key": key})),
            )
            conn.execute(
                f"INSERT INTO {s}.idempotency VALUES (%s, 'reply', %s, %s, %s)",  # type: ignore[arg-type]
                (account_id, key, str(count), Jsonb({"amount": amount, "after": after})),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return int(after)

    def balance(self, account_id: str) -> int:
        row = self.conn.execute(
            f"SELECT balance FROM {self.s}.balances WHERE account_id = %s",  # type: ignore[arg-type]
            (account_id,),
        ).fetchone()
        assert row is not None
        return int(row[0])


def _billing(store: Any, ids: list[str]) -> Any:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.testing import FakeGateway, FixedClock

    billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
    for account_id in ids:
        billing.open_account(account_id)
        billing.adjust_balance(
            account_id, "conversation", 1_000_000, key="bench-top-up", reason="bench"
        )
    return billing


def ratio(section: Section, *, rounds: int, seconds: float) -> None:
    from subkit.stores.postgres import PostgresStore

    with schema() as ours_schema, schema() as raw_schema:
        store = PostgresStore(DSN, schema=ours_schema, pool_size=2)
        ids = [f"acc-{i:03d}" for i in range(ACCOUNTS)]
        billing = _billing(store, ids)
        raw = RawCharger(raw_schema)
        for account_id in ids:
            raw.open(account_id, 1_000_000)

        def charge_subkit(prefix: str) -> Callable[[int], None]:
            def work(i: int) -> None:
                billing.charge_replies(ids[i % ACCOUNTS], key=f"{prefix}-{i}")

            return work

        def charge_raw(prefix: str) -> Callable[[int], None]:
            def work(i: int) -> None:
                raw.charge(ids[i % ACCOUNTS], f"{prefix}-{i}")

            return work

        rate(charge_subkit("warm"), ACCOUNTS)
        rate(charge_raw("warm"), ACCOUNTS)
        ours, base, ratios = [], [], []
        charged = dict.fromkeys(("subkit", "raw"), ACCOUNTS)
        for r in range(rounds):
            sides = [("subkit", charge_subkit(f"r{r}")), ("raw", charge_raw(f"r{r}"))]
            if r % 2:
                sides.reverse()
            got = {}
            for name, work in sides:
                got[name], count = rate_for(work, seconds, batch=ACCOUNTS)
                charged[name] += count
            ours.append(got["subkit"])
            base.append(got["raw"])
            ratios.append(got["subkit"] / got["raw"])
        # Each side did the work it was timed for: every charge taken once.
        after = {
            "subkit": billing.balances(ids[0]).conversation.amount - 15_000,
            "raw": raw.balance(ids[0]),
        }
        for name, balance in after.items():
            if balance != 1_000_000 - REPLY_RATE * charged[name] // ACCOUNTS:
                raise RuntimeError(f"{name}: balance {balance} after the run is wrong")
        store.close()
        raw.conn.close()
    section.add("subkit charge_replies", ours, "charges/s")
    section.add("raw psycopg baseline (same statements)", base, "charges/s")
    section.add("ratio subkit / baseline", ratios, "x", target=">= 0.5", met=median(ratios) >= 0.5)


def _charger(kind: str, where: str, number: int, start: Any, seconds: float) -> float:
    """One process: its own accounts, charged from ``start`` for ``seconds``."""
    if kind == "postgres":
        from subkit.stores.postgres import PostgresStore

        store: Any = PostgresStore(DSN, schema=where, pool_size=1)
    else:
        from subkit.stores.sqlite import SqliteStore

        store = SqliteStore(where, timeout=30.0)
    ids = [f"p{number}-acc-{i:02d}" for i in range(10)]
    billing = _billing(store, ids)
    rate(lambda i: billing.charge_replies(ids[i % 10], key=f"warm-{i}"), 10)
    start.wait(120)
    got, _ = rate_for(
        lambda i: billing.charge_replies(ids[i % 10], key=f"c-{i}"), seconds, batch=10
    )
    store.close()
    return got


def scaling(section: Section, *, rounds: int, seconds: float) -> None:
    spawn = multiprocessing.get_context("spawn")
    figures: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for kind in ("postgres", "sqlite"):
            for n in PROCESSES:
                with schema() as name, tempfile.TemporaryDirectory(dir=bench_dir()) as tmp:
                    where = name if kind == "postgres" else str(Path(tmp) / "scale.sqlite")
                    if kind == "postgres":
                        from subkit.stores.postgres import PostgresStore

                        PostgresStore(DSN, schema=name).close()  # migrate once, up front
                    else:
                        from subkit.stores.sqlite import SqliteStore

                        SqliteStore(where).close()
                    with spawn.Manager() as manager, spawn.Pool(n) as pool:
                        start = manager.Event()
                        jobs = [
                            pool.apply_async(_charger, (kind, where, p, start, seconds))
                            for p in range(n)
                        ]
                        time.sleep(3.0)  # let every process open its store and warm up
                        start.set()
                        total = sum(job.get(timeout=300) for job in jobs)
                figures.setdefault((kind, n), []).append(total)
    for kind, label in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
        one = median(figures[(kind, 1)])
        for n in PROCESSES:
            section.add(f"{label}, {n} process(es), charges/s", figures[(kind, n)], "charges/s")
        for n in PROCESSES[1:]:
            section.add(
                f"{label} scaling {n} vs 1 process",
                [v / one for v in figures[(kind, n)]],
                "x",
            )


def run(*, rounds: int, seconds: float) -> Section:
    section = Section("Reply charge, PostgreSQL")
    ratio(section, rounds=rounds, seconds=seconds)
    scaling(section, rounds=max(1, rounds // 3), seconds=max(2.0, seconds * 2))
    section.notes.append(
        "Scaling: each process charges its own 10 accounts; the machine has "
        f"{os.cpu_count()} cores, shared with the PostgreSQL server and other work."
    )
    return section
