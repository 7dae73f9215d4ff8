"""What every benchmark shares: timing, summaries of repeated runs, the result rows."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: The instant every benchmark's clock starts at (a fixed one, so runs are comparable).
START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Summary:
    """The median of several measurements of one figure, with their min and max."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("a summary needs at least one value")
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    bench: str
    figure: str
    value: Summary
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Section:
    """What one benchmark reports: its rows and free-form notes for the document."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, values: Sequence[float], unit: str, **kw: Any) -> Summary:
        summary = Summary.of(values)
        self.rows.append(Row(self.title, figure, summary, unit, **kw))
        return summary


def rate(work: Callable[[int], None], count: int) -> float:
    """Run ``work(i)`` for ``i`` in ``range(count)``; return calls per second."""
    started = time.perf_counter()
    for i in range(count):
        work(i)
    return count / (time.perf_counter() - started)


def rate_for(work: Callable[[int], None], seconds: float, *, batch: int = 100) -> tuple[float, int]:
    """Run ``work(i)`` for ``i`` = 0, 1, ... for at least ``seconds``; return (calls/s, calls).

    Timing a duration rather than a count gives a fast side and a slow side the same
    exposure to the machine's noise.
    """
    done = 0
    started = time.perf_counter()
    while True:
        for i in range(done, done + batch):
            work(i)
        done += batch
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed, done


def fmt(value: float) -> str:
    """A number for the table: thousands separated, 3 significant digits when small."""
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def machine() -> dict[str, str]:
    """The facts about this machine and interpreter that the numbers depend on."""
    import sqlite3

    load = os.getloadavg() if hasattr(os, "getloadavg") else ()
    return {
        "Cores": str(os.cpu_count()),
        "Python": sys.version.split()[0] + f" ({platform.python_implementation()})",
        "SQLite": sqlite3.sqlite_version,
        "Platform": platform.platform(),
        "CPU": _cpu_model(),
        "Load average at start": " ".join(f"{x:.2f}" for x in load),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def bench_dir() -> str | None:
    """Where databases go: ``SUBKIT_BENCH_DIR`` or the system's temporary directory."""
    return os.environ.get("SUBKIT_BENCH_DIR") or None


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
