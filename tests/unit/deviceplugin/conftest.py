"""A fake kubelet and a running plugin over real unix sockets, for the device plugin tests."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import pytest

from motherboard.api.assignment import AssignedDevice, ContainerAssignment, DeviceAssignment
from motherboard.deviceplugin.config import PluginConfig
from motherboard.deviceplugin.plugin import DevicePlugin
from motherboard.deviceplugin.pods import PodInfo, StaticPodSource
from motherboard.deviceplugin.proto import grpc_stubs, pb
from motherboard.deviceplugin.server import endpoint_name
from motherboard.devices.simulated import SimulatedBackend

NODE = "sim-node-0"

SIMULATED_YAML = """\
driverVersion: "550.54.15"
devices:
  - {vendor: nvidia, model: A100-80GB, count: 2, memoryMiB: 81920, interconnectDomain: nvl-a, numaNode: 0}
  - {vendor: nvidia, model: A100-80GB, count: 2, memoryMiB: 81920, interconnectDomain: nvl-b, numaNode: 1}
  - {model: A100-80GB, count: 1, memoryMiB: 81920, migLayouts: [[3g.40gb, 1g.10gb, 1g.10gb]]}
  - {vendor: nvidia, model: L4, count: 2, memoryMiB: 23034, shareReplicas: 4, numaNode: 1}
"""
# Ids: GPU-sim-0..3 whole (0,1 on nvl-a; 2,3 on nvl-b); GPU-sim-4 MIG (MIG-sim-4-0 3g, -1 and -2 1g);
# GPU-sim-5, GPU-sim-6 shared, replicas GPU-sim-5::0..3 and GPU-sim-6::0..3.


class FakeKubelet:
    """The kubelet's ``Registration`` service on ``kubelet.sock``; records every registration."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.requests: list[Any] = []
        self._cond = threading.Condition()
        self._server: Any = None

    def start(self) -> FakeKubelet:
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        grpc_stubs.add_RegistrationServicer_to_server(self, self._server)
        self._server.add_insecure_port(f"unix://{self.socket}")
        self._server.start()
        return self

    def Register(self, request: Any, context: Any) -> Any:  # noqa: N802 - the gRPC method name
        with self._cond:
            self.requests.append(request)
            self._cond.notify_all()
        return pb.Empty()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= count, timeout)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(0).wait()
            self._server = None
        self.socket.unlink(missing_ok=True)


def assigned_pod(name: str, resource: str, *ids: str, container: str = "main", **device: Any) -> PodInfo:
    """A pending pod on NODE whose annotation assigns ``ids`` of ``resource`` to ``container``."""
    assignment = DeviceAssignment(
        node=NODE,
        containers=(
            ContainerAssignment(
                name=container, resource=resource, devices=tuple(AssignedDevice(id=i, **device) for i in ids)
            ),
        ),
    )
    return PodInfo("default", name, f"uid-{name}", assignment.annotations(), created=time.time())


OUR_THREADS = ("health", "kubelet-watcher", "mb-")


@pytest.fixture(autouse=True)
def no_threads_left_behind() -> Iterator[None]:
    """Every plugin thread (health, watcher, gRPC workers) must be gone once a test's fixtures are down."""
    yield
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate() if t.name.startswith(OUR_THREADS)]
        if not left:
            return
        time.sleep(0.05)
    pytest.fail(f"threads still running after the test: {left}")


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # Unix socket paths are limited to 107 bytes: pytest's tmp_path is too deep for them.
    path = Path(tempfile.mkdtemp(prefix="mb-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def kubelet(sockdir: Path) -> Iterator[FakeKubelet]:
    fake = FakeKubelet(sockdir / "kubelet.sock").start()
    yield fake
    fake.stop()


@pytest.fixture
def sim_file(sockdir: Path) -> Path:
    path = sockdir / "devices.yaml"
    path.write_text(SIMULATED_YAML)
    return path


@pytest.fixture
def pods() -> StaticPodSource:
    return StaticPodSource()


PluginFactory = Callable[..., DevicePlugin]


@pytest.fixture
def make_plugin(sockdir: Path, sim_file: Path, pods: StaticPodSource) -> Iterator[PluginFactory]:
    """Start plugins on the simulated devices; every plugin started is stopped at the end."""
    started: list[DevicePlugin] = []

    def make(**overrides: Any) -> DevicePlugin:
        publisher = overrides.pop("publisher", None)
        source = overrides.pop("pods", pods)
        config = PluginConfig(
            node_name=NODE, plugin_dir=sockdir, state_file=sockdir / "state.json", **overrides
        )
        plugin = DevicePlugin(SimulatedBackend(sim_file), config, source, publisher)
        started.append(plugin.start())
        return plugin

    yield make
    for plugin in started:
        plugin.stop()


@pytest.fixture
def dial(sockdir: Path) -> Iterator[Callable[[str], Any]]:
    """A ``DevicePlugin`` client stub for a resource's socket; channels are closed at the end."""
    channels: list[grpc.Channel] = []

    def connect(resource: str) -> Any:
        channel = grpc.insecure_channel(f"unix://{sockdir / endpoint_name(resource)}")
        channels.append(channel)
        return grpc_stubs.DevicePluginStub(channel)

    yield connect
    for channel in channels:
        channel.close()
