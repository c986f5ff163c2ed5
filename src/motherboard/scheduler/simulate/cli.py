"""``motherboard simulate``: replay a trace against placement policies and compare them.

Mounted by the top-level CLI as ``motherboard simulate``; runs standalone as ``python -m
motherboard.scheduler.simulate.cli``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from motherboard.scheduler.simulate.mix import Mix, MixError, to_csv
from motherboard.scheduler.simulate.packing import REPORT_LEVELS, PackingResult
from motherboard.scheduler.simulate.policies import parse_policies, parse_seeds
from motherboard.scheduler.simulate.replay import run_replay
from motherboard.scheduler.simulate.results import PUBLISHED, summarise, write_outputs
from motherboard.scheduler.simulate.sweep import RayMissingError, Task, run_sweep, task_pods
from motherboard.scheduler.simulate.trace import TraceError
from motherboard.scheduler.simulate.tracefiles import trace_dir

TRACE_DIR = trace_dir()
DEFAULT_TRACE = TRACE_DIR / "openb_pod_list_default.csv"
DEFAULT_NODES = TRACE_DIR / "openb_node_list_gpu_node.csv"

app = typer.Typer(help="Replay a GPU cluster trace against placement policies.", no_args_is_help=False)


@app.callback(invoke_without_command=True)
def simulate(
    trace: Annotated[
        Path, typer.Option(help="Pod list (Alibaba 2023 format, 11 or 5 columns).")
    ] = DEFAULT_TRACE,
    nodes: Annotated[
        Path, typer.Option(help="Node list (sn,cpu_milli,memory_mib,gpu,model).")
    ] = DEFAULT_NODES,
    policy: Annotated[str, typer.Option(help="Policy name, comma list, or 'all'.")] = "all",
    jobs: Annotated[
        Path | None,
        typer.Option(
            help="Job trace CSV (name,submit_time,duration,tenant,replicas,gpus_per_replica,gpu_model,priority): "
            "replay jobs over time through the scheduling cycle; --policy then names job policies "
            "(production, fifo, best-effort-fifo, 2d-las, srtf) and --nodes may be a profile like 64x8xA100."
        ),
    ] = None,
    queues: Annotated[
        Path | None,
        typer.Option(help="With --jobs: Queue manifests (YAML); default one equal queue per tenant."),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds: '42-51', '42,43'.")] = "42",
    mode: Annotated[
        str, typer.Option(help="'packing' (published protocol) or 'replay' (time-driven).")
    ] = "packing",
    ratio: Annotated[float, typer.Option(help="Inflate arrivals to this multiple of GPU capacity.")] = 1.3,
    limit: Annotated[int | None, typer.Option(help="Use only the first N pods of the trace.")] = None,
    mix: Annotated[
        str | None,
        typer.Option(
            help="Workload mix generated from the trace per seed: cpu=0..3 (× CPU-only pods), share=, spec=, "
            "multi= (0..1 or %), e.g. 'cpu=2.5' or 'share=0.6,spec=20%'."
        ),
    ] = None,
    write_mix: Annotated[
        Path | None, typer.Option(help="Write the --mix pod list of each seed into this folder and stop.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write results.json, results.csv, allocation.png here.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Local worker processes (default: CPU count, at most runs).")
    ] = 0,
    ray: Annotated[bool, typer.Option("--ray", help="Fan out through Ray (ray.init() locally).")] = False,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (implies --ray).")] = None,
) -> None:
    """Compare policies on a trace; print the table and optionally write the results."""
    console = Console()
    if jobs is not None:
        from motherboard.scheduler.simulate.jobcli import run_jobs

        run_jobs(console, jobs, str(nodes), queues, policy, output)
        return
    try:
        names, seed_list = parse_policies(policy), parse_seeds(seeds)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if mix is not None:
        try:
            Mix.parse(mix)
        except MixError as exc:
            raise typer.BadParameter(str(exc)) from exc
    if write_mix is not None:
        _write_mix(console, trace, mix, seed_list, limit, write_mix)
        return
    if mode == "replay":
        _replay(console, trace, nodes, names, limit, output)
        return
    if mode != "packing":
        raise typer.BadParameter(f"unknown mode {mode!r}; choose 'packing' or 'replay'")
    tasks = [Task(trace, nodes, p, s, ratio, limit, mix) for p in names for s in seed_list]
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        bar = progress.add_task("simulating", total=len(tasks))
        try:
            results = run_sweep(
                tasks,
                workers=workers,
                use_ray=ray,
                address=address,
                on_result=lambda r: progress.advance(bar),
            )
        except (TraceError, RayMissingError, MixError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    console.print(_table(results, published=trace.name == DEFAULT_TRACE.name and mix is None))
    if output is not None:
        meta = {"trace": str(trace), "nodes": str(nodes), "ratio": ratio, "seeds": seed_list, "mode": mode}
        meta["mix"] = mix
        paths = write_outputs(results, output, meta)
        console.print(f"wrote {paths['json']}, {paths['csv']}, {paths['png']}")


def _table(results: list[PackingResult], published: bool = True) -> Table:
    # The published figures are for the default pod list; next to another trace they would mislead.
    table = Table(title="GPU allocation at full arrival (%)")
    levels = [f"at{lv}" for lv in REPORT_LEVELS[:-1]]
    for col in (
        "policy",
        *(f"@{lv[2:]} %" for lv in levels),
        "@130 % mean",
        "std",
        "runs",
        "published",
        "CPU s/run",
    ):
        table.add_column(col, justify="right" if col != "policy" else "left")
    for policy, row in summarise(results).items():
        ref = PUBLISHED.get(policy) if published else None
        table.add_row(
            policy,
            *(f"{row[lv]:.2f}" for lv in levels),
            f"{row['mean']:.2f}",
            f"{row['std']:.2f}",
            str(int(row["runs"])),
            "" if ref is None else f"{ref:.2f}",
            f"{row['cpu_seconds']:.2f}",
        )
    return table


def _write_mix(
    console: Console, trace: Path, mix: str | None, seeds: list[int], limit: int | None, out: Path
) -> None:
    if mix is None:
        raise typer.BadParameter("--write-mix needs --mix (e.g. --mix cpu=2.5)")
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        try:
            pods = task_pods(Task(trace, trace, "motherboard", seed, 1.3, limit, mix))
        except (TraceError, MixError) as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
        path = out / f"{trace.stem}-{mix.replace(',', '-').replace('=', '')}-seed{seed}.csv"
        path.write_text(to_csv(pods))
        console.print(f"wrote {path} ({len(pods)} pods)")


def _replay(
    console: Console, trace: Path, nodes: Path, names: list[str], limit: int | None, output: Path | None
) -> None:
    import json

    try:
        reports = {name: run_replay(trace, nodes, name, limit=limit) for name in names}
    except TraceError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    table = Table(title="Time-driven replay")
    for col in ("policy", "placed", "never placed", "mean queue delay s", "mean JCT s", "mean GPU util %"):
        table.add_column(col)
    for name, rep in reports.items():
        table.add_row(
            name,
            str(rep.placed),
            str(rep.unplaced),
            f"{rep.mean_delay:.1f}",
            f"{rep.mean_jct:.1f}",
            f"{rep.mean_utilisation:.2f}",
        )
    console.print(table)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        (output / "replay.json").write_text(
            json.dumps({k: v.to_json() for k, v in reports.items()}, indent=1)
        )


if __name__ == "__main__":
    app()
