"""The lifecycle planner: phases, conditions, gang restarts, preemption, suspension, deadlines, TTL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from motherboard.api.manifests import parse_object
from motherboard.api.v1alpha1 import AIJob, JobPhase
from motherboard.operator.lifecycle import Plan, plan
from motherboard.operator.observed import ObservedPod, observe
from tests.unit.api.builders import aijob, task

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def job(**spec: Any) -> AIJob:
    parsed = parse_object(aijob(**spec))
    assert isinstance(parsed, AIJob)
    return parsed


def gang(n: int, phase: str = "Pending", node: str | None = None, attempt: int = 0) -> list[ObservedPod]:
    return [
        ObservedPod(f"job-worker-{i}", "worker", i, phase=phase, node=node, attempt=attempt) for i in range(n)
    ]


def step(j: AIJob, pods: list[ObservedPod], now: datetime = T0) -> tuple[AIJob, Plan]:
    """Run the planner and apply its status, as the operator would."""
    result = plan(j, "uid", pods, now)
    return j.model_copy(update={"status": result.status}), result


def condition(j: AIJob, kind: str) -> str | None:
    assert j.status is not None
    return next((c.status.value for c in j.status.conditions if c.type == kind), None)


def test_a_new_job_creates_all_its_pods_and_is_queued() -> None:
    j, result = step(job(tasks=[task(replicas=3)]), [])
    assert [p["metadata"]["name"] for p in result.create] == ["job-worker-0", "job-worker-1", "job-worker-2"]
    assert j.status is not None and j.status.phase is JobPhase.QUEUED
    assert condition(j, "Queued") == "True"


def test_reconcile_is_idempotent_no_duplicate_pods() -> None:
    j, _ = step(job(tasks=[task(replicas=2)]), [])
    j, again = step(j, gang(2))
    assert again.create == [] and again.delete == []
    assert again.events == []  # no phase change, no new event


def test_the_schedulers_reason_is_the_jobs_message() -> None:
    waiting = [
        replace(p, unschedulable_reason="queue research over quota for nvidia.com/gpu") for p in gang(2)
    ]
    j, _ = step(job(tasks=[task(replicas=2)]), waiting)
    assert j.status is not None
    assert j.status.reason == "Unschedulable" and "over quota" in (j.status.message or "")


def test_phases_follow_the_pods_queued_admitted_running_succeeded() -> None:
    j = job(tasks=[task(replicas=2)])
    j, _ = step(j, gang(2))
    j, _ = step(j, gang(2, node="n1"))
    assert j.status is not None and j.status.phase is JobPhase.ADMITTED
    j, result = step(j, gang(2, "Running", "n1"), T0 + timedelta(seconds=5))
    assert j.status.phase is JobPhase.RUNNING and j.status.start_time == T0 + timedelta(seconds=5)
    assert condition(j, "Running") == "True" and condition(j, "Queued") == "False"
    assert [e.reason for e in result.events] == ["Running"]
    assert j.status.tasks[0].running == 2 and j.status.ready == "2/2"
    assert [p.node for p in j.status.placement] == ["n1", "n1"]
    j, _ = step(j, gang(2, "Succeeded", "n1"), T0 + timedelta(seconds=60))
    assert j.status.phase is JobPhase.SUCCEEDED and condition(j, "Succeeded") == "True"
    assert condition(j, "Running") == "False"


def test_a_failed_pod_restarts_the_whole_gang_then_fails_after_backoff_limit() -> None:
    j = job(tasks=[task(replicas=2)], runPolicy={"backoffLimit": 1})
    j, _ = step(j, gang(2, "Running", "n1"))
    crashed = [replace(gang(2, "Running", "n1")[0], phase="Failed"), gang(2, "Running", "n1")[1]]
    j, result = step(j, crashed)
    assert sorted(result.delete) == ["job-worker-0", "job-worker-1"]
    assert j.status is not None and j.status.restarts == 1
    # Old pods gone: the next reconcile recreates the gang as attempt 1.
    j, result = step(j, [])
    assert len(result.create) == 2
    assert {p["metadata"]["labels"]["motherboard.io/attempt"] for p in result.create} == {"1"}
    again = [replace(p, phase="Failed") for p in gang(2, "Running", "n1", attempt=1)]
    j, result = step(j, again)
    assert j.status.phase is JobPhase.FAILED and j.status.reason == "BackoffLimitExceeded"
    assert condition(j, "Failed") == "True"


def test_preemption_requeues_without_using_up_the_backoff_limit() -> None:
    j = job(tasks=[task(replicas=2)], runPolicy={"backoffLimit": 0})
    j, _ = step(j, gang(2, "Running", "n1"))
    victim = [replace(p, preempted=True) for p in gang(2, "Running", "n1")]
    j, result = step(j, victim)
    assert j.status is not None and j.status.phase is JobPhase.PREEMPTED
    assert j.status.restarts == 0 and j.status.preemptions == 1
    assert sorted(result.delete) == ["job-worker-0", "job-worker-1"]
    j, result = step(j, [])
    assert len(result.create) == 2 and j.status.phase is JobPhase.QUEUED
    assert condition(j, "Preempted") == "True"  # still visible while the job waits again


def test_a_victim_first_seen_deleted_or_gone_still_marks_the_job_preempted_once() -> None:
    j = job(tasks=[task(replicas=2)])
    j, _ = step(j, gang(2, "Running", "n1"))
    pods = gang(2, "Running", "n1")
    victim = replace(pods[0], preempted=True, deleting=True, gone=True)
    j, result = step(j, [victim, pods[1]])
    assert j.status is not None and j.status.phase is JobPhase.PREEMPTED and j.status.preemptions == 1
    assert result.delete == ["job-worker-1"]  # the rest of the gang; the victim is gone already
    # The next pass sees the remembered victim of the old attempt: no second preemption, and its name is
    # free for the new attempt's pod.
    j, result = step(j, [victim])
    assert j.status.preemptions == 1 and j.status.phase is JobPhase.QUEUED
    assert sorted(p["metadata"]["name"] for p in result.create) == ["job-worker-0", "job-worker-1"]


def test_suspend_releases_every_pod_and_resume_recreates_them() -> None:
    running = gang(2, "Running", "n1")
    j = job(tasks=[task(replicas=2)], runPolicy={"suspend": True})
    j, result = step(j, running)
    assert sorted(result.delete) == ["job-worker-0", "job-worker-1"]
    assert j.status is not None and j.status.phase is JobPhase.SUSPENDED
    resumed = j.model_copy(
        update={
            "spec": j.spec.model_copy(
                update={"run_policy": j.spec.run_policy.model_copy(update={"suspend": False})}
            )
        }
    )
    resumed, result = step(resumed, [])
    assert len(result.create) == 2 and condition(resumed, "Suspended") == "False"


def test_active_deadline_fails_the_job_and_stops_its_pods() -> None:
    j = job(tasks=[task(replicas=1)], runPolicy={"activeDeadlineSeconds": 30})
    j, _ = step(j, gang(1, "Running", "n1"))
    j, result = step(j, gang(1, "Running", "n1"), T0 + timedelta(seconds=31))
    assert j.status is not None and j.status.reason == "DeadlineExceeded"
    assert result.delete == ["job-worker-0"]


def test_ttl_deletes_the_job_after_it_finishes() -> None:
    j = job(tasks=[task(replicas=1)], runPolicy={"ttlSecondsAfterFinished": 60})
    j, result = step(j, gang(1, "Succeeded", "n1"))
    assert result.requeue_after == 60 and not result.delete_job
    _, later = step(j, gang(1, "Succeeded", "n1"), T0 + timedelta(seconds=61))
    assert later.delete_job


def test_inference_pods_with_a_changed_template_are_replaced_one_at_a_time() -> None:
    j = job(type="Inference", gang={"minAvailable": 1}, tasks=[task("worker", 2)])
    old = [replace(p, phase="Running", node="n1", ready=True, template_hash="old") for p in gang(2)]
    _, result = step(j, old)
    assert len(result.delete) == 1
    new_hash = (
        result.create[0]["metadata"]["annotations"]["motherboard.io/template-hash"] if result.create else None
    )
    assert new_hash is None  # the replacement is created by the next reconcile, once the old pod is gone
    fresh = plan(j, "uid", [old[1]], T0).create[0]["metadata"]["annotations"]["motherboard.io/template-hash"]
    replacement_starting = [replace(old[0], template_hash=fresh, ready=False), old[1]]
    _, result = step(j, replacement_starting)
    assert result.delete == [], "wait until the replacement is ready"
    replacement_ready = [replace(old[0], template_hash=fresh, ready=True), old[1]]
    _, result = step(j, replacement_ready)
    assert result.delete == ["job-worker-1"]


def test_observe_reads_the_schedulers_signals_from_a_pod() -> None:
    pod = {
        "metadata": {
            "name": "job-worker-0",
            "labels": {
                "motherboard.io/task-name": "worker",
                "motherboard.io/replica-index": "0",
                "motherboard.io/attempt": "2",
            },
        },
        "spec": {"nodeName": None},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "message": "0/3 nodes: 3 insufficient nvidia.com/gpu",
                },
                {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler"},
            ],
        },
    }
    seen = observe(pod)
    assert seen.attempt == 2 and seen.preempted and not seen.bound
    assert seen.unschedulable_reason == "0/3 nodes: 3 insufficient nvidia.com/gpu"


def test_a_job_its_queue_can_never_hold_fails_with_a_terminal_condition() -> None:
    # Issue 14: it stayed Queued forever. The scheduler marks the verdict NeverFits; the job ends.
    message = "team/big can never run in queue team: it needs 64 GPUs, and the most the queue can ever hold is 16 GPUs"
    waiting = [replace(p, unschedulable_reason=message, never_fits=True) for p in gang(2)]
    j, result = step(job(tasks=[task(replicas=2)]), waiting)
    assert j.status is not None and j.status.phase is JobPhase.FAILED
    assert j.status.reason == "NeverFits" and message in (j.status.message or "")
    assert condition(j, "Unschedulable") == "True"
    assert sorted(result.delete) == ["job-worker-0", "job-worker-1"]
    assert [e.reason for e in result.events] == ["NeverFits"]


def test_schedule_timeout_marks_the_job_unschedulable_with_an_event() -> None:
    # Issue 14: gang.scheduleTimeoutSeconds was documented and never read.
    spec = {"gang": {"minAvailable": 2, "scheduleTimeoutSeconds": 60}, "tasks": [task(replicas=2)]}
    waiting = [replace(p, unschedulable_reason="gang needs 2 pods but 1 fit") for p in gang(2)]
    j, first = step(job(**spec), waiting, T0)
    assert j.status is not None and j.status.phase is JobPhase.QUEUED
    assert first.requeue_after == 60, "woken at the deadline even if no event comes"
    j, later = step(j, waiting, T0 + timedelta(seconds=30))
    assert j.status is not None and j.status.phase is JobPhase.QUEUED and later.requeue_after == 30
    j, timed_out = step(j, waiting, T0 + timedelta(seconds=61))
    assert j.status is not None and j.status.phase is JobPhase.FAILED
    assert j.status.reason == "ScheduleTimeout"
    assert j.status.message == (
        "the gang was not placed within scheduleTimeoutSeconds=60 (0 of 2 pods placed): gang needs 2 pods but 1 fit"
    )
    assert condition(j, "Unschedulable") == "True"
    assert [(e.type, e.reason) for e in timed_out.events] == [("Warning", "ScheduleTimeout")]


def test_a_placed_gang_is_never_timed_out() -> None:
    spec = {"gang": {"minAvailable": 2, "scheduleTimeoutSeconds": 60}, "tasks": [task(replicas=2)]}
    j, _ = step(job(**spec), gang(2), T0)
    j, _ = step(j, gang(2, phase="Running", node="n0"), T0 + timedelta(seconds=600))
    assert j.status is not None and j.status.phase is JobPhase.RUNNING


def test_the_pods_column_shows_done_counts_and_keeps_them_once_the_pods_are_gone() -> None:
    # Issue 14: a finished job showed READY 0/6.
    j, _ = step(job(tasks=[task(replicas=2)]), [])
    assert j.status is not None and j.status.pods == "0/2 placed"
    j, _ = step(j, gang(2, phase="Running", node="n0"))
    assert j.status is not None and j.status.pods == "2/2 running"
    j, _ = step(j, gang(2, phase="Succeeded", node="n0"))
    assert j.status is not None and j.status.phase is JobPhase.SUCCEEDED and j.status.pods == "2/2 succeeded"
    j, _ = step(j, [])  # the pods were cleaned up
    assert j.status is not None and j.status.pods == "2/2 succeeded"
