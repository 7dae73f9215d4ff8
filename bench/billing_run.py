"""The billing run: ``Billing.advance`` over N accounts that all cross a period boundary.

Setup: a SQLite database of N accounts on the default (Free, monthly) plan, opened at
:data:`~bench._common.START`. The first :data:`OPENED` accounts are opened through
``Billing.open_account`` (timed, to report its rate); the rest are cloned from the first
account's rows with SQL (``INSERT ... SELECT`` over a recursive counter, the account id
replaced inside the stored JSON), which builds 100 000 accounts in seconds rather than
minutes. A cloned account is checked to read back equal to an opened one.

Each measured run copies that database and runs ``advance`` in a fresh subprocess with the
clock 32 days later, so every account crosses its first month's boundary (its included
balance expires and the next month's is granted). The subprocess reports the seconds taken
and its peak resident memory (``VmHWM`` from ``/proc/self/status``, not ``ru_maxrss``, which
Linux carries over from the parent through fork), for the whole process: interpreter, subkit
and SQLite's page cache included.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import attrs

from bench._common import START, Section, bench_dir, median

#: Accounts opened through the facade before the rest are cloned.
OPENED = 2_000
TEMPLATE = "acc-0000000"
ROOT = Path(__file__).resolve().parent.parent


def account_id(i: int) -> str:
    return f"acc-{i:07d}"


def build(path: Path, size: int) -> dict[str, float]:
    """Make the database of ``size`` accounts at ``path``; return how long its parts took."""
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway, FixedClock

    store = SqliteStore(path)
    billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
    opened = min(size, OPENED)
    started = time.perf_counter()
    for i in range(opened):
        billing.open_account(account_id(i))
    open_seconds = time.perf_counter() - started
    reference = billing.subscription(account_id(opened - 1)), billing.balances(account_id(0))
    store.close()

    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    if size > opened:
        _clone(conn, opened, size)
    conn.execute("COMMIT")
    count = conn.execute("SELECT COUNT(*) FROM accounts").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    clone_seconds = time.perf_counter() - started
    if count != size:
        raise RuntimeError(f"built {count} accounts, wanted {size}")

    store = SqliteStore(path)
    billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(START))
    last = account_id(size - 1)
    cloned = billing.subscription(last), billing.balances(last)
    store.close()
    if cloned != (attrs.evolve(reference[0], account_id=last), reference[1]):
        raise RuntimeError(f"cloned account {last} differs from an opened one: {cloned}")
    return {
        "opened": opened,
        "open_seconds": open_seconds,
        "open_rate": opened / open_seconds,
        "clone_seconds": clone_seconds,
    }


def _clone(conn: sqlite3.Connection, first: int, size: int) -> None:
    """Copy the template account's rows to accounts ``first`` .. ``size - 1``."""
    counter = "WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)"
    quoted = f'"{TEMPLATE}"'
    conn.execute(
        f"{counter} INSERT INTO accounts (account_id, version, due_at_us, data)"
        " SELECT printf('acc-%07d', i), version, due_at_us,"
        " replace(data, ?, printf('\"acc-%07d\"', i)) FROM n, accounts WHERE account_id = ?",
        (first, size, quoted, TEMPLATE),
    )
    columns = "seq, at_us, balance, kind, count, amount, balance_after, currency, key, invoice_code"
    conn.execute(
        f"{counter} INSERT INTO ledger (account_id, {columns}, data)"
        f" SELECT printf('acc-%07d', i), {columns}, replace(data, ?, printf('\"acc-%07d\"', i))"
        " FROM n, ledger WHERE account_id = ?",
        (first, size, quoted, TEMPLATE),
    )


def _status_kb(field: str) -> int:
    """A ``/proc/self/status`` memory figure: ``VmRSS`` (now) or ``VmHWM`` (the peak)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_kb() -> int:
    # VmHWM belongs to this program's address space, made at exec. ru_maxrss would not do:
    # Linux carries it over from the forked copy of the parent, so a large parent would show.
    try:
        return _status_kb("VmHWM")
    except (OSError, RuntimeError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def worker(path: Path, size: int) -> dict[str, float]:
    """Run ``advance`` once on ``path`` (in this process); return time and memory."""
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway, FixedClock

    store = SqliteStore(path)
    clock = FixedClock(START + timedelta(days=32))
    billing = Billing(Catalogue.default(), store, FakeGateway(), clock)
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    report = billing.advance()
    seconds = time.perf_counter() - started
    peak = _peak_kb()
    if len(report.accounts) != size or report.counts.get("period") != size:
        raise RuntimeError(f"advance touched {len(report.accounts)} of {size}: {report.counts}")
    again = billing.advance()  # idempotent: nothing left to do
    if again.accounts:
        raise RuntimeError(f"a second advance touched {len(again.accounts)} accounts")
    store.close()
    return {"seconds": seconds, "rss_before_kb": before, "peak_kb": peak}


def measure(template: Path, size: int) -> dict[str, float]:
    """Copy ``template`` and run ``advance`` over it in a fresh subprocess."""
    run_path = template.with_name(f"run-{size}.sqlite")
    for stale in template.parent.glob(f"{run_path.name}*"):
        stale.unlink()
    shutil.copyfile(template, run_path)
    out = subprocess.run(
        [sys.executable, "-m", "bench.billing_run", "--worker", str(run_path), str(size)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    for stale in template.parent.glob(f"{run_path.name}*"):
        stale.unlink()
    return result


def run(*, sizes: tuple[int, int], runs: dict[int, int]) -> Section:
    section = Section("Billing run, SQLite")
    small, large = sizes
    times: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        for size in sizes:
            template = Path(tmp) / f"accounts-{size}.sqlite"
            built = build(template, size)
            section.notes.append(
                f"{size:,} accounts: {built['opened']:,.0f} opened through open_account in "
                f"{built['open_seconds']:.1f} s ({built['open_rate']:,.0f}/s, so "
                f"{size / built['open_rate']:.0f} s for all {size:,} that way); the rest "
                f"cloned with SQL in {built['clone_seconds']:.1f} s; database "
                f"{template.stat().st_size / 2**20:.0f} MiB."
            )
            results = [measure(template, size) for _ in range(runs[size])]
            times[size] = [r["seconds"] for r in results]
            section.add(f"advance, {size:,} accounts", times[size], "s")
            section.add(
                f"advance, {size:,} accounts", [size / s for s in times[size]], "accounts/s"
            )
            peaks = [r["peak_kb"] / 1024 for r in results]
            befores = [r["rss_before_kb"] / 1024 for r in results]
            section.add(f"RSS before advance, {size:,}", befores, "MiB")
            if size == large:
                section.add(
                    f"peak RSS, {size:,}",
                    peaks,
                    "MiB",
                    target="<= 200 MB",
                    met=median(peaks) * 2**20 <= 200e6,
                )
            else:
                section.add(f"peak RSS, {size:,}", peaks, "MiB")
            template.unlink()
    # The ratio of every large run to every small one: its spread shows the noise.
    ratios = [b / a for a in times[small] for b in times[large]]
    limit = 1.1 * large / small
    section.add(
        f"time ratio {large:,} / {small:,}",
        ratios,
        "x",
        target=f"<= {limit:g}",
        met=median(times[large]) / median(times[small]) <= limit,
        note="median of all large/small pairs; met is judged on the ratio of the medians",
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", nargs=2, metavar=("DATABASE", "SIZE"), required=True)
    args = parser.parse_args()
    print(json.dumps(worker(Path(args.worker[0]), int(args.worker[1]))))


if __name__ == "__main__":
    main()
