"""Message volume on SQLite (R-VOL): batched durable charges, and ``usage_summary`` over a
month of a million entries.

**Batched charges.** ``Billing.charge_many`` in batches of 100 reply charges against raw
``sqlite3`` doing the same writes in transactions of 100, and against subkit's own
``charge_replies`` (one transaction, so one fsync, per charge) in the same run. "The same
writes" (the target's baseline, :class:`SameWrites`) is subkit's own schema and SQL work done
by hand: per account of the batch its row and its keys' idempotency records read, per charge a
ledger row with the same columns and an idempotency record with the same fingerprint and
result JSON, per account its day total upserted and its row (the same JSON) written back, so
the ratio measures subkit's own code. A leaner baseline (``_raw_batch``: a balance column
updated, a narrow ledger row and a short idempotency row per charge; no account row, no day
totals) is reported beside it, for information. Charges go round-robin over 10 accounts; all
files have the store's durability settings. Each round times the sides back to back (the
order alternating) and the ratios are taken per round.

**Usage summary.** One account per database, with 10 000 and with 1 000 000 reply entries
spread over December 2025 (inserted in bulk with SQL, their day totals with one
``INSERT ... SELECT ... GROUP BY`` over the local day, as migration 4 fills them); a month
summary by day is checked against the entry count, then both sizes are timed back to back.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench._common import START, Section, bench_dir, median, rate_for
from bench.charge_sqlite import REPLY_RATE, RawCharger, _settings

ACCOUNTS = 10
BATCH = 100
SUMMARY_ACCOUNT = "summary-account"
JAKARTA = ZoneInfo("Asia/Jakarta")
DECEMBER = datetime(2025, 12, 1, tzinfo=JAKARTA)
JANUARY = datetime(2026, 1, 1, tzinfo=JAKARTA)


def _raw_batch(charger: RawCharger, items: list[tuple[str, str]]) -> None:
    """``items`` (account, key) charged one reply each in one transaction."""
    conn = charger.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        for account_id, key in items:
            row = conn.execute(
                "UPDATE balances SET balance = balance - ?, next_seq = next_seq + 1"
                " WHERE account_id = ? AND balance >= ? RETURNING balance, next_seq",
                (REPLY_RATE, account_id, REPLY_RATE),
            ).fetchone()
            if row is None:
                raise ValueError(f"{account_id} is short")
            after, seq = row
            conn.execute(
                "INSERT INTO ledger (account_id, seq, at_us, balance, kind, count, amount,"
                " balance_after, key) VALUES (?, ?, ?, 'conversation', 'reply', 1, ?, ?, ?)",
                (account_id, seq - 1, charger.at_us, -REPLY_RATE, after, key),
            )
            conn.execute(
                "INSERT INTO idempotency (account_id, scope, key, fingerprint, result)"
                " VALUES (?, 'reply', ?, '1', ?)",
                (account_id, key, f'{{"amount": {REPLY_RATE}, "after": {after}}}'),
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SameWrites:
    """Reply charges written by hand into subkit's own schema: what a batch of
    ``charge_many`` writes, without subkit's code (the target's baseline)."""

    def __init__(self, path: Path, account_ids: list[str], balance: int) -> None:
        from subkit.plans import Catalogue
        from subkit.service import Billing
        from subkit.stores.sqlite import SqliteStore
        from subkit.testing import FakeGateway, FixedClock

        store = SqliteStore(path)  # the schema, and accounts as subkit opens them
        billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
        for account_id in account_ids:
            billing.open_account(account_id)
        store.close()
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA journal_mode = WAL")
        self.conn = conn
        self.balance = dict.fromkeys(account_ids, balance)
        self.next_seq = {
            account_id: int(seq) + 1
            for account_id, seq in conn.execute(
                "SELECT account_id, max(seq) FROM ledger GROUP BY account_id"
            )
        }
        self.at_us = int(START.timestamp() * 1_000_000)
        self.day = START.astimezone(JAKARTA).date().isoformat()
        # The fingerprint subkit records a one-reply charge with.
        self.fingerprint = hashlib.sha256(b'{"count":1}').hexdigest()

    def batch(self, items: list[tuple[str, str]]) -> None:
        """``items`` (account, key) charged one reply each in one transaction."""
        conn = self.conn
        by_account: dict[str, list[str]] = {}
        for account_id, key in items:
            by_account.setdefault(account_id, []).append(key)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for account_id, keys in by_account.items():
                version, data = conn.execute(
                    "SELECT version, data FROM accounts WHERE account_id = ?", (account_id,)
                ).fetchone()
                marks = ", ".join("?" * len(keys))
                if conn.execute(
                    "SELECT key FROM idempotency WHERE account_id = ? AND scope = 'reply'"
                    f" AND key IN ({marks})",
                    (account_id, *keys),
                ).fetchall():
                    raise ValueError("a key was used before")
                ledger, records = [], []
                for key in keys:
                    if self.balance[account_id] < REPLY_RATE:
                        raise ValueError(f"{account_id} is short")
                    self.balance[account_id] -= REPLY_RATE
                    after = self.balance[account_id]
                    seq = self.next_seq[account_id]
                    self.next_seq[account_id] = seq + 1
                    ledger.append(
                        (
                            *(account_id, seq, self.at_us, "conversation", "reply", 1),
                            *(-REPLY_RATE, after, "IDR", key, None, "{}"),
                        )
                    )
                    result = (
                        f'{{"key":{json.dumps(key)},"balance":"conversation","count":1,'
                        f'"amount":{{"amount":{REPLY_RATE},"currency":"IDR"}},"quota_used":0,'
                        f'"balance_after":{{"amount":{after},"currency":"IDR"}}}}'
                    )
                    records.append((account_id, "reply", key, self.fingerprint, result))
                conn.executemany(
                    "INSERT INTO ledger (account_id, seq, at_us, balance, kind, count, amount,"
                    " balance_after, currency, key, invoice_code, data)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ledger,
                )
                conn.execute(
                    "INSERT INTO usage_totals (account_id, day, balance, kind, count, amount,"
                    " currency) VALUES (?, ?, 'conversation', 'reply', ?, ?, 'IDR')"
                    " ON CONFLICT (account_id, day, balance, kind)"
                    " DO UPDATE SET count = count + excluded.count,"
                    " amount = amount + excluded.amount",
                    (account_id, self.day, len(keys), -REPLY_RATE * len(keys)),
                )
                conn.executemany(
                    "INSERT INTO idempotency (account_id, scope, key, fingerprint, result)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, scope, key)"
                    " DO UPDATE SET fingerprint = excluded.fingerprint, result = excluded.result",
                    records,
                )
                # The account's row written back (the same JSON; subkit's holds the new lots).
                conn.execute(
                    "UPDATE accounts SET version = ?, data = ?"
                    " WHERE account_id = ? AND version = ?",
                    (version + 1, data, account_id, version),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _sides(
    billing: Any, raw: RawCharger, same: SameWrites, ids: list[str], prefix: str
) -> dict[str, Callable[[int], None]]:
    """The work of each side for one round: ``work(i)`` charges batch (or charge) ``i``."""
    from subkit.charges import ChargeKind, ChargeRequest
    from subkit.wallet import Charge

    def many(i: int) -> None:
        batch = [
            ChargeRequest(ids[n % ACCOUNTS], ChargeKind.REPLY, 1, f"{prefix}-{i}-{n}")
            for n in range(BATCH)
        ]
        results = billing.charge_many(batch)
        if not all(isinstance(result, Charge) for result in results):
            raise RuntimeError(f"a batched charge was refused: {results[:3]}")

    def lean(i: int) -> None:
        _raw_batch(raw, [(ids[n % ACCOUNTS], f"{prefix}-{i}-{n}") for n in range(BATCH)])

    def same_writes(i: int) -> None:
        same.batch([(ids[n % ACCOUNTS], f"{prefix}-{i}-{n}") for n in range(BATCH)])

    def single(i: int) -> None:
        billing.charge_replies(ids[i % ACCOUNTS], key=f"{prefix}-{i}")

    return {"many": many, "same": same_writes, "raw": lean, "single": single}


def _check_same_writes(path: Path, same: SameWrites) -> None:
    """The baseline's rows are subkit's: its file reads back through ``SqliteStore``, with
    the balances and entries the baseline counted."""
    from subkit.stores.sqlite import SqliteStore

    store = SqliteStore(path)
    try:
        with store.snapshot() as view:
            for account_id, balance in same.balance.items():
                page = view.ledger_page(
                    account_id,
                    balance=None,
                    kind=None,
                    since=None,
                    until=None,
                    limit=1,
                    cursor=None,
                )
                (last,) = page.items
                records = view.get_records(account_id, "reply", [str(last.key)])
                if last.balance_after.amount != balance or not records:
                    raise RuntimeError(f"the same-writes baseline wrote {account_id} wrongly")
    finally:
        store.close()


def charges(*, rounds: int, seconds: float) -> Section:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway, FixedClock

    section = Section("Batched charges, SQLite")
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        directory = Path(tmp)
        store = SqliteStore(directory / "subkit.sqlite")
        billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
        raw = RawCharger(directory / "raw.sqlite", indexes=True)
        ids = [f"acc-{i:02d}" for i in range(ACCOUNTS)]
        same = SameWrites(directory / "same.sqlite", ids, 10**12)
        for account_id in ids:
            billing.open_account(account_id)
            billing.adjust_balance(
                account_id, "conversation", 10**12, key="bench-top-up", reason="bench"
            )
            raw.open(account_id, 10**12)
        ours_settings = _settings(store.connection())
        if raw.settings() != ours_settings or _settings(same.conn) != ours_settings:
            raise RuntimeError("the baselines' durability settings differ from subkit's")

        for work in _sides(billing, raw, same, ids, "warm").values():
            work(0)
        ours, base, lean, singles, vs_raw, vs_lean, vs_single = [], [], [], [], [], [], []
        for r in range(rounds):
            works = _sides(billing, raw, same, ids, f"r{r}")
            sides = [(name, work, 1 if name == "single" else BATCH) for name, work in works.items()]
            if r % 2:
                sides.reverse()
            got = {}
            for name, work, per_call in sides:
                calls_per_s, _ = rate_for(work, seconds, batch=1 if per_call > 1 else 20)
                got[name] = calls_per_s * per_call
            ours.append(got["many"])
            base.append(got["same"])
            lean.append(got["raw"])
            singles.append(got["single"])
            vs_raw.append(got["many"] / got["same"])
            vs_lean.append(got["many"] / got["raw"])
            vs_single.append(got["many"] / got["single"])
        store.close()
        raw.conn.close()
        same.conn.close()
        _check_same_writes(directory / "same.sqlite", same)
    section.add("subkit charge_many, batches of 100", ours, "charges/s")
    section.add("raw sqlite3, the same writes in transactions of 100", base, "charges/s")
    section.add("raw sqlite3, lean writes in transactions of 100 (info)", lean, "charges/s")
    section.add("subkit charge_replies, one per transaction", singles, "charges/s")
    section.add(
        "ratio charge_many / raw, the same writes",
        vs_raw,
        "x",
        target=">= 0.5",
        met=median(vs_raw) >= 0.5,
    )
    section.add("ratio charge_many / raw, lean writes (info)", vs_lean, "x")
    section.add(
        "ratio charge_many / charge_replies",
        vs_single,
        "x",
        target=">= 10",
        met=median(vs_single) >= 10,
    )
    section.notes.append(
        f"{rounds} rounds of {seconds} s per side, reply charges round-robin over {ACCOUNTS} "
        "accounts, ratios per round; both files in WAL mode with synchronous = FULL."
    )
    return section


def build_month(path: Path, entries: int) -> float:
    """A database whose one account has ``entries`` replies over December 2025, with their
    day totals; return the seconds the bulk insert took."""
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore, to_us
    from subkit.testing import FakeGateway, FixedClock

    store = SqliteStore(path)
    billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
    billing.open_account(SUMMARY_ACCOUNT, timezone="Asia/Jakarta")
    store.close()
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    first_us = to_us(DECEMBER)
    step_us = (to_us(JANUARY) - first_us) // entries
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
        " INSERT INTO ledger (account_id, seq, at_us, balance, kind, count, amount,"
        " balance_after, currency, key, invoice_code, data)"
        " SELECT ?, i + 1, ? + (i - 1) * ?, 'conversation', 'reply', 1, -30, 0, 'IDR',"
        " 'k' || i, NULL, '{}' FROM n",
        (entries, SUMMARY_ACCOUNT, first_us, step_us),
    )
    conn.execute(
        "INSERT INTO usage_totals (account_id, day, balance, kind, count, amount, currency)"
        " SELECT account_id, date(at_us / 1000000, 'unixepoch', '+7 hours'), balance, kind,"
        " sum(count), sum(amount), 'IDR' FROM ledger WHERE account_id = ? AND seq > 1"
        " GROUP BY 1, 2, 3, 4",
        (SUMMARY_ACCOUNT,),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def summary(*, sizes: tuple[int, int], rounds: int, seconds: float) -> Section:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway, FixedClock

    section = Section("Usage summary, SQLite")
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        stores: list[Any] = []
        billings: dict[int, Billing] = {}
        for size in sizes:
            path = Path(tmp) / f"summary-{size}.sqlite"
            took = build_month(path, size)
            section.notes.append(
                f"{size:,} entries and their day totals inserted with SQL in {took:.1f} s; "
                f"database {path.stat().st_size / 2**20:.0f} MiB."
            )
            store = SqliteStore(path)
            stores.append(store)
            billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
            billings[size] = billing
            days = billing.usage_summary(SUMMARY_ACCOUNT, since=DECEMBER, until=JANUARY)
            if len(days) != 31 or sum(t.count for t in days) != size:
                raise RuntimeError(f"the December summary of {size:,} entries is wrong")
        timings: dict[int, list[float]] = {size: [] for size in sizes}
        ratios = []
        for r in range(rounds):
            for size in sizes if r % 2 == 0 else sizes[::-1]:
                billing = billings[size]
                per_s, _ = rate_for(
                    lambda i, b=billing: b.usage_summary(
                        SUMMARY_ACCOUNT, since=DECEMBER, until=JANUARY
                    ),
                    seconds,
                    batch=10,
                )
                timings[size].append(1000 / per_s)
            ratios.append(timings[sizes[1]][-1] / timings[sizes[0]][-1])
        for store in stores:
            store.close()
    for size in sizes:
        section.add(f"December by day, {size:,} entries", timings[size], "ms")
    small, large = sizes
    section.add(f"ratio {large:,} / {small:,}", ratios, "x", target="<= 2", met=median(ratios) <= 2)
    section.notes.append(
        f"{rounds} rounds of {seconds} s per size; ratio per round. A summary reads the 31 day "
        "rows of the month from the usage_totals primary key, never the ledger."
    )
    return section
