"""``motherboard device-plugin``: configuration, ``discover``, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from motherboard.deviceplugin.cli import app
from motherboard.deviceplugin.config import BackendKind, PluginConfig

from .conftest import SIMULATED_YAML

runner = CliRunner()


def test_discover_prints_resources_labels_and_devices(tmp_path: Path) -> None:
    devices = tmp_path / "devices.yaml"
    devices.write_text(SIMULATED_YAML)
    result = runner.invoke(app, ["discover", "--backend", "simulated", "--simulated-config", str(devices)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["resources"] == {
        "nvidia.com/gpu": 4,
        "nvidia.com/mig-3g.40gb": 1,
        "nvidia.com/mig-1g.10gb": 2,
        "nvidia.com/gpu.shared": 8,
    }
    assert report["labels"]["nvidia.com/gpu.count"] == "5"
    assert len(report["devices"]) == 7


def test_a_missing_vendor_tool_is_one_line_and_exit_1() -> None:
    result = runner.invoke(app, ["discover", "--backend", "ascend"])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "npu-smi not found on PATH" in result.output


def test_an_invalid_configuration_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "plugin.yaml"
    config.write_text("backend: quantum\n")
    result = runner.invoke(app, ["discover", "--config", str(config)])
    assert result.exit_code == 2
    assert "invalid device plugin configuration" in result.output


def test_command_line_values_override_the_file(tmp_path: Path) -> None:
    config = tmp_path / "plugin.yaml"
    config.write_text(
        "nodeName: from-file\nbackend: nvidia\npluginDir: /tmp/plugins\nrequireAssignment: true\n"
    )
    loaded = PluginConfig.load(config, node_name="from-flag", backend=None)
    assert (loaded.node_name, loaded.backend, loaded.require_assignment) == (
        "from-flag",
        BackendKind.NVIDIA,
        True,
    )
    assert loaded.kubelet_socket_path == Path("/tmp/plugins/kubelet.sock")


def test_the_shipped_configurations_are_valid() -> None:
    root = Path(__file__).parents[3] / "device-plugins"
    for vendor in BackendKind:
        loaded = PluginConfig.load(root / vendor.value / "config.yaml", node_name="node-0")
        assert loaded.backend is vendor
    devices = root / "simulated" / "devices.yaml"
    result = runner.invoke(app, ["discover", "--backend", "simulated", "--simulated-config", str(devices)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resources"] == {
        "nvidia.com/mig-3g.40gb": 1,
        "nvidia.com/mig-2g.20gb": 1,
        "nvidia.com/mig-1g.10gb": 1,
        "nvidia.com/gpu": 1,
        "nvidia.com/gpu.shared": 20,
    }
    configmap = list(yaml.safe_load_all((root / "simulated" / "daemonset.yaml").read_text()))[1]
    assert configmap["data"]["devices.yaml"] == devices.read_text()
