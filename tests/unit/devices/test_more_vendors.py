"""AMD, Kunlunxin and MetaX backends on tool output published by the vendors and their users.

Fixture sources (verbatim tool output, nothing edited):

- ``amd-smi-static-mi300a.txt``: ``amd-smi static`` on an MI300A (SPX/NPS1), the sample output in
  ROCm/amdsmi ``docs/how-to/amdsmi-cli-tool.md`` ("Example output from amd-smi static").
- ``amd-smi-list-mi300x-cpx.csv`` and ``amd-smi-static-partition-mi300x-cpx.txt``: ``amd-smi list --csv``
  and ``amd-smi static --partition`` on an 8 x MI300X node in CPX/NPS1 (64 logical GPUs, the tool's own
  ``...`` elisions kept), from the ROCm blog "Deep dive into MI300 compute and memory partition modes"
  (rocm.blogs.amd.com/software-tools-optimization/compute-memory-modes).
- ``xpu-smi-L-p800.txt``: ``xpu-smi -L`` on an 8 x Kunlunxin P800 OAM server, from a public P800
  environment survey (2026-09-14, "昆仑芯 P800 基础环境汇总"); the same survey gives 98304 MiB per card and
  the ``xpu-smi topo -m`` grouping (XL links inside XPU 0-3 and 4-7).
- ``mx-smi-mxc500.txt``: ``mx-smi`` on 4 x MetaX MXC500, from wang-junjian.github.io
  ``_posts/2025-02-13-Performance-Stress-Testing-of-the-MuXin-MXC500-for-Large-Model-Inference.markdown``.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from motherboard.api.partitions import KNOWN_AMD_PARTITIONS, amd_partition
from motherboard.deviceplugin.resources import counts
from motherboard.devices.amd import AmdBackend, parse_amd_smi_list, parse_amd_smi_static
from motherboard.devices.backend import DeviceBackend
from motherboard.devices.kunlunxin import KunlunxinBackend, parse_xpu_smi_list
from motherboard.devices.labels import node_labels
from motherboard.devices.metax import MetaxBackend, parse_mx_smi
from motherboard.devices.model import Health, Vendor
from motherboard.devices.simulated import SimulatedBackend, SimulatedConfig
from motherboard.devices.tools import Runner

FIXTURES = Path(__file__).parent / "fixtures"
MI300X_0 = "c0ff74a1-0000-1000-80b1-06985c515c91"
MI300X_7 = "bbff74a1-0000-1000-80b0-9363b4d6f06e"


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def by_command(answers: dict[str, str]) -> Runner:
    """A runner answering each command (joined by spaces) with its recorded output; others fail the test."""

    def run(command: list[str]) -> str:
        return answers[" ".join(command)]

    return run


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    for bus, node in [
        ("0000:05:00.0", "0"),
        ("0000:0e:00.0", "1"),
        ("0000:0c:00.0", "0"),
        ("0000:df:00.0", "1"),
    ]:
        path = tmp_path / "bus" / "pci" / "devices" / bus
        path.mkdir(parents=True)
        (path / "numa_node").write_text(f"{node}\n")
    return tmp_path


# --- AMD -------------------------------------------------------------------------------------------------
def test_amd_smi_static_is_parsed_into_sections_per_gpu_and_cpu_blocks_are_skipped() -> None:
    static = parse_amd_smi_static(recorded("amd-smi-static-mi300a.txt"))
    assert list(static) == [0]
    gpu = static[0]
    assert gpu["ASIC/MARKET_NAME"] == "AMD Instinct MI300A"
    assert gpu["ASIC/TARGET_GRAPHICS_VERSION"] == "gfx942"
    assert gpu["BUS/BDF"] == "0000:01:00.0"
    assert gpu["VRAM/SIZE"] == "96434 MB"
    assert (gpu["PARTITION/COMPUTE_PARTITION"], gpu["PARTITION/MEMORY_PARTITION"]) == ("SPX", "NPS1")
    assert gpu["NUMA/NODE"] == "0"
    assert gpu["CLOCK/SYS/FREQUENCY_LEVELS/LEVEL 1"] == "903 MHz"
    assert "SMU/FW_VERSION" not in gpu  # the CPU block's


def test_an_spx_mi300a_is_one_whole_gpu_with_its_memory_numa_node_and_driver() -> None:
    backend = AmdBackend(
        node="mi300a-0",
        run=by_command(
            {
                "amd-smi static": recorded("amd-smi-static-mi300a.txt"),
                # amd-smi list on that machine was not published: its one GPU, at the BDF static reports.
                "amd-smi list --csv": "gpu,gpu_bdf,gpu_uuid\n0,0000:01:00.0,\n",
            }
        ),
    )
    (device,) = backend.discover()
    assert (device.id, device.vendor, device.model, device.memory_mib) == (
        "AMD-0000:01:00.0",
        Vendor.AMD,
        "MI300A",
        96434,
    )
    assert (device.resource, device.numa_node, device.interconnect_domain) == (
        "amd.com/gpu",
        0,
        "mi300a-0-xgmi",
    )
    assert not device.mig_enabled and device.partitions == ()
    assert backend.driver_version() == "6.10.10"
    out = backend.allocate([device.id])
    assert [n.host_path for n in out.devices] == ["/dev/kfd", "/dev/dri/renderD128"]
    assert out.envs == {"AMD_VISIBLE_DEVICES": "0"}


@pytest.fixture
def cpx_node(sysfs: Path) -> AmdBackend:
    return AmdBackend(
        node="mi300x-0",
        sysfs=sysfs,
        run=by_command(
            {
                "amd-smi list --csv": recorded("amd-smi-list-mi300x-cpx.csv"),
                "amd-smi static": recorded("amd-smi-static-partition-mi300x-cpx.txt"),
            }
        ),
    )


def test_cpx_logical_gpus_group_by_uuid_into_gpus_with_eight_cpx_nps1_partitions(
    cpx_node: AmdBackend,
) -> None:
    logical = parse_amd_smi_list(recorded("amd-smi-list-mi300x-cpx.csv"))
    assert [g.gpu for g in logical] == [*range(8), *range(56, 64)]  # the tool elided 8..55 with "..."

    first, last = cpx_node.discover()
    assert (first.id, last.id) == (MI300X_0, MI300X_7)
    assert (first.numa_node, last.numa_node) == (0, 1)  # from sysfs by BDF
    for device in (first, last):
        assert device.mig_enabled
        assert [p.profile for p in device.partitions] == ["cpx_nps1"] * 8
        assert {p.milli for p in device.partitions} == {125}  # one XCD of eight
        assert [p.start for p in device.partitions] == list(range(8))
    # GPU 0's block says CPX/NPS1; GPUs 56-63 were elided and take the node's mode.
    assert last.partitions[3].id == f"{MI300X_7}-gpu59"
    assert last.device_paths == tuple(f"/dev/dri/renderD{128 + g}" for g in range(56, 64))
    labels = node_labels([first, last])
    assert (labels["motherboard.io/accelerator-vendor"], labels["amd.com/compute-memory-partition"]) == (
        "amd",
        "cpx_nps1",
    )


def test_a_partition_gets_kfd_and_its_own_render_node_a_whole_partitioned_gpu_all_eight(
    cpx_node: AmdBackend,
) -> None:
    first, last = cpx_node.discover()
    one = cpx_node.allocate([last.partitions[3].id])
    assert [n.host_path for n in one.devices] == ["/dev/kfd", "/dev/dri/renderD187"]
    assert one.envs["AMD_VISIBLE_DEVICES"] == "59"
    two = cpx_node.allocate([first.partitions[0].id, first.partitions[1].id])
    assert two.envs["AMD_VISIBLE_DEVICES"] == "0,1"
    with pytest.raises(KeyError, match="unknown device ids: nope"):
        cpx_node.allocate(["nope"])


def test_a_logical_gpu_vanishing_from_amd_smi_marks_its_partition_unhealthy(sysfs: Path) -> None:
    listing = recorded("amd-smi-list-mi300x-cpx.csv")
    without_5 = "\n".join(line for line in listing.splitlines() if not line.startswith("5,"))
    listings = [listing, listing, without_5]  # discover, the watcher's first look, then GPU 5 is gone

    def run(command: list[str]) -> str:
        if command == ["amd-smi", "static"]:
            return recorded("amd-smi-static-partition-mi300x-cpx.txt")
        return listings.pop(0) if len(listings) > 1 else listings[0]

    backend = AmdBackend(node="n", sysfs=sysfs, run=run, poll_seconds=0.05)
    backend.discover()
    stop = threading.Event()
    event = next(backend.watch_health(stop))
    stop.set()
    assert (event.device_id, event.health) == (f"{MI300X_0}-gpu5", Health.UNHEALTHY)


def test_partition_catalogue_names_each_mode_and_refuses_unknown_ones_with_the_list() -> None:
    assert amd_partition("cpx_nps4", "MI300X").milli == 125
    assert amd_partition("cpx_nps1", "MI300A").per_gpu == 6
    assert "cpx_nps4" in KNOWN_AMD_PARTITIONS
    with pytest.raises(KeyError, match="on MI300A; known: spx_nps1, tpx_nps1, cpx_nps1"):
        amd_partition("cpx_nps4", "MI300A")


# --- Kunlunxin -------------------------------------------------------------------------------------------
def test_xpu_smi_list_gives_eight_p800s_in_two_xpu_link_groups() -> None:
    rows = parse_xpu_smi_list(recorded("xpu-smi-L-p800.txt"))
    assert [(r.index, r.name) for r in rows] == [(i, "P800 OAM") for i in range(8)]
    backend = KunlunxinBackend(node="p800-0", run=by_command({"xpu-smi -L": recorded("xpu-smi-L-p800.txt")}))
    devices = backend.discover()
    assert devices[1].id == "GPU-b3509946-0bc6-5744-bd7c-a0b87dadef02"
    assert {(d.vendor, d.model, d.memory_mib, d.resource) for d in devices} == {
        (Vendor.KUNLUNXIN, "P800-OAM", 98304, "kunlunxin.com/xpu")
    }
    assert [d.interconnect_domain for d in devices] == ["p800-0-xl0"] * 4 + ["p800-0-xl1"] * 4
    ids = [d.id for d in devices]
    # Four of 0,1,4,5,6,7: the group with room for all four (4-7), not 2 + 2 across the SYS link.
    assert backend.preferred_allocation([ids[i] for i in (0, 1, 4, 5, 6, 7)], [], 4) == ids[4:8]
    out = backend.allocate([ids[2], ids[3]])
    assert [n.host_path for n in out.devices] == ["/dev/xpu2", "/dev/xpu3", "/dev/xpuctrl"]
    assert out.envs == {"XPU_VISIBLE_DEVICES": "2,3"}
    assert node_labels(devices)["motherboard.io/accelerator-vendor"] == "kunlunxin"


# --- MetaX -----------------------------------------------------------------------------------------------
def test_mx_smi_table_gives_four_mxc500s_with_memory_bus_numa_and_driver(sysfs: Path) -> None:
    rows = parse_mx_smi(recorded("mx-smi-mxc500.txt"))
    assert [(r.index, r.name, r.bus_id, r.memory_mib) for r in rows] == [
        (0, "MXC500", "0000:05:00.0", 65536),
        (1, "MXC500", "0000:08:00.0", 65536),
        (2, "MXC500", "0000:0e:00.0", 65536),
        (3, "MXC500", "0000:0f:00.0", 65536),
    ]  # the process table is not parsed
    backend = MetaxBackend(run=by_command({"mx-smi": recorded("mx-smi-mxc500.txt")}), sysfs=sysfs)
    devices = backend.discover()
    assert [d.id for d in devices] == [
        "METAX-0000-05-00.0",
        "METAX-0000-08-00.0",
        "METAX-0000-0e-00.0",
        "METAX-0000-0f-00.0",
    ]
    assert [d.numa_node for d in devices] == [0, None, 1, None]
    assert {d.resource for d in devices} == {"metax-tech.com/gpu"}
    assert backend.driver_version() == "2.5.014"
    out = backend.allocate([devices[2].id])
    assert [n.host_path for n in out.devices] == ["/dev/mxcd", "/dev/dri/card2", "/dev/dri/renderD130"]
    assert out.envs == {"METAX_VISIBLE_DEVICES": "2"}


def test_every_new_backend_satisfies_the_protocol() -> None:
    backends: list[DeviceBackend] = [AmdBackend(), KunlunxinBackend(), MetaxBackend()]
    assert all(isinstance(b, DeviceBackend) for b in backends)
    assert [b.vendor for b in backends] == [Vendor.AMD, Vendor.KUNLUNXIN, Vendor.METAX]


# --- simulated devices of the new vendors ----------------------------------------------------------------
def test_simulated_amd_xpu_and_metax_devices_take_their_vendor_resources_and_partitions() -> None:
    config = SimulatedConfig.model_validate(
        {
            "devices": [
                {"model": "MI300X", "count": 2, "memoryMiB": 196608, "migLayouts": [["cpx_nps1"], []]},
                {"model": "P800-OAM", "count": 2, "memoryMiB": 98304},
                {"model": "MXC500", "count": 1, "memoryMiB": 65536},
            ]
        }
    )
    backend = SimulatedBackend(config)
    devices = backend.discover()
    assert [(d.id, d.vendor) for d in devices] == [
        ("GPU-sim-0", Vendor.AMD),
        ("GPU-sim-1", Vendor.AMD),
        ("XPU-sim-2", Vendor.KUNLUNXIN),
        ("XPU-sim-3", Vendor.KUNLUNXIN),
        ("GPU-sim-4", Vendor.METAX),
    ]
    assert counts(devices) == {
        "amd.com/cpx_nps1": 8,
        "amd.com/gpu": 1,
        "kunlunxin.com/xpu": 2,
        "metax-tech.com/gpu": 1,
    }
    assert {(p.milli, p.memory_mib) for p in devices[0].partitions} == {(125, 24576)}
    assert backend.allocate(["XPU-sim-3"]).envs == {
        "XPU_VISIBLE_DEVICES": "3",
        "MOTHERBOARD_SIMULATED": "true",
    }
    assert backend.allocate(["XCP-sim-0-5"]).envs["AMD_VISIBLE_DEVICES"] == "5"
