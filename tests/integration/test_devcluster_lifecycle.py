"""A second, tiny dev cluster driven through the CLI: `down` after `up` was killed leaves no process behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from motherboard.devcluster.cluster import DevCluster
from motherboard.devcluster.procs import ProcessRecord, is_alive

if TYPE_CHECKING:  # the fixture's type; tests/integration is not a package, so no runtime import
    from conftest import Cluster

pytestmark = pytest.mark.integration

TINY = """\
kind: ClusterProfile
name: tiny
sites:
- name: central
  kind: central
  region: local
  nodeGroups:
  - {name: cpu, count: 2, cpu: 8, memoryGiB: 32}
"""
CLI = [sys.executable, "-c", "from motherboard.devcluster.cli import app; app()"]


def _cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args, "--state-dir", str(state)], capture_output=True, text=True, timeout=300, check=False
    )


def _recorded(state: Path) -> list[ProcessRecord]:
    try:
        data = json.loads((state / "state.json").read_text())
    except (FileNotFoundError, ValueError):
        return []
    return [ProcessRecord.from_json(p) for p in data.get("processes", {}).values()]


def test_down_after_a_killed_up_stops_every_daemon(cluster: Cluster, tmp_path: Path) -> None:
    profile, state = tmp_path / "tiny.yaml", tmp_path / "state"
    profile.write_text(TINY)
    up = subprocess.Popen(
        [*CLI, "up", "--profile", str(profile), "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while {r.name for r in _recorded(state)} != {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kwok",
        }:
            assert up.poll() is None, "up exited before starting every daemon"
            assert time.monotonic() < deadline, "daemons not recorded in time"
            time.sleep(0.1)
        up.send_signal(signal.SIGKILL)  # a crash: no cleanup handler runs
        up.wait()
        records = _recorded(state)
        assert all(is_alive(r) for r in records)  # the daemons outlive the process that started them

        again = _cli("up", "--profile", str(profile), state=state)
        assert again.returncode == 1 and "already running" in again.stderr + again.stdout

        down = _cli("down", state=state)
        assert down.returncode == 0, down.stderr
        assert not any(is_alive(r) for r in records)
        assert _cli("status", state=state).returncode == 1
    finally:
        up.kill()
        up.wait()
        DevCluster(state).down()
