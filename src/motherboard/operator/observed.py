"""What the operator reads from a pod, as a small immutable value (so the planner stays pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.constants import (
    ANNOTATION_TEMPLATE_HASH,
    LABEL_ATTEMPT,
    LABEL_MODEL_VERSION,
    LABEL_REPLICA_INDEX,
    LABEL_TASK_NAME,
    REASON_NEVER_FITS,
    REASON_PREEMPTED_BY_SCHEDULER,
)


@dataclass(frozen=True)
class ObservedPod:
    """One of the job's pods as last seen."""

    name: str
    task: str
    index: int
    phase: str = "Pending"
    node: str | None = None
    ready: bool = False
    deleting: bool = False
    attempt: int = 0
    template_hash: str = ""
    preempted: bool = False
    gone: bool = False
    """The pod no longer exists; remembered because it was preempted (the scheduler marks a victim and
    deletes it moments later, so a reconcile may first see it deleted: the mark must not be lost)."""
    unschedulable_reason: str | None = None
    """``PodScheduled=False`` message the scheduler wrote: why the pod waits."""
    never_fits: bool = False
    """The scheduler said it can never be placed as things are configured (reason ``NeverFits``)."""
    devices: tuple[str, ...] = field(default=())
    ip: str | None = None
    restarts: int = 0
    """Container restarts (all containers): a serving replica crash-looping on a new version."""
    created: datetime | None = None
    model_version: int | None = None
    """The Model version a serving replica serves (its label)."""
    fetched: str = ""
    """A serving replica's fetch step's report (its termination message): target, artifact, fallback."""

    @property
    def bound(self) -> bool:
        return self.node is not None

    @property
    def finished(self) -> bool:
        return self.phase in {"Succeeded", "Failed"}


def observe(pod: dict[str, Any]) -> ObservedPod:
    """Read an API pod object (as a dict) into an :class:`ObservedPod`."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    status = pod.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    scheduled = conditions.get("PodScheduled") or {}
    disruption = conditions.get("DisruptionTarget") or {}
    try:
        assignment = DeviceAssignment.from_pod_annotations(annotations)
    except AssignmentError:
        assignment = None  # the scheduler's business; the operator only displays devices
    devices = tuple(d.id for c in assignment.containers for d in c.devices) if assignment else ()
    return ObservedPod(
        name=meta.get("name", ""),
        task=labels.get(LABEL_TASK_NAME, ""),
        index=int(labels.get(LABEL_REPLICA_INDEX, "0")),
        phase=status.get("phase", "Pending"),
        node=(pod.get("spec") or {}).get("nodeName"),
        ready=(conditions.get("Ready") or {}).get("status") == "True",
        deleting=meta.get("deletionTimestamp") is not None,
        attempt=int(labels.get(LABEL_ATTEMPT, "0")),
        template_hash=annotations.get(ANNOTATION_TEMPLATE_HASH, ""),
        preempted=disruption.get("status") == "True"
        and disruption.get("reason") == REASON_PREEMPTED_BY_SCHEDULER,
        unschedulable_reason=scheduled.get("message") if scheduled.get("status") == "False" else None,
        never_fits=scheduled.get("status") == "False" and scheduled.get("reason") == REASON_NEVER_FITS,
        devices=devices,
        ip=status.get("podIP"),
        restarts=sum(int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or []),
        created=_time(meta.get("creationTimestamp")),
        model_version=_int(labels.get(LABEL_MODEL_VERSION)),
        fetched=_fetched(status),
    )


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _fetched(status: dict[str, Any]) -> str:
    # A serving replica whose fetch step failed exits with the reason as its termination message.
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == "runtime":
            state = cs.get("state") or {}
            terminated = state.get("terminated") or (cs.get("lastState") or {}).get("terminated")
            if terminated:
                return str(terminated.get("message") or "")[:2000]
    return ""
