"""Which extended resource, and how much of it, a device request asks the kubelet for.

The operator writes these into pod resource limits; the device plugins advertise the same names; the
scheduler reads them back. Quota is charged separately, in compute share (see :mod:`motherboard.api.mig`).
"""

from __future__ import annotations

import math

from motherboard.api.constants import (
    RESOURCE_ASCEND_310P,
    RESOURCE_ASCEND_910,
    RESOURCE_CAMBRICON_MLU,
    RESOURCE_NVIDIA_GPU,
    RESOURCE_NVIDIA_GPU_SHARED,
    mig_resource_name,
)
from motherboard.api.mig import mig_profile
from motherboard.api.v1alpha1.aijob import DeviceRequest
from motherboard.api.v1alpha1.common import SharingMode, Vendor
from motherboard.api.v1alpha1.devicepool import DevicePoolSpec

DEFAULT_SHARES_PER_DEVICE = 10
"""Shares per device where no DevicePool says otherwise (0.1 of a device each)."""


class UnresolvableRequest(ValueError):
    """A device request that names neither a vendor nor a known pool."""


def whole_device_resource(vendor: Vendor, model: str | None) -> str:
    """The resource a whole device of this vendor and model is advertised as."""
    if vendor is Vendor.NVIDIA:
        return RESOURCE_NVIDIA_GPU
    if vendor is Vendor.HUAWEI:
        return RESOURCE_ASCEND_310P if model and model.startswith("Ascend310") else RESOURCE_ASCEND_910
    return RESOURCE_CAMBRICON_MLU


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
        return {mig_resource_name(sharing.mig_profile): request.count}
    if sharing.mode is SharingMode.FRACTION:
        assert sharing.fraction is not None
        shares = (pool.sharing.shares_per_device if pool else None) or DEFAULT_SHARES_PER_DEVICE
        resource = (pool.resource_name if pool else None) or RESOURCE_NVIDIA_GPU_SHARED
        # Round up: a pod asking for 0.25 of a device split 10 ways needs 3 shares, never 2.
        return {resource: max(1, math.ceil(sharing.fraction * shares - 1e-9))}
    resource = (pool.resource_name if pool else None) or whole_device_resource(vendor, model)
    return {resource: request.count}


def quota_milli(request: DeviceRequest, gpu_model: str | None = None) -> int:
    """Compute share one pod's request is charged, in thousandths of a device (the one quota unit)."""
    sharing = request.sharing
    if sharing.mode is SharingMode.MIG:
        assert sharing.mig_profile is not None
        return mig_profile(sharing.mig_profile, gpu_model or request.model).milli * request.count
    if sharing.mode is SharingMode.FRACTION:
        assert sharing.fraction is not None
        return round(sharing.fraction * 1000)
    return 1000 * request.count
