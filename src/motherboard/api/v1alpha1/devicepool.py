"""``DevicePool``: a named group of devices, by site, vendor, model and sharing mode.

Pools are how administrators describe their hardware to tenants ("h100-central", "t4-edge-shared"):
jobs may request a pool by name, queues set quota per pool, and the operator keeps each pool's status
(nodes, devices, capacity, allocated, healthy) true from the nodes it selects.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from motherboard.api.base import ApiModel, Condition, DnsLabel, LabelSelector, Resource
from motherboard.api.mig import KNOWN_MIG_PROFILES
from motherboard.api.partitions import KNOWN_AMD_PARTITIONS
from motherboard.api.v1alpha1.common import SharingMode, Vendor


class Isolation(StrEnum):
    """How strongly workloads sharing a device are isolated from each other."""

    HARDWARE = "Hardware"
    MPS = "MPS"
    TIME_SLICE = "TimeSlice"
    NONE = "None"


class PoolSharing(ApiModel):
    """How the pool's devices are handed out."""

    mode: SharingMode = SharingMode.WHOLE
    """Whole devices, MIG slices (``migProfiles``) or fractional shares (``sharesPerDevice``)."""
    mig_profiles: list[str] = Field(
        default_factory=list,
        max_length=16,
        json_schema_extra={"items": {"enum": [*KNOWN_MIG_PROFILES, *KNOWN_AMD_PARTITIONS]}},
    )
    """MIG profiles (or AMD compute partitions, e.g. ``cpx_nps4``) the pool offers; required with MIG."""
    shares_per_device: int | None = Field(default=None, ge=2, le=100)
    """How many shares each device is split into when mode is Fraction (e.g. 10 → 0.1 GPU each)."""

    @field_validator("mig_profiles")
    @classmethod
    def _known_profiles(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in KNOWN_MIG_PROFILES and p not in KNOWN_AMD_PARTITIONS]
        if unknown:
            raise ValueError(
                f"unknown MIG profile(s) {', '.join(unknown)}: use e.g. 1g.10gb, 3g.40gb "
                f"(NVIDIA) or one of {', '.join(KNOWN_AMD_PARTITIONS)} (AMD)"
            )
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> PoolSharing:
        if self.mode is SharingMode.MIG and not self.mig_profiles:
            raise ValueError("migProfiles: list at least one profile when mode is MIG")
        if self.mode is SharingMode.FRACTION and self.shares_per_device is None:
            raise ValueError("sharesPerDevice: required when mode is Fraction (e.g. 10)")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "self.mode != 'MIG' || size(self.migProfiles) > 0",
            "message": "migProfiles must list at least one profile when mode is MIG",
            "fieldPath": ".migProfiles",
        },
        {
            "rule": "self.mode != 'Fraction' || has(self.sharesPerDevice)",
            "message": "sharesPerDevice is required when mode is Fraction (e.g. 10)",
            "fieldPath": ".sharesPerDevice",
        },
    ]


class DevicePoolSpec(ApiModel):
    """Which devices belong to the pool and how they are shared."""

    site: DnsLabel | None = None
    """Site of the pool's nodes (``motherboard.io/site``); omit for all sites."""
    node_selector: LabelSelector = Field(default_factory=LabelSelector)
    """Nodes whose devices belong to the pool (in addition to ``site``)."""
    vendor: Vendor
    """Accelerator vendor: nvidia, huawei, cambricon, amd, kunlunxin or metax."""
    model: str | None = Field(default=None, min_length=1, max_length=63)
    """Device model, e.g. H100-80GB; omit for any model of the vendor."""
    resource_name: str | None = Field(default=None, max_length=253)
    """Extended resource the pool's devices are advertised as; derived from vendor and sharing if omitted."""
    sharing: PoolSharing = Field(default_factory=PoolSharing)
    """Whole, MIG or Fraction."""
    isolation: Isolation = Isolation.HARDWARE
    """Hardware (whole devices, MIG), MPS, TimeSlice or None."""

    @model_validator(mode="after")
    def _isolation_matches(self) -> DevicePoolSpec:
        if self.sharing.mode is not SharingMode.FRACTION and self.isolation is not Isolation.HARDWARE:
            raise ValueError("isolation: must be Hardware unless sharing.mode is Fraction")
        if self.sharing.mode is SharingMode.MIG and self.vendor not in (Vendor.NVIDIA, Vendor.AMD):
            raise ValueError("sharing.mode: MIG (hardware partitions) needs vendor nvidia or amd")
        return self

    CEL_RULES: ClassVar[list[dict[str, str]]] = [
        {
            "rule": "(has(self.sharing) && self.sharing.mode == 'Fraction') || self.isolation == 'Hardware'",
            "message": "isolation: must be Hardware unless sharing.mode is Fraction",
            "fieldPath": ".isolation",
        },
        {
            "rule": "!has(self.sharing) || self.sharing.mode != 'MIG' || self.vendor in ['nvidia', 'amd']",
            "message": "sharing.mode: MIG (hardware partitions) needs vendor nvidia or amd",
            "fieldPath": ".sharing.mode",
        },
    ]


class DevicePoolStatus(ApiModel):
    """What the pool has, as observed from its nodes."""

    nodes: int = Field(default=0, ge=0)
    """Nodes selected by the pool."""
    devices: int = Field(default=0, ge=0)
    """Physical devices on those nodes."""
    healthy: int = Field(default=0, ge=0)
    """Devices reported healthy."""
    capacity: dict[str, str] = Field(default_factory=dict)
    """Allocatable quantity per resource (devices, slices or shares)."""
    allocated: dict[str, str] = Field(default_factory=dict)
    """Quantity per resource held by bound pods."""
    in_use: str | None = None
    """Allocated of capacity, for ``kubectl get``: ``6/32 nvidia.com/gpu``."""
    free: str | None = None
    """What is left, for ``kubectl get``: ``26 nvidia.com/gpu``."""
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    """Ready: the pool selects at least one healthy device."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` this status describes."""


class DevicePool(Resource):
    """A group of devices by site, vendor, model and sharing mode."""

    KIND: ClassVar[str] = "DevicePool"
    PLURAL: ClassVar[str] = "devicepools"
    SHORT_NAMES: ClassVar[list[str]] = ["dp"]
    NAMESPACED: ClassVar[bool] = False
    PRINTER_COLUMNS: ClassVar[list[dict[str, Any]]] = [
        {"name": "Site", "type": "string", "jsonPath": ".spec.site"},
        {"name": "Vendor", "type": "string", "jsonPath": ".spec.vendor"},
        {"name": "Model", "type": "string", "jsonPath": ".spec.model"},
        {"name": "Sharing", "type": "string", "jsonPath": ".spec.sharing.mode"},
        {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodes"},
        {"name": "Devices", "type": "integer", "jsonPath": ".status.devices"},
        {"name": "Healthy", "type": "integer", "jsonPath": ".status.healthy"},
        {"name": "Allocated", "type": "string", "jsonPath": ".status.inUse"},
        {"name": "Free", "type": "string", "jsonPath": ".status.free"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]

    api_version: Literal["motherboard.io/v1alpha1"] = "motherboard.io/v1alpha1"
    kind: Literal["DevicePool"] = "DevicePool"
    spec: DevicePoolSpec
    """The desired state."""
    status: DevicePoolStatus | None = None
    """The observed state, written by the operator."""
