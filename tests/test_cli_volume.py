"""The command line at message volume (issue 20, R-VOL, R-BAL-7): ``charge --many``,
``history --kind/--summary``, ``--json`` errors, the run's progress line and Ctrl-C."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import subkit.account
import subkit.cli
from helpers import CliResult
from subkit.cli import main
from subkit.plans import Catalogue
from subkit.service import Billing
from subkit.stores.sqlite import SqliteStore
from subkit.testing import FakeGateway, FixedClock
from subkit.wallet import EntryKind

NOW = "2026-01-10T09:00:00+07:00"
NEXT_PERIOD = "2026-02-11T09:00:00+07:00"


Run = Callable[..., CliResult]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "t.sqlite"


@pytest.fixture
def cli(database: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run ``subkit --db tmp/t.sqlite --now NOW [--json] ARGS`` (``stdin``: its input)."""
    capsys.readouterr()

    def run(*argv: str, now: str = NOW, json_: bool = False, stdin: str | None = None) -> CliResult:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        args = ["--db", str(database), "--now", now, *(["--json"] if json_ else []), *argv]
        status = main(args)
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run


@pytest.fixture
def shops(cli: Run) -> Run:
    """Two accounts on Free (Rp15.000 conversation each, no broadcast balance)."""
    for shop in ("acme", "beta"):
        assert cli("open", shop).status == 0
    return cli


def balances(cli: Run, account: str, now: str = NOW) -> dict[str, int]:
    view = cli("overview", account, now=now, json_=True).json()
    return {name: money["amount"] for name, money in view["balances"].items()}


def rows(text: str) -> list[list[str]]:
    """A table's body rows, cells split on runs of two or more spaces."""
    import re

    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line and set(line) <= {"-", " "})
    body = []
    for line in lines[rule + 1 :]:
        if not line.strip():
            break
        body.append(re.split(r"\s{2,}", line.strip()))
    return body


def jsonl(*lines: dict[str, Any]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def charge(account: str, kind: str, count: int, key: str) -> dict[str, Any]:
    return {"account_id": account, "kind": kind, "count": count, "key": key}


class TestChargeMany:
    """``subkit charge --many FILE``: ``billing.charge_many`` over JSON lines (R-VOL-1)."""

    def test_each_line_is_charged_in_order_and_a_refusal_is_its_own(
        self, shops: Run, tmp_path: Path
    ) -> None:
        """Every line is charged as its own request; a refused one (no broadcast balance, no
        such account) is reported by line number and code, changes nothing, exits 2, and
        leaves the others charged."""
        path = tmp_path / "charges.jsonl"
        path.write_text(
            jsonl(
                charge("acme", "reply", 3, "m-1"),
                charge("acme", "broadcast", 150, "c-1"),
                charge("ghost", "reply", 1, "m-2"),
                charge("beta", "reply", 2, "m-3"),
            ),
            encoding="utf-8",
        )
        result = shops("charge", "--many", str(path))
        assert result.status == 2
        assert rows(result.out) == [
            ["1", "acme", "reply", "m-1", "3", "-", "Rp90", "Rp14.910", "charged"],
            [
                "2",
                "acme",
                "broadcast",
                "c-1",
                "150",
                "-",
                "-",
                "-",
                "refused: insufficient_balance",
            ],
            ["3", "ghost", "reply", "m-2", "1", "-", "-", "-", "refused: account_not_found"],
            ["4", "beta", "reply", "m-3", "2", "-", "Rp60", "Rp14.940", "charged"],
        ]
        assert "4 charge(s): 2 charged, 2 refused" in result.out
        err = result.err.splitlines()
        assert err[0] == (
            "subkit: 2 of 4 charges refused: line 2 (insufficient_balance), "
            "line 3 (account_not_found)"
        )
        assert err[1] == (
            "  line 2: insufficient_balance: broadcast balance Rp0 is short of Rp97.500 by Rp97.500"
        )
        assert balances(shops, "acme") == {"conversation": 14_910, "broadcast": 0}
        assert balances(shops, "beta") == {"conversation": 14_940, "broadcast": 0}

    def test_all_charged_exits_0_and_the_same_file_again_charges_nothing(
        self, shops: Run, tmp_path: Path
    ) -> None:
        """R-BAL-5: each line's key makes running the file again a replay."""
        path = tmp_path / "charges.jsonl"
        path.write_text(
            jsonl(charge("acme", "reply", 1, "m-1"), charge("beta", "reply", 4, "m-1")),
            encoding="utf-8",
        )
        first = shops("charge", "--many", str(path))
        assert (first.status, first.err) == (0, "")
        again = shops("charge", "--many", str(path))
        assert again.status == 0
        assert rows(again.out) == rows(first.out)
        assert balances(shops, "acme")["conversation"] == 14_970
        assert balances(shops, "beta")["conversation"] == 14_880

    def test_json_lines_on_stdout_and_the_refusals_as_json_on_stderr(self, shops: Run) -> None:
        """--json: one JSON object per request (its line, the request, and its ``charge`` or
        its ``error`` with code, message and facts); stdin as ``-``."""
        text = jsonl(charge("acme", "reply", 2, "m-1"), charge("acme", "broadcast", 10, "c-1"))
        result = shops("charge", "--many", "-", json_=True, stdin=text)
        assert result.status == 2
        first, second = (json.loads(line) for line in result.out.splitlines())
        assert first["line"] == 1 and first["key"] == "m-1"
        assert first["charge"]["amount"] == {"amount": 60, "currency": "IDR"}
        assert first["charge"]["balance_after"]["amount"] == 14_940
        assert second["line"] == 2 and "charge" not in second
        assert second["error"]["code"] == "insufficient_balance"
        assert second["error"]["shortfall"] == {"amount": 6_500, "currency": "IDR"}
        assert second["error"]["balance"] == "broadcast"
        assert result.error() == {
            "code": "charges_refused",
            "message": "1 of 2 charges refused: line 2 (insufficient_balance)",
            "refused": [{"line": 2, "code": "insufficient_balance"}],
        }

    def test_many_refusals_are_named_up_to_ten_and_all_listed(self, shops: Run) -> None:
        text = jsonl(*(charge("acme", "broadcast", 1, f"c-{n}") for n in range(25)))
        result = shops("charge", "--many", "-", stdin=text)
        assert result.status == 2
        assert len(rows(result.out)) == 25
        err = result.err.splitlines()
        assert err[0].endswith("line 10 (insufficient_balance) and 15 more")
        assert len(err) == 11
        shaped = shops("charge", "--many", "-", stdin=text, json_=True)
        error = shaped.error()
        assert error["message"].endswith("and 15 more")
        assert [line["line"] for line in error["refused"]] == list(range(1, 26))
        assert len(shaped.out.splitlines()) == 25

    def test_blank_lines_are_skipped_and_lines_keep_their_numbers(self, shops: Run) -> None:
        text = "\n" + jsonl(charge("acme", "reply", 1, "m-1")) + "  \n"
        text += jsonl(charge("acme", "broadcast", 5, "c-1"))
        result = shops("charge", "--many", "-", stdin=text)
        assert [row[0] for row in rows(result.out)] == ["2", "4"]
        assert "line 4 (insufficient_balance)" in result.err

    def test_an_empty_file_charges_nothing_and_succeeds(self, shops: Run) -> None:
        result = shops("charge", "--many", "-", stdin="")
        assert result.status == 0
        assert "0 charge(s): 0 charged, 0 refused" in result.out

    @pytest.mark.parametrize(
        ("line", "code", "message"),
        [
            ("not json", "invalid_argument", "not JSON (Expecting value at column 1)"),
            ("[1, 2]", "invalid_argument", "expected a JSON object with account_id, kind"),
            (
                '{"account": "acme", "kind": "reply", "count": 1, "key": "k"}',
                "invalid_argument",
                "unknown field 'account' (the account is account_id)",
            ),
            (
                '{"account_id": "acme", "kind": "reply", "count": 1}',
                "invalid_argument",
                "missing key",
            ),
            (
                '{"account_id": "acme", "kind": "replies", "count": 1, "key": "k"}',
                "invalid_argument",
                "kind must be one of reply, broadcast, not 'replies'",
            ),
            (
                '{"account_id": "acme", "kind": "reply", "count": 0, "key": "k"}',
                "invalid_quantity",
                "count must be at least 1, got 0",
            ),
            (
                '{"account_id": "acme", "kind": "reply", "count": "3", "key": "k"}',
                "invalid_quantity",
                "count must be an int, not str",
            ),
            (
                '{"account_id": "acme", "kind": "broadcast", "count": true, "key": "k"}',
                "invalid_quantity",
                "recipients must be an int, not bool",
            ),
            (
                '{"account_id": "acme", "kind": "reply", "count": 1, "key": ""}',
                "invalid_argument",
                "key",
            ),
        ],
    )
    def test_a_malformed_line_is_named_and_nothing_is_charged(
        self, shops: Run, line: str, code: str, message: str
    ) -> None:
        """The whole input is checked before any charge: line 1 is good, line 2 is not, and
        line 1 is not charged either."""
        text = jsonl(charge("acme", "reply", 1, "m-1")) + line + "\n"
        result = shops("charge", "--many", "-", stdin=text)
        assert result.status == 2
        assert result.out == ""
        assert result.err.startswith("subkit: <stdin> line 2: "), result.err
        assert message in result.err
        assert result.err.rstrip().endswith("; nothing was charged")
        assert balances(shops, "acme")["conversation"] == 15_000
        shaped = shops("charge", "--many", "-", stdin=text, json_=True).error()
        assert (shaped["code"], shaped["file"], shaped["line"]) == (code, "<stdin>", 2)
        assert balances(shops, "acme")["conversation"] == 15_000

    def test_a_file_that_cannot_be_read(self, shops: Run, tmp_path: Path) -> None:
        result = shops("charge", "--many", str(tmp_path / "none.jsonl"))
        assert result.status == 2
        assert "cannot read" in result.err and "none.jsonl" in result.err
        binary = tmp_path / "b.jsonl"
        binary.write_bytes(b"\xff\xfe\x00")
        assert "not UTF-8 text" in shops("charge", "--many", str(binary)).err

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["acme", "replies", "1", "--many", "-"], "charge --many FILE takes no ACCOUNT"),
            (["--many", "-", "--key", "k"], "charge --many FILE takes no ACCOUNT"),
            (["acme", "replies"], "charge needs ACCOUNT {replies,broadcast} COUNT --key K"),
            ([], "or --many FILE"),
            (["acme", "replies", "1"], "charge needs --key K"),
        ],
    )
    def test_usage_errors(self, shops: Run, argv: list[str], message: str) -> None:
        result = shops("charge", *argv, stdin="")
        assert result.status == 2
        assert message in result.err
        shaped = shops("charge", *argv, stdin="", json_=True).error()
        assert shaped["code"] == "usage" and message in shaped["message"]

    def test_help_shows_both_forms(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["charge", "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: subkit charge ACCOUNT {replies,broadcast} COUNT --key K")
        assert "subkit charge --many FILE" in out
        assert '"account_id"' in out


def top_up(cli: Run, account: str, balance: str, amount: int) -> str:
    checkout = cli("top-up", account, balance, str(amount), json_=True).json()
    invoice = checkout["invoice"]
    paid = cli(
        "pay",
        invoice["code"],
        "--amount",
        str(invoice["total"]["amount"]),
        "--reference",
        checkout["payment"]["reference"],
    )
    assert paid.status == 0, paid.err
    code: str = invoice["code"]
    return code


@pytest.fixture
def busy(shops: Run) -> Run:
    """acme with a profile, a paid broadcast top-up, replies on 10 and 11 Jan and a charge
    on 1 Feb."""
    assert shops("profile", "acme", "--name", "PT Acme", "--email", "b@acme.id").status == 0
    top_up(shops, "acme", "broadcast", 100_000)
    text = jsonl(charge("acme", "reply", 3, "m-1"), charge("acme", "broadcast", 20, "c-1"))
    assert shops("charge", "--many", "-", stdin=text).status == 0
    tomorrow = "2026-01-11T09:00:00+07:00"
    assert shops("charge", "acme", "replies", "2", "--key", "m-2", now=tomorrow).status == 0
    feb = "2026-02-01T09:00:00+07:00"
    assert shops("charge", "acme", "replies", "1", "--key", "m-3", now=feb).status == 0
    return shops


class TestHistoryKinds:
    """``history --kind``: every kind the ledger has; ``top_up`` is "Riwayat Top Up"."""

    def test_top_up_is_the_top_up_history_with_invoice_codes(self, busy: Run) -> None:
        code = "INV-202601-000001"
        body = rows(busy("history", "acme", "--kind", "top_up", now=NEXT_PERIOD).out)
        assert [(row[1], row[2], row[4], row[-1]) for row in body] == [
            ("broadcast", "top_up", "Rp100.000", code)
        ]
        # As the command that makes them is spelled: `top-up`.
        assert rows(busy("history", "acme", "--kind", "top-up", now=NEXT_PERIOD).out) == body

    @pytest.mark.parametrize("kind", list(EntryKind))
    def test_every_kind_of_the_ledger_is_accepted(self, busy: Run, kind: EntryKind) -> None:
        page = busy("history", "acme", "--kind", str(kind), now=NEXT_PERIOD, json_=True).json()
        assert {item["kind"] for item in page["items"]} <= {str(kind)}
        expected = {"grant", "top_up", "reply", "broadcast", "expiry"}
        assert bool(page["items"]) is (str(kind) in expected)

    def test_a_kind_with_no_entries_says_so(self, busy: Run) -> None:
        result = busy("history", "acme", "--kind", "adjustment", now=NEXT_PERIOD)
        assert result.out == "(no entries)\n"

    def test_an_unknown_kind_lists_the_kinds(self, busy: Run) -> None:
        result = busy("history", "acme", "--kind", "topup")
        assert result.status == 2
        assert (
            "argument --kind: unknown kind 'topup'; the ledger has grant, top_up, reply, "
            "broadcast, expiry, adjustment" in result.err
        )
        assert result.err.startswith("usage: subkit history")
        shaped = busy("history", "acme", "--kind", "topup", json_=True).error()
        assert shaped["code"] == "usage"
        assert shaped["message"].startswith("argument --kind: unknown kind 'topup'")
        assert shaped["usage"].startswith("usage: subkit history")

    def test_since_until_and_month(self, busy: Run) -> None:
        """A day is local midnight in the account's time zone; ``--until`` is exclusive."""

        def keys(*argv: str) -> list[str]:
            page = busy("history", "acme", *argv, now=NEXT_PERIOD, json_=True).json()
            return [item["key"] for item in page["items"] if item["key"]]

        assert keys("--since", "2026-01-11", "--until", "2026-02-01") == ["m-2"]
        assert keys("--since", "2026-01-11T09:00:00+07:00") == ["m-3", "m-2"]
        assert keys("--month", "2026-01") == ["m-2", "c-1", "m-1"]
        assert keys("--month", "2026-02", "--kind", "reply") == ["m-3"]

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--month", "2026-13"], "expected a month YYYY-MM, got '2026-13'"),
            (["--since", "yesterday"], "expected a day YYYY-MM-DD or an ISO 8601 instant"),
            (["--since", "2026-01-10T09:00"], "expected a day YYYY-MM-DD or an ISO 8601 instant"),
            (["--month", "2026-01", "--since", "2026-01-02"], "--month is a range of its own"),
            (["--by", "month"], "--by groups the totals of --summary"),
        ],
    )
    def test_bad_ranges(self, busy: Run, argv: list[str], message: str) -> None:
        result = busy("history", "acme", *argv, now=NEXT_PERIOD)
        assert result.status == 2
        assert message in result.err


class TestHistorySummary:
    """``history --summary``: ``billing.usage_summary`` per day or month and kind (R-VOL-3)."""

    def test_totals_per_day_and_kind(self, busy: Run) -> None:
        result = busy("history", "acme", "--summary", "--month", "2026-01", now=NEXT_PERIOD)
        assert result.status == 0
        assert result.out.splitlines()[0].split() == ["Day", "Balance", "Kind", "Count", "Amount"]
        assert rows(result.out) == [
            ["2026-01-10", "broadcast", "broadcast", "20", "-Rp13.000"],
            ["2026-01-10", "broadcast", "top_up", "0", "Rp100.000"],
            ["2026-01-10", "conversation", "grant", "0", "Rp15.000"],
            ["2026-01-10", "conversation", "reply", "3", "-Rp90"],
            ["2026-01-11", "conversation", "reply", "2", "-Rp60"],
        ]

    def test_it_is_the_librarys_summary(self, busy: Run, database: Path) -> None:
        """The JSON is ``usage_summary``'s totals as ``subkit.serialize`` writes them."""
        from subkit.serialize import to_dict

        argv = ["history", "acme", "--summary", "--since", "2026-01-01", "--until", "2026-03-01"]
        data = busy(*argv, "--by", "month", now=NEXT_PERIOD, json_=True).json()
        store = SqliteStore(database)
        try:
            clock = FixedClock(datetime.fromisoformat(NEXT_PERIOD))
            billing = Billing(Catalogue.default(), store, FakeGateway(), clock=clock)
            expected = billing.usage_summary(
                "acme",
                since=datetime.fromisoformat("2026-01-01T00:00:00+07:00"),
                until=datetime.fromisoformat("2026-03-01T00:00:00+07:00"),
                by="month",
            )
        finally:
            store.close()
        assert data == to_dict(expected)
        months = {(line["start"][:7], line["kind"]) for line in data}
        assert ("2026-02", "reply") in months and ("2026-01", "top_up") in months
        text = busy(*argv, "--by", "month", "--balance", "broadcast", now=NEXT_PERIOD).out
        assert text.splitlines()[0].split()[0] == "Month"
        assert [row[0] for row in rows(text)] == ["2026-01", "2026-01"]

    def test_by_kind_and_the_default_range_is_this_month(self, busy: Run) -> None:
        feb = "2026-02-01T12:00:00+07:00"
        result = busy("history", "acme", "--summary", "--kind", "reply", now=feb)
        assert rows(result.out) == [["2026-02-01", "conversation", "reply", "1", "-Rp30"]]
        march = busy("history", "acme", "--summary", now="2026-03-20T12:00:00+07:00")
        assert [row[2] for row in rows(march.out)] == ["expiry", "grant"]
        empty = busy("history", "beta", "--summary", "--kind", "top_up")
        assert empty.out == "(no usage in this range)\n"

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--limit", "5"], "--summary has no pages"),
            (["--cursor", "c1.x"], "--summary has no pages"),
            (["--since", "2026-01-01"], "--summary needs both --since and --until, or --month"),
            (["--since", "2026-01-02", "--until", "2026-01-01"], "until must be after since"),
        ],
    )
    def test_bad_summaries(self, busy: Run, argv: list[str], message: str) -> None:
        result = busy("history", "acme", "--summary", *argv, now=NEXT_PERIOD)
        assert result.status == 2
        assert message in result.err


class TestJsonErrors:
    """With --json a failure is a JSON object on stderr, same exit status, nothing on stdout."""

    def test_a_refusal_carries_its_code_message_and_facts(self, shops: Run) -> None:
        result = shops("charge", "acme", "broadcast", "10", "--key", "c-1", json_=True)
        assert result.status == 2
        assert result.out == ""
        assert result.error() == {
            "code": "insufficient_balance",
            "message": "broadcast balance Rp0 is short of Rp6.500 by Rp6.500",
            "shortfall": {"amount": 6_500, "currency": "IDR"},
            "balance": "broadcast",
            "required": {"amount": 6_500, "currency": "IDR"},
            "available": {"amount": 0, "currency": "IDR"},
        }
        missing = shops("overview", "ghost", json_=True)
        assert missing.error() == {
            "code": "account_not_found",
            "message": "no account 'ghost'",
            "account_id": "ghost",
        }

    def test_without_json_the_message_is_one_line_of_text(self, shops: Run) -> None:
        result = shops("overview", "ghost")
        assert (result.status, result.err) == (2, "subkit: no account 'ghost'\n")

    def test_usage_errors_found_by_the_command(self, shops: Run) -> None:
        result = shops("run", "--workers", "0", json_=True)
        assert result.status == 2
        assert result.error() == {"code": "usage", "message": "--workers must be at least 1, got 0"}

    def test_usage_errors_found_by_argparse(self, shops: Run) -> None:
        """--json anywhere on the line shapes argparse's own errors too."""
        result = shops("top-up", "acme", "sms", "5000", json_=True)
        assert result.status == 2
        error = result.error()
        assert error["code"] == "usage"
        assert "argument balance: invalid choice: 'sms'" in error["message"]
        assert error["usage"].startswith("usage: subkit top-up")
        assert main(["--json"]) == 2  # no command: JSON as well

    def test_a_fact_json_cannot_write_is_given_as_its_repr(self) -> None:
        from subkit.errors import InvalidArgument

        error = InvalidArgument("bad", argument="when", value=object())
        shaped = subkit.cli._error_json(error.code, str(error), error.facts)
        assert shaped["error"]["value"].startswith("<object object at")


def open_many(cli: Run, count: int) -> list[str]:
    names = [f"shop-{number}" for number in range(count)]
    for name in names:
        assert cli("open", name).status == 0
    return names


def periods(database: Path, names: list[str]) -> dict[str, str]:
    """Each account's current period start and its grants, as stored (a read through
    ``Billing`` would show what is due as if done)."""
    store = SqliteStore(database)
    try:
        found = {}
        with store.snapshot() as view:
            for name in names:
                account = view.get_account(name)
                assert account is not None
                grants = view.ledger_page(
                    name,
                    balance=None,
                    kind=EntryKind.GRANT,
                    since=None,
                    until=None,
                    limit=50,
                    cursor=None,
                ).items
                start = account.subscription.current_period.start
                found[name] = f"{start:%m-%d} grants={len(grants)}"
        return found
    finally:
        store.close()


BEFORE = "01-10 grants=1"
AFTER = "02-10 grants=2"


class TestRunProgress:
    def test_done_of_total(self, cli: Run, monkeypatch: pytest.MonkeyPatch) -> None:
        """The line docs/cli.md promises: ``run: 2/5 accounts`` on stderr, the total counted
        from the due index before the run."""
        monkeypatch.setattr(subkit.cli, "PROGRESS_EVERY", 2)
        open_many(cli, 5)
        result = cli("run", now=NEXT_PERIOD)
        assert result.err.splitlines() == [
            "run: 2/5 accounts",
            "run: 4/5 accounts",
            "run: 5/5 accounts",
        ]

    def test_past_the_count_limit_the_total_is_a_floor_counted_again(
        self, cli: Run, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(subkit.cli, "PROGRESS_EVERY", 2)
        monkeypatch.setattr(subkit.cli, "COUNT_AT_MOST", 3)
        open_many(cli, 7)
        result = cli("run", now=NEXT_PERIOD)
        assert result.err.splitlines() == [
            "run: 2/3+ accounts",
            "run: 4/6+ accounts",
            "run: 6/7 accounts",
            "run: 7/7 accounts",
        ]

    def test_on_a_terminal_the_line_is_rewritten(self) -> None:
        class Terminal(io.StringIO):
            def isatty(self) -> bool:
                return True

        stream = Terminal()
        progress = subkit.cli._Progress(stream, lambda: 450)
        for done in range(1, 401):
            progress.account(done)
        progress.finish(complete=True)
        assert (
            stream.getvalue()
            == "\rrun: 200/450 accounts\rrun: 400/450 accounts\rrun: 400/400 accounts\n"
        )


class TestInterrupt:
    """Ctrl-C during ``subkit run``: one line, exit 130, and a second run finishes the job."""

    def test_between_accounts(
        self, cli: Run, database: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        names = open_many(cli, 5)
        real = subkit.cli._Progress.account

        def account(self: subkit.cli._Progress, done: int) -> None:
            real(self, done)
            if done == 2:
                raise KeyboardInterrupt

        monkeypatch.setattr(subkit.cli._Progress, "account", account)
        result = cli("run", now=NEXT_PERIOD)
        assert result.status == 130
        assert result.out == ""
        assert result.err == (
            "subkit: run interrupted after 2/5 accounts: each account is brought up to date "
            "whole or not at all; run it again to finish\n"
        )
        assert sorted(periods(database, names).values()) == [BEFORE] * 3 + [AFTER] * 2
        shaped = cli("run", now=NEXT_PERIOD, json_=True)
        assert shaped.status == 130
        assert shaped.error()["code"] == "interrupted" and shaped.error()["done"] == 2
        monkeypatch.setattr(subkit.cli._Progress, "account", real)
        report = cli("run", now=NEXT_PERIOD, json_=True).json()
        assert len(report["accounts"]) == 1
        assert periods(database, names) == dict.fromkeys(names, AFTER)

    def test_inside_a_unit_of_work_that_account_is_left_untouched(
        self, cli: Run, database: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Interrupted half way through an account's unit: it rolls back whole, and the next
        run brings it up to date once (one grant for the new period, not two)."""
        names = open_many(cli, 4)
        real = subkit.account.catch_up
        calls = []

        def catch_up(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(subkit.account, "catch_up", catch_up)
        result = cli("run", now=NEXT_PERIOD)
        assert result.status == 130
        assert result.err.startswith("subkit: run interrupted after 2/4 accounts")
        assert "Traceback" not in result.err
        assert sorted(periods(database, names).values()) == [BEFORE] * 2 + [AFTER] * 2
        report = cli("run", now=NEXT_PERIOD, json_=True).json()
        assert len(report["accounts"]) == 2
        assert periods(database, names) == dict.fromkeys(names, AFTER)

    def test_other_commands_end_with_one_line_too(
        self, shops: Run, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(*args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

        monkeypatch.setattr(Billing, "usage_overview", interrupted)
        result = shops("overview", "acme")
        assert (result.status, result.err) == (130, "subkit: interrupted\n")

    def test_charge_many_says_the_file_can_be_run_again(
        self, shops: Run, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(*args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

        monkeypatch.setattr(Billing, "charge_many", interrupted)
        text = jsonl(charge("acme", "reply", 1, "m-1"))
        result = shops("charge", "--many", "-", stdin=text)
        assert result.status == 130
        assert result.err.startswith("subkit: charge --many interrupted: the lines charged")
        assert len(result.err.splitlines()) == 1

    def test_with_workers_the_parent_ends_the_pool(
        self, shops: Run, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def interrupted(*args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

        monkeypatch.setattr(subkit.cli, "_run_workers", interrupted)
        result = shops("run", "--workers", "2", now=NEXT_PERIOD, json_=True)
        assert result.status == 130
        assert result.error()["code"] == "interrupted"

    def test_a_worker_leaves_ctrl_c_to_its_parent(self) -> None:
        """A worker of ``run --workers`` ignores SIGINT (the parent terminates the pool)."""
        child = (
            "import signal, subkit.cli\n"
            "subkit.cli._ignore_interrupts()\n"
            "print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", child], capture_output=True, text=True, timeout=120, check=True
        )
        assert done.stdout == "True\n"

    def test_a_real_sigint_to_a_real_process(self, cli: Run, database: Path) -> None:
        """The process is sent SIGINT while it waits, after its second account, on a pipe
        the test never writes to: no sleep, no race. It ends with the one line and 130."""
        names = open_many(cli, 4)
        child = (
            "import signal, sys\n"
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "import subkit.cli as cli\n"
            "real = cli._Progress.account\n"
            "def account(self, done):\n"
            "    real(self, done)\n"
            "    if done == 2:\n"
            "        print('waiting', flush=True)\n"
            "        sys.stdin.readline()\n"
            "cli._Progress.account = account\n"
            "sys.exit(cli.main(sys.argv[1:]))\n"
        )
        argv = [sys.executable, "-c", child, "--db", str(database), "--now", NEXT_PERIOD, "run"]
        with subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == "waiting\n"
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=120)
        assert process.returncode == 130, err
        assert out == ""
        assert err == (
            "subkit: run interrupted after 2/4 accounts: each account is brought up to date "
            "whole or not at all; run it again to finish\n"
        )
        assert sorted(periods(database, names).values()) == [BEFORE] * 2 + [AFTER] * 2
        report = cli("run", now=NEXT_PERIOD, json_=True).json()
        assert len(report["accounts"]) == 2
        assert periods(database, names) == dict.fromkeys(names, AFTER)
