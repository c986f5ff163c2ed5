"""The plugin against a fake kubelet over real unix sockets: the kubelet's side of every conversation."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from motherboard.deviceplugin.pods import PodInfo, StaticPodSource
from motherboard.deviceplugin.proto import API_VERSION, pb
from motherboard.deviceplugin.server import endpoint_name
from motherboard.devices.model import Health
from motherboard.devices.simulated import SimulatedBackend

from .conftest import NODE, FakeKubelet, PluginFactory, assigned_pod

GPU, SHARED, MIG_1G = "nvidia.com/gpu", "nvidia.com/gpu.shared", "nvidia.com/mig-1g.10gb"
ALL_RESOURCES = {GPU, SHARED, MIG_1G, "nvidia.com/mig-3g.40gb"}


def allocate(stub: Any, *ids: str) -> Any:
    request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=list(ids))])
    return stub.Allocate(request, timeout=5).container_responses[0]


def preferred(stub: Any, available: list[str], must: list[str], size: int) -> list[str]:
    request = pb.PreferredAllocationRequest(
        container_requests=[
            pb.ContainerPreferredAllocationRequest(
                available_deviceIDs=available, must_include_deviceIDs=must, allocation_size=size
            )
        ]
    )
    return list(stub.GetPreferredAllocation(request, timeout=5).container_responses[0].deviceIDs)


def health_by_id(response: Any) -> dict[str, str]:
    return {d.ID: d.health for d in response.devices}


def test_registers_every_resource_then_serves_list_allocate_and_preference(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any, pods: StaticPodSource
) -> None:
    make_plugin()
    assert kubelet.wait_for(len(ALL_RESOURCES), timeout=5)
    registered = {r.resource_name: r for r in kubelet.requests}
    assert set(registered) == ALL_RESOURCES
    assert registered[GPU].version == API_VERSION
    assert registered[GPU].endpoint == endpoint_name(GPU)
    assert registered[GPU].options.get_preferred_allocation_available

    stub = dial(GPU)
    stream = stub.ListAndWatch(pb.Empty(), timeout=10)
    first = next(stream)
    assert health_by_id(first) == {f"GPU-sim-{i}": "Healthy" for i in range(4)}
    assert [n.ID for n in first.devices[2].topology.nodes] == [1]
    stream.cancel()

    pods.pods.append(assigned_pod("trainer", GPU, "GPU-sim-0"))
    response = allocate(stub, "GPU-sim-0")
    assert response.envs["NVIDIA_VISIBLE_DEVICES"] == "GPU-sim-0"
    assert response.envs["MOTHERBOARD_SIMULATED"] == "true"
    assert not response.devices  # simulated devices have no /dev nodes
    # Vendor-neutral identity: a model server picks the artifact compiled for this device from it.
    assert (response.envs["MOTHERBOARD_DEVICE_VENDOR"], response.envs["MOTHERBOARD_DEVICE_MODEL"]) == (
        "nvidia",
        "A100-80GB",
    )

    everything = [f"GPU-sim-{i}" for i in range(4)]
    assert preferred(stub, everything, ["GPU-sim-2"], 2) == ["GPU-sim-2", "GPU-sim-3"]  # same NVLink domain
    # nvl-a has one free GPU, nvl-b two: a pair goes where it fits whole.
    assert preferred(stub, ["GPU-sim-0", "GPU-sim-2", "GPU-sim-3"], [], 2) == ["GPU-sim-2", "GPU-sim-3"]


def test_a_device_turning_unhealthy_is_streamed_within_one_second(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any
) -> None:
    plugin = make_plugin()
    backend = plugin.backend
    assert isinstance(backend, SimulatedBackend)
    before = (
        REGISTRY.get_sample_value(
            "motherboard_deviceplugin_health_transitions_total", {"resource": GPU, "state": "Unhealthy"}
        )
        or 0.0
    )
    stream = dial(GPU).ListAndWatch(pb.Empty(), timeout=10)
    assert health_by_id(next(stream))["GPU-sim-1"] == "Healthy"

    started = time.monotonic()
    backend.set_health("GPU-sim-1", Health.UNHEALTHY)
    update = next(stream)
    assert time.monotonic() - started < 1.0
    assert health_by_id(update)["GPU-sim-1"] == "Unhealthy"
    assert health_by_id(update)["GPU-sim-0"] == "Healthy"
    stream.cancel()
    after = REGISTRY.get_sample_value(
        "motherboard_deviceplugin_health_transitions_total", {"resource": GPU, "state": "Unhealthy"}
    )
    assert after == before + 1
    assert (
        REGISTRY.get_sample_value("motherboard_deviceplugin_devices", {"resource": GPU, "state": "Unhealthy"})
        == 1
    )


def test_rewriting_the_simulated_file_flips_a_mig_slice(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any, sim_file: Path
) -> None:
    make_plugin()
    stream = dial(MIG_1G).ListAndWatch(pb.Empty(), timeout=10)
    assert health_by_id(next(stream)) == {"MIG-sim-4-1": "Healthy", "MIG-sim-4-2": "Healthy"}

    sim_file.write_text(sim_file.read_text() + "health: {MIG-sim-4-2: Unhealthy}\n")
    started = time.monotonic()
    update = next(stream)
    assert time.monotonic() - started < 1.0
    assert health_by_id(update) == {"MIG-sim-4-1": "Healthy", "MIG-sim-4-2": "Unhealthy"}
    stream.cancel()


def test_plugin_re_registers_within_five_seconds_when_the_kubelet_socket_comes_back(
    make_plugin: PluginFactory, kubelet: FakeKubelet, sockdir: Path
) -> None:
    make_plugin()
    assert kubelet.wait_for(len(ALL_RESOURCES), timeout=5)

    kubelet.stop()  # the kubelet restarts: its socket disappears ...
    time.sleep(0.5)
    restarted = FakeKubelet(sockdir / "kubelet.sock").start()  # ... and comes back
    try:
        started = time.monotonic()
        assert restarted.wait_for(len(ALL_RESOURCES), timeout=5)
        assert time.monotonic() - started < 5.0
        assert {r.resource_name for r in restarted.requests} == ALL_RESOURCES
    finally:
        restarted.stop()


def test_a_kubelet_that_removed_plugin_sockets_gets_fresh_servers(
    make_plugin: PluginFactory, kubelet: FakeKubelet, sockdir: Path, dial: Any
) -> None:
    make_plugin()
    assert kubelet.wait_for(len(ALL_RESOURCES), timeout=5)
    kubelet.stop()
    (sockdir / endpoint_name(GPU)).unlink()  # what a restarting kubelet does to every plugin socket
    restarted = FakeKubelet(sockdir / "kubelet.sock").start()
    try:
        assert restarted.wait_for(len(ALL_RESOURCES), timeout=5)
        first = next(dial(GPU).ListAndWatch(pb.Empty(), timeout=5))
        assert len(first.devices) == 4
    finally:
        restarted.stop()


def test_a_plugin_restart_keeps_the_allocation_map(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any, pods: StaticPodSource
) -> None:
    pods.pods.append(assigned_pod("trainer", GPU, "GPU-sim-1"))
    first = make_plugin(require_assignment=True)
    allocate(dial(GPU), "GPU-sim-1")
    first.stop()

    second = make_plugin(require_assignment=True)
    records = second.store.all()
    assert [(r.pod, r.container, r.device_ids) for r in records] == [
        ("default/trainer", "main", ("GPU-sim-1",))
    ]
    # The served claim is closed: the same devices again is a retry (answered), others are not this pod's.
    assert allocate(dial(GPU), "GPU-sim-1").envs["NVIDIA_VISIBLE_DEVICES"] == "GPU-sim-1"
    with pytest.raises(grpc.RpcError, match="no pending pod"):
        allocate(dial(GPU), "GPU-sim-0")


class SlowPods(StaticPodSource):
    """An API server that takes 200 ms per list: serial Allocates would take 200 ms each."""

    def pods_on_node(self, node: str) -> list[PodInfo]:
        time.sleep(0.2)
        return super().pods_on_node(node)


def test_concurrent_allocates_do_not_block_while_list_and_watch_streams_are_open(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any
) -> None:
    make_plugin(pods=SlowPods())
    streams = [dial(SHARED).ListAndWatch(pb.Empty(), timeout=10) for _ in range(3)]
    for stream in streams:
        next(stream)

    replicas = [f"GPU-sim-{d}::{k}" for d in (5, 6) for k in range(4)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(replicas)) as pool:
        answers = list(pool.map(lambda r: allocate(dial(SHARED), r), replicas))
    elapsed = time.monotonic() - started
    for stream in streams:
        stream.cancel()
    assert [a.envs["NVIDIA_VISIBLE_DEVICES"] for a in answers] == ["GPU-sim-5"] * 4 + ["GPU-sim-6"] * 4
    assert elapsed < 8 * 0.2, f"8 Allocates took {elapsed:.2f} s: they were served one at a time"


def test_an_allocation_contradicting_the_assignment_is_refused_with_a_clear_error(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any, pods: StaticPodSource
) -> None:
    make_plugin()
    pods.pods.append(assigned_pod("trainer", GPU, "GPU-sim-0", container="worker"))
    before = (
        REGISTRY.get_sample_value(
            "motherboard_deviceplugin_allocations_total", {"resource": GPU, "outcome": "refused"}
        )
        or 0.0
    )
    with pytest.raises(grpc.RpcError) as refused:
        allocate(dial(GPU), "GPU-sim-1")
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    message = refused.value.details()
    assert "contradicts the scheduler's device assignment" in message
    assert "default/trainer" in message and "'worker'" in message
    assert "GPU-sim-0" in message and "GPU-sim-1" in message
    assert (
        REGISTRY.get_sample_value(
            "motherboard_deviceplugin_allocations_total", {"resource": GPU, "outcome": "refused"}
        )
        == before + 1
    )


def test_shares_follow_the_assignment_in_preference_and_limits(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any, pods: StaticPodSource
) -> None:
    make_plugin()
    pods.pods.append(assigned_pod("infer", SHARED, "GPU-sim-6", milli=250, memory_mib=5000))
    stub = dial(SHARED)
    replicas = [f"GPU-sim-{d}::{k}" for d in (5, 6) for k in range(4)]
    choice = preferred(stub, replicas, [], 1)
    assert choice == ["GPU-sim-6::0"]  # a replica of the assigned GPU, not the first one offered

    response = allocate(stub, *choice)
    assert response.envs["NVIDIA_VISIBLE_DEVICES"] == "GPU-sim-6"
    assert response.envs["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=5000M"
    assert response.envs["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "25"


def test_an_unplaced_pod_gets_what_the_kubelet_chose_with_a_proportional_share(
    make_plugin: PluginFactory, kubelet: FakeKubelet, dial: Any
) -> None:
    make_plugin()
    response = allocate(dial(SHARED), "GPU-sim-5::1", "GPU-sim-5::2")
    assert response.envs["NVIDIA_VISIBLE_DEVICES"] == "GPU-sim-5"
    assert response.envs["MOTHERBOARD_DEVICE_MEMORY_LIMIT_MIB"] == str(23034 * 2 // 4)
    assert response.envs["MOTHERBOARD_DEVICE_MILLI"] == "500"


def test_node_labels_and_inventory_are_published_and_follow_health(
    make_plugin: PluginFactory, kubelet: FakeKubelet
) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, dict[str, str | None], dict[str, str]]] = []

        def publish(self, node: str, labels: Any, annotations: Any) -> None:
            self.calls.append((node, dict(labels), dict(annotations)))

    from motherboard.devices.model import NodeInventory

    recorder = Recorder()
    plugin = make_plugin(publisher=recorder, site="edge-paris", site_kind="edge")
    node, labels, annotations = recorder.calls[0]
    assert node == NODE
    assert labels["motherboard.io/accelerator-model"] == "A100-80GB"
    assert labels["motherboard.io/accelerator-count"] == "5"
    assert labels["nvidia.com/mig.strategy"] == "mixed"
    assert labels["motherboard.io/driver-version"] == "550.54.15"
    assert labels["motherboard.io/site"] == "edge-paris"
    inventory = NodeInventory.from_node_annotations(annotations)
    assert len(inventory.devices) == 7

    backend = plugin.backend
    assert isinstance(backend, SimulatedBackend)
    backend.set_health("GPU-sim-3", Health.UNHEALTHY)
    deadline = time.monotonic() + 2
    while len(recorder.calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    latest = NodeInventory.from_node_annotations(recorder.calls[-1][2])
    assert {d.id: d.health for d in latest.devices}["GPU-sim-3"] is Health.UNHEALTHY
    assert node == NODE
