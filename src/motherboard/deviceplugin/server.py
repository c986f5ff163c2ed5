"""One gRPC server per advertised resource, on its own unix socket in the kubelet's plugin folder.

The kubelet knows a plugin by (resource name, socket). Each server registers itself with the kubelet's
``Registration`` service; the kubelet then dials back and opens ``ListAndWatch``.

The worker pool is sized for its load: every open ``ListAndWatch`` stream holds one worker for its whole
life, so the pool must leave room for concurrent ``Allocate``/``GetPreferredAllocation`` calls.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc

from motherboard.deviceplugin.proto import API_VERSION, grpc_stubs, pb
from motherboard.deviceplugin.service import DevicePluginService

log = logging.getLogger(__name__)

REGISTER_TIMEOUT_SECONDS = 5.0
DEFAULT_WORKERS = 16


def endpoint_name(resource: str) -> str:
    """Socket file name for a resource: ``nvidia.com/mig-1g.10gb`` → ``mb-nvidia.com_mig-1g.10gb.sock``."""
    return "mb-" + re.sub(r"[^A-Za-z0-9._-]", "_", resource) + ".sock"


class ResourceServer:
    """A ``DevicePlugin`` server for one resource: start, register, restart, stop."""

    def __init__(
        self, service: DevicePluginService, plugin_dir: Path, workers: int = DEFAULT_WORKERS
    ) -> None:
        self.service = service
        self.resource = service.resource
        self.socket = plugin_dir / endpoint_name(self.resource)
        self._workers = workers
        self._server: Any = None
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Serve on a fresh socket (a stale file from an earlier run is removed first)."""
        self.socket.unlink(missing_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=self.socket.stem)
        server = grpc.server(self._pool)
        grpc_stubs.add_DevicePluginServicer_to_server(self.service, server)
        server.add_insecure_port(f"unix://{self.socket}")
        server.start()
        self._server = server
        log.info("serving %s on %s", self.resource, self.socket)

    def stop(self, grace: float = 0.5) -> None:
        """Stop serving (open streams are cancelled after ``grace`` seconds) and remove the socket."""
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        if self._pool is not None:  # gRPC does not own the pool: its idle workers would outlive the server
            self._pool.shutdown(wait=True)
            self._pool = None
        self.socket.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop(grace=0)
        self.start()

    @property
    def serving(self) -> bool:
        return self._server is not None and self.socket.exists()

    def register(self, kubelet_socket: Path) -> None:
        """Announce this server to the kubelet; raises ``grpc.RpcError`` when the kubelet refuses or is away."""
        with grpc.insecure_channel(f"unix://{kubelet_socket}") as channel:
            stub = grpc_stubs.RegistrationStub(channel)
            request = pb.RegisterRequest(
                version=API_VERSION,
                endpoint=self.socket.name,
                resource_name=self.resource,
                options=pb.DevicePluginOptions(get_preferred_allocation_available=True),
            )
            stub.Register(request, timeout=REGISTER_TIMEOUT_SECONDS)
        log.info("registered %s with the kubelet at %s", self.resource, kubelet_socket)
