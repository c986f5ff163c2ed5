"""Start and stop Motherboard's own processes (operator, scheduler) next to the local cluster."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Component:
    """One ``motherboard <name> run`` process, its log file and its ports."""

    name: str
    argv: list[str]
    log: Path
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    _log_handle: IO[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log.open("ab")
        # A session of its own: Ctrl-C in the demo's terminal reaches the demo, which stops us in order.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "motherboard.cli", *self.argv],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15, sig: int = signal.SIGTERM) -> None:
        """Stop the process (``sig``: SIGTERM for a clean stop, SIGKILL to play a crash), then close its log."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self._log_handle is not None:
            self._log_handle.close()

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def operator(
    kubeconfig: Path, log_dir: Path, artifacts: Path | None = None, pod_host: str = "127.0.0.1"
) -> Component:
    """The operator; with ``artifacts`` it serves models, its endpoint reached by pods at ``pod_host``."""
    ports = {"metrics": free_port(), "health": free_port(), "webhook": free_port()}
    argv = [
        "operator", "run", f"--kubeconfig={kubeconfig}", f"--metrics-port={ports['metrics']}",
        f"--health-port={ports['health']}", f"--webhook-port={ports['webhook']}", "--no-leader-elect",
    ]  # fmt: skip
    if artifacts is not None:
        ports["artifacts"] = free_port()
        # Compile jobs run where containers really run: the real node (the kwok nodes only pretend).
        overrides = {
            "nodeSelector": {"motherboard.io/real-node": "true"},
            "tolerations": [{"operator": "Exists", "effect": "NoSchedule"}],
        }
        argv += [
            f"--artifact-port={ports['artifacts']}", f"--artifact-dir={artifacts}",
            f"--artifact-url=http://{pod_host}:{ports['artifacts']}",
            f"--compile-pod-overrides={json.dumps(overrides)}",
        ]  # fmt: skip
    return Component("operator", argv, log_dir / "operator.log", ports)


def scheduler(kubeconfig: Path, log_dir: Path) -> Component:
    ports = {"metrics": free_port(), "health": free_port()}
    argv = [
        "scheduler", "run", f"--kubeconfig={kubeconfig}", f"--metrics-port={ports['metrics']}",
        f"--health-port={ports['health']}", "--no-leader-elect",
    ]  # fmt: skip
    return Component("scheduler", argv, log_dir / "scheduler.log", ports)


WEBHOOK_PROBE = (
    '{"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "motherboard-webhook-probe"},'
    ' "spec": {"parent": "motherboard-webhook-probe-no-such-parent"}}'
)
"""A Queue the schema accepts and only the webhook refuses (its parent does not exist): for a server-side
dry run. A valid probe passed as well against an empty webhook configuration (what kopf left on stop),
so it told nothing about admission."""


def webhook_checks(returncode: int, stderr: str) -> bool:
    """Whether a dry run of :data:`WEBHOOK_PROBE` was refused by the webhook itself (so it is configured and
    serving), not accepted unchecked, and not refused because the API server could not call it."""
    return returncode != 0 and "spec.parent" in stderr and "failed calling webhook" not in stderr
