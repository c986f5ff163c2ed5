"""``motherboard operator``: run the AIJob operator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The AIJob operator (kopf): pods, services, status, failure policy.", no_args_is_help=True
)


@app.callback()
def _group() -> None:
    """Keeps ``run`` a sub-command: the lazy top-level CLI (``typer.main.get_command``) folded a lone command
    into the group, so ``motherboard operator run`` failed with "unexpected extra argument (run)"."""


@app.command("run")
def run_command(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig; default $KUBECONFIG or in-cluster.")
    ] = None,
    metrics_port: Annotated[int, typer.Option(help="Port of /metrics (0 disables).")] = 8080,
    health_port: Annotated[int, typer.Option(help="Port of /healthz (0 disables).")] = 8081,
    namespace: Annotated[str | None, typer.Option(help="Watch one namespace only.")] = None,
    webhook_port: Annotated[int, typer.Option(help="Serve the admission webhook on this port (0: off).")] = 0,
    webhook_host: Annotated[
        str,
        typer.Option(help="Name or IP the API server uses to reach the webhook (its certificate names it)."),
    ] = "127.0.0.1",
    leader_elect: Annotated[
        bool, typer.Option(help="Run only while holding the operator Lease (active/standby replicas).")
    ] = True,
    lease_namespace: Annotated[str, typer.Option(help="Namespace of the leader Lease.")] = "kube-system",
    lease_duration: Annotated[float, typer.Option(help="Seconds a leader's Lease lasts unrenewed.")] = 15.0,
) -> None:
    """Run the operator until interrupted (exit status 1: it lost the leader Lease)."""
    from motherboard.operator.handlers import WebhookOptions
    from motherboard.operator.main import Election, run

    webhook = WebhookOptions(host=webhook_host, port=webhook_port) if webhook_port else None
    election = Election(namespace=lease_namespace, duration=lease_duration) if leader_elect else None
    raise typer.Exit(run(kubeconfig, metrics_port, health_port, namespace, webhook, election))
