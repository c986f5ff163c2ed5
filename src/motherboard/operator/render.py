"""Render an AIJob into the pods and services that run it. Pure: no API calls, no clock.

Every pod gets the scheduler name, the gang labels and annotations the scheduler groups by, an owner
reference (so deleting the job garbage-collects its pods), the device resources the device plugins
advertise, tolerations for the taints accelerator and edge nodes carry, node affinity for required sites,
and the framework's wiring (PyTorch rendezvous env, Ray start commands, inference Service).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from motherboard.api.constants import (
    ANNOTATION_DEVICE_REQUEST,
    ANNOTATION_GANG_MIN_AVAILABLE,
    ANNOTATION_PLACEMENT,
    ANNOTATION_TEMPLATE_HASH,
    API_VERSION,
    LABEL_ATTEMPT,
    LABEL_JOB_NAME,
    LABEL_POD_GROUP,
    LABEL_QUEUE,
    LABEL_REPLICA_INDEX,
    LABEL_SITE,
    LABEL_SITE_KIND,
    LABEL_TASK_NAME,
    SCHEDULER_NAME,
    TAINT_EDGE,
    device_taint_key,
)
from motherboard.api.resources import device_resources
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec, Framework, JobType, SiteKind, TaskSpec
from motherboard.operator.names import fit, has_headless_service

PYTORCH_MASTER_PORT = 23456
RAY_GCS_PORT = 6379
RAY_DASHBOARD_PORT = 8265
RAY_CLIENT_PORT = 10001

Obj = dict[str, Any]


@dataclass(frozen=True)
class PodSlot:
    """One pod the job should have: which task, which replica, which global rank."""

    task: TaskSpec
    index: int
    rank: int

    def pod_name(self, job: str) -> str:
        return f"{job}-{self.task.name}-{self.index}"

    def hostname(self, job: str) -> str:
        """The pod's hostname: its name, cut with a hash suffix where it is longer than a DNS label."""
        return fit(self.pod_name(job))


def slots(job: AIJob) -> list[PodSlot]:
    """Every pod of the job in rank order (tasks in spec order, replicas in index order)."""
    result, rank = [], 0
    for task in job.spec.tasks:
        for index in range(task.replicas):
            result.append(PodSlot(task, index, rank))
            rank += 1
    return result


def gang_min_available(job: AIJob) -> int:
    """Pods that must be placed together: ``gang.minAvailable``, else all of a Training job, else 1."""
    if job.spec.gang is not None and job.spec.gang.min_available is not None:
        return job.spec.gang.min_available
    return job.spec.total_replicas if job.spec.type is JobType.TRAINING else 1


def template_hash(task: TaskSpec) -> str:
    """A stable hash of what a task's pods are made from; a change means the pods must be replaced."""
    body = json.dumps(task.model_dump(mode="json", by_alias=True, exclude={"replicas"}), sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def owner_reference(job: AIJob, uid: str) -> Obj:
    return {
        "apiVersion": API_VERSION,
        "kind": "AIJob",
        "name": job.metadata.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def headless_service_name(job: AIJob) -> str:
    return job.metadata.name  # admission keeps it a valid Service name (:func:`.names.name_problems`)


def render_pod(
    job: AIJob, uid: str, slot: PodSlot, pools: Mapping[str, DevicePoolSpec] | None = None, attempt: int = 0
) -> Obj:
    """The pod for one slot of the job, in gang incarnation ``attempt``."""
    name = job.metadata.name
    template = copy.deepcopy(slot.task.template)
    meta: Obj = template.get("metadata") or {}
    spec: Obj = template.get("spec") or {}
    labels = {
        **meta.get("labels", {}),
        LABEL_JOB_NAME: name,
        LABEL_TASK_NAME: slot.task.name,
        LABEL_REPLICA_INDEX: str(slot.index),
        LABEL_POD_GROUP: name,
        LABEL_ATTEMPT: str(attempt),
    }
    if job.spec.queue:
        labels[LABEL_QUEUE] = job.spec.queue
    annotations = {
        **meta.get("annotations", {}),
        ANNOTATION_GANG_MIN_AVAILABLE: str(gang_min_available(job)),
        ANNOTATION_TEMPLATE_HASH: template_hash(slot.task),
    }
    placement = job.spec.placement.to_wire()
    if any(placement.values()):
        annotations[ANNOTATION_PLACEMENT] = json.dumps(placement, sort_keys=True)
    containers: list[Obj] = spec.setdefault("containers", [])
    if slot.task.devices is not None:
        pool = (pools or {}).get(slot.task.devices.pool or "")
        annotations[ANNOTATION_DEVICE_REQUEST] = json.dumps(
            slot.task.devices.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True
        )
        _add_device_limits(containers[0], device_resources(slot.task.devices, pool))
        spec["tolerations"] = [*spec.get("tolerations", []), *_device_tolerations(containers[0])]
    _add_placement(job, spec)
    for container in containers:
        container["env"] = [*container.get("env", []), *_env(job, slot)]
    _wire_framework(job, slot, spec)
    spec["schedulerName"] = SCHEDULER_NAME
    spec.setdefault("restartPolicy", "Always" if job.spec.type is JobType.INFERENCE else "Never")
    if job.spec.priority_class_name:
        spec["priorityClassName"] = job.spec.priority_class_name
    if has_headless_service(job):
        spec["hostname"] = slot.hostname(name)
        spec["subdomain"] = headless_service_name(job)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": slot.pod_name(name),
            "namespace": job.metadata.namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner_reference(job, uid)],
        },
        "spec": spec,
    }


def _add_device_limits(container: Obj, resources: Mapping[str, int]) -> None:
    # Extended resources must be set as limits (requests default to them and may not differ).
    limits = container.setdefault("resources", {}).setdefault("limits", {})
    for resource, count in resources.items():
        limits[resource] = str(count)


def _device_tolerations(container: Obj) -> list[Obj]:
    # As the ExtendedResourceToleration admission plugin would: a pod asking for a device tolerates the
    # taint that keeps other pods off the nodes that have it.
    limits = container.get("resources", {}).get("limits", {})
    keys = sorted({device_taint_key(resource) for resource in limits if "/" in resource})
    return [{"key": key, "operator": "Exists", "effect": "NoSchedule"} for key in keys]


def _add_placement(job: AIJob, spec: Obj) -> None:
    placement = job.spec.placement
    terms: list[Obj] = []
    if placement.required_sites:
        terms.append({"key": LABEL_SITE, "operator": "In", "values": list(placement.required_sites)})
    if placement.site_kind is not None:
        terms.append(
            {"key": LABEL_SITE_KIND, "operator": "In", "values": [placement.site_kind.value.lower()]}
        )
    if terms:
        affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
        required = affinity.setdefault(
            "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
        )
        if required["nodeSelectorTerms"]:
            for term in required["nodeSelectorTerms"]:
                term.setdefault("matchExpressions", []).extend(terms)
        else:
            required["nodeSelectorTerms"].append({"matchExpressions": terms})
    may_run_at_edge = placement.site_kind is SiteKind.EDGE or bool(placement.required_sites)
    if may_run_at_edge:
        spec["tolerations"] = [
            *spec.get("tolerations", []),
            {"key": TAINT_EDGE, "operator": "Exists", "effect": "NoSchedule"},
        ]


def _env(job: AIJob, slot: PodSlot) -> list[Obj]:
    name = job.metadata.name
    env = [
        {"name": "MOTHERBOARD_JOB_NAME", "value": name},
        {"name": "MOTHERBOARD_TASK_NAME", "value": slot.task.name},
        {"name": "MOTHERBOARD_REPLICA_INDEX", "value": str(slot.index)},
        {"name": "WORLD_SIZE", "value": str(job.spec.total_replicas)},
        {"name": "RANK", "value": str(slot.rank)},
    ]
    if job.spec.framework is Framework.PYTORCH:
        first = slots(job)[0]
        env += [
            {"name": "MASTER_ADDR", "value": f"{first.hostname(name)}.{headless_service_name(job)}"},
            {"name": "MASTER_PORT", "value": str(PYTORCH_MASTER_PORT)},
            {"name": "PET_NNODES", "value": str(job.spec.total_replicas)},
            {"name": "PET_NODE_RANK", "value": str(slot.rank)},
        ]
    if job.spec.framework is Framework.RAY:
        env.append({"name": "RAY_ADDRESS", "value": f"{ray_head_service(job)}:{RAY_GCS_PORT}"})
    return env


def ray_head_service(job: AIJob) -> str:
    return fit(f"{job.metadata.name}-head")


def _wire_framework(job: AIJob, slot: PodSlot, spec: Obj) -> None:
    if job.spec.framework is not Framework.RAY:
        return
    main = spec["containers"][0]
    if slot.task.name == "head":
        start = f"ray start --head --port={RAY_GCS_PORT} --dashboard-host=0.0.0.0 --block"
        main.setdefault("ports", []).extend(
            [
                {"name": "gcs", "containerPort": RAY_GCS_PORT},
                {"name": "dashboard", "containerPort": RAY_DASHBOARD_PORT},
                {"name": "client", "containerPort": RAY_CLIENT_PORT},
            ]
        )
    else:
        start = f"ray start --address={ray_head_service(job)}:{RAY_GCS_PORT} --block"
    # A container that brings its own command keeps it (it may wrap `ray start`); otherwise start Ray.
    if "command" not in main:
        main["command"] = ["bash", "-c", start]


def render_services(job: AIJob, uid: str) -> list[Obj]:
    """Services the job needs: headless for rank addressing, the Ray head, the inference endpoint."""
    name = job.metadata.name
    selector = {LABEL_JOB_NAME: name}
    services: list[Obj] = []

    def service(svc_name: str, spec: Obj) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": svc_name,
                "namespace": job.metadata.namespace,
                "labels": {LABEL_JOB_NAME: name},
                "ownerReferences": [owner_reference(job, uid)],
            },
            "spec": spec,
        }

    if has_headless_service(job):
        services.append(
            service(
                headless_service_name(job),
                {"clusterIP": "None", "selector": selector, "publishNotReadyAddresses": True},
            )
        )
    if job.spec.framework is Framework.RAY:
        ports = [
            {"name": "gcs", "port": RAY_GCS_PORT},
            {"name": "dashboard", "port": RAY_DASHBOARD_PORT},
            {"name": "client", "port": RAY_CLIENT_PORT},
        ]
        services.append(
            service(
                ray_head_service(job), {"selector": {**selector, LABEL_TASK_NAME: "head"}, "ports": ports}
            )
        )
    if job.spec.type is JobType.INFERENCE:
        ports = [
            {
                "name": p.get("name", f"port-{p['containerPort']}"),
                "port": p["containerPort"],
                "targetPort": p["containerPort"],
            }
            for task in job.spec.tasks
            for c in (task.template.get("spec") or {}).get("containers", [])
            for p in c.get("ports", [])
        ]
        if ports:
            services.append(
                service(fit(f"{name}-serve") if services else name, {"selector": selector, "ports": ports})
            )
    return services
