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
    ANNOTATION_DEVICE_ASSIGNMENT,
    ANNOTATION_DEVICE_REQUEST,
    ANNOTATION_GANG_MIN_AVAILABLE,
    ANNOTATION_PLACEMENT,
    ANNOTATION_SERVING_PLAN,
    ANNOTATION_TEMPLATE_HASH,
    API_VERSION,
    LABEL_ATTEMPT,
    LABEL_JOB_NAME,
    LABEL_MODEL,
    LABEL_MODEL_VERSION,
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
from motherboard.operator.serving import TaskServing

PYTORCH_MASTER_PORT = 23456
RAY_GCS_PORT = 6379
RAY_DASHBOARD_PORT = 8265
RAY_CLIENT_PORT = 10001
RUNTIME_HTTP_PORT = 8000
RUNTIME_GRPC_PORT = 8001
RUNTIME_METRICS_PORT = 8002
EDGE_DISCONNECT_GRACE_SECONDS = 3600
"""An edge site's link may drop for a while: its inference replicas stay bound (and nothing is duplicated
when it comes back) unless it stays away this long."""
MODELS_DIR = "/models"
ARTIFACT_CACHE = "/var/cache/motherboard/artifacts"
"""On the node (hostPath): artifacts fetched before, by digest, so a replica restarts while cut off."""

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


def serving_hash(task: TaskSpec, serving: TaskServing | None, index: int) -> str:
    """What a pod of ``task`` at ``index`` is made from: the template, and for a model-serving task the
    version and artifacts its slot serves (a change rolls the pod)."""
    base = template_hash(task)
    return base if serving is None or task.model is None else f"{base}-{serving.plan_hash(index)}"


def render_pod(
    job: AIJob,
    uid: str,
    slot: PodSlot,
    pools: Mapping[str, DevicePoolSpec] | None = None,
    attempt: int = 0,
    serving: TaskServing | None = None,
) -> Obj:
    """The pod for one slot of the job, in gang incarnation ``attempt`` (``serving``: the task's plan)."""
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
        ANNOTATION_TEMPLATE_HASH: serving_hash(slot.task, serving, slot.index),
    }
    placement = job.spec.placement.to_wire()
    if any(placement.values()):
        annotations[ANNOTATION_PLACEMENT] = json.dumps(placement, sort_keys=True)
    containers: list[Obj] = spec.setdefault("containers", [])
    if slot.task.model is not None and serving is not None:
        _add_runtime(job, slot, serving, spec, labels, annotations)
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


def runtime_ports() -> list[Obj]:
    return [
        {"name": "http", "containerPort": RUNTIME_HTTP_PORT},
        {"name": "grpc", "containerPort": RUNTIME_GRPC_PORT},
        {"name": "metrics", "containerPort": RUNTIME_METRICS_PORT},
    ]


def _add_runtime(
    job: AIJob,
    slot: PodSlot,
    serving: TaskServing,
    spec: Obj,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    """The runtime container (first, so it gets the task's devices), its probes, volumes and serving plan.

    The fetch step runs in the runtime container, not an init container: the device plugin's ``Allocate``
    gives its variables (which device, hence which target) to the containers that request the devices, and
    an init container requesting them too would be a second claim on the scheduler's assignment."""
    from motherboard.models.fetch import ENV, ServingRequest

    version = serving.version_for(slot.index)
    assert version is not None and slot.task.model is not None
    labels[LABEL_MODEL] = serving.model
    labels[LABEL_MODEL_VERSION] = str(version)
    plan = serving.plan_for(slot.index)
    annotations[ANNOTATION_SERVING_PLAN] = json.dumps(plan, sort_keys=True)
    request = ServingRequest(
        model=serving.model,
        version=version,
        endpoint=serving.endpoint,
        plan=plan,
        max_batch_size=serving.max_batch_size,
        max_queue_delay_us=serving.max_queue_delay_us,
    )
    given = next((c for c in spec["containers"] if c.get("name") == "runtime"), None)
    runtime: Obj = given if given is not None else {"name": "runtime"}
    runtime.setdefault("image", serving.image)
    runtime.setdefault("imagePullPolicy", "IfNotPresent")
    runtime["command"] = [
        "python3", "-m", "motherboard.cli", "runtime", "serve", "--fetch", "--repository", MODELS_DIR,
        "--cache", ARTIFACT_CACHE, "--http-port", str(RUNTIME_HTTP_PORT), "--grpc-port",
        str(RUNTIME_GRPC_PORT), "--metrics-port", str(RUNTIME_METRICS_PORT),
    ]  # fmt: skip
    runtime["ports"] = runtime_ports()
    runtime["env"] = [
        *runtime.get("env", []),
        {"name": ENV, "value": request.to_json()},
        {"name": "MOTHERBOARD_DEVICE_ASSIGNMENT",
         "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{ANNOTATION_DEVICE_ASSIGNMENT}']"}}},
    ]  # fmt: skip
    runtime.setdefault("resources", {}).setdefault("requests", {"cpu": "500m", "memory": "512Mi"})
    # Generous timeouts: a replica busy with inference on a loaded node answers its probe late, and a probe
    # that times out takes the replica out of the Service (with the default 1 s, a rollout on a busy 2-core
    # node left the Service with no ready endpoint and clients were refused).
    runtime["readinessProbe"] = {
        "httpGet": {"path": "/v2/health/ready", "port": RUNTIME_HTTP_PORT},
        "periodSeconds": 1,
        "timeoutSeconds": 5,
        "failureThreshold": 5,
    }
    runtime["livenessProbe"] = {
        "httpGet": {"path": "/v2/health/live", "port": RUNTIME_HTTP_PORT},
        "initialDelaySeconds": 30,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
    }
    # Endpoints are removed asynchronously on deletion: keep serving 5 s so no request is sent to a
    # replica that stopped listening (the runtime then drains what it holds on SIGTERM).
    runtime["lifecycle"] = {"preStop": {"exec": {"command": ["python3", "-c", "import time; time.sleep(5)"]}}}
    runtime["terminationMessagePolicy"] = "FallbackToLogsOnError"
    runtime["volumeMounts"] = [
        *runtime.get("volumeMounts", []),
        {"name": "models", "mountPath": MODELS_DIR},
        {"name": "artifact-cache", "mountPath": ARTIFACT_CACHE},
    ]
    if given is None:
        spec["containers"].insert(0, runtime)
    spec["volumes"] = [
        *spec.get("volumes", []),
        {"name": "models", "emptyDir": {}},
        {"name": "artifact-cache", "hostPath": {"path": ARTIFACT_CACHE, "type": "DirectoryOrCreate"}},
    ]


def tolerated_taints(
    job: AIJob, task: TaskSpec, pools: Mapping[str, DevicePoolSpec] | None = None
) -> tuple[set[str], bool]:
    """``(keys, everything)``: the taint keys a pod of ``task`` tolerates (as :func:`render_pod` renders
    them), and whether one toleration matches every taint (``operator: Exists`` without a key)."""
    keys: set[str] = set()
    everything = False
    for toleration in (task.template.get("spec") or {}).get("tolerations") or []:
        if isinstance(toleration, dict):
            if toleration.get("key") in (None, "") and toleration.get("operator") == "Exists":
                everything = True
            elif toleration.get("key"):
                keys.add(str(toleration["key"]))
    if task.devices is not None:
        pool = (pools or {}).get(task.devices.pool or "")
        keys |= {device_taint_key(r) for r in device_resources(task.devices, pool) if "/" in r}
    placement = job.spec.placement
    if placement.site_kind is SiteKind.EDGE or placement.required_sites:
        keys.add(TAINT_EDGE)
    return keys, everything


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
    grace = placement.disconnect_grace_seconds
    if grace is None and may_run_at_edge and job.spec.type is JobType.INFERENCE:
        grace = EDGE_DISCONNECT_GRACE_SECONDS
    if grace is not None:
        # What the DefaultTolerationSeconds admission plugin adds (300 s), with the job's grace instead: a
        # pod on a node that stops reporting is evicted (and replaced) only after it.
        spec["tolerations"] = [
            *spec.get("tolerations", []),
            *(
                {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": grace}
                for key in ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")
            ),
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
        if any(task.model is not None for task in job.spec.tasks):
            known = {p["port"] for p in ports}
            ports += [
                {"name": p["name"], "port": p["containerPort"], "targetPort": p["containerPort"]}
                for p in runtime_ports()
                if p["containerPort"] not in known
            ]
        if ports:
            services.append(
                service(fit(f"{name}-serve") if services else name, {"selector": selector, "ports": ports})
            )
    return services
