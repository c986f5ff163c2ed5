"""``python -m motherboard.dashboards [--check] [--output DIR]``: write or check the chart's dashboards."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motherboard.dashboards.render import default_directory, stale_files, write_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m motherboard.dashboards", description=__doc__)
    parser.add_argument("--output", type=Path, default=None, help="Directory (default: the chart's).")
    parser.add_argument("--check", action="store_true", help="Fail if the files differ from the definitions.")
    args = parser.parse_args(argv)
    directory: Path = args.output or default_directory()
    if args.check:
        stale = stale_files(directory)
        if stale:
            print(
                f"error: {directory}: {', '.join(stale)} out of date: run python -m motherboard.dashboards",
                file=sys.stderr,
            )
            return 1
        print(f"{directory}: dashboards up to date")
        return 0
    for path in write_all(directory):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
