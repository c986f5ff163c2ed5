"""Helpers for backends that read a vendor's command-line tool and sysfs (Ascend, Cambricon)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from motherboard.devices.backend import BackendUnavailable, HealthEvent
from motherboard.devices.model import Health

Runner = Callable[[list[str]], str]
"""Runs a command and returns its standard output; injected so tests replay recorded output."""

STOP_CHECK_SECONDS = 0.5
"""Upper bound on how long a health watcher takes to notice ``stop`` (the protocol's promise)."""


def run_tool(command: list[str], timeout: float = 30.0) -> str:
    """Run a vendor tool; a missing tool or a failing driver becomes a one-line :class:`BackendUnavailable`."""
    if shutil.which(command[0]) is None:
        raise BackendUnavailable(
            f"{command[0]} not found on PATH: is the vendor driver installed on this node?"
        )
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BackendUnavailable(f"{' '.join(command)} did not answer within {timeout:.0f} s") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise BackendUnavailable(
            f"{' '.join(command)} failed (exit {done.returncode}): {detail[0] if detail else 'no output'}"
        )
    return done.stdout


def poll_health(
    snapshot: Callable[[], Mapping[str, Health]], stop: threading.Event, interval: float
) -> Iterator[HealthEvent]:
    """Call ``snapshot`` every ``interval`` seconds and yield the health differences, until ``stop``.

    A failing snapshot (the tool hangs or errors) is not a device failure: the previous state is kept.
    """
    last = dict(snapshot())
    next_poll = time.monotonic() + interval
    while not stop.wait(min(STOP_CHECK_SECONDS, max(0.0, next_poll - time.monotonic()))):
        if time.monotonic() < next_poll:
            continue
        next_poll = time.monotonic() + interval
        try:
            current = dict(snapshot())
        except BackendUnavailable:
            continue
        for device_id, health in current.items():
            if last.get(device_id, Health.HEALTHY) is not health:
                yield HealthEvent(device_id, health, "reported by the vendor tool")
        last = current


def pci_numa_node(bus_id: str | None, sysfs_root: Path = Path("/sys")) -> int | None:
    """The NUMA node of a PCI device from sysfs (``None`` when unknown or the machine is not NUMA)."""
    if not bus_id:
        return None
    path = sysfs_root / "bus" / "pci" / "devices" / bus_id.lower() / "numa_node"
    try:
        node = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return node if node >= 0 else None
