"""The plugin over the AMD, Kunlunxin and MetaX backends (recorded tool output) against the kubelet double.

Each vendor's resources are registered under its own device plugin's names, listed with their ids, and an
Allocate for the scheduler's exact choice returns that vendor's device nodes and environment. The tool
output is the published output described in ``tests/unit/devices/test_more_vendors.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from motherboard.deviceplugin.config import PluginConfig
from motherboard.deviceplugin.plugin import DevicePlugin
from motherboard.deviceplugin.pods import StaticPodSource
from motherboard.deviceplugin.proto import pb
from motherboard.devices.amd import AmdBackend
from motherboard.devices.backend import DeviceBackend
from motherboard.devices.kunlunxin import KunlunxinBackend
from motherboard.devices.metax import MetaxBackend

from .conftest import NODE, FakeKubelet, assigned_pod

FIXTURES = Path(__file__).parents[1] / "devices" / "fixtures"
MI300X_0 = "c0ff74a1-0000-1000-80b1-06985c515c91"


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def amd_cpx() -> DeviceBackend:
    answers = {
        "amd-smi list --csv": recorded("amd-smi-list-mi300x-cpx.csv"),
        "amd-smi static": recorded("amd-smi-static-partition-mi300x-cpx.txt"),
    }
    return AmdBackend(node=NODE, run=lambda command: answers[" ".join(command)])


def kunlunxin_p800() -> DeviceBackend:
    return KunlunxinBackend(node=NODE, run=lambda command: recorded("xpu-smi-L-p800.txt"))


def metax_c500() -> DeviceBackend:
    return MetaxBackend(run=lambda command: recorded("mx-smi-mxc500.txt"))


@pytest.fixture
def serve(sockdir: Path, pods: StaticPodSource) -> Iterator[Callable[[DeviceBackend], DevicePlugin]]:
    started: list[DevicePlugin] = []

    def start(backend: DeviceBackend) -> DevicePlugin:
        config = PluginConfig(node_name=NODE, plugin_dir=sockdir, state_file=sockdir / "state.json")
        plugin = DevicePlugin(backend, config, pods, None)
        started.append(plugin.start())
        return plugin

    yield start
    for plugin in started:
        plugin.stop()


def listed(dial: Any, resource: str) -> list[str]:
    stream = dial(resource).ListAndWatch(pb.Empty(), timeout=10)
    ids = [d.ID for d in next(stream).devices]
    stream.cancel()
    return ids


def allocate(dial: Any, resource: str, *ids: str) -> Any:
    request = pb.AllocateRequest(container_requests=[pb.ContainerAllocateRequest(devices_ids=list(ids))])
    return dial(resource).Allocate(request, timeout=5).container_responses[0]


def test_amd_compute_partitions_register_as_amd_cpx_nps1_and_allocate_their_render_node(
    serve: Callable[[DeviceBackend], DevicePlugin], kubelet: FakeKubelet, dial: Any, pods: StaticPodSource
) -> None:
    serve(amd_cpx())
    assert kubelet.wait_for(1, timeout=5)
    assert {r.resource_name for r in kubelet.requests} == {
        "amd.com/cpx_nps1"
    }  # a partitioned GPU is not whole
    ids = listed(dial, "amd.com/cpx_nps1")
    assert len(ids) == 16 and ids[:2] == [f"{MI300X_0}-gpu0", f"{MI300X_0}-gpu1"]

    pods.pods.append(
        assigned_pod("infer", "amd.com/cpx_nps1", f"{MI300X_0}-gpu1", parent=MI300X_0, milli=125)
    )
    response = allocate(dial, "amd.com/cpx_nps1", f"{MI300X_0}-gpu1")
    assert [d.host_path for d in response.devices] == ["/dev/kfd", "/dev/dri/renderD129"]
    assert response.envs["AMD_VISIBLE_DEVICES"] == "1"


@pytest.mark.parametrize(
    ("backend", "resource", "count", "env", "nodes"),
    [
        (kunlunxin_p800, "kunlunxin.com/xpu", 8, ("XPU_VISIBLE_DEVICES", "0"), ["/dev/xpu0", "/dev/xpuctrl"]),
        (
            metax_c500,
            "metax-tech.com/gpu",
            4,
            ("METAX_VISIBLE_DEVICES", "0"),
            ["/dev/mxcd", "/dev/dri/card0", "/dev/dri/renderD128"],
        ),
    ],
)
def test_whole_devices_register_under_the_vendor_resource_and_allocate_their_nodes(
    serve: Callable[[DeviceBackend], DevicePlugin],
    kubelet: FakeKubelet,
    dial: Any,
    pods: StaticPodSource,
    backend: Callable[[], DeviceBackend],
    resource: str,
    count: int,
    env: tuple[str, str],
    nodes: list[str],
) -> None:
    serve(backend())
    assert kubelet.wait_for(1, timeout=5)
    assert {r.resource_name for r in kubelet.requests} == {resource}
    ids = listed(dial, resource)
    assert len(ids) == count
    pods.pods.append(assigned_pod("job", resource, ids[0]))
    response = allocate(dial, resource, ids[0])
    assert response.envs[env[0]] == env[1]
    assert [d.host_path for d in response.devices] == nodes
