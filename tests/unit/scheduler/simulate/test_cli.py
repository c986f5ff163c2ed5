"""``motherboard simulate`` on a small slice of the real trace writes results.json with allocation_ratio."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from motherboard.scheduler.simulate.cli import DEFAULT_NODES, DEFAULT_TRACE, app
from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.packing import inflate, run_packing
from motherboard.scheduler.simulate.trace import load_nodes, load_pods
from motherboard.scheduler.simulate.tracefiles import TraceMissing, trace_file


def test_the_trace_is_where_the_simulator_looks_for_it() -> None:
    # The trace is found through one setting (see tracefiles); without it these tests must fail with the
    # one line that says how to get it, never be skipped.
    assert trace_file(DEFAULT_TRACE.name) == DEFAULT_TRACE and trace_file(DEFAULT_NODES.name) == DEFAULT_NODES


def test_a_missing_trace_says_what_is_missing_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTHERBOARD_TRACES", str(tmp_path))
    with pytest.raises(
        TraceMissing, match=r"openb_pod_list_default.csv is missing: run `make traces`.*MOTHERBOARD_TRACES"
    ):
        trace_file("openb_pod_list_default.csv")
    (tmp_path / "openb_pod_list_default.csv").write_text("name\n")
    assert trace_file("openb_pod_list_default.csv") == tmp_path / "openb_pod_list_default.csv"


def _small_cluster(tmp_path: Path) -> Path:
    lines = DEFAULT_NODES.read_text().splitlines()
    path = tmp_path / "nodes.csv"
    path.write_text("\n".join([lines[0], *lines[1:1214:40]]) + "\n")  # 31 nodes across the models
    return path


def test_simulate_writes_results_json_with_allocation_ratio(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "--trace",
            str(DEFAULT_TRACE),
            "--nodes",
            str(_small_cluster(tmp_path)),
            "--limit",
            "300",
            "--policy",
            "fgd,bestfit",
            "--seeds",
            "42-43",
            "--workers",
            "1",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    for policy in ("fgd", "bestfit"):
        for seed in ("42", "43"):
            run = doc["policies"][policy][seed]
            assert 0 < run["allocation_ratio"] <= 100
            assert run["levels"][-1]["arrived"] >= 100
    assert (out / "allocation.png").stat().st_size > 0
    assert "fgd" in result.output


def test_simulate_reports_a_malformed_trace_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1,1,x,0\n")
    result = CliRunner().invoke(app, ["--trace", str(bad), "--policy", "random", "--workers", "1"])
    assert result.exit_code == 2
    assert f"{bad}:2:4:" in result.output.replace("\n", "")


def test_inflation_keeps_every_original_pod_and_stops_below_the_target(tmp_path: Path) -> None:
    import numpy as np

    pods = [pod_request(p) for p in load_pods(DEFAULT_TRACE)[:200]]
    total = sum(p.gpu_milli for p in pods)
    arrivals = inflate(pods, total, 1.3, np.random.default_rng(1))
    assert {p.name for p in arrivals[: len(pods)]} == {p.name for p in pods}
    assert sum(p.gpu_milli for p in arrivals) <= 1.3 * total


def test_packing_is_deterministic_per_seed(tmp_path: Path) -> None:
    nodes = [node_spec(n) for n in load_nodes(_small_cluster(tmp_path))]
    pods = [pod_request(p) for p in load_pods(DEFAULT_TRACE)[:200]]
    a = run_packing(nodes, pods, "fgd", 7)
    b = run_packing(nodes, pods, "fgd", 7)
    assert a.allocation == b.allocation and a.fragmentation == b.fragmentation
