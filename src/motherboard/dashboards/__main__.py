"""``python -m motherboard.dashboards [--check] [--output DIR] [--rules-output DIR]``: write or check the
chart's dashboards and alert rules."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motherboard.dashboards.render import (
    default_directory,
    default_rules_directory,
    stale_files,
    stale_rules,
    write_all,
    write_rules,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m motherboard.dashboards", description=__doc__)
    parser.add_argument("--output", type=Path, default=None, help="Directory (default: the chart's).")
    parser.add_argument(
        "--rules-output",
        type=Path,
        default=None,
        help="Directory of the rule file (default: the chart's files/).",
    )
    parser.add_argument("--check", action="store_true", help="Fail if the files differ from the definitions.")
    args = parser.parse_args(argv)
    directory: Path = args.output or default_directory()
    rules: Path = args.rules_output or default_rules_directory()
    if args.check:
        failed = False
        for folder, stale in ((directory, stale_files(directory)), (rules, stale_rules(rules))):
            if stale:
                failed = True
                print(
                    f"error: {folder}: {', '.join(stale)} out of date: run python -m motherboard.dashboards",
                    file=sys.stderr,
                )
        if failed:
            return 1
        print(f"{directory}: dashboards up to date; {rules}: alert rules up to date")
        return 0
    for path in [*write_all(directory), write_rules(rules)]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
