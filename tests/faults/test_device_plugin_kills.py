"""The device plugin SIGKILLed inside ``Allocate`` (a fault-injection point, not luck), then restarted.

Against the kubelet test double of ``tests/unit/deviceplugin`` (the kubelet's ``Registration`` service over
a real unix socket) and a real plugin process, at each point a crash can land: before the allocation is
remembered, between writing the map's temporary file and renaming it, after remembering it but before
the kubelet heard back. After the restart the pod gets exactly its assigned devices when the kubelet asks
again, a request the scheduler did not assign is refused with a reason, and the allocation map never
shows a device held by two pods, also once the kubelet gave up on the pod and the scheduler gave the
device to its replacement.

Before the fixes: a crash in ``mid-save`` left the map's temporary file behind (one more per crash), and a
pod that failed kept its record, so the map showed its device held by the failed pod and its replacement.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc
import pytest

from motherboard.deviceplugin.faults import KILL_ENV, POINTS
from motherboard.deviceplugin.pods import PodInfo
from motherboard.deviceplugin.proto import grpc_stubs, pb
from motherboard.deviceplugin.server import endpoint_name
from tests.unit.deviceplugin.conftest import SIMULATED_YAML, FakeKubelet, assigned_pod

GPU = "nvidia.com/gpu"
RESOURCES = 4  # what the simulated devices advertise: whole GPUs, shares, two MIG profiles
REPO = Path(__file__).resolve().parents[2]


class Node:
    """A plugin directory with the kubelet double, the pods the "API server" lists, the plugin process."""

    def __init__(self, sockdir: Path) -> None:
        self.dir = sockdir
        self.kubelet = FakeKubelet(sockdir / "kubelet.sock").start()
        (sockdir / "devices.yaml").write_text(SIMULATED_YAML)
        self.pods: list[PodInfo] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None

    def publish(self, *pods: PodInfo) -> None:
        self.pods = list(pods)
        (self.dir / "pods.json").write_text(
            json.dumps([asdict(p) | {"annotations": dict(p.annotations)} for p in pods])
        )

    def start_plugin(self, fault: str | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | ({KILL_ENV: fault} if fault else {})
        registered = len(self.kubelet.requests)
        log = (self.dir / "plugin.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.plugin_process", str(self.dir), str(self.dir / "devices.yaml"),
             str(self.dir / "pods.json")],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        assert self.kubelet.wait_for(registered + RESOURCES, timeout=60), self.log()
        if self.channel is not None:
            self.channel.close()
        self.channel = grpc.insecure_channel(f"unix://{self.dir / endpoint_name(GPU)}")

    def allocate(self, *ids: str) -> Any:
        assert self.channel is not None
        stub = grpc_stubs.DevicePluginStub(self.channel)
        request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=list(ids))])
        return stub.Allocate(request, timeout=20).container_responses[0]

    def held(self) -> dict[str, set[str]]:
        """Device id → the pod uids the plugin's allocation map says hold it."""
        raw = json.loads((self.dir / "state.json").read_text())
        holders: dict[str, set[str]] = {}
        for record in raw["allocations"]:
            for device in record["device_ids"]:
                holders.setdefault(device, set()).add(record["pod_uid"])
        return holders

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.dir.glob(".state.json.*"))

    def log(self) -> str:
        path = self.dir / "plugin.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.kubelet.stop()


@pytest.fixture
def node() -> Iterator[Node]:
    # Unix socket paths are limited to 107 bytes: pytest's tmp_path is too deep for them.
    sockdir = Path(tempfile.mkdtemp(prefix="mb-faults-", dir="/tmp"))
    node = Node(sockdir)
    try:
        yield node
    finally:
        node.stop()
        print(node.log())
        shutil.rmtree(sockdir, ignore_errors=True)


def visible(response: Any) -> str:
    return str(response.envs["NVIDIA_VISIBLE_DEVICES"])


@pytest.mark.parametrize("point", POINTS)
def test_a_plugin_killed_inside_allocate_serves_exactly_the_assignment_after_restart(
    node: Node, point: str
) -> None:
    trainer, other = assigned_pod("trainer", GPU, "GPU-sim-0"), assigned_pod("other", GPU, "GPU-sim-1")
    node.publish(trainer, other)
    node.start_plugin(fault=point)
    # The first Allocate is the trainer's: the plugin dies inside it and the kubelet hears nothing back.
    with pytest.raises(grpc.RpcError) as failed:
        node.allocate("GPU-sim-0")
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert node.proc is not None
    assert node.proc.wait(timeout=20) == -signal.SIGKILL, node.log()
    assert f"SIGKILL at {point}" in node.log()

    node.start_plugin()
    # The kubelet asks again for the trainer: exactly its assigned device; the other pod gets its own.
    assert visible(node.allocate("GPU-sim-0")) == "GPU-sim-0"
    assert visible(node.allocate("GPU-sim-1")) == "GPU-sim-1"
    # A device nobody was assigned is refused with the reason, not handed out.
    with pytest.raises(grpc.RpcError) as refused:
        node.allocate("GPU-sim-2")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "device assignment" in str(refused.value.details())
    assert node.held() == {"GPU-sim-0": {"uid-trainer"}, "GPU-sim-1": {"uid-other"}}
    assert node.leftovers() == [], "a crash's temporary file survived the restart"

    # The kubelet gave up on the trainer (its pod Failed); the scheduler gave GPU-sim-0 to the replacement.
    replacement = assigned_pod("trainer-2", GPU, "GPU-sim-0")
    node.publish(PodInfo(**(asdict(trainer) | {"phase": "Failed"})), other, replacement)
    assert visible(node.allocate("GPU-sim-0")) == "GPU-sim-0"
    assert node.held() == {"GPU-sim-0": {"uid-trainer-2"}, "GPU-sim-1": {"uid-other"}}
    # No pod holds another's device, whatever the kubelet asks again.
    with pytest.raises(grpc.RpcError) as twice:
        node.allocate("GPU-sim-1", "GPU-sim-0")
    assert twice.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert node.held() == {"GPU-sim-0": {"uid-trainer-2"}, "GPU-sim-1": {"uid-other"}}


def test_a_malformed_fault_value_is_named_with_the_fix() -> None:
    from motherboard.deviceplugin.faults import parse

    assert parse("mid-save") == ("mid-save", 1)
    assert parse("after-record:3") == ("after-record", 3)
    for bad in ("mid", "after-record:0", "after-record:x"):
        with pytest.raises(ValueError, match=f"{KILL_ENV}=.*one of before-record, mid-save, after-record"):
            parse(bad)
