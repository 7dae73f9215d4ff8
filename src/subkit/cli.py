"""The ``subkit`` command: show a catalogue's plans, check a catalogue file, run the demo.

Usage::

    subkit plans [--locale id_ID|en] [--json] [--catalogue FILE]
    subkit catalogue check FILE
    subkit demo

Exit status: 0 on success, 1 when ``catalogue check`` finds problems, 2 on any other error
(the error's message goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from babel.numbers import format_decimal

from subkit.cycles import Interval
from subkit.errors import CatalogueError, SubkitError
from subkit.money import format_money
from subkit.plans import Catalogue
from subkit.wallet import Balance

LOCALES = ("id_ID", "en")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("subkit")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    """A plain text table; columns in ``numeric`` are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in numeric else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def plans_table(catalogue: Catalogue, locale: str) -> str:
    """The catalogue's plans and add-ons as two aligned text tables."""

    def count(value: int) -> str:
        return str(format_decimal(value, locale=locale))

    plan_rows = []
    for plan in catalogue.plans_by_rank():
        annual = plan.prices.get(Interval.ANNUAL)
        plan_rows.append(
            [
                plan.name,
                format_money(plan.price(Interval.MONTHLY), locale),
                format_money(annual, locale) if annual is not None else "-",
                count(plan.limits.users),
                count(plan.limits.contacts),
                count(plan.limits.broadcast_quota),
                format_money(plan.included_amount(Balance.CONVERSATION), locale),
            ]
        )
    plans = _table(
        [
            "Plan",
            "Monthly",
            "Annual",
            "Users",
            "Contacts",
            "Broadcast quota",
            "Included conversation",
        ],
        plan_rows,
        numeric={1, 2, 3, 4, 5, 6},
    )
    addon_rows = []
    for addon in catalogue.addons.values():
        adds = ", ".join(
            f"+{count(amount)} {resource[:-1] if amount == 1 else resource}"
            for resource, amount in addon.adds.items()
        )
        sold_on = ", ".join(catalogue.plans[code].name for code in addon.plans)
        addon_rows.append(
            [
                addon.name,
                format_money(addon.price(Interval.MONTHLY), locale),
                format_money(addon.price(Interval.ANNUAL), locale),
                adds,
                sold_on or "-",
            ]
        )
    parts = ["Plans", "", plans]
    if addon_rows:
        addons = _table(
            ["Add-on", "Monthly/unit", "Annual/unit", "Adds", "Sold on"],
            addon_rows,
            numeric={1, 2},
        )
        parts += ["", "Add-ons", "", addons]
    return "\n".join(parts)


def plans_json(catalogue: Catalogue) -> dict[str, Any]:
    """The catalogue's plans and add-ons as JSON-safe data (amounts in the currency's unit)."""
    return {
        "currency": catalogue.currency,
        "default_plan": catalogue.default_plan,
        "plans": [
            {
                "code": plan.code,
                "name": plan.name,
                "rank": plan.rank,
                "price": {
                    str(i): plan.prices[i].amount if i in plan.prices else None for i in Interval
                },
                "limits": {
                    "users": plan.limits.users,
                    "contacts": plan.limits.contacts,
                    "broadcast_quota": plan.limits.broadcast_quota,
                },
                "included": {str(b): plan.included_amount(b).amount for b in Balance},
            }
            for plan in catalogue.plans_by_rank()
        ],
        "addons": [
            {
                "code": addon.code,
                "name": addon.name,
                "price": {str(i): addon.price(i).amount for i in Interval},
                "adds": dict(addon.adds),
                "max_quantity": addon.max_quantity,
                "plans": list(addon.plans),
            }
            for addon in catalogue.addons.values()
        ],
    }


def _load(path: str | None) -> Catalogue:
    return Catalogue.default() if path is None else Catalogue.from_file(path)


def _cmd_plans(args: argparse.Namespace, out: TextIO) -> int:
    catalogue = _load(args.catalogue)
    if args.json:
        out.write(json.dumps(plans_json(catalogue), indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(plans_table(catalogue, args.locale or catalogue.policy.locale) + "\n")
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from pathlib import Path

    from subkit.demo import run_demo

    catalogue = _load(args.catalogue)
    locale = args.locale or catalogue.policy.locale
    out.write("subkit demo: the example catalogue\n\n")
    out.write(plans_table(catalogue, locale) + "\n\n")
    run_demo(Path(args.output), out, locale=locale)
    return 0


def _cmd_catalogue_check(args: argparse.Namespace, out: TextIO) -> int:
    try:
        catalogue = Catalogue.from_file(args.file)
    except CatalogueError as error:
        out.write(f"{args.file}: {len(error.problems)} problem(s)\n")
        for problem in error.problems:
            out.write(f"  {problem}\n")
        return 1
    out.write(f"OK: {args.file} ({len(catalogue.plans)} plans, {len(catalogue.addons)} add-ons)\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``subkit`` command."""
    parser = argparse.ArgumentParser(
        prog="subkit", description="Embeddable subscription billing: inspect catalogues."
    )
    parser.add_argument("--version", action="version", version=f"subkit {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plans = commands.add_parser("plans", help="show the catalogue's plans and add-ons")
    plans.add_argument("--locale", choices=LOCALES, help="display locale (default: catalogue's)")
    plans.add_argument("--json", action="store_true", help="print JSON instead of a table")
    plans.add_argument("--catalogue", metavar="FILE", help="a catalogue TOML file")
    plans.set_defaults(handler=_cmd_plans)

    demo = commands.add_parser("demo", help="a short walkthrough of subkit")
    demo.add_argument("--locale", choices=LOCALES, help="display locale (default: catalogue's)")
    demo.add_argument("--catalogue", metavar="FILE", help="a catalogue TOML file")
    demo.add_argument(
        "--output", default="demo-output", metavar="DIR", help="where the database and documents go"
    )
    demo.set_defaults(handler=_cmd_demo)

    catalogue = commands.add_parser("catalogue", help="work with catalogue files")
    catalogue_commands = catalogue.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = catalogue_commands.add_parser("check", help="validate a catalogue TOML file")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(handler=_cmd_catalogue_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``subkit`` command with ``argv`` (default: ``sys.argv[1:]``); return the status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        status: int = args.handler(args, sys.stdout)
    except SubkitError as error:
        print(f"subkit: {error}", file=sys.stderr)
        return 2
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
