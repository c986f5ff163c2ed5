"""One cycle, two adapters: an event log recorded by the simulator, replayed through the live adapter
(:class:`~motherboard.scheduler.service.world.World`, fed Pod, Node and Queue objects as its watches feed
it), gives the same gangs bound at the same instants on the same nodes and devices, and the same
preemptions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from motherboard.api.constants import (
    ANNOTATION_GANG_MIN_AVAILABLE,
    LABEL_ATTEMPT,
    LABEL_POD_GROUP,
)
from motherboard.api.v1alpha1.queue import Queue
from motherboard.scheduler.admission import queue_spec_from_api
from motherboard.scheduler.cache import NodeSpec
from motherboard.scheduler.cycle import Bind, Evict, Pending
from motherboard.scheduler.placement import shipped_profile
from motherboard.scheduler.service.world import World
from motherboard.scheduler.simulate.jobpolicies import POLICIES
from motherboard.scheduler.simulate.jobreplay import JobReplay
from motherboard.scheduler.simulate.jobs import JobSpec, synthetic_jobs
from tests.unit.scheduler.cache.builders import make_node

Obj = dict[str, Any]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
Decision = tuple[float, str, str, tuple[tuple[str, str, tuple[int, ...]], ...]]
"""(time, kind, workload key, ((pod, node, device indices), ...))"""


def nodes(count: int) -> list[NodeSpec]:
    return [make_node(f"n{i}", share=False).gpus(8).build() for i in range(count)]


def node_obj(spec: NodeSpec) -> Obj:
    return {
        "metadata": {
            "name": spec.name,
            "labels": dict(spec.labels),
            "annotations": spec.inventory.annotations(),
        },
        "spec": {},
        "status": {"allocatable": {"cpu": f"{spec.cpu_milli}m", "memory": f"{spec.memory_mib}Mi"}},
    }


def queue_objs(tenants: list[str], gpus: int) -> list[Obj]:
    root = {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": "org"},
            "spec": {"quotas": [{"resource": "nvidia.com/gpu", "nominal": gpus}]}}  # fmt: skip
    leaves = [
        {"apiVersion": "motherboard.io/v1alpha1", "kind": "Queue", "metadata": {"name": t},
         "spec": {"parent": "org", "namespaces": [t],
                  "quotas": [{"resource": "nvidia.com/gpu", "nominal": gpus // len(tenants)}]}}
        for t in tenants
    ]  # fmt: skip
    return [root, *leaves]


def pod_obj(job: JobSpec, attempt: int, index: int, node: str | None = None, phase: str = "Pending") -> Obj:
    name = f"{job.name}-a{attempt}-{index:03d}"
    created = datetime.fromtimestamp(EPOCH + job.submit_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta: Obj = {
        "name": name, "namespace": job.tenant, "uid": f"uid-{name}", "creationTimestamp": created,
        "labels": {LABEL_POD_GROUP: job.name, LABEL_ATTEMPT: str(attempt)},
        "annotations": {ANNOTATION_GANG_MIN_AVAILABLE: str(job.replicas)},
    }  # fmt: skip
    resources = {"cpu": f"{job.cpu_milli}m", "memory": f"{job.memory_mib}Mi",
                 "nvidia.com/gpu": str(job.gpus_per_replica)}  # fmt: skip
    spec: Obj = {
        "schedulerName": "motherboard-scheduler",
        "priority": job.priority,
        "containers": [{"name": "main", "resources": {"requests": resources, "limits": resources}}],
    }
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec, "status": {"phase": phase}}


def live_replay(jobs: list[JobSpec], specs: list[NodeSpec], queues: list[Obj], log: Any) -> list[Decision]:
    """Drive the live adapter through ``log``, playing the API server, the binder and the job operator."""
    world = World(shipped_profile())
    world.recent.due = lambda: False  # type: ignore[method-assign]  # the sim's placer weighs no workload
    for spec in specs:
        world.on_node(node_obj(spec))
    for queue in queues:
        world.on_queue(queue)
    by_name = {j.name: j for j in jobs}
    attempt = {j.name: 0 for j in jobs}
    where: dict[str, str] = {}
    decisions: list[Decision] = []

    def key_of(job: JobSpec) -> str:
        return f"{job.tenant}/{job.name}@{attempt[job.name]}"

    def job_of(workload_key: str) -> JobSpec:
        return by_name[workload_key.split("/", 1)[1].rsplit("@", 1)[0]]

    def end(job: JobSpec, deleted: bool) -> None:
        for i in range(job.replicas):
            obj = pod_obj(
                job, attempt[job.name], i, where.pop(f"{job.tenant}/{job.name}-a{attempt[job.name]}-{i:03d}")
            )
            world.on_pod({**obj, "status": {"phase": "Running" if deleted else "Succeeded"}}, deleted=deleted)

    for now, arrived, completed in log:
        for key in completed:
            end(job_of(key), deleted=False)
        for name in arrived:
            for i in range(by_name[name].replicas):
                world.on_pod(pod_obj(by_name[name], 0, i))
        while True:
            progressed = False
            for action in world.cycle.run(now=now).actions:
                if isinstance(action, Bind):
                    job = job_of(action.workload.key)
                    names = [p.pod.name for p in action.placements]
                    world.start_binding(action.workload, names)
                    for placement in action.placements:
                        world.bound(placement.pod.name)
                        where[placement.pod.name] = placement.node_name
                        index = int(placement.pod.name.rsplit("-", 1)[1])
                        world.on_pod(pod_obj(job, attempt[job.name], index, placement.node_name, "Running"))
                    decisions.append(_decision(now, "bind", action.workload.key, action.placements))
                    progressed = True
                elif isinstance(action, Evict):
                    world.start_preemption(action)
                    decisions.append((now, "evict", action.preemptor.key,
                                      tuple((v.workload.key, "", ()) for v in action.victims)))  # fmt: skip
                    for victim in action.victims:
                        job = job_of(victim.workload.key)
                        end(job, deleted=True)  # the operator deletes the victims' pods …
                        attempt[job.name] += 1  # … and recreates the job as its next attempt
                        for i in range(job.replicas):
                            world.on_pod(pod_obj(job, attempt[job.name], i))
                    progressed = True
                else:
                    assert isinstance(action, Pending) and not action.never
            if not progressed:
                break
    return decisions


def _decision(now: float, kind: str, key: str, placements: Any) -> Decision:
    pods = tuple(
        (p.pod.name.rsplit("-", 1)[1], p.node_name, tuple(pick.device for pick in p.picks))
        for p in placements
    )
    return (now, kind, key, pods)


def sim_decisions(replay: JobReplay) -> list[Decision]:
    out: list[Decision] = [_decision(t, "bind", key, placements) for t, key, placements in replay.bound]
    out += [(t, "evict", key, tuple((v, "", ()) for v in victims)) for t, key, victims in replay.evictions]
    return out


def order(decisions: list[Decision]) -> list[Decision]:
    return sorted(decisions, key=lambda d: (d[0], d[1] != "evict"))


@pytest.mark.parametrize("seed", [3, 11])
def test_a_recorded_event_log_replayed_through_the_live_adapter_binds_the_same_gangs_on_the_same_devices(
    seed: int,
) -> None:
    tenants = ["t0", "t1"]
    jobs = synthetic_jobs(seed, 60, capacity_gpus=32, load=1.4, tenants=2, median_duration_s=600)
    # Whole seconds (creation timestamps have one-second resolution); a few urgent jobs preempt.
    jobs = [
        replace(j, submit_time=float(round(j.submit_time)), priority=5 if i % 7 == 3 else 0)
        for i, j in enumerate(jobs)
    ]
    specs = nodes(4)
    queues = queue_objs(tenants, 32)
    tenant_specs = [queue_spec_from_api(Queue.model_validate(q)) for q in queues]
    sim = JobReplay(jobs, specs, POLICIES["production"], tenant_specs, placer_workload=()).run()
    assert sim.stats.partial_gangs == 0 and all(j.finished is not None for j in sim.jobs)
    expected = sim_decisions(sim)
    assert sum(1 for d in expected if d[1] == "evict") > 0, "the log exercises preemption too"
    live = live_replay(jobs, specs, queues, sim.log)
    assert len(live) == len(expected)
    for got, want in zip(order(live), order(expected), strict=True):
        assert got == want
