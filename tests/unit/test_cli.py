"""The command line: version, CRDs and validation, with one-line errors and conventional exit codes."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from motherboard import __version__
from motherboard.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_version_names_the_package_and_api_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output and "motherboard.io/v1alpha1" in result.output


def test_crds_prints_every_crd_as_yaml() -> None:
    result = runner.invoke(app, ["crds"])
    assert result.exit_code == 0
    kinds = [doc["spec"]["names"]["kind"] for doc in yaml.safe_load_all(result.output)]
    assert kinds == ["AIJob", "DevicePool", "Queue", "Model"]


def test_validate_accepts_the_examples() -> None:
    result = runner.invoke(app, ["validate", *map(str, sorted(EXAMPLES.glob("*.yaml")))])
    assert result.exit_code == 0, result.output
    assert "llama-finetune" in result.output


def test_validate_rejects_a_bad_file_with_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "job.yaml"
    bad.write_text(
        "apiVersion: motherboard.io/v1alpha1\nkind: AIJob\nmetadata: {name: j}\n"
        "spec: {tasks: [{name: w, replicas: -2, template: {spec: {containers: [{name: c}]}}}]}\n"
    )
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "spec.tasks[0].replicas" in result.output


def test_validate_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_start_up_imports_no_component() -> None:
    """`motherboard version` and `--help` import no component: they took 1.3–2.4 s when all were loaded."""
    import subprocess
    import sys

    probe = (
        "import sys, motherboard.cli\n"
        "heavy = ['motherboard.scheduler', 'motherboard.operator', 'motherboard.models.compiler', "
        "'motherboard.runtime.server', 'motherboard.api.crdgen', 'aiohttp', 'kubernetes', 'onnx', 'tvm']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_component_is_reached_through_the_lazy_group() -> None:
    from motherboard.cli import _COMPONENTS

    for name in _COMPONENTS:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage: motherboard " + name in " ".join(result.output.split()), name


def test_component_run_commands_stay_sub_commands() -> None:
    # The lazy group folded the operator's lone `run` into the group: `motherboard operator run` failed
    # ("unexpected extra argument (run)") and with it the demo, the operator tests and the fault suite.
    for name in ("operator", "scheduler", "device-plugin"):
        result = runner.invoke(app, [name, "run", "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: motherboard {name} run" in " ".join(result.output.split()), name
