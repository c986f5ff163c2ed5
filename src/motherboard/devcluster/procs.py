"""Start and stop the dev cluster's daemons without ever leaving one behind.

Each daemon gets its own session (so its process group holds it and anything it forks) and is recorded
with its PID *and* its kernel start time before anything else happens. `down` signals the whole group,
first SIGTERM then SIGKILL, and can do so from the record alone after the process that started the daemons
crashed; the start time makes sure a recycled PID belonging to an unrelated process is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    start_ticks: int | None
    """Field 22 of /proc/<pid>/stat (None where there is no /proc)."""
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
            argv=tuple(data["argv"]),
            log=str(data["log"]),
        )


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # The command name (field 2) is parenthesised and may contain spaces: split after its closing paren.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def start_ticks(pid: int) -> int | None:
    stat = _stat(pid)
    return None if stat is None else stat[1]


def _reap(pid: int) -> None:
    """Collect the exit status if the daemon is our child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(record: ProcessRecord) -> bool:
    _reap(record.pid)
    if not Path("/proc").is_dir():  # macOS: no start time to compare, fall back to signal 0
        try:
            os.kill(record.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return False
        return True
    stat = _stat(record.pid)
    if stat is None or stat[0] in {"Z", "X"}:
        return False
    return record.start_ticks is None or stat[1] == record.start_ticks


def spawn(
    name: str, argv: Sequence[str], log: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> ProcessRecord:
    """Start a daemon in a new session with stdout/stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    # Popen's own handle is dropped on purpose: daemons outlive `up`; is_alive reaps them if we're the parent.
    return ProcessRecord(name, proc.pid, start_ticks(proc.pid), tuple(argv), str(log))


def _signal_group(record: ProcessRecord, sig: signal.Signals) -> None:
    try:
        # start_new_session made the daemon a session and group leader: its PID is the group id.
        os.killpg(record.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(record.pid, sig)


def _group_members(pgid: int) -> list[int]:
    """PIDs still in a process group (children a daemon forked), via /proc; empty where there is none."""
    members: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return members
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


def stop(record: ProcessRecord, grace_s: float = 10.0) -> bool:
    """SIGTERM the daemon's process group, SIGKILL it after ``grace_s``; True if it had been running."""
    if not is_alive(record):
        return False
    _signal_group(record, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_alive(record) and not _group_members(record.pid):
            return True
        time.sleep(0.1)
    if is_alive(record) or _group_members(record.pid):
        _signal_group(record, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_alive(record):
            time.sleep(0.05)
    return True
