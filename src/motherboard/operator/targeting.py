"""The hardware targets a task's replicas may land on, from the nodes its placement allows. Pure.

The operator decides *what* to compile from this: one artifact per target a replica could be given. The
nodes are filtered the way the scheduler will filter them (required sites, site kind, the device request's
vendor, model or pool), and each remaining node maps to a target through :mod:`motherboard.models.targets`
(the one place targets are named): its accelerator for a device task, its CPU architecture otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from motherboard.api import constants as c
from motherboard.api.v1alpha1 import AIJob, DevicePoolSpec, TaskSpec
from motherboard.models.errors import ModelError
from motherboard.models.targets import LABEL_ARCH, target_for_device
from motherboard.operator.aggregate import NodeView
from motherboard.operator.render import tolerated_taints


def _allowed_by_placement(job: AIJob, labels: Mapping[str, str]) -> bool:
    placement = job.spec.placement
    if placement.required_sites and labels.get(c.LABEL_SITE) not in placement.required_sites:
        return False
    kind = placement.site_kind
    return kind is None or labels.get(c.LABEL_SITE_KIND) == kind.value.lower()


def _matches_pool(labels: Mapping[str, str], pool: DevicePoolSpec) -> bool:
    if pool.site is not None and labels.get(c.LABEL_SITE) != pool.site:
        return False
    if not pool.node_selector.matches(dict(labels)):
        return False
    return _matches_device(labels, pool.vendor.value, pool.model)


def _matches_device(labels: Mapping[str, str], vendor: str, model: str | None) -> bool:
    if labels.get(c.LABEL_ACCELERATOR_VENDOR) != vendor:
        return False
    return model is None or labels.get(c.LABEL_ACCELERATOR_MODEL, "").lower() == model.lower()


def task_targets(
    job: AIJob, task: TaskSpec, nodes: Mapping[str, NodeView], pools: Mapping[str, DevicePoolSpec]
) -> tuple[tuple[str, ...], str]:
    """``(targets, problem)``: the sorted targets of the nodes ``task`` may land on, and, when there is
    none, why (naming what to change)."""
    request = task.devices
    pool = pools.get(request.pool) if request is not None and request.pool else None
    if request is not None and request.pool and pool is None:
        return (), f"tasks[{task.name}].devices.pool: DevicePool {request.pool} does not exist"
    targets: set[str] = set()
    unsupported: set[str] = set()
    seen = 0
    selector = ((task.template.get("spec") or {}).get("nodeSelector")) or {}
    tolerated, everything = tolerated_taints(job, task, pools)
    for node in nodes.values():
        labels = node.labels
        if not _allowed_by_placement(job, labels):
            continue
        if not everything and any(key not in tolerated for key, _ in node.taints):
            continue  # the pod would never be placed there (as kube-scheduler's TaintToleration filter)
        if any(labels.get(k) != v for k, v in selector.items()):
            continue
        arch = labels.get(LABEL_ARCH, "amd64")
        if request is None:
            vendor, model = None, None
        elif pool is not None:
            if not _matches_pool(labels, pool):
                continue
            vendor, model = pool.vendor.value, labels.get(c.LABEL_ACCELERATOR_MODEL) or pool.model
        else:
            assert request.vendor is not None  # the API requires a vendor or a pool
            if not _matches_device(labels, request.vendor.value, request.model):
                continue
            vendor, model = request.vendor.value, labels.get(c.LABEL_ACCELERATOR_MODEL) or request.model
        seen += 1
        try:
            targets.add(target_for_device(vendor, model, arch).name)
        except (ModelError, ValueError) as exc:
            unsupported.add(str(exc))
    if targets:
        return tuple(sorted(targets)), ""
    if unsupported:
        return (), "no compile target for the devices this task may be given: " + "; ".join(
            sorted(unsupported)
        )
    wanted = "any node" if request is None else f"a node with {request.pool or request.vendor} devices"
    return (), (
        f"the job's placement allows no {wanted} ({seen} of {len(nodes)} nodes match): widen "
        "spec.placement or tasks[].devices"
    )
