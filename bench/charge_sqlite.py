"""Reply charges on a SQLite file: ``Billing.charge_replies`` against raw ``sqlite3``.

The baseline does, by hand, the least a durable reply charge needs: one ``BEGIN IMMEDIATE``
transaction with a conditional balance update (``... WHERE balance >= ?``), a ledger insert
and an idempotency insert (whose primary key refuses a replayed key), on a file with the
same durability settings as :class:`~subkit.stores.sqlite.SqliteStore` (WAL journal,
``synchronous = FULL``, foreign keys on); the settings are read back from both connections
and compared. Its ledger table carries the same secondary indexes as subkit's, the ones the
filtered, paged statement needs (R-BAL-7), so the ratio measures subkit's own overhead. A
second, informational baseline ("lean") keeps only the ledger's primary key, to show what
those indexes cost.

Charges go round-robin over a few accounts, topped up through ``adjust_balance``. Each round
times subkit and the baselines back to back (the order alternating) and the ratio is taken
per round, so a noisy neighbour slows both sides of a ratio alike.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench._common import START, Section, bench_dir, median, rate, rate_for

ACCOUNTS = 100
REPLY_RATE = 30  # the default catalogue's reply rate, IDR

_LEDGER_INDEXES = (
    "CREATE INDEX ledger_by_time ON ledger (account_id, at_us DESC, seq DESC)",
    "CREATE INDEX ledger_by_kind ON ledger (account_id, kind, at_us DESC, seq DESC)",
    "CREATE INDEX ledger_by_balance ON ledger (account_id, balance, at_us DESC, seq DESC)",
    "CREATE INDEX ledger_by_balance_kind"
    " ON ledger (account_id, balance, kind, at_us DESC, seq DESC)",
)


class RawCharger:
    """Reply charges written by hand against ``sqlite3``: the floor for subkit."""

    def __init__(self, path: Path, *, indexes: bool) -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE balances (account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL,"
            " next_seq INTEGER NOT NULL) WITHOUT ROWID"
        )
        conn.execute(
            "CREATE TABLE ledger (account_id TEXT NOT NULL REFERENCES balances (account_id),"
            " seq INTEGER NOT NULL, at_us INTEGER NOT NULL, balance TEXT NOT NULL,"
            " kind TEXT NOT NULL, count INTEGER NOT NULL, amount INTEGER NOT NULL,"
            " balance_after INTEGER NOT NULL, key TEXT, PRIMARY KEY (account_id, seq))"
            " WITHOUT ROWID"
        )
        for statement in _LEDGER_INDEXES if indexes else ():
            conn.execute(statement)
        conn.execute(
            "CREATE TABLE idempotency (account_id TEXT NOT NULL, scope TEXT NOT NULL,"
            " key TEXT NOT NULL, fingerprint TEXT NOT NULL, result TEXT NOT NULL,"
            " PRIMARY KEY (account_id, scope, key)) WITHOUT ROWID"
        )
        self.conn = conn
        self.at_us = int(START.timestamp() * 1_000_000)

    def open(self, account_id: str, balance: int) -> None:
        self.conn.execute(
            "INSERT INTO balances (account_id, balance, next_seq) VALUES (?, ?, 1)",
            (account_id, balance),
        )

    def charge(self, account_id: str, key: str, count: int = 1) -> int:
        """Charge ``count`` replies once per ``key``; return the balance after."""
        amount = REPLY_RATE * count
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "UPDATE balances SET balance = balance - ?, next_seq = next_seq + 1"
                " WHERE account_id = ? AND balance >= ? RETURNING balance, next_seq",
                (amount, account_id, amount),
            ).fetchone()
            if row is None:
                raise ValueError(f"{account_id} is short of {amount}")
            after, seq = row
            conn.execute(
                "INSERT INTO ledger (account_id, seq, at_us, balance, kind, count, amount,"
                " balance_after, key) VALUES (?, ?, ?, 'conversation', 'reply', ?, ?, ?, ?)",
                (account_id, seq - 1, self.at_us, count, -amount, after, key),
            )
            conn.execute(
                "INSERT INTO idempotency (account_id, scope, key, fingerprint, result)"
                " VALUES (?, 'reply', ?, ?, ?)",
                (account_id, key, str(count), json.dumps({"amount": amount, "after": after})),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return int(after)

    def balance(self, account_id: str) -> int:
        row = self.conn.execute(
            "SELECT balance FROM balances WHERE account_id = ?", (account_id,)
        ).fetchone()
        return int(row[0])

    def settings(self) -> tuple[str, int, int]:
        return _settings(self.conn)


def _settings(conn: sqlite3.Connection) -> tuple[str, int, int]:
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    keys = conn.execute("PRAGMA foreign_keys").fetchone()[0]
    return str(mode).lower(), int(sync), int(keys)


def run(*, rounds: int, seconds: float) -> Section:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway, FixedClock

    section = Section("Reply charge, SQLite")
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        directory = Path(tmp)
        store = SqliteStore(directory / "subkit.sqlite")
        billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
        raw = RawCharger(directory / "raw.sqlite", indexes=True)
        lean = RawCharger(directory / "lean.sqlite", indexes=False)
        ids = [f"acc-{i:04d}" for i in range(ACCOUNTS)]
        for account_id in ids:
            billing.open_account(account_id)
            billing.adjust_balance(
                account_id, "conversation", 1_000_000, key="bench-top-up", reason="bench"
            )
            raw.open(account_id, 1_000_000)
            lean.open(account_id, 1_000_000)
        subkit_settings = _settings(store.connection())
        if raw.settings() != subkit_settings or lean.settings() != subkit_settings:
            raise RuntimeError(
                f"baseline durability {raw.settings()} differs from subkit's {subkit_settings}"
            )

        def charge_subkit(prefix: str) -> Callable[[int], None]:
            def work(i: int) -> None:
                billing.charge_replies(ids[i % ACCOUNTS], key=f"{prefix}-{i}")

            return work

        def charge_raw(charger: RawCharger, prefix: str) -> Callable[[int], None]:
            def work(i: int) -> None:
                charger.charge(ids[i % ACCOUNTS], f"{prefix}-{i}")

            return work

        # Warm up every side (caches, the WAL file) before measuring.
        rate(charge_subkit("warm"), ACCOUNTS)
        rate(charge_raw(raw, "warm"), ACCOUNTS)
        rate(charge_raw(lean, "warm"), ACCOUNTS)
        ours, base, thin, ratios, thin_ratios = [], [], [], [], []
        charged = dict.fromkeys(("subkit", "raw", "lean"), ACCOUNTS)
        for r in range(rounds):
            sides = [
                ("subkit", charge_subkit(f"r{r}")),
                ("raw", charge_raw(raw, f"r{r}")),
                ("lean", charge_raw(lean, f"r{r}")),
            ]
            if r % 2:
                sides.reverse()
            got = {}
            for name, work in sides:
                got[name], count = rate_for(work, seconds, batch=ACCOUNTS)
                charged[name] += count
            ours.append(got["subkit"])
            base.append(got["raw"])
            thin.append(got["lean"])
            ratios.append(got["subkit"] / got["raw"])
            thin_ratios.append(got["subkit"] / got["lean"])
        # Every side must have done the work it was timed for: each charge taken once.
        after = {
            "subkit": billing.balances(ids[0]).conversation.amount - 15_000,
            "raw": raw.balance(ids[0]),
            "lean": lean.balance(ids[0]),
        }
        for name, balance in after.items():
            if balance != 1_000_000 - REPLY_RATE * charged[name] // ACCOUNTS:
                raise RuntimeError(f"{name}: balance {balance} after the run is wrong")
        store.close()
        raw.conn.close()
        lean.conn.close()
    section.add("subkit charge_replies", ours, "charges/s")
    section.add("raw sqlite3 baseline (same indexes)", base, "charges/s")
    # Issue 20 raised the target from 0.5 (met, 0.56) to 0.7.
    section.add("ratio subkit / baseline", ratios, "x", target=">= 0.7", met=median(ratios) >= 0.7)
    section.add("raw sqlite3 lean baseline (ledger PK only)", thin, "charges/s")
    section.add("ratio subkit / lean baseline (info)", thin_ratios, "x")
    section.notes.append(
        f"{rounds} rounds of {seconds} s per side, round-robin over {ACCOUNTS} "
        "accounts; ratio taken per round. journal_mode, synchronous and foreign_keys read "
        f"back from both connections: {subkit_settings}."
    )
    return section
