"""Ascend and Cambricon backends on recorded ``npu-smi info`` and ``cnmon info`` output."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from motherboard.devices.ascend import AscendBackend, parse_npu_smi
from motherboard.devices.backend import BackendUnavailable, HealthEvent
from motherboard.devices.cambricon import CambriconBackend, parse_cnmon_info
from motherboard.devices.model import Health
from motherboard.devices.tools import Runner, run_tool

FIXTURES = Path(__file__).parent / "fixtures"


def recorded(name: str) -> str:
    return (FIXTURES / name).read_text()


def replay(*outputs: str) -> Runner:
    """A runner answering each call with the next recorded output (the last one repeats)."""
    answers = list(outputs)

    def run(command: list[str]) -> str:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return run


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    for bus, node in [
        ("0000:c1:00.0", "0"),
        ("0000:41:00.0", "1"),
        ("0000:3b:00.0", "0"),
        ("0000:af:00.0", "-1"),
    ]:
        path = tmp_path / "bus" / "pci" / "devices" / bus
        path.mkdir(parents=True)
        (path / "numa_node").write_text(f"{node}\n")
    return tmp_path


def test_910b_rows_become_npus_with_hbm_health_numa_and_one_hccs_domain(sysfs: Path) -> None:
    backend = AscendBackend(node="npu-0", run=replay(recorded("npu-smi-info-910b.txt")), sysfs=sysfs)
    devices = backend.discover()
    assert [d.id for d in devices] == [f"Ascend910-{i}" for i in range(8)]  # the process table is not parsed
    assert {(d.model, d.memory_mib, d.resource) for d in devices} == {
        ("Ascend910B3", 65536, "huawei.com/Ascend910")
    }
    assert [d.health for d in devices].count(Health.UNHEALTHY) == 1
    assert devices[6].health is Health.UNHEALTHY  # Alarm
    assert devices[3].health is Health.HEALTHY  # Warning is degraded, still usable
    assert (devices[0].numa_node, devices[6].numa_node, devices[1].numa_node) == (0, 1, None)
    assert {d.interconnect_domain for d in devices} == {"npu-0-hccs"}
    assert backend.driver_version() == "23.0.6"


def test_310p_rows_use_the_device_column_and_chip_memory() -> None:
    rows = parse_npu_smi(recorded("npu-smi-info-310p.txt"))
    assert [(r.npu, r.chip, r.device, r.health) for r in rows] == [
        (0, 0, 0, "OK"),
        (0, 1, 1, "OK"),
        (32, 0, 2, "OK"),
        (32, 1, 3, "Critical"),
    ]
    devices = AscendBackend(run=replay(recorded("npu-smi-info-310p.txt"))).discover()
    assert [(d.id, d.memory_mib, d.resource) for d in devices][:2] == [
        ("Ascend310P-0", 44280, "huawei.com/Ascend310P"),
        ("Ascend310P-1", 43693, "huawei.com/Ascend310P"),
    ]
    assert devices[3].health is Health.UNHEALTHY
    assert all(d.interconnect_domain is None for d in devices)


def test_ascend_allocation_uses_davinci_nodes_and_visible_devices() -> None:
    backend = AscendBackend(run=replay(recorded("npu-smi-info-910b.txt")))
    backend.discover()
    out = backend.allocate(["Ascend910-2", "Ascend910-5"])
    assert out.envs == {"ASCEND_VISIBLE_DEVICES": "2,5"}
    paths = [d.host_path for d in out.devices]
    assert paths[:2] == ["/dev/davinci2", "/dev/davinci5"]
    assert {"/dev/davinci_manager", "/dev/devmm_svm", "/dev/hisi_hdc"} <= set(paths)
    assert any(m.host_path == "/usr/local/Ascend/driver" and m.read_only for m in out.mounts)


def test_ascend_health_polling_reports_a_chip_going_bad() -> None:
    healthy = recorded("npu-smi-info-910b.txt")
    failing = healthy.replace("| 0     910B3               | OK  ", "| 0     910B3               | Critical")
    backend = AscendBackend(run=replay(healthy, healthy, failing), poll_seconds=0.05)
    backend.discover()
    stop = threading.Event()
    events = backend.watch_health(stop)
    assert next(events) == HealthEvent("Ascend910-0", Health.UNHEALTHY, "reported by the vendor tool")
    stop.set()
    assert list(events) == []


def test_cnmon_cards_become_mlus(sysfs: Path) -> None:
    cards = parse_cnmon_info(recorded("cnmon-info-mlu370.txt"))
    assert cards[0]["Physical Memory Usage/Total"] == "24576 MiB"
    assert cards[1]["Processes/Process/PID"] == "40711"
    backend = CambriconBackend(run=replay(recorded("cnmon-info-mlu370.txt")), sysfs=sysfs)
    devices = backend.discover()
    assert [(d.id, d.index, d.model, d.memory_mib) for d in devices] == [
        ("7a8f3c20-1b44-0000-0000-000000000000", 0, "MLU370-X8", 24576),
        ("7a8f3c20-1b45-0000-0000-000000000000", 1, "MLU370-X8", 24576),
    ]
    assert [d.health for d in devices] == [Health.HEALTHY, Health.UNHEALTHY]
    assert [d.numa_node for d in devices] == [0, None]  # -1 in sysfs: not a NUMA machine
    assert backend.driver_version() == "v5.10.22"
    out = backend.allocate([devices[1].id])
    assert out.envs == {"CAMBRICON_VISIBLE_DEVICES": "1"}
    assert [d.host_path for d in out.devices] == ["/dev/cambricon_dev1", "/dev/cambricon_ctl"]


def test_a_missing_vendor_tool_is_one_clear_line() -> None:
    with pytest.raises(BackendUnavailable) as exc:
        run_tool(["npu-smi-not-installed-here", "info"])
    assert "not found on PATH" in str(exc.value) and "\n" not in str(exc.value)
