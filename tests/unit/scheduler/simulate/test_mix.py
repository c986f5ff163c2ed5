"""Workload-mix families: counts and shares as specified, the same list for the same seed, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from motherboard.scheduler.simulate.cli import DEFAULT_NODES, DEFAULT_TRACE, app
from motherboard.scheduler.simulate.convert import node_spec, pod_request
from motherboard.scheduler.simulate.mix import LEVELS, Mix, MixError, composition, generate, to_csv
from motherboard.scheduler.simulate.packing import inflate, run_packing
from motherboard.scheduler.simulate.trace import load_nodes, load_pods
from motherboard.scheduler.simulate.tracefiles import trace_file

BASE = load_pods(DEFAULT_TRACE)
POOL = load_pods(trace_file("openb_pod_list_gpuspec20.csv"))
DEFAULT = composition(BASE)


@pytest.mark.parametrize("k", LEVELS["cpu"])
def test_cpu_family_scales_the_cpu_only_pods_and_keeps_the_gpu_pods(k: float) -> None:
    pods = generate(BASE, Mix(cpu=k), 42)
    c = composition(pods)
    assert c["cpu_only"] == round(k * DEFAULT["cpu_only"])
    assert c["gpu_pods"] == DEFAULT["gpu_pods"] and c["gpu_demand_milli"] == DEFAULT["gpu_demand_milli"]
    # The CPU-only pods are the list's own (drawn, never invented).
    shapes = {(p.cpu_milli, p.memory_mib) for p in BASE if p.num_gpu == 0}
    assert all((p.cpu_milli, p.memory_mib) in shapes for p in pods if p.num_gpu == 0)


@pytest.mark.parametrize("s", LEVELS["share"])
def test_share_family_sets_the_fractional_share_of_gpu_pods_by_count(s: float) -> None:
    c = composition(generate(BASE, Mix(share=s), 43))
    assert c["gpu_pods"] == DEFAULT["gpu_pods"] and c["cpu_only"] == DEFAULT["cpu_only"]
    assert c["share"] == pytest.approx(round(s * DEFAULT["gpu_pods"]) / DEFAULT["gpu_pods"])


@pytest.mark.parametrize("s", LEVELS["spec"])
def test_spec_family_constrains_that_share_of_gpu_pods_with_the_upstream_constraints(s: float) -> None:
    pods = generate(BASE, Mix(spec=s), 44, POOL)
    c = composition(pods)
    assert c["spec"] == pytest.approx(round(s * DEFAULT["gpu_pods"]) / DEFAULT["gpu_pods"])
    assert not any(p.gpu_spec for p in pods if p.num_gpu == 0)
    observed = {p.gpu_spec for p in POOL if p.gpu_spec}
    assert {p.gpu_spec for p in pods if p.gpu_spec} <= observed
    # Only the constraint changes: the requests are the default list's, pod for pod.
    assert sorted((p.cpu_milli, p.num_gpu, p.gpu_milli) for p in pods) == sorted(
        (p.cpu_milli, p.num_gpu, p.gpu_milli) for p in BASE
    )


@pytest.mark.parametrize("s", LEVELS["multi"])
def test_multi_family_appends_multi_gpu_pods_until_they_hold_that_share_of_gpu_demand(s: float) -> None:
    pods = generate(BASE, Mix(multi=s), 45)
    c = composition(pods)
    biggest = max(p.total_gpu_milli for p in BASE if p.num_gpu > 1)
    # Reached, and passed by less than one pod's demand.
    assert s <= c["multi_demand"] < s + biggest / c["gpu_demand_milli"]
    assert c["cpu_only"] == DEFAULT["cpu_only"]
    assert c["gpu_pods"] - DEFAULT["gpu_pods"] == c["pods"] - DEFAULT["pods"] > 0


def test_multi_fifty_percent_matches_the_size_of_the_upstream_list() -> None:
    # Upstream openb_pod_list_multigpu50.csv holds 9,061 pods; the same recipe gives about as many.
    assert abs(len(generate(BASE, Mix(multi=0.5), 42)) - 9061) < 120


@pytest.mark.parametrize("text", ["cpu=2.5", "share=0.6", "spec=20%", "multi=0.5", "cpu=2,spec=0.2"])
def test_a_mix_is_deterministic_per_seed_and_differs_between_seeds(text: str) -> None:
    mix = Mix.parse(text)
    a, b, c = generate(BASE, mix, 7, POOL), generate(BASE, mix, 7, POOL), generate(BASE, mix, 8, POOL)
    assert a == b
    assert a != c
    assert len({p.name for p in a}) == len(a)  # renamed: no two pods share a name


def test_combined_families_hold_each_share() -> None:
    c = composition(generate(BASE, Mix.parse("cpu=2,spec=0.2"), 1, POOL))
    assert c["cpu_only"] == 2 * DEFAULT["cpu_only"]
    assert c["spec"] == pytest.approx(round(0.2 * DEFAULT["gpu_pods"]) / DEFAULT["gpu_pods"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cpu=9", r"cpu=9 is out of range; cpu is a multiple of the base list's CPU-only pods from 0 to 3"),
        ("gpu=0.5", r"'gpu=0.5' is not family=level; families: cpu, share, spec, multi"),
        ("share=lots", r"share='lots' is not a number"),
        ("cpu=1,cpu=2", r"cpu is given twice"),
        ("", r"empty"),
    ],
)
def test_bad_mix_text_names_the_part_and_the_fix(text: str, message: str) -> None:
    with pytest.raises(MixError, match=message):
        Mix.parse(text)


def test_percent_and_fraction_read_alike() -> None:
    assert Mix.parse("share=60%") == Mix.parse("share=0.6") == Mix(share=0.6)
    assert str(Mix.parse("spec=0.2,cpu=2")) == "cpu=2,spec=0.2"


def test_write_mix_writes_a_list_the_simulator_reads_back(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--mix", "cpu=2.5", "--seeds", "42", "--write-mix", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.glob("*.csv")
    assert load_pods(path) == generate(BASE, Mix(cpu=2.5), 42)
    assert to_csv(load_pods(path)) == path.read_text()


def test_inflation_stops_at_the_ratio_even_when_the_list_alone_asks_more() -> None:
    # multi=0.5 asks ~182 % of the cluster's GPUs: the arrivals stop at 130 %, as for every other mix.
    capacity = sum(n.gpus for n in load_nodes(DEFAULT_NODES)) * 1000
    pods = [pod_request(p) for p in generate(BASE, Mix(multi=0.5), 42)]
    assert sum(p.gpu_milli for p in pods) > 1.7 * capacity
    arrivals = inflate(pods, capacity, 1.3, np.random.default_rng(42))
    total = sum(p.gpu_milli for p in arrivals)
    assert total <= 1.3 * capacity < total + max(p.gpu_milli for p in pods)


def test_packing_reports_the_allocation_at_each_arrived_level(tmp_path: Path) -> None:
    lines = DEFAULT_NODES.read_text().splitlines()
    small = tmp_path / "nodes.csv"
    small.write_text("\n".join([lines[0], *lines[1:1214:40]]) + "\n")
    nodes = [node_spec(n) for n in load_nodes(small)]
    pods = [pod_request(p) for p in generate(BASE[:400], Mix(multi=0.5), 3)]
    result = run_packing(nodes, pods, "bestfit", 3)
    assert result.arrived[-1] <= 130.0
    levels = [result.at(lv) for lv in (100, 110, 120, 130)]
    assert levels == sorted(levels) and levels[-1] == result.allocation_ratio
    first_past_100 = next(i for i, a in enumerate(result.arrived) if a >= 100)
    assert levels[0] == result.allocation[first_past_100]
    assert set(result.to_json()["at_levels"]) == {"100", "110", "120", "130"}  # type: ignore[arg-type]
