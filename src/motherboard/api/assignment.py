"""The device assignment contract between the scheduler and the device plugins.

The scheduler chooses the exact devices for every container of a pod and writes that choice on the pod, in
the annotation ``motherboard.io/device-assignment``, *before* it binds the pod. The device plugin on the
node reads the annotation in ``Allocate`` and exposes exactly those devices to the container, so what the
container sees is what the scheduler counted. An ``Allocate`` that contradicts the annotation is refused.

The annotation value is compact JSON::

    {"v": 1, "node": "gpu-a100-0",
     "containers": [
       {"name": "trainer", "resource": "nvidia.com/mig-1g.10gb",
        "devices": [{"id": "MIG-2f3c…", "parent": "GPU-8a1b…", "milli": 142, "memoryMiB": 9856}]}]}

- ``id``: the device id the plugin advertises to the kubelet (a GPU/NPU UUID, a MIG instance UUID); for a
  fractional share it is the *physical* device's UUID (the plugin maps its replica ids onto it).
- ``parent``: the physical device of a MIG slice or vNPU; absent for whole devices and shares.
- ``milli``: the compute share charged, in thousandths of one physical device (1000 for a whole device, the
  slice's fraction for MIG, the requested fraction for shares). Quota is charged in the same unit.
- ``memoryMiB``: device memory the container may use (a limit for shares, informational otherwise).

Documented in ``docs/device-assignment.md``; both sides are tested against :class:`DeviceAssignment`.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from motherboard.api.constants import ANNOTATION_DEVICE_ASSIGNMENT

ASSIGNMENT_FORMAT_VERSION = 1


class AssignmentError(ValueError):
    """The annotation is missing, malformed, or contradicts what was asked for."""


class AssignedDevice(BaseModel):
    """One device (or slice, or share of a device) given to a container."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")

    id: str = Field(min_length=1, description="Device id as advertised to the kubelet.")
    parent: str | None = Field(default=None, description="Physical device of a MIG slice or vNPU.")
    milli: int = Field(default=1000, ge=1, le=1000, description="Compute share in thousandths of a device.")
    memory_mib: int | None = Field(default=None, alias="memoryMiB", ge=0, description="Device memory (MiB).")


class ContainerAssignment(BaseModel):
    """The devices of one extended resource given to one container."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="Container name.")
    resource: str = Field(min_length=1, description="Extended resource name, e.g. nvidia.com/gpu.")
    devices: tuple[AssignedDevice, ...] = Field(min_length=1)


class DeviceAssignment(BaseModel):
    """The scheduler's exact device choice for one pod."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: int = Field(default=ASSIGNMENT_FORMAT_VERSION, description="Format version of the annotation.")
    node: str = Field(min_length=1, description="The node the pod is bound to.")
    containers: tuple[ContainerAssignment, ...] = ()

    def to_annotation(self) -> str:
        """The annotation value (compact JSON, aliases as documented)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)

    def annotations(self) -> dict[str, str]:
        """``{annotation key: value}``, ready to merge into ``metadata.annotations``."""
        return {ANNOTATION_DEVICE_ASSIGNMENT: self.to_annotation()}

    @classmethod
    def from_annotation(cls, value: str) -> DeviceAssignment:
        """Parse an annotation value; raises :class:`AssignmentError` naming what is wrong."""
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as exc:
            raise AssignmentError(f"{ANNOTATION_DEVICE_ASSIGNMENT} is not JSON: {exc}") from exc
        except RecursionError as exc:  # nested past the decoder's depth: garbage, not a reason to crash
            raise AssignmentError(f"{ANNOTATION_DEVICE_ASSIGNMENT} is nested too deeply") from exc
        if isinstance(raw, dict) and raw.get("v", ASSIGNMENT_FORMAT_VERSION) != ASSIGNMENT_FORMAT_VERSION:
            raise AssignmentError(
                f"{ANNOTATION_DEVICE_ASSIGNMENT} has format version {raw.get('v')!r}; this component reads "
                f"version {ASSIGNMENT_FORMAT_VERSION}: upgrade the older of scheduler and device plugin"
            )
        try:
            return cls.model_validate(raw)
        except RecursionError as exc:
            raise AssignmentError(f"{ANNOTATION_DEVICE_ASSIGNMENT} is nested too deeply") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise AssignmentError(f"{ANNOTATION_DEVICE_ASSIGNMENT}: {where}: {first['msg']}") from exc

    @classmethod
    def from_pod_annotations(cls, annotations: dict[str, str] | None) -> DeviceAssignment | None:
        """The assignment recorded on a pod, or ``None`` when the scheduler wrote none."""
        value = (annotations or {}).get(ANNOTATION_DEVICE_ASSIGNMENT)
        return None if value is None else cls.from_annotation(value)

    def for_container(self, container: str, resource: str) -> ContainerAssignment | None:
        """The devices of ``resource`` given to ``container``, if any."""
        for entry in self.containers:
            if entry.name == container and entry.resource == resource:
                return entry
        return None
