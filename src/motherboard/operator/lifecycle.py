"""The AIJob lifecycle as a pure planner: (job, observed pods, now) → what to do and the new status.

Level-based: the plan depends only on the current AIJob and its pods, never on which event woke the
operator, so a reconcile after a crash, a duplicate event or a missed one all converge on the same state.
That is why the operator keeps no progress storage of its own (see docs/operator.md).

The scheduler speaks to the operator through the pods only: ``PodScheduled=False`` with a message while a
pod waits (queue over quota, no fit), a bound ``nodeName`` once admitted and placed, and the
``DisruptionTarget`` condition with reason ``PreemptionByScheduler`` on a victim. The operator is the single
writer of AIJob status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from motherboard.api.base import Condition, ConditionStatus
from motherboard.api.v1alpha1 import AIJob, AIJobStatus, ConditionType, DevicePoolSpec, JobPhase, JobType
from motherboard.api.v1alpha1.aijob import (
    PodPlacement,
    ServingStatus,
    TargetArtifact,
    TaskStatus,
    VersionReplicas,
)
from motherboard.operator.observed import ObservedPod
from motherboard.operator.render import PodSlot, gang_min_available, render_pod, serving_hash
from motherboard.operator.serving import TaskServing

TERMINAL = {JobPhase.SUCCEEDED, JobPhase.FAILED}


def attempt(status: AIJobStatus) -> int:
    """Which incarnation of the gang is current: every restart and every preemption starts a new one."""
    return status.restarts + status.preemptions


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record on the AIJob."""

    type: str
    reason: str
    message: str


@dataclass
class Plan:
    """What one reconcile does."""

    status: AIJobStatus
    create: list[dict[str, Any]] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    delete_job: bool = False
    requeue_after: float | None = None


def plan(
    job: AIJob,
    uid: str,
    pods: Sequence[ObservedPod],
    now: datetime,
    pools: Mapping[str, DevicePoolSpec] | None = None,
    serving: Mapping[str, TaskServing] | None = None,
) -> Plan:
    """Decide the next step for ``job`` given its pods (``serving``: the plan of each model-serving task)."""
    old = job.status or AIJobStatus()
    status = old.model_copy(deep=True)
    status.observed_generation = job.metadata.generation
    result = Plan(status=status)
    current = [p for p in pods if p.attempt == attempt(status) and not p.deleting]

    # 1. Finished jobs only wait for their TTL. Their counts stay as they were once the pods are gone
    # (a finished job showed "0/6" as soon as its pods were cleaned up).
    if old.phase in TERMINAL:
        _expire(job, result, now)
        result.delete = [p.name for p in pods if not p.deleting and not p.finished]
        if current:
            _count(job, status, current)
        return result

    # 2. Suspended jobs release every pod (and so every device) until resumed.
    if job.spec.run_policy.suspend:
        result.delete = [p.name for p in pods if not p.deleting]
        _transition(
            result, JobPhase.SUSPENDED, "Suspended", "the job is suspended; its devices are released", now
        )
        _count(job, status, current)
        return result

    # 3. The deadline counts from the first time the gang ran.
    deadline = job.spec.run_policy.active_deadline_seconds
    if deadline and status.start_time and now >= status.start_time + timedelta(seconds=deadline):
        return _fail(
            job,
            result,
            pods,
            current,
            "DeadlineExceeded",
            f"ran longer than activeDeadlineSeconds={deadline}",
            now,
        )

    # 4. Preempted or failed pods restart the gang (preemption does not count against backoffLimit). A
    # preempted pod counts even if already being deleted or gone: the scheduler deletes its victims.
    preempted = [p for p in pods if p.preempted and p.attempt == attempt(status)]
    failed = [p for p in current if p.phase == "Failed" and not p.preempted]
    if (preempted or failed) and job.spec.type is not JobType.INFERENCE:
        if failed and status.restarts >= job.spec.run_policy.backoff_limit:
            names = ", ".join(p.name for p in failed)
            return _fail(
                job,
                result,
                pods,
                current,
                "BackoffLimitExceeded",
                f"pod {names} failed after {status.restarts} restarts (backoffLimit {job.spec.run_policy.backoff_limit})",
                now,
            )
        if preempted:
            status.preemptions += 1
            _transition(
                result,
                JobPhase.PREEMPTED,
                "Preempted",
                f"pod {preempted[0].name} was preempted by the scheduler; the job is requeued",
                now,
            )
        else:
            status.restarts += 1
            result.events.append(
                Event(
                    "Warning",
                    "GangRestart",
                    f"pod {failed[0].name} failed; restarting the gang ({status.restarts}/{job.spec.run_policy.backoff_limit})",
                )
            )
        result.delete = [p.name for p in pods if not p.deleting]
        status.start_time = None
        status.placement = []
        _count(job, status, [])
        return result

    # 5. Create missing pods; replace stale inference pods one at a time.
    serving = serving or {}
    if serving:
        _rollback(job, serving, current, result, now)
    existing = {p.name for p in pods if not p.gone}
    for slot in _wanted_slots(job, serving):
        name = slot.pod_name(job.metadata.name)
        if name not in existing:
            plan_ = serving.get(slot.task.name)
            result.create.append(render_pod(job, uid, slot, pools, attempt=attempt(status), serving=plan_))
    if job.spec.type is JobType.INFERENCE:
        _scale_down(job, serving, current, result)
        _roll(job, current, result, serving)
    _count(job, status, current)
    if serving:
        status.serving = _serving_status(job, serving, current, status)
    never = _never_placed(job, status, current, result, now)
    if never is not None:
        reason, message = never
        _set(status, ConditionType.UNSCHEDULABLE, True, reason, message, now)
        return _fail(job, result, pods, current, reason, message, now)
    _advance(job, status, current, result, now)
    waiting = [p for p in serving.values() if not p.ready]
    if waiting and not any(p.phase == "Running" for p in current):
        first = waiting[0]
        _transition(result, JobPhase.QUEUED, first.reason, first.message, now)
    return result


def _wanted_slots(job: AIJob, serving: Mapping[str, TaskServing]) -> list[PodSlot]:
    """The pods the job should have now: a model-serving task has none until its plan is ready, and as
    many as its plan says (the autoscaler's figure) once it is."""
    result: list[PodSlot] = []
    rank = 0
    for task in job.spec.tasks:
        count = task.replicas
        if task.model is not None:
            plan_ = serving.get(task.name)
            count = plan_.replicas if plan_ is not None and plan_.ready else 0
        for index in range(count):
            result.append(PodSlot(task, index, rank))
            rank += 1
    return result


def _scale_down(
    job: AIJob, serving: Mapping[str, TaskServing], current: Sequence[ObservedPod], result: Plan
) -> None:
    """Replicas above an autoscaled task's figure go (highest index first; the runtime drains on SIGTERM)."""
    for task in job.spec.tasks:
        plan_ = serving.get(task.name)
        if task.autoscaling is None or plan_ is None or not plan_.ready:
            continue
        extra = sorted(
            (p for p in current if p.task == task.name and p.index >= plan_.replicas), key=lambda p: -p.index
        )
        for pod in extra:
            result.delete.append(pod.name)
            result.events.append(
                Event("Normal", "ScaledDown", f"{pod.name}: {task.name} scaled to {plan_.replicas}")
            )


def _failing(pod: ObservedPod, deadline_s: int, now: datetime) -> str | None:
    """Why a replica counts as failing its rollout, or None."""
    if pod.phase == "Failed":
        return "it failed"
    if pod.restarts >= 3 and not pod.ready:
        return f"it restarted {pod.restarts} times" + (f" ({pod.fetched})" if pod.fetched else "")
    if not pod.ready and pod.created is not None and (now - pod.created).total_seconds() > deadline_s:
        return f"it was not ready within progressDeadlineSeconds={deadline_s}"
    return None


def _rollback(
    job: AIJob,
    serving: Mapping[str, TaskServing],
    current: Sequence[ObservedPod],
    result: Plan,
    now: datetime,
) -> None:
    """A replica of a new version that fails readiness rolls that version back (recorded in the status, so
    the plan returns to the version that was rolled out; not retried until the job or the Model changes)."""
    for task in job.spec.tasks:
        plan_ = serving.get(task.name)
        if task.model is None or plan_ is None or not plan_.ready:
            continue
        entry = _serving_entry(result.status, task.name, plan_.model)
        for pod in current:
            version = pod.model_version
            if pod.task != task.name or version is None or version in entry.failed_versions:
                continue
            if version == entry.rolled_out_version and version != plan_.canary:
                continue  # the known-good version: its failures are ordinary restarts, not a bad rollout
            if entry.rolled_out_version is None and plan_.canary is None:
                continue  # nothing to return to: keep trying (the status says why it is not ready)
            why = _failing(pod, task.model.progress_deadline_seconds, now)
            if why is None:
                continue
            entry.failed_versions = sorted({*entry.failed_versions, version})
            back = entry.rolled_out_version
            result.events.append(
                Event(
                    "Warning",
                    "RolledBack",
                    f"model {plan_.model} version {version}: replica {pod.name} failed its rollout ({why}); "
                    + (f"back to version {back}" if back else "the canary is stopped")
                    + ": fix the model and add a new version",
                )
            )
            result.requeue_after = 0.5  # re-plan with the version rolled back


def _serving_entry(status: AIJobStatus, task: str, model: str) -> ServingStatus:
    for entry in status.serving:
        if entry.task == task:
            return entry
    entry = ServingStatus(task=task, model=model)
    status.serving.append(entry)
    return entry


def _serving_status(
    job: AIJob, serving: Mapping[str, TaskServing], current: Sequence[ObservedPod], status: AIJobStatus
) -> list[ServingStatus]:
    """``status``: this pass's working copy (it holds the versions :func:`_rollback` just rolled back)."""
    out = []
    for task in job.spec.tasks:
        plan_ = serving.get(task.name)
        if task.model is None or plan_ is None:
            continue
        before = next((s for s in status.serving if s.task == task.name), None)
        failed = sorted(before.failed_versions) if before else []
        mine = [p for p in current if p.task == task.name]
        versions = sorted({p.model_version for p in mine if p.model_version is not None})
        rolled_out = before.rolled_out_version if before else None
        stable_pods = [p for p in mine if p.index < plan_.replicas - plan_.canary_replicas]
        if (
            plan_.ready
            and len(stable_pods) == plan_.replicas - plan_.canary_replicas
            and all(p.ready and p.model_version == plan_.stable for p in stable_pods)
        ):
            rolled_out = plan_.stable
        artifacts = [
            TargetArtifact(target=t, version=v, backend=cands[0].backend, digest=cands[0].digest)
            for v in sorted(plan_.plans)
            for t, cands in sorted(plan_.plans[v].items())
            if cands
        ]
        out.append(
            ServingStatus(
                task=task.name,
                model=plan_.model,
                stable_version=plan_.stable,
                rolled_out_version=rolled_out,
                canary_version=plan_.canary,
                desired_replicas=plan_.replicas,
                versions=[
                    VersionReplicas(
                        version=v,
                        replicas=sum(p.model_version == v for p in mine),
                        ready=sum(p.model_version == v and p.ready for p in mine),
                    )
                    for v in versions
                ],
                artifacts=artifacts,
                failed_versions=failed,
                message=plan_.message if plan_.ready else f"{plan_.reason}: {plan_.message}",
            )
        )
    return out


def _never_placed(
    job: AIJob, status: AIJobStatus, current: Sequence[ObservedPod], result: Plan, now: datetime
) -> tuple[str, str] | None:
    """Why a waiting gang is given up on: the scheduler says it can never fit (its queue can never hold
    it), or it waited longer than ``gang.scheduleTimeoutSeconds``. ``None``: it keeps waiting (and the
    reconcile is scheduled for the timeout, since no event may come)."""
    need = gang_min_available(job)
    if sum(p.bound for p in current) >= need or any(p.phase == "Running" for p in current):
        return None
    never = next((p for p in current if p.never_fits and p.unschedulable_reason), None)
    if never is not None:
        return (
            "NeverFits",
            f"can never be scheduled as the queues are configured: {never.unschedulable_reason}",
        )
    timeout = job.spec.gang.schedule_timeout_seconds if job.spec.gang else None
    if timeout is None:
        return None
    since = status.queued_time or now  # _advance records it on this pass when the gang starts waiting
    left = (since + timedelta(seconds=timeout) - now).total_seconds()
    if left > 0:
        result.requeue_after = left if result.requeue_after is None else min(result.requeue_after, left)
        return None
    why = next((p.unschedulable_reason for p in current if p.unschedulable_reason), None)
    placed = sum(p.bound for p in current)
    return "ScheduleTimeout", (
        f"the gang was not placed within scheduleTimeoutSeconds={timeout} ({placed} of {need} pods placed)"
        + (f": {why}" if why else "")
    )


def _advance(
    job: AIJob, status: AIJobStatus, current: Sequence[ObservedPod], result: Plan, now: datetime
) -> None:
    """Move the phase forward from what the pods show."""
    need = gang_min_available(job)
    total = job.spec.total_replicas
    bound = [p for p in current if p.bound]
    running = [p for p in current if p.phase == "Running"]
    succeeded = [p for p in current if p.phase == "Succeeded"]
    if job.spec.type is not JobType.INFERENCE and len(succeeded) == total:
        status.completion_time = now
        _transition(result, JobPhase.SUCCEEDED, "Completed", f"all {total} pods succeeded", now)
        _expire(job, result, now)
        return
    if len(running) + len(succeeded) >= need and running:
        status.start_time = status.start_time or now
        status.admitted_time = status.admitted_time or now
        _set(status, ConditionType.ADMITTED, True, "Admitted", "the gang is placed", now)
        _transition(result, JobPhase.RUNNING, "Running", f"{len(running)}/{total} pods running", now)
        return
    if len(bound) >= need:
        status.admitted_time = status.admitted_time or now
        _transition(result, JobPhase.ADMITTED, "Admitted", f"{len(bound)}/{total} pods placed, starting", now)
        return
    waiting = next((p.unschedulable_reason for p in current if p.unschedulable_reason), None)
    status.queued_time = status.queued_time or now
    message = waiting or f"waiting for the scheduler to place {need} of {total} pods"
    _transition(result, JobPhase.QUEUED, "Unschedulable" if waiting else "Queued", message, now)


def _roll(
    job: AIJob, current: Sequence[ObservedPod], result: Plan, serving: Mapping[str, TaskServing]
) -> None:
    """Replace one pod whose template (or served version and artifacts) changed, only while every replica the
    job wants is there and ready (readiness respected)."""
    tasks = {t.name: t for t in job.spec.tasks}

    def wanted(pod: ObservedPod) -> str | None:
        task = tasks.get(pod.task)
        if task is None:
            return None
        plan_ = serving.get(task.name)
        if task.model is not None and (plan_ is None or not plan_.ready):
            return pod.template_hash  # nothing to roll to yet: the pod keeps serving what it has
        return serving_hash(task, plan_, pod.index)

    stale = [p for p in current if p.template_hash != wanted(p) and p.name not in result.delete]
    # At most one replica unavailable (maxUnavailable 1, no surge: a replacement takes its predecessor's name,
    # so it exists only once that one is gone). Count the ready pods against every replica wanted: a pod
    # terminating or not yet recreated is missing from ``current`` and must count as unavailable.
    wanted_total = len(_wanted_slots(job, serving))
    ready = sum(p.ready for p in current if p.name not in result.delete)
    if stale and ready >= wanted_total and not result.create:
        pod = stale[0]
        result.delete.append(pod.name)
        plan_ = serving.get(pod.task)
        version = plan_.version_for(pod.index) if plan_ is not None else None
        what = (
            f"model {plan_.model} version {version}"
            if plan_ is not None and version is not None and version != pod.model_version
            else "the new template"
        )
        result.events.append(Event("Normal", "RollingUpdate", f"replacing {pod.name} with {what}"))


def _fail(
    job: AIJob,
    result: Plan,
    pods: Sequence[ObservedPod],
    current: Sequence[ObservedPod],
    reason: str,
    message: str,
    now: datetime,
) -> Plan:
    result.status.completion_time = now
    result.delete = [p.name for p in pods if not p.deleting and not p.finished]
    _count(job, result.status, current)
    _transition(result, JobPhase.FAILED, reason, message, now, event_type="Warning")
    _expire(job, result, now)
    return result


def _expire(job: AIJob, result: Plan, now: datetime) -> None:
    ttl = job.spec.run_policy.ttl_seconds_after_finished
    done = result.status.completion_time
    if ttl is None or done is None:
        return
    remaining = (done + timedelta(seconds=ttl) - now).total_seconds()
    if remaining <= 0:
        result.delete_job = True
    else:
        result.requeue_after = remaining


def _count(job: AIJob, status: AIJobStatus, pods: Sequence[ObservedPod]) -> None:
    status.tasks = []
    for task in job.spec.tasks:
        mine = [p for p in pods if p.task == task.name]
        status.tasks.append(
            TaskStatus(
                name=task.name,
                replicas=task.replicas,
                pending=sum(p.phase == "Pending" for p in mine),
                running=sum(p.phase == "Running" for p in mine),
                succeeded=sum(p.phase == "Succeeded" for p in mine),
                failed=sum(p.phase == "Failed" for p in mine),
            )
        )
    status.placement = [
        PodPlacement(pod=p.name, task=p.task, node=p.node, devices=list(p.devices))
        for p in sorted(pods, key=lambda p: p.name)
        if p.node
    ]
    status.ready = f"{sum(p.phase == 'Running' for p in pods)}/{job.spec.total_replicas}"
    status.pods = pods_summary(pods, job.spec.total_replicas)


def pods_summary(pods: Sequence[ObservedPod], total: int) -> str:
    """``3/4 running``, ``4/4 succeeded``, ``1 failed, 3/4 succeeded``, ``2/4 placed`` (the Pods column)."""
    succeeded = sum(p.phase == "Succeeded" for p in pods)
    failed = sum(p.phase == "Failed" for p in pods)
    running = sum(p.phase == "Running" for p in pods)
    if failed:
        return f"{failed} failed, {succeeded}/{total} succeeded"
    if succeeded and not running:
        return f"{succeeded}/{total} succeeded"
    if running:
        done = f", {succeeded} succeeded" if succeeded else ""
        return f"{running}/{total} running{done}"
    return f"{sum(p.bound for p in pods)}/{total} placed"


_PHASE_CONDITION = {
    JobPhase.QUEUED: ConditionType.QUEUED,
    JobPhase.RUNNING: ConditionType.RUNNING,
    JobPhase.SUCCEEDED: ConditionType.SUCCEEDED,
    JobPhase.FAILED: ConditionType.FAILED,
    JobPhase.SUSPENDED: ConditionType.SUSPENDED,
    JobPhase.PREEMPTED: ConditionType.PREEMPTED,
    JobPhase.ADMITTED: ConditionType.ADMITTED,
}


def _transition(
    result: Plan, phase: JobPhase, reason: str, message: str, now: datetime, event_type: str = "Normal"
) -> None:
    """Set the phase, its condition (True) and the others it rules out (False); emit an Event on change."""
    status = result.status
    if status.phase != phase:
        result.events.append(Event(event_type, reason, message))
    status.phase, status.reason, status.message = phase, reason, message
    _set(status, _PHASE_CONDITION[phase], True, reason, message, now)
    exclusive = {
        ConditionType.QUEUED,
        ConditionType.RUNNING,
        ConditionType.SUSPENDED,
        ConditionType.SUCCEEDED,
        ConditionType.FAILED,
    }
    if phase in TERMINAL or phase is JobPhase.RUNNING:
        exclusive.add(ConditionType.PREEMPTED)  # stays visible while the preempted job waits to run again
    for other in exclusive - {_PHASE_CONDITION[phase]}:
        if any(c.type == other for c in status.conditions):
            _set(status, other, False, reason, message, now)
    waiting = phase in {JobPhase.QUEUED, JobPhase.SUSPENDED, JobPhase.PREEMPTED}
    if waiting and any(c.type == ConditionType.ADMITTED for c in status.conditions):
        _set(status, ConditionType.ADMITTED, False, reason, message, now)


def _set(
    status: AIJobStatus, kind: ConditionType, true: bool, reason: str, message: str, now: datetime
) -> None:
    """Upsert one condition; ``lastTransitionTime`` changes only when the status flips."""
    value = ConditionStatus.TRUE if true else ConditionStatus.FALSE
    for index, cond in enumerate(status.conditions):
        if cond.type == kind:
            changed = cond.status != value
            status.conditions[index] = cond.model_copy(
                update={
                    "status": value,
                    "reason": reason,
                    "message": message,
                    "last_transition_time": now if changed else cond.last_transition_time,
                    "observed_generation": status.observed_generation,
                }
            )
            return
    status.conditions.append(
        Condition(
            type=kind,
            status=value,
            reason=reason,
            message=message,
            last_transition_time=now,
            observed_generation=status.observed_generation,
        )
    )
