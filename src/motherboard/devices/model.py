"""The pure device data model shared by device plugins, the scheduler and the local cluster.

A node's devices travel from the device plugin (or, on kwok nodes, from the cluster profile) to the scheduler
as the Node annotation ``motherboard.io/device-inventory``: a :class:`NodeInventory` in compact JSON. The
scheduler needs more than the kubelet's counts (which GPU, which MIG slice, which NVLink domain) to choose
exact devices, so the inventory lists every physical device and every partition of it.
"""

from __future__ import annotations

import json
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from motherboard.api.constants import ANNOTATION_DEVICE_INVENTORY
from motherboard.api.v1alpha1.common import Vendor

INVENTORY_FORMAT_VERSION = 1


class Health(StrEnum):
    """Device health as the kubelet device-plugin API names it."""

    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"


class Partition(BaseModel):
    """A hardware partition of a device: a MIG GPU instance or an Ascend vNPU."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    id: str = Field(min_length=1, description="Partition id as advertised (e.g. a MIG instance UUID).")
    profile: str = Field(min_length=1, description="Profile name, e.g. 1g.10gb or vir02.")
    start: int = Field(default=0, ge=0, description="First memory slice the partition occupies.")
    slices: int = Field(default=1, ge=1, description="Memory slices the partition occupies.")
    milli: int = Field(ge=1, le=1000, description="Share of the device's compute, in thousandths.")
    memory_mib: int = Field(alias="memoryMiB", ge=0)
    health: Health = Health.HEALTHY


class Device(BaseModel):
    """One physical accelerator."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    id: str = Field(min_length=1, description="Stable device id: GPU/NPU UUID or serial.")
    index: int = Field(ge=0, description="Index on the node (NVML index, davinci minor number, …).")
    vendor: Vendor
    model: str = Field(min_length=1, description="Product name, e.g. H100-80GB, A100-80GB, Ascend910B.")
    memory_mib: int = Field(alias="memoryMiB", ge=0)
    resource: str = Field(min_length=1, description="Extended resource the whole device is advertised as.")
    numa_node: int | None = Field(default=None, alias="numaNode", ge=0)
    interconnect_domain: str | None = Field(
        default=None, alias="interconnectDomain", description="NVLink/HCCS domain shared with peers."
    )
    health: Health = Health.HEALTHY
    mig_enabled: bool = Field(default=False, alias="migEnabled")
    partitions: tuple[Partition, ...] = Field(default=(), description="MIG instances or vNPUs.")
    share_replicas: int = Field(
        default=0, alias="shareReplicas", ge=0, description="Fractional shares advertised (0 = not shared)."
    )
    device_paths: tuple[str, ...] = Field(default=(), alias="devicePaths", description="/dev nodes.")

    @property
    def healthy(self) -> bool:
        return self.health is Health.HEALTHY


__all__ = ["Device", "Health", "InventoryError", "NodeInventory", "Partition", "Vendor"]


class InventoryError(ValueError):
    """A node's device inventory annotation is malformed."""


class NodeInventory(BaseModel):
    """Every device of one node, as published on the Node."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = INVENTORY_FORMAT_VERSION
    devices: tuple[Device, ...] = ()

    def to_annotation(self) -> str:
        return self.model_dump_json(by_alias=True, exclude_defaults=True)

    def annotations(self) -> dict[str, str]:
        return {ANNOTATION_DEVICE_INVENTORY: self.to_annotation()}

    @classmethod
    def from_annotation(cls, value: str) -> NodeInventory:
        try:
            return cls.model_validate(json.loads(value))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InventoryError(f"{ANNOTATION_DEVICE_INVENTORY} is malformed: {exc}") from exc
        except RecursionError as exc:  # nested past the decoder's depth: garbage, not a reason to crash
            raise InventoryError(f"{ANNOTATION_DEVICE_INVENTORY} is malformed: nested too deeply") from exc

    @classmethod
    def from_node_annotations(cls, annotations: dict[str, str] | None) -> NodeInventory:
        """The inventory on a Node; an empty one where no plugin published any."""
        value = (annotations or {}).get(ANNOTATION_DEVICE_INVENTORY)
        return cls() if value is None else cls.from_annotation(value)
