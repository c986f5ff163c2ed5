"""The allocation map: which pod container got which devices, kept in a small JSON file.

The kubelet tells the plugin device ids, never pods. The plugin learns the pod from the scheduler's
assignment, and must remember which pod containers it has already served, so that after a restart it
does not hand the same assignment to a second ``Allocate`` (and so that operators can see who holds what).
Writes are atomic (temporary file + rename): a crash never leaves half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from motherboard.deviceplugin import faults

STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class AllocationRecord:
    """One container's devices of one resource."""

    pod: str  # namespace/name, for people
    pod_uid: str
    container: str
    resource: str
    device_ids: tuple[str, ...]  # as the kubelet named them
    at: float = field(default_factory=time.time)

    @property
    def key(self) -> str:
        return record_key(self.pod_uid, self.container, self.resource)


def record_key(pod_uid: str, container: str, resource: str) -> str:
    return f"{pod_uid}/{container}/{resource}"


class AllocationStore:
    """Thread-safe allocation map backed by a JSON file (``None``: memory only)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._records: dict[str, AllocationRecord] = self._load()

    def _load(self) -> dict[str, AllocationRecord]:
        if self._path is None:
            return {}
        # A crash between writing the temporary file and renaming it leaves the temporary file behind;
        # the map itself is whole (the previous one), and the leftover would pile up crash after crash.
        for leftover in self._path.parent.glob(f".{self._path.name}.*"):
            leftover.unlink(missing_ok=True)
        if not self._path.exists():
            return {}
        raw = json.loads(self._path.read_text() or "{}")
        records = (
            AllocationRecord(**{**r, "device_ids": tuple(r["device_ids"])})
            for r in raw.get("allocations", [])
        )
        return {r.key: r for r in records}

    def get(self, key: str) -> AllocationRecord | None:
        with self._lock:
            return self._records.get(key)

    def all(self) -> list[AllocationRecord]:
        with self._lock:
            return list(self._records.values())

    def record(self, record: AllocationRecord) -> None:
        with self._lock:
            self._records[record.key] = record
            self._save()

    def prune(self, live_pod_uids: Iterable[str]) -> int:
        """Forget pods that no longer exist; returns how many records went."""
        live = set(live_pod_uids)
        with self._lock:
            gone = [k for k, r in self._records.items() if r.pod_uid not in live]
            for key in gone:
                del self._records[key]
            if gone:
                self._save()
            return len(gone)

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        body = {"v": STATE_FORMAT_VERSION, "allocations": [asdict(r) for r in self._records.values()]}
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=1)
        faults.reached("mid-save")
        os.replace(tmp, self._path)
