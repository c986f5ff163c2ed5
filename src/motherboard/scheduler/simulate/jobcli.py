"""``motherboard simulate --jobs``: replay a job trace through the real cycle under several policies;
``motherboard job-trace``: make such traces (synthetic, from the Alibaba pod lists, from Philly)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from motherboard.scheduler.admission import QueueConfigError, QueueSpec, queue_spec_from_api
from motherboard.scheduler.cache import NodeSpec
from motherboard.scheduler.simulate.convert import node_spec
from motherboard.scheduler.simulate.jobpolicies import parse_job_policies
from motherboard.scheduler.simulate.jobreplay import JobReplay
from motherboard.scheduler.simulate.jobresults import summarise, write_job_outputs
from motherboard.scheduler.simulate.jobs import (
    JobSpec,
    jobs_from_philly,
    jobs_from_pods,
    load_jobs,
    synthetic_jobs,
    write_jobs,
)
from motherboard.scheduler.simulate.trace import TraceError, TraceNode, load_nodes, load_pods

CLUSTER_PROFILE = re.compile(r"^(\d+)x(\d+)x([A-Za-z0-9]+)$")
"""``--nodes 64x8xA100``: 64 nodes of 8 A100s each (96 cores, 768 GiB), instead of a node list."""


class JobInputError(ValueError):
    """A bad --nodes or --queues; the message names the option and the fix."""


def cluster_nodes(text: str) -> list[NodeSpec]:
    """A node list path (Alibaba ``sn,cpu_milli,memory_mib,gpu,model``) or a profile ``NxGxMODEL``."""
    match = CLUSTER_PROFILE.match(text.strip())
    if match:
        count, gpus, model = int(match[1]), int(match[2]), match[3]
        if count < 1 or gpus < 1:
            raise JobInputError(f"--nodes {text}: need at least one node of at least one GPU")
        return [node_spec(TraceNode(f"node-{i:04d}", 96000, 786432, gpus, model)) for i in range(count)]
    path = Path(text)
    if not path.is_file():
        raise JobInputError(
            f"--nodes {text}: no such file; give a node list CSV (sn,cpu_milli,memory_mib,gpu,model) "
            "or a cluster profile such as 64x8xA100"
        )
    return [node_spec(n) for n in load_nodes(path) if n.gpus > 0]


def load_queue_specs(path: Path) -> list[QueueSpec]:
    """The ``Queue`` manifests of a YAML file (several documents, or a ``List``) as admission specs."""
    from motherboard.api.v1alpha1.queue import Queue

    try:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except (OSError, yaml.YAMLError) as exc:
        raise JobInputError(f"--queues {path}: cannot read it as YAML: {exc}") from exc
    items: list[Any] = []
    for doc in docs:
        items.extend(doc.get("items", []) if isinstance(doc, dict) and doc.get("kind") == "List" else [doc])
    specs = []
    for i, obj in enumerate(items):
        if not isinstance(obj, dict) or obj.get("kind") != "Queue":
            raise JobInputError(f"--queues {path}: document {i + 1} is not a Queue manifest (kind: Queue)")
        try:
            specs.append(queue_spec_from_api(Queue.model_validate(obj)))
        except (ValidationError, QueueConfigError) as exc:
            name = (obj.get("metadata") or {}).get("name", f"document {i + 1}")
            raise JobInputError(f"--queues {path}: Queue {name} is invalid: {exc}") from exc
    if not specs:
        raise JobInputError(f"--queues {path}: holds no Queue manifest")
    return specs


def run_jobs(
    console: Console, jobs_path: Path, nodes: str, queues: Path | None, policy: str, output: Path | None
) -> None:
    """Replay ``jobs_path`` under every policy; print the table and write the outputs."""
    try:
        policies = parse_job_policies(policy)
        jobs = load_jobs(jobs_path)
        node_specs = cluster_nodes(nodes)
        specs = load_queue_specs(queues) if queues is not None else None
    except (ValueError, TraceError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if not jobs:
        console.print(f"[red]error:[/red] {jobs_path}: the job trace holds no job")
        raise typer.Exit(2)
    replays = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        for p in policies:
            bar = progress.add_task(p.name, total=len(jobs))
            try:
                replay = JobReplay(jobs, node_specs, p, specs)
            except ValueError as exc:
                console.print(f"[red]error:[/red] {exc}")
                raise typer.Exit(2) from exc
            replays.append(replay.run(_advance(progress, bar)))
    console.print(_table(replays))
    if output is not None:
        meta = {"jobs": str(jobs_path), "nodes": nodes, "queues": str(queues) if queues else None,
                "capacity_gpus": replays[0].capacity_gpus}  # fmt: skip
        paths = write_job_outputs(replays, output, meta)
        console.print("wrote " + ", ".join(str(p) for p in paths.values()))


def _advance(progress: Progress, bar: TaskID) -> Callable[[int, int], None]:
    def advance(done: int, total: int) -> None:
        progress.update(bar, completed=done, total=total)

    return advance


def _table(replays: list[JobReplay]) -> Table:
    table = Table(title="Job replay through the scheduling cycle")
    cols = ("policy", "avg JCT s", "p50", "p95", "p99", "avg wait s", "makespan s", "GPU util", "preempt",
            "partial gangs", "fairness", "unfinished", "replay s")  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col == "policy" else "right")
    for r in replays:
        s = summarise(r)
        table.add_row(
            r.policy.name, f"{s['avg_jct_s']:.0f}", f"{s['p50_jct_s']:.0f}", f"{s['p95_jct_s']:.0f}",
            f"{s['p99_jct_s']:.0f}", f"{s['avg_wait_s']:.0f}", f"{s['makespan_s']:.0f}",
            f"{100 * s['gpu_utilization']:.1f} %", str(s["preemptions"]), str(s["partial_gangs"]),
            f"{s['fairness']:.3f}", str(s["unfinished"]), f"{s['replay']['wall_s']:.1f}",
        )  # fmt: skip
    return table


trace_app = typer.Typer(help="Make job traces for 'motherboard simulate --jobs'.", no_args_is_help=True)


@trace_app.command("synthetic")
def synthetic(
    output: Annotated[Path, typer.Argument(help="The job trace CSV to write.")],
    seed: Annotated[int, typer.Option(help="Random seed (the same seed, the same trace).")] = 42,
    count: Annotated[int, typer.Option(help="Number of jobs.")] = 13000,
    gpus: Annotated[int, typer.Option(help="Cluster capacity in GPUs the load is offered to.")] = 512,
    load: Annotated[
        float, typer.Option(help="Offered load: GPU-seconds asked per GPU-second of capacity.")
    ] = 0.9,
    tenants: Annotated[int, typer.Option(help="Tenants t0..tN-1 (t0 submits the most).")] = 4,
    median_duration: Annotated[
        float, typer.Option(help="Median job duration, seconds (log-normal).")
    ] = 300.0,
    checkpoint: Annotated[
        float, typer.Option(help="Fraction of jobs (0-1) that keep their progress when preempted.")
    ] = 0.0,
) -> None:
    """A seeded gang-heavy trace: 1–128 GPU jobs, heavy-tailed durations, tenants with bursts."""
    try:
        jobs = synthetic_jobs(seed, count, capacity_gpus=gpus, load=load, tenants=tenants,
                              median_duration_s=median_duration, checkpoint=checkpoint)  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    _written(output, jobs)


@trace_app.command("alibaba")
def alibaba(
    pods: Annotated[Path, typer.Argument(help="An Alibaba 2023 pod list (11 columns, with times).")],
    output: Annotated[Path, typer.Argument(help="The job trace CSV to write.")],
) -> None:
    """Each GPU pod of the list as a one-pod job (creation → submit, scheduled → deletion: duration)."""
    try:
        jobs = jobs_from_pods(load_pods(pods))
    except TraceError as exc:
        Console().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    _written(output, jobs)


@trace_app.command("philly")
def philly(
    log: Annotated[Path, typer.Argument(help="Philly's cluster_job_log (JSON).")],
    output: Annotated[Path, typer.Argument(help="The job trace CSV to write.")],
) -> None:
    """The Microsoft Philly trace (ATC '19) as jobs: virtual cluster = tenant, last attempt's GPUs."""
    try:
        jobs = jobs_from_philly(log)
    except TraceError as exc:
        Console().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    _written(output, jobs)


def _written(output: Path, jobs: list[JobSpec]) -> None:
    write_jobs(output, jobs)
    span = (jobs[-1].submit_time - jobs[0].submit_time) / 86400 if jobs else 0.0
    Console().print(f"wrote {output}: {len(jobs)} jobs over {span:.2f} days")
