"""Small builders for the quota tests: Queues, bound pods with device assignments, AIJobs."""

from __future__ import annotations

from typing import Any

from motherboard.api.assignment import AssignedDevice, ContainerAssignment, DeviceAssignment
from motherboard.api.v1alpha1 import Queue


def queue_body(
    name: str, *quotas: dict[str, Any], parent: str | None = None, namespaces: list[str] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"quotas": list(quotas), "namespaces": namespaces or []}
    if parent:
        spec["parent"] = parent
    return {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "Queue",
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": spec,
    }


def queue(
    name: str, *quotas: dict[str, Any], parent: str | None = None, namespaces: list[str] | None = None
) -> Queue:
    return Queue.model_validate(queue_body(name, *quotas, parent=parent, namespaces=namespaces))


def quota(resource: str, nominal: str, **limits: str) -> dict[str, Any]:
    return {"resource": resource, "nominal": nominal, **limits}


def pod(
    name: str,
    namespace: str = "team",
    *,
    node: str | None = "node-0",
    queue: str | None = None,
    devices: dict[str, list[int]] | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    phase: str = "Running",
    job: str | None = None,
    task: str = "worker",
) -> dict[str, Any]:
    """A pod; ``devices`` maps a resource to the milli of each assigned device."""
    labels = {"motherboard.io/task-name": task}
    if queue:
        labels["motherboard.io/queue"] = queue
    if job:
        labels["motherboard.io/job-name"] = job
    annotations = {}
    if devices and node:
        assignment = DeviceAssignment(
            node=node,
            containers=tuple(
                ContainerAssignment(
                    name="main",
                    resource=resource,
                    devices=tuple(
                        AssignedDevice(id=f"{resource}-{i}", milli=m) for i, m in enumerate(millis)
                    ),
                )
                for resource, millis in devices.items()
            ),
        )
        annotations = assignment.annotations()
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    spec: dict[str, Any] = {"containers": [{"name": "main", "resources": {"requests": requests}}]}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
        "spec": spec,
        "status": {"phase": phase},
    }
