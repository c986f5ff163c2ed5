"""Registration that survives kubelet restarts.

A restarting kubelet removes its socket (and every plugin socket in its folder) and creates a new one;
plugins must notice and register again. The watcher polls the socket's identity (inode and change time)
every 0.2 s: a new identity, or a plugin socket gone, means serve again where needed and re-register.
Polling (rather than inotify) keeps it portable and dependency-free, at a cost of one ``stat`` per tick.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc

from motherboard.deviceplugin.server import ResourceServer

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
RETRY_SECONDS = 0.5


def socket_identity(path: Path) -> tuple[int, int] | None:
    """``(inode, ctime)`` of the socket, or ``None`` when it is absent."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_ctime_ns)


class KubeletWatcher:
    """Keeps every server registered with whichever kubelet currently owns ``kubelet_socket``."""

    def __init__(
        self, servers: Sequence[ResourceServer], kubelet_socket: Path, stop: threading.Event
    ) -> None:
        self._servers, self._socket, self._stop = list(servers), kubelet_socket, stop
        self._registered: tuple[int, int] | None = None
        self.registrations = 0  # completed rounds, for observability and tests
        self._thread = threading.Thread(target=self._run, name="kubelet-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            wait = POLL_SECONDS if self.tick() else RETRY_SECONDS

    def tick(self) -> bool:
        """One check; ``False`` when registration failed and should be retried after a pause."""
        identity = socket_identity(self._socket)
        if identity is None:
            self._registered = None  # the kubelet is away: register again when it is back
            return True
        stale = [s for s in self._servers if not s.serving]
        if identity == self._registered and not stale:
            return True
        for server in stale:
            server.restart()
        try:
            for server in self._servers:
                server.register(self._socket)
        except grpc.RpcError as exc:
            log.warning("registration with the kubelet at %s failed, retrying: %s", self._socket, exc)
            return False
        self._registered = identity
        self.registrations += 1
        return True
