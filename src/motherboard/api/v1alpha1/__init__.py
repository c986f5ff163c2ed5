"""Version ``v1alpha1`` of the ``motherboard.io`` API: AIJob, DevicePool, Queue and Model."""

from motherboard.api.base import Resource
from motherboard.api.v1alpha1.aijob import (
    AIJob,
    AIJobSpec,
    AIJobStatus,
    ConditionType,
    DeviceRequest,
    DeviceSharing,
    Framework,
    GangPolicy,
    JobPhase,
    JobType,
    Placement,
    RunPolicy,
    TaskSpec,
)
from motherboard.api.v1alpha1.common import SharingMode, SiteKind, TopologyLevel, Vendor
from motherboard.api.v1alpha1.devicepool import (
    DevicePool,
    DevicePoolSpec,
    DevicePoolStatus,
    Isolation,
    PoolSharing,
)
from motherboard.api.v1alpha1.model import (
    ArtifactStatus,
    CompileBackend,
    CompilePreferences,
    Model,
    ModelConditionType,
    ModelFormat,
    ModelSource,
    ModelSpec,
    ModelStatus,
    ModelVersion,
    ModelVersionStatus,
    TensorOverride,
)
from motherboard.api.v1alpha1.queue import Queue, QueueSpec, QueueStatus, ResourceQuota, find_parent_cycle

KINDS: tuple[type[Resource], ...] = (AIJob, DevicePool, Queue, Model)
"""Every kind of this version, in the order their CRDs are generated."""

__all__ = [
    "KINDS",
    "AIJob",
    "AIJobSpec",
    "AIJobStatus",
    "ArtifactStatus",
    "CompileBackend",
    "CompilePreferences",
    "ConditionType",
    "DevicePool",
    "DevicePoolSpec",
    "DevicePoolStatus",
    "DeviceRequest",
    "DeviceSharing",
    "Framework",
    "GangPolicy",
    "Isolation",
    "JobPhase",
    "JobType",
    "Model",
    "ModelConditionType",
    "ModelFormat",
    "ModelSource",
    "ModelSpec",
    "ModelStatus",
    "ModelVersion",
    "ModelVersionStatus",
    "Placement",
    "PoolSharing",
    "Queue",
    "QueueSpec",
    "QueueStatus",
    "ResourceQuota",
    "RunPolicy",
    "SharingMode",
    "SiteKind",
    "TaskSpec",
    "TensorOverride",
    "TopologyLevel",
    "Vendor",
    "find_parent_cycle",
]
