"""The NVML backend against patched ``pynvml`` answers for A100 and H100 nodes."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pynvml
import pytest

from motherboard.devices.backend import BackendUnavailable, HealthEvent, ShareLimit
from motherboard.devices.mig import milli, profile_name
from motherboard.devices.model import Health
from motherboard.devices.nvidia import NvmlBackend, normalize_model

from .fake_nvml import A100_80GB_MIB, H100_80GB_MIB, FakeGpu, FakeMig, FakeNvml, a100_mig_layout

BUS = [f"00000000:{b}:00.0" for b in ("07", "0F", "47", "4E", "87", "90", "B7", "BD")]


def a100_node() -> list[FakeGpu]:
    """Two NVLinked A100s (whole), one A100 in MIG mode, one PCIe A100 with no links."""
    return [
        FakeGpu("GPU-a100-0", "NVIDIA A100-SXM4-80GB", A100_80GB_MIB, BUS[0], numa=0, mig=[], nvlinks=[BUS[1]] * 4),
        FakeGpu("GPU-a100-1", "NVIDIA A100-SXM4-80GB", A100_80GB_MIB, BUS[1], numa=0, mig=[], nvlinks=[BUS[0]] * 4),
        FakeGpu(
            "GPU-a100-2", "NVIDIA A100-SXM4-80GB", A100_80GB_MIB, BUS[2], numa=1,
            mig=a100_mig_layout("a100-2"), mig_enabled=True,
        ),
        FakeGpu("GPU-a100-3", "NVIDIA A100 80GB PCIe", A100_80GB_MIB, BUS[3], numa=1, mig=[]),
    ]  # fmt: skip


def h100_node() -> list[FakeGpu]:
    """An HGX H100: eight GPUs on NVSwitches; GPU 7 carries one 7g.80gb MIG device."""
    gpus = [
        FakeGpu(
            f"GPU-h100-{i}",
            "NVIDIA H100 80GB HBM3",
            H100_80GB_MIB,
            BUS[i],
            numa=i // 4,
            mig=[],
            nvlinks=["switch"] * 18,
        )
        for i in range(8)
    ]
    gpus[7].mig = [FakeMig("MIG-h100-7-7g", gi_id=0, gi_slices=7, memory_mb=80896, start=0, size=8)]
    gpus[7].mig_enabled = True
    return gpus


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNvml]:
    yield FakeNvml(a100_node()).install(monkeypatch)


def test_discovers_whole_gpus_mig_devices_and_nvlink_domains(nvml: FakeNvml) -> None:
    backend = NvmlBackend(node="gpu-a100-0")
    devices = {d.id: d for d in backend.discover()}
    assert backend.driver_version() == "550.54.15"

    whole = devices["GPU-a100-0"]
    assert (whole.model, whole.memory_mib, whole.numa_node, whole.resource) == (
        "A100-80GB",
        81920,
        0,
        "nvidia.com/gpu",
    )
    assert not whole.mig_enabled and whole.partitions == ()
    assert (
        whole.interconnect_domain
        == devices["GPU-a100-1"].interconnect_domain
        == "gpu-a100-0-nvlink-00000000:07:00.0"
    )
    assert devices["GPU-a100-3"].interconnect_domain is None  # PCIe card, no NVLink

    mig_gpu = devices["GPU-a100-2"]
    assert mig_gpu.mig_enabled
    slices = [(p.id, p.profile, p.start, p.slices, p.milli, p.memory_mib) for p in mig_gpu.partitions]
    assert slices == [
        ("MIG-a100-2-3g", "3g.40gb", 4, 4, 428, 40192),
        ("MIG-a100-2-1g-a", "1g.10gb", 0, 1, 142, 9856),
        ("MIG-a100-2-1g-b", "1g.10gb", 1, 1, 142, 9856),
    ]


def test_h100_hgx_gpus_share_one_nvswitch_domain_and_a_7g_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    FakeNvml(h100_node()).install(monkeypatch)
    devices = NvmlBackend(node="gpu-h100-0").discover()
    assert {d.model for d in devices} == {"H100-80GB"}
    assert len({d.interconnect_domain for d in devices}) == 1
    assert [d.numa_node for d in devices] == [0, 0, 0, 0, 1, 1, 1, 1]
    (slice7,) = devices[7].partitions
    assert (slice7.profile, slice7.milli, slice7.memory_mib) == ("7g.80gb", 1000, 80896)


def test_critical_xid_makes_the_gpu_unhealthy_and_application_xids_do_not(nvml: FakeNvml) -> None:
    backend = NvmlBackend()
    backend.discover()
    stop = threading.Event()
    events = backend.watch_health(stop)
    nvml.xid(nvml.gpus[1], 13)  # graphics engine exception: the application's fault
    nvml.xid(nvml.gpus[1], 79)  # fallen off the bus
    assert next(events) == HealthEvent("GPU-a100-1", Health.UNHEALTHY, "Xid 79")
    nvml.xid(nvml.gpus[2], 94, gi_id=9)  # contained ECC error inside one MIG device
    assert next(events) == HealthEvent("MIG-a100-2-1g-a", Health.UNHEALTHY, "Xid 94")
    stop.set()
    assert list(events) == []
    assert nvml.freed


def test_a_gpu_that_cannot_be_watched_is_reported_unhealthy(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = a100_node()
    gpus[0].register_error = pynvml.NVML_ERROR_UNKNOWN
    gpus[3].register_error = pynvml.NVML_ERROR_NOT_SUPPORTED  # merely unwatched, not unhealthy
    FakeNvml(gpus).install(monkeypatch)
    backend = NvmlBackend()
    backend.discover()
    stop = threading.Event()
    events = backend.watch_health(stop)
    first = next(events)
    assert (first.device_id, first.health) == ("GPU-a100-0", Health.UNHEALTHY)
    stop.set()
    assert list(events) == []


def test_allocation_exposes_uuids_through_env_and_cdi(nvml: FakeNvml) -> None:
    backend = NvmlBackend()
    backend.discover()
    out = backend.allocate(["GPU-a100-0", "MIG-a100-2-3g"])
    assert out.envs == {"NVIDIA_VISIBLE_DEVICES": "GPU-a100-0,MIG-a100-2-3g"}
    assert out.cdi_devices == ["nvidia.com/gpu=GPU-a100-0", "nvidia.com/gpu=MIG-a100-2-3g"]
    shared = backend.allocate(["GPU-a100-3"], ShareLimit(memory_mib=20480, milli=250))
    assert shared.envs["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=20480M"
    with pytest.raises(KeyError, match="GPU-nope"):
        backend.allocate(["GPU-nope"])


def test_preferred_allocation_keeps_a_pair_on_its_nvlink_domain(nvml: FakeNvml) -> None:
    backend = NvmlBackend()
    backend.discover()
    assert backend.preferred_allocation(["GPU-a100-3", "GPU-a100-0", "GPU-a100-1"], [], 2) == [
        "GPU-a100-0",
        "GPU-a100-1",
    ]


def test_a_machine_without_a_driver_gets_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_library() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_library)
    with pytest.raises(BackendUnavailable) as exc:
        NvmlBackend().discover()
    message = str(exc.value)
    assert "NVML could not start" in message and "\n" not in message


@pytest.mark.parametrize(
    ("gi", "ci", "memory", "total", "name"),
    [
        (1, 1, 9856, A100_80GB_MIB, "1g.10gb"),
        (3, 3, 40192, A100_80GB_MIB, "3g.40gb"),
        (7, 7, 80768, A100_80GB_MIB, "7g.80gb"),
        (1, 1, 9984, H100_80GB_MIB, "1g.10gb"),
        (3, 1, 40192, A100_80GB_MIB, "1c.3g.40gb"),
        (1, 1, 4864, 40960, "1g.5gb"),  # A100-40GB
    ],
)
def test_mig_profile_names_follow_nvidia_rounding(
    gi: int, ci: int, memory: int, total: int, name: str
) -> None:
    assert profile_name(gi, ci, memory, total) == name


def test_mig_shares_round_down() -> None:
    assert (milli(1), milli(3), milli(7), milli(1, max_slices=4)) == (142, 428, 1000, 250)


@pytest.mark.parametrize(
    ("raw", "model"),
    [("NVIDIA A100-SXM4-80GB", "A100-80GB"), ("NVIDIA H100 80GB HBM3", "H100-80GB"), ("NVIDIA L4", "L4")],
)
def test_product_names_are_normalized(raw: str, model: str) -> None:
    assert normalize_model(raw) == model
