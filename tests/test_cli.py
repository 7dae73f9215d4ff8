"""The ``subkit`` command (main(argv) -> exit status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import CliResult
from subkit.cli import main
from subkit.plans import Catalogue

GOOD = """
default_plan = "free"

[plans.free]
name = "Free"
rank = 0
price = { monthly = 0 }
limits = { users = 1, contacts = 100, broadcast_quota = 0 }

[plans.team]
name = "Team"
rank = 1
price = { monthly = 120_000 }
limits = { users = 3, contacts = 2_500, broadcast_quota = 100 }
included = { conversation = 9_000 }
"""

BAD = """
default_plan = "team"
colour = "blue"

[plans.team]
name = "Team"
rank = 1
price = { monthly = -5 }
limits = { users = 3, contacts = 2_500, broadcast_quota = 100 }
"""


def rows(text: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell (cells split on runs of two or more spaces)."""
    import re

    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) > 1 and not set(line.strip()) <= {"-", " "}:
            found[cells[0]] = cells[1:]
    return found


class TestPlans:
    def test_indonesian_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        """R-MON-3: `subkit plans` shows each plan with Rupiah prices as Rp15.000."""
        assert main(["plans"]) == 0
        out = capsys.readouterr().out
        table = rows(out)
        assert table["Growth"] == ["Rp299.000", "Rp2.990.000", "5", "5.000", "1.000", "Rp30.000"]
        assert table["Free"] == ["Rp0", "-", "1", "500", "0", "Rp15.000"]
        assert table["Pro"] == ["Rp599.000", "Rp5.990.000", "15", "25.000", "5.000", "Rp60.000"]
        assert table["Additional User"] == ["Rp50.000", "Rp500.000", "+1 user", "Growth, Pro"]
        assert table["Additional Contact"][2] == "+1.000 contacts"

    def test_english_table(self, capsys: pytest.CaptureFixture[str]) -> None:
        """R-MON-3: with --locale en prices show as IDR 299,000."""
        assert main(["plans", "--locale", "en"]) == 0
        table = rows(capsys.readouterr().out)
        assert table["Growth"][:2] == ["IDR 299,000", "IDR 2,990,000"]
        assert table["Growth"][3] == "5,000"

    def test_columns_are_aligned(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The table's lines share one width per column: prices right-aligned."""
        main(["plans"])
        lines = capsys.readouterr().out.splitlines()
        header = next(i for i, line in enumerate(lines) if line.startswith("Plan "))
        plan_lines = lines[header + 2 : header + 5]
        edge = lines[header].index("Monthly") + len("Monthly")
        for line in plan_lines:
            # Each price ends exactly under the end of its (right-aligned) header.
            assert line[edge - 1] != " " and line[edge] == " ", line
        assert len({len(line) for line in lines[header : header + 5]}) == 1

    def test_json(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--json prints the plans and add-ons with integer amounts."""
        assert main(["plans", "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["currency"] == "IDR"
        assert [p["code"] for p in data["plans"]] == ["free", "growth", "pro"]
        growth = data["plans"][1]
        assert growth["price"] == {"monthly": 299_000, "annual": 2_990_000}
        assert growth["limits"] == {"users": 5, "contacts": 5_000, "broadcast_quota": 1_000}
        assert growth["included"] == {"conversation": 30_000, "broadcast": 0}
        assert data["plans"][0]["price"]["annual"] is None
        assert data["addons"][0]["price"] == {"monthly": 50_000, "annual": 500_000}
        assert data["addons"][0]["plans"] == ["growth", "pro"]

    def test_catalogue_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """R-CAT-1: --catalogue FILE shows that file's plans; no add-ons, no add-on table."""
        path = tmp_path / "c.toml"
        path.write_text(GOOD, encoding="utf-8")
        assert main(["plans", "--catalogue", str(path)]) == 0
        out = capsys.readouterr().out
        assert rows(out)["Team"] == ["Rp120.000", "-", "3", "2.500", "100", "Rp9.000"]
        assert "Add-ons" not in out

    def test_json_of_catalogue_file_defaults_addon_annual(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """R-CAT-3: the JSON shows an add-on's annual price as 12 monthly when not given."""
        path = tmp_path / "c.toml"
        path.write_text(
            GOOD + "\n[addons.seat]\nadds = { users = 1 }\nprice = { monthly = 10 }\n"
            'plans = ["team"]\n',
            encoding="utf-8",
        )
        assert main(["plans", "--json", "--catalogue", str(path)]) == 0
        addon = json.loads(capsys.readouterr().out)["addons"][0]
        assert addon["price"] == {"monthly": 10, "annual": 120}
        assert addon["name"] == "seat"

    def test_invalid_catalogue_is_an_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """R-ERR: a SubkitError prints its message to stderr and exits 2."""
        path = tmp_path / "bad.toml"
        path.write_text(BAD, encoding="utf-8")
        assert main(["plans", "--catalogue", str(path)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert "colour: unknown key" in captured.err
        assert "plans.team.price.monthly: must be >= 0" in captured.err

    def test_bad_locale_is_a_usage_error(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Only id_ID and en are offered; anything else is a usage error (exit 2)."""
        assert main(["plans", "--locale", "fr"]) == 2
        assert "invalid choice" in capsys.readouterr().err


class TestDemo:
    def test_demo_prints_heading_and_plans(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        """`subkit demo` prints a heading then the plans table, then the walkthrough."""
        assert main(["demo", "--output", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        assert out.startswith("subkit demo")
        assert rows(out)["Growth"][0] == "Rp299.000"


class TestCatalogueCheck:
    def test_valid_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """R-CAT-1: a valid file prints OK and exits 0."""
        path = tmp_path / "good.toml"
        path.write_text(GOOD, encoding="utf-8")
        assert main(["catalogue", "check", str(path)]) == 0
        assert capsys.readouterr().out.startswith(f"OK: {path}")

    def test_default_catalogue_file_is_valid(self, capsys: pytest.CaptureFixture[str]) -> None:
        """R-CAT-1: the shipped default catalogue passes the check."""
        from importlib import resources

        path = resources.files("subkit.data").joinpath("default_catalogue.toml")
        assert main(["catalogue", "check", str(path)]) == 0
        assert "3 plans, 2 add-ons" in capsys.readouterr().out
        assert len(Catalogue.default().plans) == 3

    def test_invalid_file_lists_every_problem(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """R-CAT-5: each problem is printed with its key path; exit 1."""
        path = tmp_path / "bad.toml"
        path.write_text(BAD, encoding="utf-8")
        assert main(["catalogue", "check", str(path)]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == f"{path}: 2 problem(s)"
        assert sorted(line.strip() for line in lines[1:]) == [
            "colour: unknown key",
            "plans.team.price.monthly: must be >= 0",
        ]

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A file that cannot be read is reported as a problem; exit 1."""
        assert main(["catalogue", "check", str(tmp_path / "none.toml")]) == 1
        assert "cannot read" in capsys.readouterr().out

    def test_check_needs_a_file(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A usage error exits 2."""
        assert main(["catalogue", "check"]) == 2
        assert "FILE" in capsys.readouterr().err


class TestUsage:
    def test_no_command(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Without a command, usage goes to stderr and the status is 2."""
        assert main([]) == 2
        assert "usage: subkit" in capsys.readouterr().err

    def test_help_exits_zero(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help prints the commands and exits 0."""
        assert main(["--help"]) == 0
        out = capsys.readouterr().out
        for command in ("plans", "demo", "catalogue"):
            assert command in out

    @pytest.mark.parametrize(
        "command",
        [
            *(
                [name]
                for name in [
                    "plans",
                    "open",
                    "profile",
                    "overview",
                    "top-up",
                    "pay",
                    "charge",
                    "change",
                    "renew",
                    "addons",
                    "unsubscribe",
                    "resume",
                    "history",
                    "invoices",
                    "run",
                    "demo",
                ]
            ),
            ["addons", "acme", "buy"],
            ["addons", "acme", "stop"],
            ["invoice", "show"],
            ["invoice", "render"],
            ["catalogue", "check"],
        ],
    )
    def test_every_command_has_help(
        self, command: list[str], capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`subkit COMMAND --help` prints the command's usage and the global options."""
        assert main([*command, "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: subkit " + " ".join(command[:1]))

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version."""
        assert main(["--version"]) == 0
        assert capsys.readouterr().out.startswith("subkit ")


# -- operating an account database ------------------------------------------------------------

NOW = "2026-01-10T09:00:00+07:00"
LATER = "2026-01-20T10:00:00+07:00"
NEXT_PERIOD = "2026-02-11T09:00:00+07:00"


Run = Callable[..., CliResult]


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``subkit --db tmp/t.sqlite --now NOW [--json] ARGS``; return status, out, err."""
    capsys.readouterr()
    database = tmp_path / "t.sqlite"

    def run(*argv: str, now: str | None = NOW, json_: bool = False) -> CliResult:
        args = ["--db", str(database)]
        args += ["--now", now] if now is not None else []
        args += ["--json"] if json_ else []
        status = main([*args, *argv])
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run


@pytest.fixture
def acme(cli: Run) -> Run:
    """An account ``acme`` on Free with a billing profile."""
    assert cli("open", "acme").status == 0
    assert cli("profile", "acme", "--name", "PT Acme", "--email", "billing@acme.id").status == 0
    return cli


def pay(cli: Run, checkout: dict[str, Any], now: str = NOW) -> dict[str, Any]:
    """Apply the fake gateway's "paid" for a checkout's invoice; return the invoice."""
    invoice = checkout["invoice"]
    reference = checkout["payment"]["reference"]
    result = cli(
        "pay",
        invoice["code"],
        "--amount",
        str(invoice["total"]["amount"]),
        "--reference",
        reference,
        now=now,
        json_=True,
    )
    data: dict[str, Any] = result.json()
    return data


def fails(result: CliResult, message: str) -> None:
    """An error path: non-zero exit, the message on stderr, nothing on stdout."""
    assert result.status == 2
    assert message in result.err, result.err
    assert result.out == ""


class TestAccounts:
    def test_open_prints_the_subscription(self, cli: Run) -> None:
        """`open` starts the account on the default plan with its included balance."""
        result = cli("open", "acme")
        assert result.status == 0
        table = rows(result.out)
        assert table["Plan"] == ["Free (monthly)"]
        assert table["Period"] == ["2026-01-10 09:00 - 2026-02-10 09:00"]
        assert table["Conversation"] == ["Rp15.000"]

    def test_open_json(self, cli: Run) -> None:
        data = cli("open", "acme", "--timezone", "Asia/Makassar", json_=True).json()
        assert data["account_id"] == "acme"
        assert data["plan"] == "free"
        assert data["status"] == "active"
        assert data["timezone"] == "Asia/Makassar"
        assert data["current_period"]["start"] == "2026-01-10T10:00:00+08:00"

    def test_open_twice_is_an_error(self, cli: Run) -> None:
        cli("open", "acme")
        fails(cli("open", "acme"), "account 'acme' already exists")

    def test_global_options_may_follow_the_command(
        self, tmp_path: Path, cli: Run, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`subkit open ACCOUNT --db PATH --now T --json` works as well as before it."""
        database = str(tmp_path / "other.sqlite")
        assert main(["open", "acme", "--db", database, "--now", NOW]) == 0
        capsys.readouterr()
        assert main(["overview", "acme", "--json", "--db", database, "--now", NOW]) == 0
        assert json.loads(capsys.readouterr().out)["plan"] == "free"
        # The fixture's database was not touched: no account there.
        fails(cli("overview", "acme"), "no account 'acme'")

    def test_profile(self, acme: Run) -> None:
        data = acme(
            "profile",
            "acme",
            "--name",
            "PT Acme",
            "--email",
            "a@acme.id",
            "--tax-number",
            "01.234.567.8-901.000",
            json_=True,
        ).json()
        assert data == {
            "account_id": "acme",
            "billing_profile": {
                "name": "PT Acme",
                "email": "a@acme.id",
                "address": None,
                "tax_number": "01.234.567.8-901.000",
            },
        }
        checkout = acme("top-up", "acme", "conversation", "50000", json_=True).json()
        assert checkout["invoice"]["billing_profile"]["tax_number"] == "01.234.567.8-901.000"

    def test_overview(self, acme: Run) -> None:
        table = rows(acme("overview", "acme").out)
        assert table["Plan"] == ["Free (monthly)"]
        assert table["Days left"] == ["31"]
        assert table["Users"] == ["limit 1"]
        assert table["Conversation balance"] == ["Rp15.000"]
        data = acme("overview", "acme", json_=True).json()
        assert data["plan"] == "free"
        assert data["balances"]["conversation"] == {"amount": 15_000, "currency": "IDR"}
        assert data["limits"] == {"users": 1, "contacts": 500, "broadcast_quota": 0}

    def test_unknown_account(self, cli: Run) -> None:
        for argv in (
            ["overview", "ghost"],
            ["charge", "ghost", "replies", "1", "--key", "k"],
            ["invoices", "ghost"],
        ):
            fails(cli(*argv), "no account 'ghost'")

    def test_now_needs_an_offset(self, cli: Run) -> None:
        result = cli("open", "acme", now="2026-01-10T09:00:00")
        assert result.status == 2
        assert "needs a UTC offset" in result.err

    def test_without_now_the_system_clock_is_used(self, cli: Run) -> None:
        data = cli("open", "acme", now=None, json_=True).json()
        from datetime import UTC, datetime

        started = datetime.fromisoformat(data["current_period"]["start"])
        assert abs((datetime.now(UTC) - started).total_seconds()) < 60


class TestBalances:
    def test_top_up_and_pay(self, acme: Run) -> None:
        """`top-up` makes a pending invoice; `pay` applies the gateway's result by hand."""
        text = acme("top-up", "acme", "broadcast", "100000").out
        table = rows(text)
        assert table["Total"] == ["Rp100.000"]
        assert table["Reference"] == ["PAY-000001"]
        assert "subkit pay INV-202601-000001 --amount 100000 --reference PAY-000001" in text

        checkout = acme("top-up", "acme", "broadcast", "50000", "--key", "t-1", json_=True).json()
        invoice = checkout["invoice"]
        assert invoice["type"] == "top_up"
        assert invoice["status"] == "pending"
        assert invoice["total"]["amount"] == 50_000
        again = acme("top-up", "acme", "broadcast", "50000", "--key", "t-1", json_=True).json()
        assert again["invoice"]["code"] == invoice["code"]  # the idempotency key held

        paid = pay(acme, checkout)
        assert paid["status"] == "paid"
        assert paid["reference"] == checkout["payment"]["reference"]
        overview = acme("overview", "acme", json_=True).json()
        assert overview["balances"]["broadcast"]["amount"] == 50_000

    def test_pay_text_and_statuses(self, acme: Run) -> None:
        checkout = acme("top-up", "acme", "conversation", "20000", json_=True).json()
        code = checkout["invoice"]["code"]
        result = acme("pay", code, "--amount", "20000", "--reference", "R", "--status", "failed")
        assert result.status == 0
        assert rows(result.out)["Status"] == ["failed"]

    def test_pay_with_wrong_amount(self, acme: Run) -> None:
        code = acme("top-up", "acme", "conversation", "20000", json_=True).json()["invoice"]["code"]
        fails(
            acme("pay", code, "--amount", "1000", "--reference", "R"),
            f"for invoice {code} does not match its total",
        )

    def test_pay_unknown_invoice(self, acme: Run) -> None:
        fails(acme("pay", "INV-X", "--amount", "1", "--reference", "R"), "no invoice 'INV-X'")

    def test_top_up_out_of_range(self, acme: Run) -> None:
        fails(
            acme("top-up", "acme", "broadcast", "5000"),
            "top-up of Rp5.000 is below the minimum Rp10.000 for the broadcast balance",
        )

    def test_top_up_unknown_balance_is_a_usage_error(self, acme: Run) -> None:
        result = acme("top-up", "acme", "sms", "50000")
        assert result.status == 2
        assert "invalid choice" in result.err

    def test_charge_replies(self, acme: Run) -> None:
        table = rows(acme("charge", "acme", "replies", "3", "--key", "r-1").out)
        assert table["Charged"] == ["Rp90"]
        assert table["Balance after"] == ["Rp14.910"]
        data = acme("charge", "acme", "replies", "2", "--key", "r-2", json_=True).json()
        assert data["amount"]["amount"] == 60
        assert data["balance_after"]["amount"] == 14_850
        assert data["balance"] == "conversation"

    def test_charge_needs_a_key(self, acme: Run) -> None:
        result = acme("charge", "acme", "replies", "3")
        assert result.status == 2
        assert "--key" in result.err

    def test_charge_broadcast_insufficient_then_charged(self, acme: Run) -> None:
        fails(
            acme("charge", "acme", "broadcast", "100", "--key", "b-1"),
            "broadcast balance Rp0 is short of",
        )
        pay(acme, acme("top-up", "acme", "broadcast", "100000", json_=True).json())
        data = acme("charge", "acme", "broadcast", "100", "--key", "b-1", json_=True).json()
        assert data["count"] == 100
        assert data["quota_used"] == 0
        assert data["balance"] == "broadcast"
        assert data["balance_after"]["amount"] == 100_000 - data["amount"]["amount"]

    def test_history(self, acme: Run) -> None:
        acme("charge", "acme", "replies", "3", "--key", "r-1")
        lines = acme("history", "acme").out.splitlines()
        assert lines[0].split()[:5] == ["At", "Balance", "Kind", "Count", "Amount"]
        assert lines[2].split()[:6] == [
            "2026-01-10",
            "09:00",
            "conversation",
            "reply",
            "3",
            "-Rp90",
        ]
        assert lines[2].split()[-2:] == ["Rp14.910", "r-1"]
        assert lines[3].split()[2:] == ["conversation", "grant", "0", "Rp15.000", "Rp15.000"]
        page = acme("history", "acme", "--limit", "1", json_=True).json()
        assert [item["kind"] for item in page["items"]] == ["reply"]
        assert page["next_cursor"] is not None
        rest = acme("history", "acme", "--cursor", page["next_cursor"], json_=True).json()
        assert [item["kind"] for item in rest["items"]] == ["grant"]
        assert rest["next_cursor"] is None
        none = acme("history", "acme", "--balance", "broadcast", json_=True).json()
        assert none["items"] == []

    def test_history_limit_out_of_range(self, acme: Run) -> None:
        fails(acme("history", "acme", "--limit", "0"), "limit must be an int in 1..500")


class TestPlanChanges:
    def test_change_quote_buys_nothing(self, acme: Run) -> None:
        text = acme("change", "acme", "growth", "--addon", "extra_user=2", "--quote").out
        table = rows(text)
        assert table["Growth (Monthly)"] == ["1", "Rp299.000", "Rp299.000"]
        assert table["Additional User"] == ["2", "Rp50.000", "Rp100.000"]
        assert table["Total"] == ["Rp399.000"]
        assert table["Direction"] == ["upgrade"]
        quote = acme("change", "acme", "growth", "--quote", json_=True).json()
        assert quote["total"]["amount"] == 299_000
        assert quote["direction"] == "upgrade"
        assert acme("invoices", "acme", json_=True).json()["items"] == []

    def test_change_then_pay(self, acme: Run) -> None:
        checkout = acme("change", "acme", "growth", "--addon", "extra_user=2", json_=True).json()
        assert checkout["invoice"]["type"] == "plan_purchase"
        assert checkout["invoice"]["total"]["amount"] == 399_000
        pay(acme, checkout)
        overview = acme("overview", "acme", json_=True).json()
        assert overview["plan"] == "growth"
        assert overview["addons"] == {"extra_user": 2}
        assert overview["limits"]["users"] == 7

    def test_change_annual(self, acme: Run) -> None:
        quote = acme("change", "acme", "pro", "--interval", "annual", "--quote", json_=True).json()
        assert quote["lines"][0]["unit_price"]["amount"] == 5_990_000

    def test_bad_plan(self, acme: Run) -> None:
        fails(acme("change", "acme", "platinum"), "unknown plan 'platinum'")
        fails(acme("change", "acme", "platinum", "--quote"), "unknown plan 'platinum'")

    def test_bad_addon_argument_is_a_usage_error(self, acme: Run) -> None:
        result = acme("change", "acme", "growth", "--addon", "extra_user")
        assert result.status == 2
        assert "expected CODE=QUANTITY" in result.err

    def test_renew(self, acme: Run) -> None:
        pay(acme, acme("change", "acme", "growth", json_=True).json())
        quote = acme("renew", "acme", "--quote", now=LATER, json_=True).json()
        assert quote["total"]["amount"] == 299_000
        assert quote["effective_at"] == "2026-02-10T09:00:00+07:00"
        checkout = acme("renew", "acme", now=LATER, json_=True).json()
        assert checkout["invoice"]["type"] == "renewal"
        paid = pay(acme, checkout, now=LATER)
        assert paid["status"] == "paid"
        sub = acme("unsubscribe", "acme", now=LATER, json_=True).json()
        assert sub["paid_through"] == "2026-03-10T09:00:00+07:00"

    def test_free_plan_is_not_renewable(self, acme: Run) -> None:
        result = acme("renew", "acme")
        assert result.status == 2
        assert result.err.startswith("subkit: ")

    def test_unsubscribe_and_resume(self, acme: Run) -> None:
        pay(acme, acme("change", "acme", "growth", json_=True).json())
        assert rows(acme("unsubscribe", "acme", now=LATER).out)["Status"] == ["cancelling"]
        resumed = acme("resume", "acme", now=LATER, json_=True).json()
        assert resumed["status"] == "active"
        assert resumed["plan"] == "growth"


class TestAddOns:
    def test_list_buy_stop(self, acme: Run) -> None:
        listed = acme("addons", "acme", json_=True).json()
        assert listed == {"held": [], "available": []}  # Free sells no add-ons
        assert "(none on this plan)" in acme("addons", "acme").out

        pay(acme, acme("change", "acme", "growth", json_=True).json())
        table = rows(acme("addons", "acme").out)
        assert table["extra_user"] == ["Additional User", "Rp50.000", "+1 user", "100"]

        quote = acme("addons", "acme", "buy", "extra_user=2", "--quote", now=LATER).out
        assert rows(quote)["Additional User"][0] == "2"
        checkout = acme("addons", "acme", "buy", "extra_user=2", now=LATER, json_=True).json()
        assert checkout["invoice"]["type"] == "add_on"
        pay(acme, checkout, now=LATER)

        held = acme("addons", "acme", "stop", "extra_user", "--quantity", "1", now=LATER)
        assert held.out.startswith("Additional User: 2 held, 1 stopping")
        listed = acme("addons", "acme", now=LATER, json_=True).json()
        assert listed["held"][0]["code"] == "extra_user"
        assert listed["held"][0]["quantity"] == 2
        assert listed["held"][0]["stopping"] == 1
        assert listed["held"][0]["stops"] == [[1, "2026-02-10T09:00:00+07:00"]]
        assert listed["available"][0]["can_buy"] == 98

    def test_stop_an_addon_not_held(self, acme: Run) -> None:
        result = acme("addons", "acme", "stop", "extra_user")
        assert result.status == 2
        assert "Additional User is not held" in result.err


class TestInvoices:
    @pytest.fixture
    def paid(self, acme: Run) -> str:
        checkout = acme("top-up", "acme", "conversation", "50000", json_=True).json()
        pay(acme, checkout)
        acme("top-up", "acme", "broadcast", "20000")  # left pending
        code: str = checkout["invoice"]["code"]
        return code

    def test_list_and_filter(self, acme: Run, paid: str) -> None:
        table = rows(acme("invoices", "acme").out)
        assert table[paid][:4] == ["top_up", table[paid][1], "Rp50.000", "paid"]
        page = acme("invoices", "acme", "--status", "paid", json_=True).json()
        assert [item["code"] for item in page["items"]] == [paid]
        page = acme("invoices", "acme", "--status", "pending", "--type", "top_up", json_=True)
        assert [item["total"]["amount"] for item in page.json()["items"]] == [20_000]
        page = acme("invoices", "acme", "--type", "renewal", json_=True).json()
        assert page == {"items": [], "next_cursor": None}

    def test_show(self, acme: Run, paid: str) -> None:
        result = acme("invoice", "show", "acme", paid)
        assert rows(result.out)["Status"] == ["paid"]
        assert rows(result.out)["Total"] == ["Rp50.000"]

    def test_render_text_to_stdout(self, acme: Run, paid: str) -> None:
        result = acme("invoice", "render", "acme", paid, "--format", "text")
        assert result.status == 0
        assert paid in result.out
        english = acme("invoice", "render", "acme", paid, "--format", "text", "--locale", "en")
        assert english.out != result.out

    def test_render_html_and_pdf_to_files(self, acme: Run, paid: str, tmp_path: Path) -> None:
        html = tmp_path / "invoice.html"
        result = acme("invoice", "render", "acme", paid, "--format", "html", "--output", str(html))
        assert result.out.startswith(f"Wrote {html}")
        assert paid in html.read_text(encoding="utf-8")
        pdf = tmp_path / "invoice.pdf"
        data = acme("invoice", "render", "acme", paid, "--output", str(pdf), json_=True).json()
        assert data == {"code": paid, "format": "pdf", "path": str(pdf)}
        assert pdf.read_bytes().startswith(b"%PDF")

    def test_pdf_needs_an_output_file(self, acme: Run, paid: str) -> None:
        fails(acme("invoice", "render", "acme", paid, "--format", "pdf"), "needs --output FILE")

    def test_unknown_invoice(self, acme: Run) -> None:
        fails(acme("invoice", "show", "acme", "INV-X"), "account 'acme' has no invoice 'INV-X'")


class TestRun:
    def test_run_reports_what_it_did(self, acme: Run) -> None:
        assert rows(acme("run").out) == {}
        assert acme("run", json_=True).json()["accounts"] == []
        result = acme("run", now=NEXT_PERIOD)
        assert result.out.startswith("Billing run until 2026-02-11 09:00: 1 account(s) changed")
        assert rows(result.out)["period"] == ["1"]
        assert result.err == ""  # no progress for a handful of accounts
        again = acme("run", now=NEXT_PERIOD, json_=True).json()
        assert again == {"until": NEXT_PERIOD, "accounts": [], "counts": {}}

    def test_run_also_reconciles_pending_invoices(self, acme: Run) -> None:
        """R-GW-3: ``run`` asks the gateway about pending invoices older than 15 minutes (the
        command line's fake gateway knows of no payment, so they stay pending)."""
        acme("top-up", "acme", "conversation", "50000")
        assert acme("run", now=NOW, json_=True).json()["counts"] == {}  # too young
        counts = acme("run", now="2026-01-10T09:20:00+07:00", json_=True).json()["counts"]
        assert counts == {"reconcile_checked": 1, "reconcile_unchanged": 1}
        text = acme("run", now="2026-01-10T09:21:00+07:00").out
        assert rows(text)["reconcile_checked"] == ["1"]

    def test_run_shows_progress_for_many_accounts(
        self, cli: Run, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import subkit.cli

        monkeypatch.setattr(subkit.cli, "PROGRESS_EVERY", 2)
        for number in range(5):
            cli("open", f"account-{number}")
        result = cli("run", now=NEXT_PERIOD, json_=True)
        report = result.json()
        assert len(report["accounts"]) == 5
        assert report["counts"]["period"] == 5
        assert result.err.splitlines() == [
            "run: 2/5 accounts",
            "run: 4/5 accounts",
            "run: 5/5 accounts",
        ]
