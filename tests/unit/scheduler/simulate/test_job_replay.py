"""The job replay: gangs start whole and end on time, preemption restarts (or resumes) the victims, quota
invariants hold at every step, and each policy behaves as it says."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from motherboard.scheduler.admission import PreemptionReason
from motherboard.scheduler.cache import NodeSpec
from motherboard.scheduler.simulate.cli import app
from motherboard.scheduler.simulate.jobpolicies import GPU, POLICIES, tenant_queues
from motherboard.scheduler.simulate.jobreplay import JobReplay
from motherboard.scheduler.simulate.jobs import JobSpec, synthetic_jobs, write_jobs
from tests.unit.scheduler.cache.builders import make_node


def nodes(count: int, gpus: int = 8) -> list[NodeSpec]:
    return [make_node(f"n{i}", share=False).gpus(gpus).build() for i in range(count)]


def job(
    name: str, at: float, duration: float, gpus: int, replicas: int = 1, tenant: str = "t0", **kw: object
) -> JobSpec:
    return JobSpec(name, at, duration, tenant, replicas, gpus, cpu_milli=1000, memory_mib=1024, **kw)  # type: ignore[arg-type]


def replay(jobs: list[JobSpec], policy: str = "production", count: int = 2, **kw: object) -> JobReplay:
    return JobReplay(jobs, nodes(count), POLICIES[policy], **kw).run()  # type: ignore[arg-type]


def test_a_gang_starts_when_its_whole_gang_is_bound_and_frees_its_devices_when_it_ends() -> None:
    r = replay([job("a", 0, 100, 8, replicas=2), job("b", 10, 50, 4, replicas=2)])
    a, b = r.jobs
    assert (a.first_start, a.finished) == (0, 100)
    assert (b.first_start, b.finished) == (100, 150), "b waits for a's devices and runs its whole duration"
    (t, key, placements) = r.bound[1]
    assert t == 100 and key == "t0/b@0" and len(placements) == 2, "both pods bound at the same instant"
    assert r.cache.placements() == [] and r.stats.partial_gangs == 0
    assert r.samples[-1].used_gpus == 0


def test_a_gang_larger_than_the_free_devices_waits_whole_while_smaller_jobs_backfill() -> None:
    # 24 GPUs; a runs on 8; the 3x8 gang cannot fit in the 16 left, the 4-GPU job behind it runs (backfill).
    r = replay([job("a", 0, 100, 8), job("gang", 1, 10, 8, replicas=3), job("small", 2, 10, 4)], count=3)
    _, gang, small = r.jobs
    assert small.first_start == 2 and gang.first_start == 100
    assert all(len(p) == 3 for _, key, p in r.bound if key.startswith("t0/gang"))


def test_fifo_never_lets_a_later_job_overtake_the_head() -> None:
    jobs = [job("a", 0, 100, 8), job("gang", 1, 10, 8, replicas=3), job("small", 2, 10, 4)]
    r = replay(jobs, "fifo", count=3)
    _, gang, small = r.jobs
    assert gang.first_start == 100, "the gang waits for a"
    assert small.first_start == 110, "no backfill past the blocked head: small waits for the gang too"


def test_reclaim_restarts_a_borrowing_job_from_scratch_and_a_checkpointed_one_resumes() -> None:
    # One node of 8 GPUs, two tenants of 4 each: t0's 8-GPU job borrows t1's half until t1 wants it.
    for checkpoint, finished in ((False, 10 + 50 + 100), (True, 10 + 50 + 90)):
        jobs = [
            job("big", 0, 100, 8, tenant="t0", checkpoint=checkpoint),
            job("mine", 10, 50, 4, tenant="t1"),
        ]
        r = replay(jobs, count=1)
        big, mine = r.jobs
        assert r.preemptions == 1 and big.preempted == 1 and big.attempt == 1
        assert mine.first_start == 10 and mine.finished == 60
        assert big.finished == finished, "progress is lost, unless the job checkpoints"
        ((t, preemptor, victims),) = r.evictions
        assert (t, preemptor, victims) == (10, "t1/mine@0", ("t0/big@0",))


def test_best_effort_fifo_never_preempts_and_the_owner_waits_for_the_borrower() -> None:
    jobs = [job("big", 0, 100, 8, tenant="t0"), job("mine", 10, 50, 4, tenant="t1")]
    r = replay(jobs, "best-effort-fifo", count=1)
    assert r.preemptions == 0 and r.jobs[1].first_start == 100


def test_2d_las_preempts_a_job_that_attained_more_service_for_a_new_one() -> None:
    # 8 GPUs; 'long' passes the first level (3600 GPU-s) after 450 s; 'new' arrives at 1000 and preempts it.
    jobs = [job("long", 0, 5000, 8, checkpoint=True), job("new", 1000, 100, 8)]
    r = replay(jobs, "2d-las", count=1)
    long, new = r.jobs
    assert new.first_start == 1000 and new.finished == 1100
    assert long.preempted == 1 and long.finished == 5100


def test_2d_las_does_not_preempt_a_job_still_in_the_first_level() -> None:
    jobs = [job("young", 0, 5000, 8), job("new", 100, 100, 8)]  # 800 GPU-s attained at 100: level 0
    r = replay(jobs, "2d-las", count=1)
    # Only at 450 s (3600 GPU-s) does 'young' drop a level; 'new', still level 0, takes the devices then.
    assert [t for t, _, _ in r.evictions] == [450]
    assert r.jobs[1].first_start == 450


def test_srtf_runs_the_job_with_least_remaining_work_first() -> None:
    jobs = [job("long", 0, 1000, 8, checkpoint=True), job("short", 10, 50, 8)]
    r = replay(jobs, "srtf", count=1)
    long, short = r.jobs
    assert short.first_start == 10 and short.finished == 60 and long.finished == 1050


def _check_invariants(r: JobReplay) -> None:
    tree = r.cycle.tree
    for queue in tree.queues():
        used = tree.usage(queue).get_amount(GPU)
        assert 0 <= used <= tree.capacity(queue, GPU), f"{queue} uses {used} over what it may hold"
    held = sum(len(r.pods.pods_of(k)) for k in r.running)
    assert held == len(r.cache.placements()), "the cache holds exactly the running jobs' pods"
    for key, run in r.running.items():
        assert len(r.pods.pods_of(key)) == run.spec.replicas, "no gang runs partly"
        if r.policy.name != "fifo":
            assert tree.is_admitted(key), "every running job is charged"
    charged = sum(tree.usage(q).get_amount(GPU) for q in tree.queues() if tree.is_leaf(q))
    running = sum(run.spec.replicas * run.spec.gpus_per_replica * 1000 for run in r.running.values())
    assert r.policy.name == "fifo" or charged == running, "the tree charges exactly what runs"
    assert running <= r.capacity_gpus * 1000


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    policy=st.sampled_from(sorted(POLICIES)),
    load=st.sampled_from([0.7, 1.2, 2.0]),
)
def test_quota_invariants_hold_at_every_step_of_a_random_replay(seed: int, policy: str, load: float) -> None:
    jobs = synthetic_jobs(seed, 40, capacity_gpus=32, load=load, tenants=3, median_duration_s=300)
    jobs = [replace(j, priority=seed % 3 if i % 5 == 0 else 0) for i, j in enumerate(jobs)]
    r = JobReplay(jobs, nodes(4), POLICIES[policy], on_step=_check_invariants).run()
    assert r.stats.partial_gangs == 0 and all(j.finished is not None for j in r.jobs)
    ran = {j.spec.name: j.finished - j.first_start for j in r.jobs if j.preempted == 0}  # type: ignore[operator]
    assert all(ran[j.name] == pytest.approx(j.duration) for j in jobs if j.name in ran)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_every_preemption_in_the_replay_follows_the_admission_rules(seed: int) -> None:
    jobs = synthetic_jobs(seed, 40, capacity_gpus=32, load=1.5, tenants=2, median_duration_s=300)
    jobs = [replace(j, priority=3 if i % 4 == 0 else 0) for i, j in enumerate(jobs)]
    seen: list[tuple[str, str, PreemptionReason]] = []
    specs = tenant_queues(["t0", "t1"], 32_000)
    r = JobReplay(jobs, nodes(4), POLICIES["production"], specs)
    cycle_run = r.cycle.run

    def run(now: float | None = None, limit: int = 256):  # type: ignore[no-untyped-def]
        result = cycle_run(now, limit)
        for action in result.actions:
            victims = getattr(action, "victims", ())
            preemptor = getattr(action, "preemptor", None)
            for v in victims:
                assert preemptor is not None
                seen.append((preemptor.key, v.workload.key, v.reason))
                if v.reason is PreemptionReason.WITHIN_QUEUE:
                    assert v.workload.queue == preemptor.queue and v.workload.priority < preemptor.priority
                else:  # reclaim: from another tenant, which borrowed; the preemptor was under its nominal
                    assert v.workload.queue != preemptor.queue
        return result

    r.cycle.run = run  # type: ignore[method-assign]
    r.run()
    assert r.preemptions == len(seen)
    assert r.stats.partial_gangs == 0


def test_simulate_jobs_writes_results_json_with_every_named_figure_and_the_plots(tmp_path: Path) -> None:
    trace = write_jobs(tmp_path / "jobs.csv", synthetic_jobs(5, 60, capacity_gpus=32, load=1.0, tenants=2))
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["--jobs", str(trace), "--nodes", "4x8xA100", "--policy", "all", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["policies"]) == {"production", "fifo", "best-effort-fifo", "2d-las", "srtf"}
    for figures in doc["policies"].values():
        for name in ("avg_jct_s", "p50_jct_s", "p95_jct_s", "p99_jct_s", "avg_wait_s", "makespan_s",
                     "gpu_utilization", "preemptions", "partial_gangs", "tenants", "fairness"):  # fmt: skip
            assert name in figures
        assert figures["partial_gangs"] == 0 and figures["finished"] == 60
        assert figures["p50_jct_s"] <= figures["p95_jct_s"] <= figures["p99_jct_s"]
        assert 0 < figures["gpu_utilization"] <= 1 and 0 < figures["fairness"] <= 1
        assert set(figures["tenants"]) == {"t0", "t1"}
    for png in ("jct_cdf.png", "utilization.png", "tenants.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_queues_yaml_without_a_queue_for_a_tenant_is_refused_with_the_fix(tmp_path: Path) -> None:
    trace = write_jobs(
        tmp_path / "jobs.csv", [job("a", 0, 10, 1, tenant="t0"), job("b", 0, 10, 1, tenant="t9")]
    )
    queues = tmp_path / "queues.yaml"
    queues.write_text(
        "apiVersion: motherboard.io/v1alpha1\nkind: Queue\nmetadata: {name: t0}\n"
        "spec: {quotas: [{resource: nvidia.com/gpu, nominal: 8}]}\n"
    )
    result = CliRunner().invoke(app, ["--jobs", str(trace), "--nodes", "1x8xA100", "--queues", str(queues)])
    assert result.exit_code == 2
    assert (
        "no Queue for tenant(s) t9" in result.output
        and "add a Queue named after each tenant" in result.output
    )


def test_a_bad_node_option_names_the_option_and_the_two_forms(tmp_path: Path) -> None:
    trace = write_jobs(tmp_path / "jobs.csv", [job("a", 0, 10, 1)])
    result = CliRunner().invoke(app, ["--jobs", str(trace), "--nodes", "nowhere.csv"])
    assert result.exit_code == 2 and "--nodes nowhere.csv: no such file" in result.output
    assert "64x8xA100" in result.output


@pytest.mark.parametrize("policy", ["production", "2d-las"])
def test_the_count_gate_in_front_of_the_placer_changes_no_decision(policy: str) -> None:
    jobs = synthetic_jobs(8, 150, capacity_gpus=64, load=1.5, tenants=3, median_duration_s=300)
    gated = JobReplay(jobs, nodes(8), POLICIES[policy]).run()
    plain = JobReplay(jobs, nodes(8), POLICIES[policy], gate=False).run()
    assert gated.cycle.placer.skipped > 0, "the trace makes gangs wait for devices"  # type: ignore[attr-defined]
    assert [(t, k, [(p.node_name, p.picks) for p in ps]) for t, k, ps in gated.bound] == [
        (t, k, [(p.node_name, p.picks) for p in ps]) for t, k, ps in plain.bound
    ]
    assert gated.evictions == plain.evictions


def test_production_las_orders_a_tenant_s_own_jobs_by_attained_service_within_its_priority() -> None:
    # One tenant, 8 GPUs. 'urgent' (priority 1) preempts 'long' at 200 s for 10 s; 'long' resumes first (older,
    # same level), drops a level at 3600 GPU-s (460 s), and its tenant's 'new' job (level 0) preempts it.
    jobs = [
        job("long", 0, 5000, 8, checkpoint=True),
        job("new", 100, 100, 8),
        job("urgent", 200, 10, 8, priority=1),
    ]
    r = replay(jobs, "production-las", count=1)
    long, new, urgent = r.jobs
    assert urgent.first_start == 200, "a higher trace priority still comes first"
    assert new.first_start == 460 and long.preempted == 2
    assert long.finished == pytest.approx(5000 + 10 + 100)
