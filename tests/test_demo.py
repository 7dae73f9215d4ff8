"""The main job (`make demo`) runs to the end and tells the truth about its database."""

from __future__ import annotations

import io
import re
from pathlib import Path

from subkit.demo import run_demo
from subkit.money import Money, format_money
from subkit.plans import Catalogue
from subkit.stores.sqlite import SqliteStore


def test_demo_runs_and_its_printed_totals_match_the_database(tmp_path: Path) -> None:
    """Every invoice line the demo prints carries the total stored in its SQLite file."""
    out = io.StringIO()
    result = run_demo(tmp_path, out)
    text = out.getvalue()
    assert result.database.exists()
    for document in result.documents:
        assert document.stat().st_size > 0
    assert result.documents[0].read_bytes().startswith(b"%PDF")
    store = SqliteStore(result.database)
    try:
        with store.transaction() as unit:
            stored = {code: unit.get_invoice(code) for code in result.invoice_totals}
    finally:
        store.close()
    assert len(stored) == 4
    for code, invoice in stored.items():
        assert invoice is not None
        printed = re.search(rf"{code}\s+\S+\s+.*?(-?Rp[\d.]+)\s+(\w+)", text)
        assert printed is not None, code
        assert printed.group(1) == format_money(invoice.total)
        assert printed.group(2) == str(invoice.status)
    currency = Catalogue.default().currency
    assert "Rp399.000" in text and format_money(Money(6_990_000, currency)) in text
    assert "now on free" in text
