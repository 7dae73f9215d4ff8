"""docs/postgres-store.md: its Python examples run as written, on the real server (each in a
schema of its own; skipped without a server, failed under SUBKIT_REQUIRE_PG=1)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from stores import PG_DSN, pg_schema

PAGE = Path(__file__).resolve().parent.parent / "docs" / "postgres-store.md"
DOC_DSN = '"postgresql://billing@db.internal:5432/app"'


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def on_test_server(code: str, schema: str) -> str:
    assert 'schema="billing"' in code  # never the default schema of the test database
    return code.replace(DOC_DSN, repr(PG_DSN)).replace('schema="billing"', f"schema={schema!r}")


def test_the_examples_run_as_written(tmp_path: Path) -> None:
    """The first examples run in this process, one after the other; the billing-run script
    runs as a script of its own (its workers are spawned processes) on what they left."""
    *inline, script = blocks()
    assert "__main__" in script and len(inline) == 2
    with pg_schema() as schema:
        names: dict[str, object] = {}
        for code in inline:
            exec(compile(on_test_server(code, schema), str(PAGE), "exec"), names)
        path = tmp_path / "billing_run.py"
        path.write_text(on_test_server(script, schema), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
        # The examples' one account, months behind the system clock, is brought up to date
        # once, by one of the workers; a second run finds nothing due.
        assert done.stdout == "1 account(s) brought up to date\n"
        again = subprocess.run(
            [sys.executable, str(path)], capture_output=True, text=True, timeout=300, check=False
        )
        assert again.stdout == "0 account(s) brought up to date\n", again.stderr
