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


class TaskSpec(ApiModel):
    """A group of identical pods (e.g. ``master`` and ``worker``, or ``head`` and ``workers``)."""

    name: DnsLabel
    """Task name, unique in the job; part of the pod names."""
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    """Number of pods of this task."""
    devices: DeviceRequest | None = None
    """Accelerators each pod needs; omit for CPU-only tasks."""
    template: dict[str, Any] = Field(
        json_schema_extra={
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-embedded-resource": False,
        }
    )
    """Pod template (``metadata`` and ``spec``) as in a Deployment; the operator adds device resources,
    scheduler name, labels and framework environment."""

    @model_validator(mode="after")
    def _template_has_containers(self) -> TaskSpec:
        containers = (self.template.get("spec") or {}).get("containers")
        if not containers:
            raise ValueError("template.spec.containers: list at least one container")
        return self


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
