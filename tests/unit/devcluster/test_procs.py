"""Daemon processes: whole process groups are stopped, and a recycled PID is never signalled."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from motherboard.devcluster.procs import ProcessRecord, is_alive, spawn, stop


def _pids_in_group(pgid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            fields = raw[raw.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def test_stop_terminates_the_daemon_and_what_it_forked(tmp_path: Path) -> None:
    # The shell forks a grandchild that would be orphaned if only the leader were signalled.
    rec = spawn("sh", ["sh", "-c", "sleep 300 & sleep 300"], tmp_path / "sh.log")
    deadline = time.monotonic() + 5
    while len(_pids_in_group(rec.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_pids_in_group(rec.pid)) >= 2 and is_alive(rec)
    assert stop(rec, grace_s=5)
    assert not is_alive(rec) and _pids_in_group(rec.pid) == []
    assert not stop(rec)  # idempotent


def test_a_record_round_trips_and_sigterm_resistant_daemons_get_killed(tmp_path: Path) -> None:
    rec = spawn("stubborn", ["sh", "-c", "trap '' TERM; sleep 300 & wait"], tmp_path / "s.log")
    rec = ProcessRecord.from_json(rec.to_json())  # `down` after a crash only has the JSON record
    time.sleep(0.2)
    started = time.monotonic()
    assert stop(rec, grace_s=0.5)
    assert not is_alive(rec) and time.monotonic() - started < 5


def test_a_recycled_pid_is_not_taken_for_the_daemon(tmp_path: Path) -> None:
    rec = spawn("sleep", ["sleep", "300"], tmp_path / "sleep.log")
    try:
        assert rec.start_ticks is not None
        impostor = dataclasses.replace(rec, start_ticks=rec.start_ticks - 1)
        assert not is_alive(impostor)
        assert not stop(impostor)
        assert is_alive(rec)  # the real process was left alone
    finally:
        stop(rec)
    assert not os.path.exists(f"/proc/{rec.pid}/stat") or not is_alive(rec)
