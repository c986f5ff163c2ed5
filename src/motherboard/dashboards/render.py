"""Write the dashboards and the alert rules into the chart, say which committed files are stale, list the
metrics they read."""

from __future__ import annotations

from pathlib import Path

from motherboard.dashboards.alerts import RULES_FILE, render_rules
from motherboard.dashboards.definitions import DASHBOARDS
from motherboard.dashboards.model import Dashboard
from motherboard.dashboards.promql import metric_names, variable_metric_names


def default_directory() -> Path:
    """``charts/motherboard/dashboards`` of the checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "charts" / "motherboard" / "dashboards"


def default_rules_directory() -> Path:
    """``charts/motherboard/files``: the alert rules as a plain Prometheus rule file."""
    return default_directory().parent / "files"


def write_rules(directory: Path) -> Path:
    """Write the alert rule file into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RULES_FILE
    path.write_text(render_rules())
    return path


def stale_rules(directory: Path) -> list[str]:
    """``[RULES_FILE]`` when the committed rule file is missing or differs from the definitions."""
    path = directory / RULES_FILE
    return [] if path.is_file() and path.read_text() == render_rules() else [RULES_FILE]


def rendered() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {f"{stem}.json": dashboard.render() for stem, dashboard in DASHBOARDS.items()}


def write_all(directory: Path) -> list[Path]:
    """Write every dashboard into ``directory``; remove JSON files no definition makes any more."""
    directory.mkdir(parents=True, exist_ok=True)
    files = rendered()
    for stale in directory.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def stale_files(directory: Path) -> list[str]:
    """Names of files in ``directory`` that are missing, differ from the definitions, or are left over."""
    files = rendered()
    stale = [
        n for n, text in files.items() if not (directory / n).is_file() or (directory / n).read_text() != text
    ]
    return sorted(stale + [p.name for p in directory.glob("*.json") if p.name not in files])


def dashboard_metric_names(dashboard: Dashboard) -> dict[str, set[str]]:
    """Every PromQL expression (panel targets and variable queries) → the metric names it reads."""
    found = {expr: metric_names(expr) for expr in dashboard.expressions()}
    for variable in dashboard.variables:
        found[variable.query] = variable_metric_names(variable.query)
    return found
