"""``motherboard scheduler``: run the Motherboard scheduler against a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The Motherboard scheduler: admits, places and binds pods whose schedulerName is motherboard-scheduler.",
    no_args_is_help=True,
)


@app.callback()
def _group() -> None:
    """Keeps ``run`` a sub-command (Typer folds a lone command into the group otherwise)."""


@app.command("run")
def run_command(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig; default $KUBECONFIG or in-cluster.")
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(help="Placement profile YAML; default src/motherboard/scheduler/profiles/default.yaml."),
    ] = None,
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics (0 disables).")] = 10260,
    health_port: Annotated[int, typer.Option(help="Port of /healthz and /readyz (0 disables).")] = 10261,
    leader_elect: Annotated[bool, typer.Option(help="Schedule only while holding the leader Lease.")] = True,
    lease_namespace: Annotated[str, typer.Option(help="Namespace of the leader Lease.")] = "kube-system",
    lease_duration: Annotated[float, typer.Option(help="Lease duration in seconds.")] = 6.0,
    qps: Annotated[float, typer.Option(help="API writes per second at most (0: unlimited).")] = 0.0,
    concurrency: Annotated[int, typer.Option(help="API calls in flight at most.")] = 64,
    batch: Annotated[int, typer.Option(help="Workloads per scheduling cycle at most.")] = 256,
    ahead: Annotated[
        int, typer.Option(help="Pods assumed but not yet bound at most (0: twice --concurrency).")
    ] = 0,
) -> None:
    """Run the scheduler until SIGTERM; exits 1 if it loses the leader Lease."""
    from motherboard.scheduler.service.main import Options, run

    options = Options(
        kubeconfig=kubeconfig,
        profile=profile,
        metrics_port=metrics_port,
        health_port=health_port,
        leader_elect=leader_elect,
        lease_namespace=lease_namespace,
        lease_duration=lease_duration,
        qps=qps,
        concurrency=concurrency,
        batch=batch,
        ahead=ahead,
    )
    raise typer.Exit(run(options))
