"""`dev-cluster` commands fail with one clear line and a non-zero exit code when there is nothing to use."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from motherboard.devcluster.cli import app

runner = CliRunner()


def test_kubeconfig_and_status_without_a_cluster(tmp_path: Path) -> None:
    for command in (["kubeconfig"], ["status"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exit_code == 1, result.output
        assert "dev-cluster up" in result.output and len(result.output.strip().splitlines()) <= 2


def test_down_without_a_cluster_is_a_no_op(tmp_path: Path) -> None:
    result = runner.invoke(app, ["down", "--state-dir", str(tmp_path)])
    assert result.exit_code == 0 and "no dev cluster was running" in result.output


def test_up_with_an_invalid_profile_names_the_field_and_starts_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: ClusterProfile\nname: bad\nsites:\n- name: c\n  kind: central\n  region: r\n  nodeGroups:\n"
        "  - {name: g, count: 1, cpu: 8, memoryGiB: 8, devices: {model: T4, count: 1, migLayouts: [[1g.10gb]]}}\n"
    )
    result = runner.invoke(app, ["up", "--profile", str(bad), "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    assert "sites.0.nodeGroups.0.devices" in result.output and "does not support MIG" in result.output
    assert not (tmp_path / "state").exists()


def test_up_with_a_missing_profile(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["up", "--profile", str(tmp_path / "nope.yaml"), "--state-dir", str(tmp_path)]
    )
    assert result.exit_code == 1 and "does not exist" in result.output
