"""``AIJob``: training, batch and inference work made of tasks of replicated pods.

An AIJob names its tasks (each a pod template, a replica count and a device request), the tenant queue it
is charged to, whether it is a gang (all pods placed together or none), where it may run (sites, topology)
and what happens on failure. The operator turns it into pods and services; the scheduler admits it against
the queue's quota and places every pod on exact devices.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from motherboard.api.base import ApiModel, Condition, DnsLabel, Quantity, Resource
from motherboard.api.mig import KNOWN_MIG_PROFILES
from motherboard.api.partitions import KNOWN_AMD_PARTITIONS
from motherboard.api.v1alpha1.common import SharingMode, SiteKind, TopologyLevel, Vendor

MAX_TASKS = 16
MAX_REPLICAS = 10_000


class JobType(StrEnum):
    """What kind of work the job is."""

    TRAINING = "Training"
    BATCH = "Batch"
    INFERENCE = "Inference"


class Framework(StrEnum):
    """Which framework wiring the operator adds to the pods."""

    PYTORCH = "PyTorch"
    RAY = "Ray"
    GENERIC = "Generic"


class DeviceSharing(ApiModel):
    """How each pod of the task receives its devices."""

    mode: SharingMode = SharingMode.WHOLE
    """``Whole`` devices, a ``MIG`` slice or AMD compute partition (name ``migProfile``), or a ``Fraction``."""
    mig_profile: str | None = Field(
        default=None, json_schema_extra={"enum": [*KNOWN_MIG_PROFILES, *KNOWN_AMD_PARTITIONS]}
    )
    """MIG profile of each slice (``1g.10gb``) or AMD compute partition (``cpx_nps4``); required with MIG."""
    fraction: float | None = Field(default=None, gt=0, le=1)
    """Share of one device's compute, in (0, 1]; required when mode is Fraction."""
    memory: Quantity | None = None
    """Device memory the pod may use with a Fraction, e.g. ``20Gi``; enforced by the device plugin."""

    @field_validator("mig_profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        if value is not None and value not in KNOWN_MIG_PROFILES and value not in KNOWN_AMD_PARTITIONS:
            raise ValueError(
                f"unknown MIG profile {value!r}: use one of {', '.join(KNOWN_MIG_PROFILES)} "
                f"(NVIDIA) or {', '.join(KNOWN_AMD_PARTITIONS)} (AMD compute partitions)"
            )
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> DeviceSharing:
        if self.mode is SharingMode.MIG and self.mig_profile is None:
            raise ValueError("migProfile: required when mode is MIG (e.g. 1g.10gb)")
        if self.mode is not SharingMode.MIG and self.mig_profile is not None:
            raise ValueError("migProfile: only allowed when mode is MIG")
        if self.mode is SharingMode.FRACTION and self.fraction is None:
            raise ValueError("fraction: required when mode is Fraction (e.g. 0.25)")
        if self.mode is not SharingMode.FRACTION and (self.fraction is not None or self.memory is not None):
            raise ValueError("fraction: fraction and memory are only allowed when mode is Fraction")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "self.mode != 'MIG' || has(self.migProfile)",
            "message": "migProfile is required when mode is MIG (e.g. 1g.10gb)",
            "fieldPath": ".migProfile",
        },
        {
            "rule": "self.mode == 'MIG' || !has(self.migProfile)",
            "message": "migProfile is only allowed when mode is MIG",
            "fieldPath": ".migProfile",
        },
        {
            "rule": "self.mode != 'Fraction' || has(self.fraction)",
            "message": "fraction is required when mode is Fraction (e.g. 0.25)",
            "fieldPath": ".fraction",
        },
        {
            "rule": "self.mode == 'Fraction' || (!has(self.fraction) && !has(self.memory))",
            "message": "fraction and memory are only allowed when mode is Fraction",
            "fieldPath": ".fraction",
        },
    ]


class DeviceRequest(ApiModel):
    """The accelerators each pod of a task needs. Name a pool, or a vendor (and optionally a model)."""

    vendor: Vendor | None = None
    """Accelerator vendor: nvidia, huawei, cambricon, amd, kunlunxin or metax."""
    model: str | None = Field(default=None, min_length=1, max_length=63)
    """Device model, e.g. ``H100-80GB``, ``A100-80GB``, ``Ascend910B``, ``T4``."""
    pool: str | None = Field(default=None, min_length=1, max_length=253)
    """Name of a DevicePool to take the devices from (instead of vendor/model)."""
    count: int = Field(default=1, ge=1, le=64)
    """Devices (or MIG slices) per pod; must be 1 with a Fraction."""
    sharing: DeviceSharing = Field(default_factory=DeviceSharing)
    """Whole devices, MIG slices or fractional shares."""

    @model_validator(mode="after")
    def _target_and_count(self) -> DeviceRequest:
        if self.vendor is None and self.pool is None:
            raise ValueError("vendor: name a vendor (e.g. nvidia) or a pool (a DevicePool name)")
        if self.sharing.mode is SharingMode.FRACTION and self.count != 1:
            raise ValueError("count: must be 1 with sharing.mode Fraction (one share of one device)")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "has(self.vendor) || has(self.pool)",
            "message": "name a vendor (e.g. nvidia) or a pool (a DevicePool name)",
        },
        {
            "rule": "!has(self.sharing) || self.sharing.mode != 'Fraction' || self.count == 1",
            "message": "count must be 1 with sharing.mode Fraction (one share of one device)",
            "fieldPath": ".count",
        },
    ]


class VersionPolicy(StrEnum):
    """Which version of a Model the replicas serve."""

    LATEST = "Latest"
    """The newest version that is imported and compiled for every target the job may land on."""
    PINNED = "Pinned"
    """Exactly ``version``."""


class CanarySpec(ApiModel):
    """Some replicas (and so that share of the Service's traffic) on another version."""

    version: int = Field(ge=1, le=1_000_000)
    """The version the canary replicas serve."""
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    """How many of the task's replicas serve it (the highest-numbered ones); the rest serve the stable
    version. Traffic through the Service splits in the same ratio."""


class ServingBatching(ApiModel):
    """Dynamic batching of the runtime (Triton's ``dynamic_batching``)."""

    max_batch_size: int | None = Field(default=None, ge=0, le=4096)
    """Largest batch formed (0: no batching); default the Model's ``maxBatchSize``."""
    max_queue_delay_microseconds: int = Field(default=0, ge=0, le=1_000_000)
    """How long a request may wait for a fuller batch."""


class ModelServing(ApiModel):
    """The task serves a Model: the operator renders the runtime container, its probes, ports and Service."""

    name: DnsLabel
    """The Model, in the job's namespace."""
    version_policy: VersionPolicy = VersionPolicy.LATEST
    """``Latest`` (the newest servable version; a new version rolls out replica by replica) or ``Pinned``."""
    version: int | None = Field(default=None, ge=1, le=1_000_000)
    """The version to serve with ``Pinned``."""
    canary: CanarySpec | None = None
    """Replicas serving another version beside the stable one."""
    batching: ServingBatching = Field(default_factory=ServingBatching)
    """Dynamic batching."""
    progress_deadline_seconds: int = Field(default=300, ge=10, le=3600)
    """A replica of a new version not ready within this long rolls the version back (and the replica
    returns to the previous version)."""

    @model_validator(mode="after")
    def _pinned_needs_version(self) -> ModelServing:
        if self.version_policy is VersionPolicy.PINNED and self.version is None:
            raise ValueError("model.version: required with versionPolicy Pinned (e.g. 2)")
        if self.version_policy is VersionPolicy.LATEST and self.version is not None:
            raise ValueError("model.version: only allowed with versionPolicy Pinned")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "!has(self.versionPolicy) || self.versionPolicy != 'Pinned' || has(self.version)",
            "message": "version is required with versionPolicy Pinned (e.g. 2)",
            "fieldPath": ".version",
        },
        {
            "rule": "(has(self.versionPolicy) && self.versionPolicy == 'Pinned') || !has(self.version)",
            "message": "version is only allowed with versionPolicy Pinned",
            "fieldPath": ".version",
        },
    ]


class Autoscaling(ApiModel):
    """Replicas between ``minReplicas`` and ``maxReplicas`` from the runtime's own load figures."""

    min_replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    """Never fewer (and never preempted for quota: these are the guaranteed replicas)."""
    max_replicas: int = Field(ge=1, le=MAX_REPLICAS)
    """Never more; each replica above the minimum is charged to the queue and admitted by its quota."""
    target_in_flight: float = Field(default=4.0, gt=0, le=10_000)
    """Requests in flight (queued or executing) per replica the autoscaler aims at."""
    scale_down_delay_seconds: int = Field(default=60, ge=0, le=3600)
    """How long the load must stay low before a replica is removed (it drains first)."""

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"autoscaling.minReplicas: {self.min_replicas} exceeds maxReplicas {self.max_replicas}"
            )
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "!has(self.minReplicas) || self.minReplicas <= self.maxReplicas",
            "message": "minReplicas exceeds maxReplicas",
            "fieldPath": ".minReplicas",
        }
    ]


class TaskSpec(ApiModel):
    """A group of identical pods (e.g. ``master`` and ``worker``, or ``head`` and ``workers``)."""

    name: DnsLabel
    """Task name, unique in the job; part of the pod names."""
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    """Number of pods of this task."""
    devices: DeviceRequest | None = None
    """Accelerators each pod needs; omit for CPU-only tasks."""
    model: ModelServing | None = None
    """Serve a Model (Inference jobs): the operator adds the runtime container (``motherboard runtime
    serve``), fetches the artifact built for the device each replica was given, and adds the Service."""
    autoscaling: Autoscaling | None = None
    """Scale an Inference task between ``minReplicas`` and ``maxReplicas`` (``replicas`` is the start)."""
    template: dict[str, Any] = Field(
        default_factory=dict,
        json_schema_extra={
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-embedded-resource": False,
        },
    )
    """Pod template (``metadata`` and ``spec``) as in a Deployment; the operator adds device resources,
    scheduler name, labels and framework environment. Optional with ``model`` (the runtime container is
    added to whatever the template lists)."""

    @model_validator(mode="after")
    def _template_has_containers(self) -> TaskSpec:
        containers = (self.template.get("spec") or {}).get("containers")
        if not containers and self.model is None:
            raise ValueError("template.spec.containers: list at least one container (or serve a model)")
        canary = self.model.canary if self.model is not None else None
        if canary is not None and canary.replicas >= self.replicas:
            raise ValueError(
                f"model.canary.replicas: {canary.replicas} of {self.replicas} replicas leaves "
                "none on the stable version; lower it or add replicas"
            )
        if self.autoscaling is not None and self.model is None:
            raise ValueError(
                "autoscaling: reads the model runtime's in-flight requests; serve a model (tasks[].model)"
            )
        if self.autoscaling is not None and not (
            self.autoscaling.min_replicas <= self.replicas <= self.autoscaling.max_replicas
        ):
            raise ValueError(
                f"replicas: {self.replicas} is outside autoscaling's {self.autoscaling.min_replicas}.."
                f"{self.autoscaling.max_replicas}; start within the bounds"
            )
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "!has(self.model) || !has(self.model.canary) || self.model.canary.replicas < self.replicas",
            "message": "model.canary.replicas leaves no replica on the stable version; lower it or add replicas",
            "fieldPath": ".model.canary.replicas",
        },
        {
            "rule": "!has(self.autoscaling) || has(self.model)",
            "message": "autoscaling reads the model runtime's in-flight requests; serve a model",
            "fieldPath": ".autoscaling",
        },
        {
            "rule": "!has(self.autoscaling) || ((!has(self.autoscaling.minReplicas) || "
            "self.autoscaling.minReplicas <= self.replicas) && self.replicas <= self.autoscaling.maxReplicas)",
            "message": "replicas is outside autoscaling's minReplicas..maxReplicas; start within the bounds",
            "fieldPath": ".replicas",
        },
    ]


class GangPolicy(ApiModel):
    """All-or-nothing placement of the job's pods."""

    min_available: int | None = Field(default=None, ge=1)
    """Pods that must be placed together before any starts; default: all replicas of all tasks."""
    schedule_timeout_seconds: int | None = Field(default=None, ge=1, le=86_400)
    """How long a gang may wait for ``minAvailable`` pods to be placed (counted from when it was first
    queued): then the job fails with condition ``Unschedulable`` (reason ``ScheduleTimeout``), an Event,
    and its pods are deleted. Unset: it waits as long as it takes."""


class TopologyConstraint(ApiModel):
    """How close the job's pods must be to each other."""

    level: TopologyLevel
    """Node, NVLinkDomain, Rack or Site."""
    mode: Literal["Required", "Preferred"] = "Required"
    """Required: place the gang within one domain of this level or not at all. Preferred: try to."""


class Placement(ApiModel):
    """Where the job may run."""

    required_sites: list[DnsLabel] = Field(default_factory=list, max_length=32)
    """Run only on nodes of these sites (``motherboard.io/site``)."""
    preferred_sites: list[DnsLabel] = Field(default_factory=list, max_length=32)
    """Prefer nodes of these sites, in order."""
    site_kind: SiteKind | None = None
    """Run only in the central site or only at the edge."""
    topology: TopologyConstraint | None = None
    """How close the pods must be."""
    disconnect_grace_seconds: int | None = Field(default=None, ge=0, le=86_400)
    """How long a pod stays bound to a node that stopped reporting (NotReady, unreachable) before it is
    evicted and replaced elsewhere; default: Kubernetes' 300 s, and 3600 s for Inference jobs that may run
    at the edge, where a site's link going down must not cause a storm of replacements."""


class RunPolicy(ApiModel):
    """What happens when pods fail, run long, or finish."""

    backoff_limit: int = Field(default=3, ge=0, le=100)
    """Gang restarts after a pod failure before the job is Failed."""
    active_deadline_seconds: int | None = Field(default=None, ge=1)
    """Fail the job after it has run this long."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0)
    """Delete the job this long after it Succeeded or Failed."""
    suspend: bool = False
    """Suspended jobs release their pods and devices until resumed."""


class AIJobSpec(ApiModel):
    """The desired state of an AIJob."""

    type: JobType = JobType.TRAINING
    """Training, Batch or Inference."""
    framework: Framework = Framework.GENERIC
    """PyTorch (MASTER_ADDR, WORLD_SIZE, RANK wiring), Ray (head + workers) or Generic."""
    queue: DnsLabel | None = None
    """Queue the job is charged to; defaulted from the namespace by the admission webhook."""
    priority_class_name: str | None = Field(default=None, max_length=253)
    """PriorityClass of the job's pods; higher priority jobs are admitted first and may preempt."""
    preemptible: bool = True
    """Whether higher-priority work or quota reclaim may evict this job."""
    gang: GangPolicy | None = None
    """All-or-nothing placement; Training jobs are gangs of all their pods by default."""
    tasks: list[TaskSpec] = Field(
        min_length=1,
        max_length=MAX_TASKS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )
    """The job's tasks; at least one."""
    placement: Placement = Field(default_factory=Placement)
    """Where the job may run."""
    run_policy: RunPolicy = Field(default_factory=RunPolicy)
    """Failure, deadline, cleanup and suspension policy."""

    @property
    def total_replicas(self) -> int:
        return sum(task.replicas for task in self.tasks)

    @model_validator(mode="after")
    def _cross_field(self) -> AIJobSpec:
        names = [task.name for task in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"tasks: task names must be unique, {', '.join(duplicates)} repeated")
        if self.gang and self.gang.min_available and self.gang.min_available > self.total_replicas:
            raise ValueError(
                f"gang.minAvailable: {self.gang.min_available} exceeds the job's "
                f"{self.total_replicas} replicas: lower it or add replicas"
            )
        serving = [t.name for t in self.tasks if t.model is not None or t.autoscaling is not None]
        if serving and self.type is not JobType.INFERENCE:
            raise ValueError(
                f"tasks: task {serving[0]} serves a model or autoscales, which only an Inference job does; "
                "set type: Inference"
            )
        if self.framework is Framework.RAY and not any(
            t.name == "head" and t.replicas == 1 for t in self.tasks
        ):
            raise ValueError("tasks: a Ray job needs a task named 'head' with replicas: 1")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "!has(self.gang) || !has(self.gang.minAvailable) || "
            "self.gang.minAvailable <= self.tasks.map(t, t.replicas).sum()",
            "message": "gang.minAvailable exceeds the job's total replicas: lower it or add replicas",
            "fieldPath": ".gang.minAvailable",
        },
        {
            "rule": "self.type == 'Inference' || self.tasks.all(t, !has(t.model) && !has(t.autoscaling))",
            "message": "tasks: serving a model or autoscaling needs type: Inference",
            "fieldPath": ".tasks",
        },
        {
            "rule": "self.framework != 'Ray' || self.tasks.exists(t, t.name == 'head' && t.replicas == 1)",
            "message": "tasks: a Ray job needs a task named 'head' with replicas: 1",
            "fieldPath": ".tasks",
        },
    ]


class JobPhase(StrEnum):
    """Where the job is in its life."""

    PENDING = "Pending"
    QUEUED = "Queued"
    ADMITTED = "Admitted"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    PREEMPTED = "Preempted"


class ConditionType(StrEnum):
    """Condition types an AIJob carries."""

    QUEUED = "Queued"
    ADMITTED = "Admitted"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    PREEMPTED = "Preempted"
    SUSPENDED = "Suspended"
    UNSCHEDULABLE = "Unschedulable"
    """True once the job is failed for never fitting: its queue can never hold it (reason ``NeverFits``),
    or its gang was not placed within ``gang.scheduleTimeoutSeconds`` (reason ``ScheduleTimeout``)."""


class TaskStatus(ApiModel):
    """Pod counts of one task."""

    name: str
    """Task name."""
    replicas: int = Field(default=0, ge=0)
    """Desired pods."""
    pending: int = Field(default=0, ge=0)
    """Pods created but not yet running."""
    running: int = Field(default=0, ge=0)
    """Pods running."""
    succeeded: int = Field(default=0, ge=0)
    """Pods that completed successfully."""
    failed: int = Field(default=0, ge=0)
    """Pods that failed."""


class PodPlacement(ApiModel):
    """Where one pod runs and on which devices."""

    pod: str
    """Pod name."""
    task: str
    """Task of the pod."""
    node: str
    """Node the pod is bound to."""
    devices: list[str] = Field(default_factory=list)
    """Device ids (GPU UUIDs, MIG instances, shares) the scheduler assigned."""


class VersionReplicas(ApiModel):
    """Replicas of one served Model version."""

    version: int = Field(ge=1)
    """The version."""
    replicas: int = Field(default=0, ge=0)
    """Replicas meant to serve it."""
    ready: int = Field(default=0, ge=0)
    """Those passing the runtime's readiness probe."""


class TargetArtifact(ApiModel):
    """The artifact a target's replicas load."""

    target: str
    """The hardware target (``cpu-x86_64``, ``cuda-sm90``, ...)."""
    version: int = Field(ge=1)
    """The model version."""
    backend: str
    """The backend that built it."""
    digest: str
    """The artifact's SHA-256, verified by the replica before loading."""


class ServingStatus(ApiModel):
    """What a model-serving task serves."""

    task: str
    """The task."""
    model: str
    """The Model."""
    stable_version: int | None = None
    """The version the non-canary replicas serve (or are rolling out to)."""
    rolled_out_version: int | None = None
    """The last version every stable replica was ready on: what a failed rollout returns to."""
    canary_version: int | None = None
    """The canary's version, if any."""
    desired_replicas: int = Field(default=0, ge=0)
    """Replicas wanted now (the autoscaler's figure when the task autoscales)."""
    versions: list[VersionReplicas] = Field(default_factory=list)
    """Replicas per version."""
    artifacts: list[TargetArtifact] = Field(default_factory=list)
    """Per target the replicas may land on: the artifact they load."""
    failed_versions: list[int] = Field(default_factory=list)
    """Versions rolled back after a replica failed readiness; not served again until the Model changes."""
    message: str = ""
    """Why replicas are not serving yet (compiling, no artifact for a target, the model's problem)."""


class AIJobStatus(ApiModel):
    """The observed state of an AIJob."""

    phase: JobPhase = JobPhase.PENDING
    """Pending, Queued, Admitted, Running, Succeeded, Failed, Suspended or Preempted."""
    reason: str | None = None
    """CamelCase reason of the current phase."""
    message: str | None = None
    """Why the job is in this phase, e.g. why it is still pending."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Queued, Admitted, Running, Succeeded, Failed, Preempted, Suspended."""
    tasks: list[TaskStatus] = Field(default_factory=list)
    """Pod counts per task."""
    placement: list[PodPlacement] = Field(default_factory=list)
    """Pod → node → devices."""
    restarts: int = Field(default=0, ge=0)
    """How many times the gang was restarted after a failure (counted against backoffLimit)."""
    preemptions: int = Field(default=0, ge=0)
    """How many times the job was preempted and requeued (not counted against backoffLimit)."""
    ready: str | None = None
    """Running pods / desired pods, e.g. ``8/8`` (for display)."""
    pods: str | None = None
    """The pods by state, for ``kubectl get``: ``3/4 running``, ``4/4 succeeded``, ``1 failed, 3/4
    succeeded``, ``2/4 placed``; kept from the last count once the job has finished and its pods are gone."""
    queued_time: datetime | None = None
    """When the job entered its queue."""
    admitted_time: datetime | None = None
    """When the job was admitted against its queue's quota."""
    start_time: datetime | None = None
    """When all pods of the gang were first running."""
    completion_time: datetime | None = None
    """When the job Succeeded or Failed."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status describes."""
    serving: list[ServingStatus] = Field(default_factory=list)
    """Per model-serving task: versions, replicas, the artifact per target."""


class AIJob(Resource):
    """An AI workload: tasks of pods with devices, charged to a queue, placed as a gang."""

    KIND: ClassVar[str] = "AIJob"
    PLURAL: ClassVar[str] = "aijobs"
    SHORT_NAMES: ClassVar[list[str]] = ["aij"]
    NAMESPACED: ClassVar[bool] = True
    PRINTER_COLUMNS: ClassVar[list[dict[str, Any]]] = [
        {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
        {"name": "Queue", "type": "string", "jsonPath": ".spec.queue"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
        {"name": "Pods", "type": "string", "jsonPath": ".status.pods"},
        {"name": "Reason", "type": "string", "jsonPath": ".status.reason"},
        {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts"},
        {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]

    api_version: Literal["motherboard.io/v1alpha1"] = "motherboard.io/v1alpha1"
    kind: Literal["AIJob"] = "AIJob"
    spec: AIJobSpec
    """The desired state."""
    status: AIJobStatus | None = None
    """The observed state, written by the operator and the scheduler."""
