"""Print what the quota commands found: rich tables for people, JSON or YAML for scripts."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from motherboard.quota.explain import JobExplanation
from motherboard.quota.usage import QueueNode, format_amount


class Format(StrEnum):
    """``-o`` of every quota command."""

    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def _plain(value: Any) -> Any:
    """Decimals as strings (exact, as Kubernetes quantities are), everything else as it is."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def dump(data: Any, fmt: Format, console: Console) -> None:
    """JSON or YAML of ``data`` on stdout (no rich markup, no wrapping)."""
    plain = _plain(data)
    text = json.dumps(plain, indent=2) if fmt is Format.JSON else yaml.safe_dump(plain, sort_keys=False)
    console.print(
        text, markup=False, highlight=False, soft_wrap=True, end="" if text.endswith("\n") else "\n"
    )


def tree_data(nodes: list[QueueNode]) -> list[dict[str, Any]]:
    return [asdict(node) for node in nodes]


def print_tree(nodes: list[QueueNode], invalid: dict[str, str], console: Console) -> None:
    """One row per queue and resource, the queue names indented by depth."""
    table = Table(title="Queues", title_justify="left", show_lines=False)
    for column in (
        "QUEUE",
        "RESOURCE",
        "POOL",
        "NOMINAL",
        "BORROW LIMIT",
        "LEND LIMIT",
        "USED",
        "BORROWED",
        "LENT",
    ):
        left = column in {"QUEUE", "RESOURCE", "POOL"}
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "QUEUE")
    table.add_column("PENDING", justify="right")
    for node in nodes:
        label = "  " * node.depth + ("└ " if node.depth else "") + node.name
        if not node.resources:
            table.add_row(label, "-", "", "", "", "", "", "", "", str(node.pending_jobs))
        for index, line in enumerate(node.resources):
            r = line.resource
            table.add_row(
                label if index == 0 else "",
                r,
                line.pool or "",
                format_amount(r, line.nominal),
                format_amount(r, line.borrowing_limit)
                if line.borrowing_limit is not None
                else "∞"
                if node.parent
                else "-",
                format_amount(r, line.lending_limit) if line.lending_limit is not None else "all",
                format_amount(r, line.used),
                _highlight(format_amount(r, line.borrowed), line.borrowed),
                format_amount(r, line.lent),
                str(node.pending_jobs) if index == 0 else "",
            )
    console.print(table)
    for name, problem in sorted(invalid.items()):
        console.print(f"[yellow]queue {name} is invalid and not shown:[/] {problem}", highlight=False)


def _highlight(text: str, amount: Decimal) -> str:
    return f"[bold yellow]{text}[/]" if amount > 0 else text


def print_pending(rows: list[dict[str, str]], queue: str, console: Console) -> None:
    if not rows:
        console.print(f"No pending AIJobs in queue {queue}.", highlight=False)
        return
    table = Table(title=f"Pending AIJobs of queue {queue}", title_justify="left")
    for column in ("NAMESPACE", "NAME", "QUEUE", "PHASE", "PRIORITY CLASS", "SINCE", "WHY IT WAITS"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["namespace"],
            row["name"],
            row["queue"],
            row["phase"],
            row["priorityClass"],
            row["since"],
            row["reason"],
        )
    console.print(table)


def print_explanation(job: JobExplanation, console: Console) -> None:
    """One screen: the verdict, conditions, pods with nodes and devices (or why each waits), events."""
    header = Tree(
        f"[bold]AIJob {job.namespace}/{job.name}[/]  queue={job.queue or '-'}  phase=[bold]{job.phase}[/]"
    )
    header.add(f"[bold]{job.summary}[/]")
    if job.ready:
        header.add(f"ready {job.ready}, restarts {job.restarts}, preemptions {job.preemptions}")
    console.print(header, highlight=False)
    if job.conditions:
        table = Table(title="Conditions", title_justify="left")
        for column in ("TYPE", "STATUS", "REASON", "MESSAGE"):
            table.add_column(column, overflow="fold")
        for c in job.conditions:
            table.add_row(c["type"], c["status"], c["reason"], c["message"])
        console.print(table)
    if job.pods:
        table = Table(title="Pods", title_justify="left")
        for column in ("POD", "TASK", "PHASE", "NODE", "SITE", "DEVICES / WHY IT WAITS"):
            table.add_column(column, overflow="fold")
        for pod in job.pods:
            detail = "\n".join(pod.devices) if pod.node else (pod.waiting or "")
            table.add_row(pod.name, pod.task, pod.phase, pod.node or "-", pod.site or "-", detail or "-")
        console.print(table)
    if job.events:
        table = Table(title="Recent events", title_justify="left")
        for column in ("TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"):
            table.add_column(column, overflow="fold")
        for e in job.events:
            table.add_row(e.time, e.type, e.reason, e.object, e.message)
        console.print(table)
