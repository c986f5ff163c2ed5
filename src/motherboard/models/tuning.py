"""Tuning databases: one MetaSchedule database per model digest × target, kept between compiles.

The trial budget a user gives is the total for that database: a compile whose database already holds that
many records tunes no further and only applies them (so the artifact's key, which includes the records'
digest, is known before compiling and a cached artifact is found at once); a larger budget resumes tuning
where the last run stopped.
"""

from __future__ import annotations

from pathlib import Path

from motherboard.models.digests import digest_file, short

RECORDS = "database_tuning_record.json"
BUDGET = "budget.json"


def database_dir(root: Path, model_digest: str, target: str) -> Path:
    return root / f"{short(model_digest, 24)}-{target}"


def records_count(database: Path) -> int:
    """How many measured candidates the database holds (one JSON line each)."""
    path = database / RECORDS
    if not path.exists():
        return 0
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def records_digest(database: Path) -> str | None:
    path = database / RECORDS
    return digest_file(path) if path.exists() and path.stat().st_size else None


def budget_spent(database: Path) -> int:
    """The largest budget this database has been tuned to.

    MetaSchedule may record fewer candidates than it was given (a task's search space runs out, a
    trivial task takes one), so the records alone would never add up to the budget and every later
    compile would tune again; the budget a run completed is written beside them.
    """
    import json

    path = database / BUDGET
    try:
        spent = int(json.loads(path.read_text())["trials"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        spent = 0
    return max(spent, records_count(database))


def record_budget(database: Path, trials: int) -> None:
    import json

    tmp = database / f".{BUDGET}.tmp"
    tmp.write_text(json.dumps({"trials": max(trials, budget_spent(database))}) + "\n")
    tmp.replace(database / BUDGET)
