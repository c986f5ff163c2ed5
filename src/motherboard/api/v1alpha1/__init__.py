"""Version ``v1alpha1`` of the ``motherboard.io`` API: AIJob, DevicePool, Queue and Model.

Names are imported on first use (PEP 562): building the pydantic models of every kind costs about a second
of CPU, and processes that need one enum (a model replica asking ``models.targets`` for its target, the
CLI's ``--help``) should not pay it; on a busy 2-core node it was 4 of a replica's 12 s to serving.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motherboard.api.base import Resource
    from motherboard.api.v1alpha1.aijob import (
        AIJob,
        AIJobSpec,
        AIJobStatus,
        Autoscaling,
        CanarySpec,
        ConditionType,
        DeviceRequest,
        DeviceSharing,
        Framework,
        GangPolicy,
        JobPhase,
        JobType,
        ModelServing,
        Placement,
        RunPolicy,
        ServingBatching,
        ServingStatus,
        TargetArtifact,
        TaskSpec,
        VersionPolicy,
        VersionReplicas,
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

    KINDS: tuple[type[Resource], ...]
    """Every kind of this version, in the order their CRDs are generated."""

_LAZY: dict[str, str] = {
    "AIJob": "motherboard.api.v1alpha1.aijob",
    "AIJobSpec": "motherboard.api.v1alpha1.aijob",
    "AIJobStatus": "motherboard.api.v1alpha1.aijob",
    "ArtifactStatus": "motherboard.api.v1alpha1.model",
    "Autoscaling": "motherboard.api.v1alpha1.aijob",
    "CanarySpec": "motherboard.api.v1alpha1.aijob",
    "CompileBackend": "motherboard.api.v1alpha1.model",
    "CompilePreferences": "motherboard.api.v1alpha1.model",
    "ConditionType": "motherboard.api.v1alpha1.aijob",
    "DevicePool": "motherboard.api.v1alpha1.devicepool",
    "DevicePoolSpec": "motherboard.api.v1alpha1.devicepool",
    "DevicePoolStatus": "motherboard.api.v1alpha1.devicepool",
    "DeviceRequest": "motherboard.api.v1alpha1.aijob",
    "DeviceSharing": "motherboard.api.v1alpha1.aijob",
    "Framework": "motherboard.api.v1alpha1.aijob",
    "GangPolicy": "motherboard.api.v1alpha1.aijob",
    "Isolation": "motherboard.api.v1alpha1.devicepool",
    "JobPhase": "motherboard.api.v1alpha1.aijob",
    "JobType": "motherboard.api.v1alpha1.aijob",
    "Model": "motherboard.api.v1alpha1.model",
    "ModelConditionType": "motherboard.api.v1alpha1.model",
    "ModelFormat": "motherboard.api.v1alpha1.model",
    "ModelServing": "motherboard.api.v1alpha1.aijob",
    "ModelSource": "motherboard.api.v1alpha1.model",
    "ModelSpec": "motherboard.api.v1alpha1.model",
    "ModelStatus": "motherboard.api.v1alpha1.model",
    "ModelVersion": "motherboard.api.v1alpha1.model",
    "ModelVersionStatus": "motherboard.api.v1alpha1.model",
    "Placement": "motherboard.api.v1alpha1.aijob",
    "PoolSharing": "motherboard.api.v1alpha1.devicepool",
    "Queue": "motherboard.api.v1alpha1.queue",
    "QueueSpec": "motherboard.api.v1alpha1.queue",
    "QueueStatus": "motherboard.api.v1alpha1.queue",
    "ResourceQuota": "motherboard.api.v1alpha1.queue",
    "RunPolicy": "motherboard.api.v1alpha1.aijob",
    "ServingBatching": "motherboard.api.v1alpha1.aijob",
    "ServingStatus": "motherboard.api.v1alpha1.aijob",
    "SharingMode": "motherboard.api.v1alpha1.common",
    "SiteKind": "motherboard.api.v1alpha1.common",
    "TargetArtifact": "motherboard.api.v1alpha1.aijob",
    "TaskSpec": "motherboard.api.v1alpha1.aijob",
    "TensorOverride": "motherboard.api.v1alpha1.model",
    "TopologyLevel": "motherboard.api.v1alpha1.common",
    "Vendor": "motherboard.api.v1alpha1.common",
    "VersionPolicy": "motherboard.api.v1alpha1.aijob",
    "VersionReplicas": "motherboard.api.v1alpha1.aijob",
    "find_parent_cycle": "motherboard.api.v1alpha1.queue",
}


def __getattr__(name: str) -> Any:
    if name == "KINDS":
        from motherboard.api.v1alpha1.aijob import AIJob
        from motherboard.api.v1alpha1.devicepool import DevicePool
        from motherboard.api.v1alpha1.model import Model
        from motherboard.api.v1alpha1.queue import Queue

        value: Any = (AIJob, DevicePool, Queue, Model)
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "KINDS",
    "AIJob",
    "AIJobSpec",
    "AIJobStatus",
    "ArtifactStatus",
    "Autoscaling",
    "CanarySpec",
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
    "ModelServing",
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
    "ServingBatching",
    "ServingStatus",
    "SharingMode",
    "SiteKind",
    "TargetArtifact",
    "TaskSpec",
    "TensorOverride",
    "TopologyLevel",
    "Vendor",
    "VersionPolicy",
    "VersionReplicas",
    "find_parent_cycle",
]
