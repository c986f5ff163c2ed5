"""What the protocol front ends share about the process: readiness, draining, requests in flight."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServerState:
    """Written on the event loop thread only."""

    version: str = "0.1.0"
    started: bool = False
    """The first repository load has finished."""
    draining: bool = False
    """SIGTERM was received: readiness turns false so the Service stops sending traffic."""
    in_flight: int = 0
    """Infer requests received and not yet answered (REST and gRPC)."""

    @property
    def ready(self) -> bool:
        return self.started and not self.draining
