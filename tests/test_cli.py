"""The ``subkit`` command (main(argv) -> exit status)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--version prints the package version."""
        assert main(["--version"]) == 0
        assert capsys.readouterr().out.startswith("subkit ")
