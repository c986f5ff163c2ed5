"""The server process: load the repository, serve REST, gRPC and metrics on one event loop, drain on SIGTERM.

Shutdown order on SIGTERM (or SIGINT): readiness turns false at once (the Kubernetes probe takes the pod out
of the Service), the listeners close, requests already received finish (up to ``drain_timeout``), then the
model instances are closed and the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motherboard.runtime.http import HttpServer, Request, Response, error_response
from motherboard.runtime.metrics import DeviceInfo, render
from motherboard.runtime.repository import Repository
from motherboard.runtime.rest import RestApi
from motherboard.runtime.state import ServerState

log = logging.getLogger(__name__)
DISABLED = -1


@dataclass(frozen=True)
class ServeOptions:
    """What ``motherboard runtime serve`` was asked for; a port of -1 turns that listener off, 0 picks one."""

    repository: Path
    host: str = "0.0.0.0"
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    target: str | None = None
    threads: int = 0
    max_body_bytes: int = 64 << 20
    drain_timeout: float = 30.0
    device: str = "cpu"
    device_slice: str = ""


async def serve(options: ServeOptions, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set or SIGTERM/SIGINT arrives, then drain and return."""
    from motherboard.runtime.grpc_api import make_server

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    state = ServerState()
    repository = Repository(
        options.repository,
        target=options.target,
        threads=options.threads,
        drain_timeout=options.drain_timeout,
    )
    await repository.load_all()
    state.started = True
    device = DeviceInfo(target=options.target or "cpu", device=options.device, slice=options.device_slice)

    servers: list[HttpServer] = []
    ports: dict[str, int] = {}
    if options.http_port != DISABLED:
        api = RestApi(repository, state)
        servers.append(HttpServer(api.handle, max_body_bytes=options.max_body_bytes))
        ports["http"] = await servers[-1].start(options.host, options.http_port)
    if options.metrics_port != DISABLED:

        async def metrics(request: Request) -> Response:
            if request.path == "/metrics":
                text = render(repository, device, state.in_flight)
                return Response(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")
            if request.path == "/v2/health/ready":
                return Response(200 if state.ready else 503)
            return error_response(404, f"no route for {request.path}")

        servers.append(HttpServer(metrics, max_body_bytes=1 << 16))
        ports["metrics"] = await servers[-1].start(options.host, options.metrics_port)
    grpc_server: Any = None
    if options.grpc_port != DISABLED:
        grpc_server, ports["grpc"] = make_server(
            repository, state, options.host, options.grpc_port, options.max_body_bytes
        )
        await grpc_server.start()

    # One machine-readable line: tests and wrappers that asked for port 0 learn the ports from it.
    sys.stdout.write(json.dumps({"event": "serving", **ports, "models": sorted(repository.models)}) + "\n")
    sys.stdout.flush()
    log.info("serving %s on %s", sorted(repository.models), ports)

    await stop.wait()
    log.info("draining: %d requests in flight", state.in_flight)
    state.draining = True
    shutdowns = [s.shutdown(options.drain_timeout) for s in servers]
    if grpc_server is not None:
        shutdowns.append(grpc_server.stop(options.drain_timeout))
    await asyncio.gather(*shutdowns, return_exceptions=True)
    await repository.close()
    log.info("stopped")
