"""Print what the quota commands found: rich tables for people, JSON or YAML for scripts."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal
from enum import StrEnum
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
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
            table.add_row(Text(label), "-", "", "", "", "", "", "", "", str(node.pending_jobs))
        for index, line in enumerate(node.resources):
            r = line.resource
            table.add_row(
                Text(label if index == 0 else ""),
                Text(r),
                Text(line.pool or ""),
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
    _print_whole(table, console)
    for name, problem in sorted(invalid.items()):
        console.print(
            f"[yellow]queue {escape(name)} is invalid and not shown:[/] {escape(problem)}", highlight=False
        )


def _print_whole(table: Table, console: Console) -> None:
    # Rich shrinks a table to the console (80 columns in a pipe) and cut numbers ("1.28…"); a table of
    # figures is printed at its natural width instead, wider than the terminal if it must be.
    needed = Measurement.get(console, console.options.update(max_width=10_000), table).maximum
    width = console.width
    console.width = max(width, needed)  # print(width=...) is capped at the console's width
    try:
        console.print(table)
    finally:
        console.width = width


def _highlight(text: str, amount: Decimal) -> Text:
    return Text(text, style="bold yellow" if amount > 0 else "")


def print_pending(rows: list[dict[str, str]], queue: str | None, console: Console) -> None:
    """``queue`` None: every queue's waiting jobs."""
    where = f"in queue {queue}" if queue else "in any queue"
    if not rows:
        console.print(Text(f"No pending AIJobs {where}."))
        return
    title = f"Pending AIJobs of queue {queue}" if queue else "Pending AIJobs of every queue"
    table = Table(title=Text(title), title_justify="left")
    for column in ("NAMESPACE", "NAME", "QUEUE", "PHASE", "PRIORITY CLASS", "SINCE", "WHY IT WAITS"):
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: a reason such as "[queue a] over quota" would lose its bracketed part.
        table.add_row(
            *(
                Text(row[key])
                for key in ("namespace", "name", "queue", "phase", "priorityClass", "since", "reason")
            )
        )
    console.print(table)


def print_explanation(job: JobExplanation, console: Console) -> None:
    """One screen: the verdict, conditions, pods with nodes and devices (or why each waits), events."""
    header = Tree(
        f"[bold]AIJob {escape(job.namespace)}/{escape(job.name)}[/]  queue={escape(job.queue or '-')}  "
        f"phase=[bold]{escape(job.phase)}[/]"
    )
    header.add(Text(job.summary, style="bold"))
    if job.ready:
        header.add(Text(f"ready {job.ready}, restarts {job.restarts}, preemptions {job.preemptions}"))
    console.print(header, highlight=False)
    if job.conditions:
        table = Table(title="Conditions", title_justify="left")
        for column in ("TYPE", "STATUS", "REASON", "MESSAGE"):
            table.add_column(column, overflow="fold")
        for c in job.conditions:
            table.add_row(*(Text(c[k]) for k in ("type", "status", "reason", "message")))
        console.print(table)
    if job.serving:
        table = Table(title="Serving", title_justify="left")
        for column in (
            "TASK",
            "MODEL",
            "STABLE",
            "CANARY",
            "REPLICAS",
            "ARTIFACT PER TARGET",
            "ROLLED BACK",
            "WHY",
        ):
            table.add_column(column, overflow="fold")
        for s in job.serving:
            keys = ("task", "model", "stable", "canary", "replicas", "artifacts", "rolledBack", "why")
            table.add_row(*(Text(s[k]) for k in keys))
        console.print(table)
    if job.pods:
        table = Table(title="Pods", title_justify="left")
        for column in ("POD", "TASK", "PHASE", "NODE", "SITE", "DEVICES / WHY IT WAITS"):
            table.add_column(column, overflow="fold")
        for pod in job.pods:
            detail = "\n".join(pod.devices) if pod.node else (pod.waiting or "")
            if pod.serving:
                detail = f"{detail}\n{pod.serving}".strip()
            cells = (pod.name, pod.task, pod.phase, pod.node or "-", pod.site or "-", detail or "-")
            table.add_row(*(Text(cell) for cell in cells))
        console.print(table)
    if job.events:
        table = Table(title="Recent events", title_justify="left")
        for column in ("TIME", "TYPE", "REASON", "OBJECT", "MESSAGE"):
            table.add_column(column, overflow="fold")
        for e in job.events:
            table.add_row(*(Text(cell) for cell in (e.time, e.type, e.reason, e.object, e.message)))
        console.print(table)
