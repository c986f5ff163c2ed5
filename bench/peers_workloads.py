"""One workload description, four systems: Motherboard, Kueue, Volcano (and plain kube-scheduler pods).

A :class:`Workload` names tenants (a guarantee and a borrowing limit per resource, a fair-share weight) and
jobs (gangs of identical pods asking for CPU and GPUs). Each ``to_*`` function turns it into the objects
that system needs, so every benchmark submits *the same* work to each peer:

================  ===========================  ==============================  ===========================
description       Motherboard                  Kueue                           Volcano
================  ===========================  ==============================  ===========================
cohort            root ``Queue`` (parent)      ``cohortName`` on each CQ       (none: queues share the
                                                                               cluster; ``capacity`` plugin)
tenant guarantee  ``Queue.quotas[].nominal``   ``ClusterQueue`` nominalQuota   ``Queue.spec.deserved`` (not
                                                                               ``guarantee``: never lent)
tenant ceiling    nominal + ``borrowingLimit`` nominalQuota + borrowingLimit  ``Queue.spec.capability``
lend              ``lendingLimit``             ``lendingLimit``                (implicit: unused deserved)
reclaim           ``reclaimFromBorrowers: Any`` ``reclaimWithinCohort: Any``    ``reclaimable: true`` +
                                                                               ``reclaim`` action
tenant's door     ``AIJob.spec.queue``         ``LocalQueue`` in the namespace ``vcjob.spec.queue``
gang of N pods    ``gang.minAvailable: N``     one Workload admitted whole;    ``minAvailable: N``
                                               pods placed one by one by        (PodGroup)
                                               kube-scheduler
GPU request       ``devices.count`` (whole)    ``limits: nvidia.com/gpu``      ``limits: nvidia.com/gpu``
================  ===========================  ==============================  ===========================

Kept free of cluster access (pure functions of the description) so the unit tests check the translation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

GPU = "nvidia.com/gpu"
KUEUE_API = "kueue.x-k8s.io/v1beta2"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_FLAVOR = "default-flavor"
VOLCANO_SCHEDULING_API = "scheduling.volcano.sh/v1beta1"
VOLCANO_BATCH_API = "batch.volcano.sh/v1alpha1"
VOLCANO_SCHEDULER = "volcano"
MB_API = "motherboard.io/v1alpha1"
MB_SCHEDULER = "motherboard-scheduler"
TOLERATE_ALL = [{"operator": "Exists"}]
IMAGE = "busybox"

SYSTEMS = ("motherboard", "kueue", "volcano")


class WorkloadError(ValueError):
    """A workload description that cannot be translated (names the field and the fix)."""


@dataclass(frozen=True)
class Tenant:
    """A tenant's share of the cluster: what it is guaranteed and how far it may borrow."""

    name: str
    gpus: int
    """Guarantee in whole GPUs (Motherboard nominal, Kueue nominalQuota, Volcano deserved/guarantee)."""
    cpu: str = "64"
    """Guarantee in CPU (a Kubernetes quantity)."""
    borrow_gpus: int | None = None
    """How many GPUs beyond the guarantee it may borrow from the cohort; None: no limit."""
    lend_gpus: int | None = None
    """How many of its GPUs it lends; None: all it does not use."""
    weight: int = 1


@dataclass(frozen=True)
class Job:
    """A gang: ``pods`` identical pods, all or nothing."""

    name: str
    tenant: str
    pods: int = 4
    gpus: int = 0
    """Whole GPUs per pod."""
    cpu: str = "10m"
    """CPU request per pod."""
    node_selector: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Workload:
    name: str
    """DNS label: the namespace prefix and the cohort's name."""
    tenants: tuple[Tenant, ...]
    jobs: tuple[Job, ...]

    def __post_init__(self) -> None:
        if not self.tenants:
            raise WorkloadError(f"workload {self.name}: tenants: give at least one tenant")
        names = [t.name for t in self.tenants]
        if len(set(names)) != len(names):
            raise WorkloadError(
                f"workload {self.name}: tenants: names repeat ({', '.join(names)}); make them unique"
            )
        for t in self.tenants:
            if t.gpus < 0:
                raise WorkloadError(f"tenant {t.name}: gpus: {t.gpus} is negative; give 0 or more")
            if t.lend_gpus is not None and not 0 <= t.lend_gpus <= t.gpus:
                raise WorkloadError(
                    f"tenant {t.name}: lend_gpus: {t.lend_gpus} not in 0..{t.gpus} (its guarantee)"
                )
        jobs = [j.name for j in self.jobs]
        if len(set(jobs)) != len(jobs):
            raise WorkloadError(f"workload {self.name}: jobs: names repeat; make them unique")
        for j in self.jobs:
            if j.tenant not in names:
                raise WorkloadError(f"job {j.name}: tenant: {j.tenant!r} is not one of {', '.join(names)}")
            if j.pods < 1:
                raise WorkloadError(f"job {j.name}: pods: {j.pods}; a gang needs at least 1 pod")
            if j.gpus < 0:
                raise WorkloadError(f"job {j.name}: gpus: {j.gpus} is negative; give 0 or more")

    def namespace(self, system: str) -> str:
        if system not in SYSTEMS:
            raise WorkloadError(f"system: {system!r} is not one of {', '.join(SYSTEMS)}")
        return f"{self.name}-{system[:2]}" if system != "volcano" else f"{self.name}-vc"

    def tenant_queue(self, tenant: str) -> str:
        return f"{self.name}-{tenant}"


# --- shared pieces -----------------------------------------------------------------------------------------
def _resources(job: Job) -> Obj:
    res: Obj = {"requests": {"cpu": job.cpu}}
    if job.gpus:
        res["limits"] = {GPU: str(job.gpus)}
    return res


def _pod_spec(job: Job, scheduler: str | None, restart: str = "Never") -> Obj:
    spec: Obj = {
        "restartPolicy": restart,
        "tolerations": TOLERATE_ALL,
        "containers": [{"name": "main", "image": IMAGE, "resources": _resources(job)}],
    }
    if scheduler:
        spec["schedulerName"] = scheduler
    if job.node_selector:
        spec["nodeSelector"] = dict(job.node_selector)
    return spec


PEER_LABEL = "motherboard.io/peer"
"""On each system's namespaces; Kueue's Job webhooks are scoped to namespaces labelled ``kueue``."""


def namespace(name: str, system: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {PEER_LABEL: system}},
    }


# --- Motherboard -------------------------------------------------------------------------------------------
def to_motherboard(w: Workload) -> list[Obj]:
    """A root Queue (the cohort) with one child Queue per tenant, then one AIJob per job."""
    ns = w.namespace("motherboard")
    total_gpus = sum(t.gpus for t in w.tenants)
    out: list[Obj] = [
        namespace(ns, "motherboard"),
        {
            "apiVersion": MB_API,
            "kind": "Queue",
            "metadata": {"name": w.name},
            "spec": {"quotas": [{"resource": GPU, "nominal": str(total_gpus)}]},
        },
    ]
    for t in w.tenants:
        quota: Obj = {"resource": GPU, "nominal": str(t.gpus)}
        if t.borrow_gpus is not None:
            quota["borrowingLimit"] = str(t.borrow_gpus)
        if t.lend_gpus is not None:
            quota["lendingLimit"] = str(t.lend_gpus)
        out.append(
            {
                "apiVersion": MB_API,
                "kind": "Queue",
                "metadata": {"name": w.tenant_queue(t.name)},
                "spec": {
                    "parent": w.name,
                    "namespaces": [ns],
                    "weight": t.weight,
                    "quotas": [quota],
                    "preemption": {"reclaimFromBorrowers": "Any"},
                },
            }
        )
    for j in w.jobs:
        template = _pod_spec(Job(j.name, j.tenant, j.pods, 0, j.cpu, j.node_selector), None)
        task: Obj = {"name": "w", "replicas": j.pods, "template": {"spec": template}}
        if j.gpus:
            task["devices"] = {"vendor": "nvidia", "count": j.gpus}
        out.append(
            {
                "apiVersion": MB_API,
                "kind": "AIJob",
                "metadata": {"name": j.name, "namespace": ns},
                "spec": {
                    "type": "Batch",
                    "queue": w.tenant_queue(j.tenant),
                    "gang": {"minAvailable": j.pods},
                    "tasks": [task],
                },
            }
        )
    return out


# --- Kueue -------------------------------------------------------------------------------------------------
def to_kueue(w: Workload) -> list[Obj]:
    """A ResourceFlavor, one ClusterQueue per tenant in one cohort, a LocalQueue each, suspended Jobs."""
    ns = w.namespace("kueue")
    out: list[Obj] = [
        namespace(ns, "kueue"),
        {"apiVersion": KUEUE_API, "kind": "ResourceFlavor", "metadata": {"name": KUEUE_FLAVOR}},
    ]
    for t in w.tenants:
        gpu: Obj = {"name": GPU, "nominalQuota": str(t.gpus)}
        if t.borrow_gpus is not None:
            gpu["borrowingLimit"] = str(t.borrow_gpus)
        if t.lend_gpus is not None:
            gpu["lendingLimit"] = str(t.lend_gpus)
        out.append(
            {
                "apiVersion": KUEUE_API,
                "kind": "ClusterQueue",
                "metadata": {"name": w.tenant_queue(t.name)},
                "spec": {
                    "cohortName": w.name,
                    "namespaceSelector": {},
                    "queueingStrategy": "BestEffortFIFO",
                    "fairSharing": {"weight": str(t.weight)},
                    "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
                    "resourceGroups": [
                        {
                            "coveredResources": ["cpu", GPU],
                            "flavors": [
                                {
                                    "name": KUEUE_FLAVOR,
                                    # CPU is not what the tenants compete for: a quota no job reaches.
                                    "resources": [{"name": "cpu", "nominalQuota": t.cpu}, gpu],
                                }
                            ],
                        }
                    ],
                },
            }
        )
        out.append(
            {
                "apiVersion": KUEUE_API,
                "kind": "LocalQueue",
                "metadata": {"name": w.tenant_queue(t.name), "namespace": ns},
                "spec": {"clusterQueue": w.tenant_queue(t.name)},
            }
        )
    for j in w.jobs:
        out.append(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {
                    "name": j.name,
                    "namespace": ns,
                    "labels": {KUEUE_QUEUE_LABEL: w.tenant_queue(j.tenant)},
                },
                "spec": {
                    # Kueue's webhook would set it; set here so admission is Kueue's decision either way.
                    "suspend": True,
                    "parallelism": j.pods,
                    "completions": j.pods,
                    "backoffLimit": 0,
                    "template": {"spec": _pod_spec(j, None)},
                },
            }
        )
    return out


# --- Volcano -----------------------------------------------------------------------------------------------
def to_volcano(w: Workload) -> list[Obj]:
    """One Volcano Queue per tenant (deserved = guarantee, capability = ceiling), one vcjob per job."""
    ns = w.namespace("volcano")
    out: list[Obj] = [namespace(ns, "volcano")]
    for t in w.tenants:
        spec: Obj = {
            "reclaimable": True,
            "weight": t.weight,
            # deserved, not guarantee: Volcano's guarantee is a reservation no other queue may borrow, while
            # nominal quota in Motherboard and Kueue is lent while unused and reclaimed when wanted.
            "deserved": {GPU: str(t.gpus), "cpu": t.cpu},
        }
        if t.borrow_gpus is not None:
            spec["capability"] = {GPU: str(t.gpus + t.borrow_gpus)}
        out.append(
            {
                "apiVersion": VOLCANO_SCHEDULING_API,
                "kind": "Queue",
                "metadata": {"name": w.tenant_queue(t.name)},
                "spec": spec,
            }
        )
    for j in w.jobs:
        out.append(
            {
                "apiVersion": VOLCANO_BATCH_API,
                "kind": "Job",
                "metadata": {"name": j.name, "namespace": ns},
                "spec": {
                    "schedulerName": VOLCANO_SCHEDULER,
                    "queue": w.tenant_queue(j.tenant),
                    "minAvailable": j.pods,
                    "maxRetry": 0,
                    "tasks": [
                        {
                            "name": "w",
                            "replicas": j.pods,
                            "template": {"spec": _pod_spec(j, VOLCANO_SCHEDULER)},
                        }
                    ],
                },
            }
        )
    return out


TRANSLATORS = {"motherboard": to_motherboard, "kueue": to_kueue, "volcano": to_volcano}


def translate(w: Workload, system: str) -> list[Obj]:
    try:
        return TRANSLATORS[system](w)
    except KeyError:
        raise WorkloadError(f"system: {system!r} is not one of {', '.join(SYSTEMS)}") from None


# --- the benchmark's workloads -----------------------------------------------------------------------------
def burst(jobs: int, tenants: int = 1, pods: int = 4, cpu: str = "10m") -> Workload:
    """P5: ``jobs`` small gangs, no GPUs, quota that never binds (the controllers' cost, not the quota's)."""
    ts = tuple(Tenant(f"t{i}", gpus=0, cpu=str(10 * jobs * pods)) for i in range(tenants))
    js = tuple(Job(f"job-{i:05d}", ts[i % tenants].name, pods=pods, cpu=cpu) for i in range(jobs))
    return Workload("burst", ts, js)


def gangs(
    name: str, count: int, size: int, gpus: int, capacity_gpus: int, selector: dict[str, str]
) -> Workload:
    """B2: ``count`` gangs of ``size`` pods, ``gpus`` each, one tenant owning the whole GPU capacity."""
    t = Tenant("all", gpus=capacity_gpus, cpu=str(10_000))
    js = tuple(
        Job(f"g{i:03d}", "all", pods=size, gpus=gpus, cpu="100m", node_selector=selector)
        for i in range(count)
    )
    return Workload(name, (t,), js)


def fairness(guarantee: int, gpus_per_pod: int, selector: dict[str, str]) -> tuple[Workload, Workload]:
    """Two tenants with ``guarantee`` GPUs each. Phase one: the borrower fills both guarantees (gangs of one
    node's GPUs); phase two: the lender asks for its whole guarantee back. Returned as the two phases."""
    lender, borrower = Tenant("lender", gpus=guarantee), Tenant("borrower", gpus=guarantee)
    per_job = gpus_per_pod
    jobs_each = guarantee // per_job
    borrow = tuple(
        Job(f"borrow-{i:03d}", "borrower", pods=1, gpus=per_job, cpu="100m", node_selector=selector)
        for i in range(2 * jobs_each)
    )
    reclaim = tuple(
        Job(f"reclaim-{i:03d}", "lender", pods=1, gpus=per_job, cpu="100m", node_selector=selector)
        for i in range(jobs_each)
    )
    return Workload("fair", (lender, borrower), borrow), Workload("fair", (lender, borrower), reclaim)
