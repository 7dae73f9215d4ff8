"""Read latency under a billing run: ``usage_overview`` while ``advance`` runs on the same file.

Setup: the billing run's database of N accounts (built as in :mod:`bench.billing_run`), copied
fresh for each half of a round. In one half, this process reads ``usage_overview`` of
accounts picked at random (each once, so every read has the month's catch-up to apply, as a
page read after a boundary does) for a fixed time, with nothing else on the file. In the other
half, a subprocess runs ``Billing.advance`` over the copy (the clock 32 days on, so every
account is due) and, once it has processed its first account, the same reads are made for the
same time while it works; the run is then stopped (it has been shown to be in progress for the
whole window). The two halves alternate in order from round to round. Each read is timed with
``perf_counter``; p50 and p99 are of every read of a half, and a read that raised is counted
(not timed). Reads must not wait for the writer (R-CON-2): the target is p99 under the run at
most 5 times p99 without it.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench import billing_run
from bench._common import START, Section, bench_dir

ROOT = Path(__file__).resolve().parent.parent
LATER = START + timedelta(days=32)


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) of ``values`` by the inclusive method."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(share * 1000) - 1]


def read_for(path: Path, size: int, seconds: float, seed: int) -> tuple[list[float], int]:
    """Read ``usage_overview`` of random accounts for ``seconds``; (latencies in ms, errors)."""
    from subkit.errors import SubkitError
    from subkit.fakes import FakeGateway, FixedClock
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore

    store = SqliteStore(path)
    billing = Billing(Catalogue.default(), store, FakeGateway(), FixedClock(LATER))
    order = random.Random(seed).sample(range(size), k=min(size, 100_000))
    latencies: list[float] = []
    errors = 0
    ends = time.perf_counter() + seconds
    for i in order:
        began = time.perf_counter()
        if began >= ends:
            break
        try:
            billing.usage_overview(billing_run.account_id(i))
        except SubkitError:
            errors += 1
            continue
        latencies.append((time.perf_counter() - began) * 1000)
    store.close()
    return latencies, errors


def runner(path: Path) -> None:
    """``advance`` over ``path``, saying "started" once its first account is done."""
    from subkit.fakes import FakeGateway, FixedClock
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore

    billing = Billing(Catalogue.default(), SqliteStore(path), FakeGateway(), FixedClock(LATER))

    def progress(done: int) -> None:
        if done == 1:
            print("started", flush=True)

    billing.advance(progress=progress)
    print("finished", flush=True)


def under_run(path: Path, size: int, seconds: float, seed: int) -> tuple[list[float], int]:
    """The reads while a billing run is in progress in another process."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.read_latency", "--runner", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "started":
            raise RuntimeError("the billing run did not start")
        result = read_for(path, size, seconds, seed)
        if process.poll() is not None:
            raise RuntimeError("the billing run ended before the reads did; use more accounts")
    finally:
        process.terminate()  # the run was in progress throughout; its end is not measured
        process.wait()
    return result


def fresh_copy(template: Path, name: str) -> Path:
    path = template.with_name(name)
    for stale in template.parent.glob(f"{name}*"):
        stale.unlink()
    shutil.copyfile(template, path)
    return path


def run(*, size: int, rounds: int, seconds: float) -> Section:
    section = Section("Read latency, SQLite")
    quiet_p50: list[float] = []
    quiet_p99: list[float] = []
    busy_p50: list[float] = []
    busy_p99: list[float] = []
    ratios: list[float] = []
    worst: dict[str, list[float]] = {"quiet": [], "busy": []}
    rates: dict[str, list[float]] = {"quiet": [], "busy": []}
    reads = {"quiet": 0, "busy": 0}
    errors = {"quiet": 0, "busy": 0}
    with tempfile.TemporaryDirectory(prefix="subkit-bench-", dir=bench_dir()) as tmp:
        template = Path(tmp) / f"accounts-{size}.sqlite"
        billing_run.build(template, size)
        for r in range(rounds):
            halves = ("quiet", "busy") if r % 2 == 0 else ("busy", "quiet")
            figures: dict[str, tuple[float, float]] = {}
            for half in halves:
                path = fresh_copy(template, f"{half}.sqlite")
                if half == "quiet":
                    latencies, failed = read_for(path, size, seconds, seed=r)
                else:
                    latencies, failed = under_run(path, size, seconds, seed=r)
                reads[half] += len(latencies)
                worst[half].append(max(latencies))
                rates[half].append(len(latencies) / seconds)
                errors[half] += failed
                figures[half] = (percentile(latencies, 0.5), percentile(latencies, 0.99))
            quiet_p50.append(figures["quiet"][0])
            quiet_p99.append(figures["quiet"][1])
            busy_p50.append(figures["busy"][0])
            busy_p99.append(figures["busy"][1])
            ratios.append(figures["busy"][1] / figures["quiet"][1])
    section.add("usage_overview p50, no run", quiet_p50, "ms")
    section.add("usage_overview p99, no run", quiet_p99, "ms")
    section.add(f"usage_overview p50, during a run over {size:,}", busy_p50, "ms")
    section.add(f"usage_overview p99, during a run over {size:,}", busy_p99, "ms")
    section.add("slowest read, no run", worst["quiet"], "ms")
    section.add("slowest read, during the run", worst["busy"], "ms")
    section.add("reads, no run", rates["quiet"], "reads/s")
    section.add("reads, during the run", rates["busy"], "reads/s")
    section.add(
        "p99 during the run / p99 without",
        ratios,
        "x",
        target="<= 5",
        met=statistics.median(ratios) <= 5,
    )
    section.notes.append(
        f"{rounds} rounds of {seconds:g} s of reads per half: {reads['quiet']:,} reads without "
        f"a run, {reads['busy']:,} during one; reads that raised: {errors['quiet']} without, "
        f"{errors['busy']} during."
    )
    return section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runner", metavar="DATABASE", help="run advance (internal)")
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    if args.runner:
        runner(Path(args.runner))
        return
    section = run(size=args.size, rounds=args.rounds, seconds=args.seconds)
    for row in section.rows:
        v = row.value
        print(f"{row.figure}: {v.median:.3g} {row.unit} [{v.low:.3g}-{v.high:.3g}]")
    print(*section.notes, sep="\n")


if __name__ == "__main__":
    main()
