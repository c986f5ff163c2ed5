"""Which extended resource, and how much of it, a device request asks the kubelet for.

The operator writes these into pod resource limits; the device plugins advertise the same names; the
scheduler reads them back. Quota is charged separately, in compute share (see :mod:`motherboard.api.mig`).
"""

from __future__ import annotations

import math
import re

from motherboard.api import partitions
from motherboard.api.constants import (
    RESOURCE_AMD_GPU,
    RESOURCE_ASCEND_310P,
    RESOURCE_ASCEND_910,
    RESOURCE_CAMBRICON_MLU,
    RESOURCE_KUNLUNXIN_XPU,
    RESOURCE_METAX_GPU,
    RESOURCE_NVIDIA_GPU,
    RESOURCE_NVIDIA_GPU_SHARED,
    RESOURCE_NVIDIA_MIG_PREFIX,
    mig_resource_name,
)
from motherboard.api.v1alpha1.aijob import DeviceRequest
from motherboard.api.v1alpha1.common import SharingMode, Vendor
from motherboard.api.v1alpha1.devicepool import DevicePoolSpec

DEFAULT_SHARES_PER_DEVICE = 10
"""Shares per device where no DevicePool says otherwise (0.1 of a device each)."""


class UnresolvableRequest(ValueError):
    """A device request that names neither a vendor nor a known pool."""


def ascend_resource(chip: str) -> str:
    """The resource an Ascend chip is advertised as (``910B3`` or ``Ascend910B`` → ``huawei.com/Ascend910``)."""
    name = re.sub(r"[^0-9A-Za-z]", "", chip.removeprefix("Ascend"))
    if name.upper().startswith("310P"):
        return RESOURCE_ASCEND_310P
    if name.startswith("910") or not name:
        return RESOURCE_ASCEND_910
    return f"huawei.com/Ascend{name}"


def whole_device_resource(vendor: Vendor, model: str | None) -> str:
    """The resource a whole device of this vendor and model is advertised as."""
    if vendor is Vendor.NVIDIA:
        return RESOURCE_NVIDIA_GPU
    if vendor is Vendor.HUAWEI:
        return ascend_resource(model or "")
    return _WHOLE[vendor]


_WHOLE = {
    Vendor.CAMBRICON: RESOURCE_CAMBRICON_MLU,
    Vendor.AMD: RESOURCE_AMD_GPU,
    Vendor.KUNLUNXIN: RESOURCE_KUNLUNXIN_XPU,
    Vendor.METAX: RESOURCE_METAX_GPU,
}


def partition_resource(whole: str, profile: str) -> str:
    """The resource one hardware partition of a ``whole`` device is advertised as, by its vendor's plugin.

    NVIDIA MIG (``mixed``): ``nvidia.com/mig-1g.10gb``; AMD (``mixed``): ``amd.com/cpx_nps4``; any other
    vendor's partitions: ``<resource>-<profile>``.
    """
    if whole.startswith("nvidia.com/"):
        return mig_resource_name(profile)
    if whole == RESOURCE_AMD_GPU:
        return partitions.partition_resource(profile)
    return f"{whole}-{profile}"


def shared_resource(vendor: Vendor, whole: str) -> str:
    """The resource fractional shares of a device are advertised as: N replicas per device."""
    return RESOURCE_NVIDIA_GPU_SHARED if vendor is Vendor.NVIDIA else f"{whole}.shared"


def device_resources(request: DeviceRequest, pool: DevicePoolSpec | None = None) -> dict[str, int]:
    """``{resource name: count}`` one pod's container must request for ``request``.

    ``pool`` is the DevicePool the request names (if any): it supplies the vendor and model when the request
    omits them, the resource name when the pool overrides it, and the number of shares per device.
    """
    vendor = request.vendor or (pool.vendor if pool else None)
    if vendor is None:
        raise UnresolvableRequest(f"devices.pool {request.pool!r} does not exist and no vendor is named")
    model = request.model or (pool.model if pool else None)
    sharing = request.sharing
    if sharing.mode is SharingMode.MIG:
        assert sharing.mig_profile is not None  # the model validator guarantees it
        # A hardware partition: a MIG slice, or an AMD compute partition (amd.com/cpx_nps4).
        return {partition_resource(whole_device_resource(vendor, model), sharing.mig_profile): request.count}
    if sharing.mode is SharingMode.FRACTION:
        assert sharing.fraction is not None
        shares = (pool.sharing.shares_per_device if pool else None) or DEFAULT_SHARES_PER_DEVICE
        resource = (pool.resource_name if pool else None) or shared_resource(
            vendor, whole_device_resource(vendor, model)
        )
        # Round up: a pod asking for 0.25 of a device split 10 ways needs 3 shares, never 2.
        return {resource: max(1, math.ceil(sharing.fraction * shares - 1e-9))}
    resource = (pool.resource_name if pool else None) or whole_device_resource(vendor, model)
    return {resource: request.count}


def quota_family(resource: str) -> str:
    """The quota resource a device resource is charged under: MIG slices and shares count as their device.

    ``nvidia.com/mig-1g.10gb`` and ``nvidia.com/gpu.shared`` → ``nvidia.com/gpu``;
    ``huawei.com/Ascend910.shared`` → ``huawei.com/Ascend910``; ``amd.com/cpx_nps4`` → ``amd.com/gpu``; anything else is its own family.
    """
    if resource.startswith(RESOURCE_NVIDIA_MIG_PREFIX) or resource == RESOURCE_NVIDIA_GPU_SHARED:
        return RESOURCE_NVIDIA_GPU
    if partitions.is_partition_resource(resource):
        return RESOURCE_AMD_GPU
    return resource.removesuffix(".shared")
