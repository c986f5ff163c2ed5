"""``motherboard runtime``: the inference server on the Open Inference Protocol (KServe v2 / Triton)."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Serve compiled models over the Open Inference Protocol (REST and gRPC).")


@app.callback()
def runtime() -> None:
    """Serve compiled models over the Open Inference Protocol (REST and gRPC)."""
    # A callback keeps ``runtime`` a command group however it is mounted: typer turns an app with a single
    # command and no callback into that command, and ``motherboard runtime serve`` would stop parsing.


@app.command()
def serve(
    repository: Annotated[Path, typer.Option("--repository", help="Model repository (Triton's layout).")],
    http_port: Annotated[
        int, typer.Option("--http-port", help="REST port (0: any free port, -1: off).")
    ] = 8000,
    grpc_port: Annotated[
        int, typer.Option("--grpc-port", help="gRPC port (0: any free port, -1: off).")
    ] = 8001,
    metrics_port: Annotated[
        int, typer.Option("--metrics-port", help="Prometheus /metrics port (0: any free port, -1: off).")
    ] = 8002,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "0.0.0.0",
    target: Annotated[
        str | None, typer.Option("--target", help="Hardware target of the artifacts (default: this CPU).")
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option(
            "--fetch",
            help="First fetch the artifact for this device from the plan in $MOTHERBOARD_SERVING (how the "
            "operator runs replicas).",
        ),
    ] = False,
    cache: Annotated[Path, typer.Option("--cache", help="With --fetch: the node's artifact cache.")] = Path(
        "/var/cache/motherboard/artifacts"
    ),
    target_file: Annotated[
        Path | None,
        typer.Option(
            "--target-file", help="Read --target from this file (written by `motherboard model fetch`)."
        ),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", help="Backend threads per instance (0: cores / instances).")
    ] = 0,
    max_body_mib: Annotated[int, typer.Option("--max-body-mib", help="Largest request body accepted.")] = 64,
    drain_timeout: Annotated[
        float, typer.Option("--drain-timeout", help="Seconds to finish held requests after SIGTERM.")
    ] = 30.0,
    device: Annotated[
        str, typer.Option("--device", envvar="MOTHERBOARD_DEVICE", help="Device given to this process.")
    ] = "cpu",
    device_slice: Annotated[
        str, typer.Option("--device-slice", envvar="MOTHERBOARD_DEVICE_SLICE", help="Slice of the device.")
    ] = "",
) -> None:
    """Serve every model in the repository until SIGTERM, then drain in-flight requests and exit."""
    import asyncio

    from motherboard.runtime.server import ServeOptions
    from motherboard.runtime.server import serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not repository.is_dir():
        typer.echo(f"error: --repository {repository}: no such folder", err=True)
        raise typer.Exit(2)
    if fetch:
        target = _fetch(repository, cache) or target
    if target_file is not None:
        if not target_file.is_file():
            typer.echo(f"error: --target-file {target_file}: no such file", err=True)
            raise typer.Exit(2)
        target = target_file.read_text().strip() or target
    options = ServeOptions(
        repository=repository,
        host=host,
        http_port=http_port,
        grpc_port=grpc_port,
        metrics_port=metrics_port,
        target=target,
        threads=threads,
        max_body_bytes=max_body_mib << 20,
        drain_timeout=drain_timeout,
        device=device,
        device_slice=device_slice,
    )
    try:
        asyncio.run(run_server(options))
    except OSError as exc:  # a port in use, typically
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _fetch(repository: Path, cache: Path) -> str:
    """Run the replica's fetch step in this process: the device plugin's variables are visible here (an
    init container is given no devices). A failure exits 1 with the reason as the termination message,
    which the operator reads into the AIJob's status."""
    import os

    from motherboard.models.errors import ModelError
    from motherboard.models.fetch import ENV, ServingRequest, detect_target
    from motherboard.models.fetch import fetch as do_fetch

    termination = Path("/dev/termination-log")
    target = ""
    try:
        text = os.environ.get(ENV)
        if not text:
            raise ModelError(f"--fetch: ${ENV} is not set (the operator renders it into serving replicas)")
        request = ServingRequest.from_json(text)
        target = detect_target()
        done = do_fetch(request, repository, cache, target)
    except ModelError as exc:
        message = json.dumps({"target": target, "error": str(exc)})
        typer.echo(f"error: fetch: {exc}", err=True)
        with contextlib.suppress(OSError):
            termination.write_text(message[:4000])
        raise typer.Exit(1) from exc
    if done.fallback:
        logging.getLogger(__name__).warning("fetch fell back to %s: %s", done.backend, done.fallback)
    typer.echo(f"fetched {done.summary()}")
    (repository / ".fetched.json").write_text(done.summary() + "\n")
    return done.target
