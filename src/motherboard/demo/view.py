"""The live tables: jobs, queues and pools as the API server reports them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

PHASE_STYLE = {
    "Succeeded": "green",
    "Running": "bold cyan",
    "Admitted": "cyan",
    "Queued": "yellow",
    "Pending": "yellow",
    "Failed": "bold red",
    "Preempted": "magenta",
    "Suspended": "dim",
}


def jobs_table(jobs: Iterable[dict[str, Any]]) -> Table:
    table = Table(title="AIJobs", title_justify="left", expand=True)
    for column in ("namespace", "name", "type", "queue", "phase", "pods"):
        table.add_column(column, no_wrap=True)
    table.add_column("why / where", overflow="fold", ratio=1)
    for job in sorted(jobs, key=lambda j: (j["metadata"]["namespace"], j["metadata"]["name"])):
        spec, status = job.get("spec", {}), job.get("status") or {}
        phase = status.get("phase", "Pending")
        nodes = sorted({p["node"] for p in status.get("placement", [])})
        where = f"on {', '.join(nodes)}" if nodes and phase in {"Running", "Admitted", "Succeeded"} else ""
        table.add_row(
            job["metadata"]["namespace"],
            job["metadata"]["name"],
            spec.get("type", ""),
            spec.get("queue", ""),
            Text(phase, style=PHASE_STYLE.get(phase, "")),
            _pods(status),
            where or status.get("message", ""),
        )
    return table


def _pods(status: dict[str, Any]) -> str:
    """Running pods while a job runs, finished pods once it is done."""
    tasks = status.get("tasks", [])
    if status.get("phase") in {"Succeeded", "Failed"} and tasks:
        done = sum(t.get("succeeded", 0) for t in tasks)
        return f"{done}/{sum(t.get('replicas', 0) for t in tasks)} done"
    return str(status.get("ready", ""))


def queues_table(queues: Iterable[dict[str, Any]]) -> Table:
    table = Table(title="Queues", title_justify="left", expand=True)
    for column in ("name", "parent", "weight", "quotas (nominal / borrowing limit)"):
        table.add_column(column, overflow="fold")
    for queue in sorted(queues, key=lambda q: (q["spec"].get("parent") or "", q["metadata"]["name"])):
        spec = queue["spec"]
        quotas = ", ".join(
            f"{q['resource']} {q['nominal']}" + (f"/+{q['borrowingLimit']}" if "borrowingLimit" in q else "")
            for q in spec.get("quotas", [])
        )
        table.add_row(queue["metadata"]["name"], spec.get("parent", "-"), str(spec.get("weight", 1)), quotas)
    return table


def pools_table(pools: Iterable[dict[str, Any]]) -> Table:
    table = Table(title="DevicePools", title_justify="left", expand=True)
    for column in ("name", "site", "vendor", "model", "sharing"):
        table.add_column(column)
    for pool in sorted(pools, key=lambda p: p["metadata"]["name"]):
        spec = pool["spec"]
        table.add_row(
            pool["metadata"]["name"],
            spec.get("site", "any"),
            spec.get("vendor", ""),
            spec.get("model", "any"),
            spec.get("sharing", {}).get("mode", "Whole"),
        )
    return table


def dashboard(
    jobs: list[dict[str, Any]], queues: list[dict[str, Any]], pools: list[dict[str, Any]], note: str
) -> Group:
    return Group(jobs_table(jobs), queues_table(queues), pools_table(pools), Text(note, style="dim"))
