"""``motherboard operator``: run the AIJob operator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The AIJob operator (kopf): pods, services, status, failure policy.", no_args_is_help=True
)


@app.command("run")
def run_command(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig; default $KUBECONFIG or in-cluster.")
    ] = None,
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics (0 disables).")] = 8080,
    health_port: Annotated[int, typer.Option(help="Port of /healthz (0 disables).")] = 8081,
    namespace: Annotated[str | None, typer.Option(help="Watch one namespace only.")] = None,
) -> None:
    """Run the operator until interrupted."""
    from motherboard.operator.main import run

    run(kubeconfig, metrics_port, health_port, namespace)
