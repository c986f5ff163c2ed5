"""What the operator reads from a pod, as a small immutable value (so the planner stays pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.constants import (
    ANNOTATION_TEMPLATE_HASH,
    LABEL_ATTEMPT,
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
    )
