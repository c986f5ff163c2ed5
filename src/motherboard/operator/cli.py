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
    artifact_port: Annotated[
        int,
        typer.Option(help="Serve models: the artifact endpoint's port (compile jobs and replicas; 0: off)."),
    ] = 0,
    artifact_dir: Annotated[
        Path, typer.Option(help="The artifact store (sources, compiled artifacts, upload secret).")
    ] = Path("/var/lib/motherboard/artifacts"),
    artifact_url: Annotated[
        str | None,
        typer.Option(help="URL pods reach the endpoint at (e.g. http://motherboard-operator.ns:8090)."),
    ] = None,
    serving_image: Annotated[
        str | None, typer.Option(help="Image of compile jobs and model replicas (default: this version's).")
    ] = None,
    compile_pod_overrides: Annotated[
        str | None,
        typer.Option(help="JSON merged into compile pods' spec, e.g. a nodeSelector for build nodes."),
    ] = None,
    measure: Annotated[
        bool, typer.Option(help="Compile jobs measure latency (the policy serves the fastest measured).")
    ] = True,
) -> None:
    """Run the operator until interrupted (exit status 1: it lost the leader Lease)."""
    import json

    from motherboard.operator.handlers import ServingConfig, WebhookOptions
    from motherboard.operator.main import Election, run

    webhook = WebhookOptions(host=webhook_host, port=webhook_port) if webhook_port else None
    election = Election(namespace=lease_namespace, duration=lease_duration) if leader_elect else None
    serving = None
    if artifact_port:
        try:
            overrides = json.loads(compile_pod_overrides) if compile_pod_overrides else None
        except ValueError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--compile-pod-overrides") from exc
        if overrides is not None and not isinstance(overrides, dict):
            raise typer.BadParameter("a JSON object (pod spec fields)", param_hint="--compile-pod-overrides")
        serving = ServingConfig(
            directory=artifact_dir, port=artifact_port, url=artifact_url, image=serving_image or "",
            compile_pod=overrides, measure=measure,
        )  # fmt: skip
    raise typer.Exit(run(kubeconfig, metrics_port, health_port, namespace, webhook, election, serving))
