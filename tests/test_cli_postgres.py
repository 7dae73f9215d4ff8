"""The command line on PostgreSQL (``--db postgresql://... --schema``) and ``run --workers N``
(R-PG-5, R-CON-4): several processes share one billing run and do what one run does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stores import PG_DSN, pg_schema
from subkit.cli import main

NOW = "2026-01-10T09:00:00+07:00"
NEXT_PERIOD = "2026-02-11T09:00:00+07:00"
SHOPS = [f"shop-{n}" for n in range(6)]


def run(capsys: pytest.CaptureFixture[str], db: list[str], *argv: str, now: str = NOW) -> Any:
    status = main([*db, "--now", now, "--json", *argv])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def billing_run(capsys: pytest.CaptureFixture[str], db: list[str], workers: int) -> Any:
    for shop in SHOPS:
        run(capsys, db, "open", shop)
    report = run(capsys, db, "run", "--workers", str(workers), now=NEXT_PERIOD)
    again = run(capsys, db, "run", "--workers", str(workers), now=NEXT_PERIOD)
    assert again == {"until": NEXT_PERIOD, "accounts": [], "counts": {}}
    overviews = [run(capsys, db, "overview", shop, now=NEXT_PERIOD) for shop in SHOPS]
    return report, overviews


def test_run_with_workers_on_postgres_does_what_one_run_on_sqlite_does(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pg_schema() as schema:
        report, overviews = billing_run(capsys, ["--db", PG_DSN, "--schema", schema], 3)
    one, expected = billing_run(capsys, ["--db", str(tmp_path / "one.sqlite")], 1)
    assert sorted(report["accounts"]) == SHOPS  # each account once, by one of the workers
    assert report["counts"] == one["counts"]
    assert one["counts"]["period"] == len(SHOPS)
    assert overviews == expected


def test_workers_must_be_positive(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status = main(["--db", str(tmp_path / "t.sqlite"), "run", "--workers", "0"])
    assert status == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
