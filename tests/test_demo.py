"""The main job (`make demo`) runs to the end, reads as a story, and tells the truth about its
database."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from helpers import JAKARTA
from subkit.cli import main
from subkit.demo import ACCOUNT, DemoResult, run_demo, run_words
from subkit.money import Money, format_money
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock
from subkit.wallet import EntryKind

END = datetime(2027, 4, 1, 12, 0, tzinfo=JAKARTA)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, str]:
    out = io.StringIO()
    result = run_demo(tmp_path_factory.mktemp("demo"), out)
    return result, out.getvalue()


@pytest.fixture
def billing(demo: tuple[DemoResult, str]) -> Iterator[Billing]:
    """The demo's database, read at the demo's last instant."""
    store = SqliteStore(demo[0].database)
    try:
        yield Billing(Catalogue.default(), store, FakeGateway(), clock=FixedClock(END))
    finally:
        store.close()


def section(text: str, title: str) -> str:
    """The lines of the numbered step whose title starts with ``title``."""
    found = re.search(
        rf"^\s*\d+\. \[[^]]+\] {re.escape(title)}.*?\n(.*?)(?=\n\s*\d+\. \[|\nDatabase:)",
        text,
        re.S | re.M,
    )
    assert found is not None, title
    return found.group(1)


def test_demo_runs_and_its_printed_totals_match_the_database(
    demo: tuple[DemoResult, str], billing: Billing
) -> None:
    """Every invoice line the demo prints carries the total stored in its SQLite file."""
    result, text = demo
    assert result.database.exists()
    for document in result.documents:
        assert document.stat().st_size > 0
    assert result.documents[0].read_bytes().startswith(b"%PDF")
    stored = {code: billing.invoice(ACCOUNT, code) for code in result.invoice_totals}
    assert len(stored) == 4
    listed = section(text, "Invoices")
    for code, invoice in stored.items():
        printed = re.search(rf"{code}\s+\S+\s+.*?(-?Rp[\d.]+)\s+(\w+)", listed)
        assert printed is not None, code
        assert printed.group(1) == format_money(invoice.total)
        assert printed.group(2) == str(invoice.status)
    currency = Catalogue.default().currency
    assert "Rp399.000" in text and format_money(Money(6_990_000, currency)) in text
    assert "now on Free" in text


def test_it_reads_as_a_story_not_as_raw_data(demo: tuple[DemoResult, str]) -> None:
    """No dict or enum reprs; the billing runs are told in words."""
    _, text = demo
    assert not re.search(r"[{}]|<\w+\.|\w+\(", text.replace("(charge_many)", "")), text
    boundary = section(text, "The billing run crosses the boundary: the renewed period")
    assert "- a new billing period began" in boundary
    assert "- the unused included balance of the month expired" in boundary
    year = section(text, "A year later: the billing run across the months")
    assert "- 9 new months of the annual plan began" in year
    assert "- the paid time ran out and the shop fell back to the Free plan" in year
    assert "- the unused included balance expired 10 times (once a month)" in year
    story = text.split("\n", 1)[1].split("\nDatabase:")[0]  # the lines that name no path
    assert max(len(line) for line in story.splitlines()) <= 100


def test_run_words_name_every_count_and_keep_unknown_ones() -> None:
    assert run_words({}) == []
    assert run_words({"period": 2, "balance_expired": 1}) == [
        "2 new billing periods began",
        "the unused included balance of the month expired",
    ]
    assert run_words({"something_new": 3}) == ["something_new: 3"]


def test_replies_are_charged_in_batches_with_a_refusal_all_or_nothing(
    demo: tuple[DemoResult, str], billing: Billing
) -> None:
    """R-VOL-1, R-BAL-4: the morning's 13 chats are one charge_many; the 13th is refused
    whole and its key is not used."""
    _, text = demo
    morning = section(text, "A morning of customer chats")
    assert "13 chats of 40 replies each: 12 charged, 480 replies for Rp14.400" in morning
    assert "conversation balance Rp600 is short of Rp1.200 by Rp600" in " ".join(morning.split())
    replies = billing.usage_history(ACCOUNT, kind="reply", limit=500).items
    keys = {entry.key for entry in replies}
    assert {f"chat-{n:02}" for n in range(1, 13)} <= keys
    assert "chat-13" not in keys
    assert {"chat-14", "chat-15", "chat-16", "chat-17"} <= keys


def test_the_campaign_is_held_then_settled_for_what_was_sent(
    demo: tuple[DemoResult, str], billing: Billing
) -> None:
    """R-VOL-2: 1.200 held (1.000 of quota, Rp130.000), 1.150 sent: Rp97.500 charged, the
    rest released, as printed and as stored."""
    _, text = demo
    campaign = " ".join(section(text, "A campaign to 1.200 contacts").split())
    assert "held: 1.000 messages from the quota and Rp130.000 of the broadcast balance" in campaign
    assert "broadcast Rp200.000 (Rp130.000 of it held)" in campaign
    assert "settled for Rp97.500 (1.000 in quota, 150 at the broadcast rate)" in campaign
    assert "the other Rp32.500 of the hold is released" in campaign
    (entry,) = [
        e for e in billing.usage_history(ACCOUNT, kind="broadcast").items if e.key == "campaign-jan"
    ]
    assert (entry.count, entry.amount.amount) == (150, -97_500)
    assert billing.holds(ACCOUNT) == []


def test_the_usage_history_shows_replies_and_broadcasts_as_stored(
    demo: tuple[DemoResult, str], billing: Billing
) -> None:
    _, text = demo
    history = section(text, "Usage history of January 2026")
    lines = [line.split() for line in history.splitlines()[2:] if line.strip()]
    stored = billing.usage_history(
        ACCOUNT,
        since=datetime(2026, 1, 1, tzinfo=JAKARTA),
        until=datetime(2026, 2, 1, tzinfo=JAKARTA),
        limit=10,
    ).items
    assert len(lines) == len(stored) == 10
    for cells, entry in zip(lines, stored, strict=True):
        assert cells[3:5] == [str(entry.balance), str(entry.kind)]
        assert cells[6:8] == [format_money(entry.amount), format_money(entry.balance_after)]
    kinds = {entry.kind for entry in stored}
    assert {EntryKind.REPLY, EntryKind.BROADCAST, EntryKind.TOP_UP} <= kinds
    assert lines[0][-1] == "flash-sale"


def test_the_usage_summary_is_the_librarys(demo: tuple[DemoResult, str], billing: Billing) -> None:
    """R-VOL-3: each printed line is a UsageTotal of the database, in Rupiah."""
    _, text = demo
    summary = section(text, "Usage summary")
    lines = [line for line in summary.splitlines()[2:] if line.strip()]
    totals = billing.usage_summary(
        ACCOUNT,
        since=datetime(2026, 1, 1, tzinfo=JAKARTA),
        until=datetime(2026, 4, 1, tzinfo=JAKARTA),
        by="month",
    )
    assert len(lines) == len(totals)
    for line, total in zip(lines, totals, strict=True):
        cells = line.split()
        assert cells[:4] == [
            f"{total.start:%b}",
            f"{total.start:%Y}",
            str(total.balance),
            str(total.kind),
        ]
        assert cells[-1] == format_money(total.amount)
    jan_replies = [t for t in totals if t.kind is EntryKind.REPLY and t.start.month == 1]
    assert [(t.count, t.amount.amount) for t in jan_replies] == [(540, -16_200)]


def test_subkit_demo_prints_the_plans_then_the_story(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["demo", "--output", str(tmp_path), "--locale", "en"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("subkit demo: the example catalogue")
    assert "IDR 399,000" in out and "balances now: conversation IDR 600, broadcast IDR 0" in out
