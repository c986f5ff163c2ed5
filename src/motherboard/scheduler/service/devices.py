"""A pod's accelerator request, read from its resource limits and the operator's device-request annotation.

The limits say *which* extended resource and how many (what the kubelet will check); the annotation adds
what limits cannot say (model, pool, fraction of a device, device memory). A pod without the annotation
(written by hand, or a benchmark) is read from its limits alone.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from motherboard.api.constants import RESOURCE_AMD_GPU, RESOURCE_NVIDIA_GPU, RESOURCE_NVIDIA_MIG_PREFIX
from motherboard.api.partitions import AMD_RESOURCE_DOMAIN, is_partition_resource
from motherboard.api.resources import DEFAULT_SHARES_PER_DEVICE, partition_resource
from motherboard.devices.model import Vendor
from motherboard.scheduler.admission import Resources, parse_quantity, quota_key, quota_units
from motherboard.scheduler.cache import WHOLE_MILLI, DeviceKind, DeviceRequest, PodRequest

Obj = dict[str, Any]
DEVICE_DOMAINS = (
    "nvidia.com/",
    "huawei.com/",
    "cambricon.com/",
    "amd.com/",
    "kunlunxin.com/",
    "metax-tech.com/",
)
MIB = 2**20


def device_request(spec: Obj, raw: Obj | None) -> tuple[DeviceRequest | None, str | None]:
    """The pod's device request and the DevicePool it names (``None``: no accelerator)."""
    found = _extended_limit(spec)
    if found is None:
        return None, None
    container, resource, count = found
    raw = raw or {}
    sharing = raw.get("sharing") or {}
    vendor = Vendor(raw["vendor"]) if raw.get("vendor") in {v.value for v in Vendor} else None
    models = (str(raw["model"]),) if raw.get("model") else ()
    common: dict[str, Any] = {"models": models, "vendor": vendor, "container": container}
    if resource.startswith(RESOURCE_NVIDIA_MIG_PREFIX):
        profile = resource.removeprefix(RESOURCE_NVIDIA_MIG_PREFIX)
        req = DeviceRequest(
            DeviceKind.PARTITION, count, profile=profile, resource=RESOURCE_NVIDIA_GPU, **common
        )
    elif is_partition_resource(resource):  # an AMD compute partition: amd.com/cpx_nps4
        profile = resource.removeprefix(AMD_RESOURCE_DOMAIN)
        req = DeviceRequest(DeviceKind.PARTITION, count, profile=profile, resource=RESOURCE_AMD_GPU, **common)
    elif resource.endswith(".shared") or sharing.get("mode") == "Fraction":
        fraction = sharing.get("fraction")
        milli = (
            round(float(fraction) * WHOLE_MILLI)
            if fraction
            else count * WHOLE_MILLI // DEFAULT_SHARES_PER_DEVICE
        )
        memory = int(parse_quantity(sharing["memory"]) / MIB) if sharing.get("memory") else 0
        milli = min(WHOLE_MILLI, max(1, milli))
        req = DeviceRequest(DeviceKind.FRACTION, 1, milli, memory, resource=resource, **common)
    else:
        req = DeviceRequest(DeviceKind.WHOLE, count, resource=resource, **common)
    return req, raw.get("pool")


def pod_quota(pod: PodRequest, pool: str | None) -> Resources:
    """What the pod is charged in quota units: CPU, memory, and its device family's compute share.

    A pod from a DevicePool is charged under the family (``nvidia.com/gpu``) *and* the pool's key
    (``nvidia.com/gpu@pool``): a pool quota caps the pool, a plain quota the family everywhere. The tree
    ignores keys no queue has quota for.
    """
    units = {"cpu": pod.cpu_milli, "memory": pod.memory_mib * MIB}
    d = pod.devices
    if d is not None:
        if d.kind is DeviceKind.PARTITION:
            family, amount = quota_units(partition_resource(d.resource, d.profile or ""), d.count)
        elif d.kind is DeviceKind.FRACTION:
            family, amount = quota_units(d.resource.removesuffix(".shared"), 1, share=Fraction(d.milli, 1000))
        else:
            family, amount = quota_units(d.resource, d.count)
        units[family] = units.get(family, 0) + amount
        if pool:
            units[quota_key(family, pool)] = amount
    return Resources(units)


def _extended_limit(spec: Obj) -> tuple[str, str, int] | None:
    for container in spec.get("containers") or ():
        limits = (container.get("resources") or {}).get("limits") or {}
        for resource, value in limits.items():
            if resource.startswith(DEVICE_DOMAINS):
                count = int(parse_quantity(value))
                if count > 0:
                    return container.get("name", "main"), resource, count
    return None
