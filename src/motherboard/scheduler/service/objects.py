"""Kubernetes objects (plain JSON dicts) → the scheduler core's values: one place that reads pods and nodes.

No model classes on the hot path: a pod is read once per event with dict lookups. What a pod needs comes
from its spec (resources, priority, tolerations, node affinity) and from the annotations the operator
writes (``device-request``, ``placement``, gang labels), so the scheduler never reads AIJobs.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from motherboard.api.assignment import AssignmentError, DeviceAssignment
from motherboard.api.constants import (
    ANNOTATION_DEVICE_REQUEST,
    ANNOTATION_GANG_MIN_AVAILABLE,
    ANNOTATION_PLACEMENT,
    LABEL_ATTEMPT,
    LABEL_POD_GROUP,
    LABEL_QUEUE,
    SCHEDULER_NAME,
)
from motherboard.devices.model import InventoryError, NodeInventory
from motherboard.scheduler.admission import Resources, parse_quantity
from motherboard.scheduler.cache import NodeSpec, PodRequest, TopologyLevel, TopologyRule
from motherboard.scheduler.cache.types import LabelRequirement, NodeSelectorTerm, Taint, Toleration
from motherboard.scheduler.service.devices import device_request, pod_quota

Obj = dict[str, Any]
MIB = 2**20


@dataclass(frozen=True, slots=True)
class PodInfo:
    """One pod as the scheduler tracks it."""

    key: str
    """``namespace/name``: the pod's name in the cache."""
    namespace: str
    name: str
    uid: str
    request: PodRequest
    quota: Resources
    gang: str
    """Workload key: ``namespace/group@attempt`` for a gang, ``namespace/name`` for a lone pod."""
    min_available: int
    queue: str | None
    """The ``motherboard.io/queue`` label, if any (the adapter falls back to the namespace's queue)."""
    created: float
    node: str | None
    assignment: DeviceAssignment | None
    ours: bool
    done: bool
    """Succeeded, Failed or being deleted: it holds nothing any more."""
    disrupted: bool


def pod_info(pod: Obj) -> PodInfo:
    """Read a Pod object."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    ns, name = meta.get("namespace", "default"), meta["name"]
    labels: dict[str, str] = meta.get("labels") or {}
    annotations: dict[str, str] = meta.get("annotations") or {}
    key = f"{ns}/{name}"
    group = labels.get(LABEL_POD_GROUP)
    gang = f"{ns}/{group}@{labels.get(LABEL_ATTEMPT, '0')}" if group else key
    cpu, memory = _cpu_memory(spec)
    raw_devices = _json(annotations.get(ANNOTATION_DEVICE_REQUEST))
    devices, pool = device_request(spec, raw_devices)
    request = PodRequest(
        name=key,
        cpu_milli=cpu,
        memory_mib=memory,
        devices=devices,
        group=gang if group else None,
        priority=int(spec.get("priority") or 0),
        queue=labels.get(LABEL_QUEUE, ""),
        labels=labels,
        tolerations=tuple(_toleration(t) for t in spec.get("tolerations") or ()),
        node_selector=_node_selector(spec),
        **_placement(_json(annotations.get(ANNOTATION_PLACEMENT))),
    )
    try:
        assignment = DeviceAssignment.from_pod_annotations(annotations)
    except AssignmentError:
        assignment = None  # treated as unassigned: a bound pod is then charged CPU and memory only
    conditions = {c.get("type"): c for c in status.get("conditions") or ()}
    disrupted = (conditions.get("DisruptionTarget") or {}).get("status") == "True"
    return PodInfo(
        key=key,
        namespace=ns,
        name=name,
        uid=meta.get("uid", ""),
        request=request,
        quota=pod_quota(request, pool),
        gang=gang,
        min_available=max(1, _int(annotations.get(ANNOTATION_GANG_MIN_AVAILABLE), 1)) if group else 1,
        queue=labels.get(LABEL_QUEUE),
        created=_timestamp(meta.get("creationTimestamp")),
        node=spec.get("nodeName") or None,
        assignment=assignment,
        ours=spec.get("schedulerName") == SCHEDULER_NAME,
        done=status.get("phase") in ("Succeeded", "Failed") or meta.get("deletionTimestamp") is not None,
        disrupted=disrupted,
    )


def node_spec(node: Obj) -> NodeSpec:
    """Read a Node object: allocatable CPU, memory and pods, labels, taints, and the device inventory."""
    meta, spec, status = node["metadata"], node.get("spec") or {}, node.get("status") or {}
    allocatable = status.get("allocatable") or {}
    try:
        inventory = NodeInventory.from_node_annotations(meta.get("annotations"))
    except InventoryError:
        inventory = NodeInventory()  # a broken annotation: the node still takes pods without devices
    return NodeSpec(
        name=meta["name"],
        cpu_milli=int(parse_quantity(allocatable.get("cpu", "0")) * 1000),
        memory_mib=int(parse_quantity(allocatable.get("memory", "0")) / MIB),
        max_pods=int(parse_quantity(allocatable.get("pods", "0"))),
        inventory=inventory,
        labels=dict(meta.get("labels") or {}),
        schedulable=not spec.get("unschedulable", False),
        taints=tuple(
            Taint(t["key"], t.get("value", ""), t.get("effect", "NoSchedule"))
            for t in spec.get("taints") or ()
        ),
    )


def _cpu_memory(spec: Obj) -> tuple[int, int]:
    # As kube-scheduler: the sum over containers, or the largest init container if that is more.
    def total(containers: list[Obj], resource: str) -> list[float]:
        out = []
        for c in containers:
            res = c.get("resources") or {}
            value = (res.get("requests") or {}).get(resource, (res.get("limits") or {}).get(resource))
            out.append(_amount(value) if value is not None else 0.0)
        return out

    main, init = spec.get("containers") or [], spec.get("initContainers") or []
    cpu = max(sum(total(main, "cpu")), max(total(init, "cpu"), default=0.0))
    mem = max(sum(total(main, "memory")), max(total(init, "memory"), default=0.0))
    return math.ceil(cpu * 1000), math.ceil(mem / MIB)


@functools.lru_cache(maxsize=4096)
def _amount(value: str | int | float) -> float:
    # Pods of one workload repeat the same few quantity strings: parse each once.
    return float(parse_quantity(value))


def _toleration(t: Obj) -> Toleration:
    return Toleration(t.get("key", ""), t.get("operator", "Equal"), t.get("value", ""), t.get("effect", ""))


def _node_selector(spec: Obj) -> tuple[NodeSelectorTerm, ...]:
    # nodeSelector ANDs with the affinity terms: fold it into every term.
    plain = tuple(LabelRequirement(k, "In", (v,)) for k, v in (spec.get("nodeSelector") or {}).items())
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = [
        tuple(
            LabelRequirement(e["key"], e.get("operator", "In"), tuple(e.get("values") or ()))
            for e in term.get("matchExpressions") or ()
        )
        for term in required.get("nodeSelectorTerms") or ()
    ]
    if not terms:
        return (plain,) if plain else ()
    return tuple(plain + term for term in terms)


def _placement(raw: Obj | None) -> dict[str, Any]:
    """PodRequest fields from the job's placement annotation (sites, site kind, topology)."""
    if not raw:
        return {}
    out: dict[str, Any] = {}
    sites = raw.get("requiredSites") or []
    if len(sites) == 1:
        out["site"] = sites[0]  # several sites: the pod's node affinity (rendered by the operator) decides
    preferred = raw.get("preferredSites") or []
    if preferred:
        out["preferred_sites"] = tuple(str(site) for site in preferred)
    if raw.get("siteKind"):
        out["site_kind"] = str(raw["siteKind"]).lower()
    topology = raw.get("topology")
    if topology and topology.get("level"):
        out["topology"] = TopologyRule(TopologyLevel(topology["level"]), topology.get("mode") != "Preferred")
    return out


def _json(value: str | None) -> Obj | None:
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):  # garbage (or nested past the decoder): no placement
        return None
    return parsed if isinstance(parsed, dict) else None


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


@functools.lru_cache(maxsize=1024)
def _timestamp(value: str | None) -> float:
    # Creation times have one-second resolution: a burst of pods shares a few of them.
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
