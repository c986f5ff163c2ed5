"""One quota unit across whole devices, MIG slices and fractional shares.

A tenant's quota says "8 GPUs"; its jobs ask for whole GPUs, MIG slices or fractional shares. Admission
converts every request into the *quota resource* of its device family, counted in milli-devices:

=====================================  ===============================  ==========================
request                                quota resource                   units
=====================================  ===============================  ==========================
``nvidia.com/gpu: 2``                  ``nvidia.com/gpu``               2000
``nvidia.com/mig-3g.40gb: 1`` (A100)   ``nvidia.com/gpu``               428 (3 of 7 slices)
``nvidia.com/gpu`` with share 0.25     ``nvidia.com/gpu``               250
``nvidia.com/gpu.shared: 1`` (4/GPU)   ``nvidia.com/gpu``               250
``huawei.com/Ascend910: 1``            ``huawei.com/Ascend910``         1000
``cpu: 500m``                          ``cpu``                          500 (millicores)
``memory: 1Gi``                        ``memory``                       1073741824 (bytes)
=====================================  ===============================  ==========================

MIG shares are rounded *down*: seven ``1g`` slices (7 x 142) must fit the quota of the one GPU they are
cut from, which rounding to nearest (7 x 143 = 1001) would break.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

from motherboard.api.base import parse_quantity as api_quantity
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
)
from motherboard.api.mig import mig_profile
from motherboard.api.partitions import AMD_RESOURCE_DOMAIN, amd_partition, is_partition_resource
from motherboard.scheduler.admission.resources import Resources

MILLI_PER_DEVICE = 1000
"""Quota units of one whole device."""

CPU = "cpu"
MEMORY = "memory"

# Whole accelerators counted in milli-devices under their own name (no partitioning known to admission).
_WHOLE_DEVICE_RESOURCES = frozenset(
    {
        RESOURCE_ASCEND_910,
        RESOURCE_ASCEND_310P,
        RESOURCE_CAMBRICON_MLU,
        RESOURCE_AMD_GPU,
        RESOURCE_KUNLUNXIN_XPU,
        RESOURCE_METAX_GPU,
    }
)
# Resources whose quota unit is a thousandth (of a device, of a core): shown with an ``m`` suffix.
_MILLI_RESOURCES = _WHOLE_DEVICE_RESOURCES | {RESOURCE_NVIDIA_GPU, CPU}
# Byte-valued core resources: the quota unit is one byte.
_BYTE_RESOURCES = frozenset({MEMORY, "ephemeral-storage"})

Quantity = int | float | str | Fraction
"""A request amount: a number, or a Kubernetes quantity string (``500m``, ``4Gi``, ``1e3``)."""


class QuantityError(ValueError):
    """A resource amount that is not a valid Kubernetes quantity."""


def parse_quantity(value: Quantity) -> Fraction:
    """A Kubernetes quantity as an exact fraction (``"500m"`` → 1/2, ``"1Ki"`` → 1024).

    Parsed by the API's one parser (:func:`motherboard.api.base.parse_quantity`, exact decimals).
    """
    if isinstance(value, Fraction | int):
        return Fraction(value)
    try:
        return Fraction(api_quantity(value))
    except ValueError as exc:
        raise QuantityError(f"invalid quantity {value!r}: {exc}") from exc


def mig_share_milli(profile: str, gpu_model: str | None = None) -> int:
    """A MIG profile's share of its GPU in milli-devices: compute slices over the GPU's compute slices.

    ``1g.10gb`` → 142, ``3g.40gb`` → 428, ``7g.80gb`` → 1000 on A100/H100 (7 slices); ``2g.12gb`` → 500 on
    A30 (4 slices). Rounded down, so the slices of one valid layout never exceed one GPU's quota. Profiles
    come from the shared catalogue :mod:`motherboard.api.mig`; ``gpu_model`` picks one model's table.
    """
    try:
        return mig_profile(profile, gpu_model).milli
    except KeyError as exc:
        raise QuantityError(str(exc.args[0])) from exc


def quota_units(
    resource: str,
    quantity: Quantity = 1,
    *,
    share: Quantity | None = None,
    replicas_per_device: int | None = None,
    gpu_model: str | None = None,
) -> tuple[str, int]:
    """The quota resource and amount that ``quantity`` of ``resource`` counts as.

    ``share`` is the fraction of one device each requested unit gets (``0.25`` → 250 milli-GPU each);
    ``replicas_per_device`` is how many ``nvidia.com/gpu.shared`` replicas a device is advertised as, and
    is required for that resource; ``gpu_model`` selects the MIG table (A30 has 4 slices). Unknown resources count one unit per requested unit, under their name.
    """
    amount = parse_quantity(quantity)
    if amount < 0:
        raise QuantityError(f"negative quantity {quantity!r} for {resource}")
    if resource == RESOURCE_NVIDIA_GPU or resource in _WHOLE_DEVICE_RESOURCES:
        per = MILLI_PER_DEVICE * (parse_quantity(share) if share is not None else 1)
        if not 0 < per <= MILLI_PER_DEVICE:
            raise QuantityError(f"share {share!r} of {resource} must be in (0, 1]")
        return resource, math.ceil(amount * per)
    if resource.startswith(RESOURCE_NVIDIA_MIG_PREFIX):
        profile = resource.removeprefix(RESOURCE_NVIDIA_MIG_PREFIX)
        return RESOURCE_NVIDIA_GPU, math.ceil(amount * mig_share_milli(profile, gpu_model))
    if is_partition_resource(resource):
        # An AMD compute partition counts as its share of the GPU, like a MIG slice (cpx_nps4 → 125).
        profile = resource.removeprefix(AMD_RESOURCE_DOMAIN)
        return RESOURCE_AMD_GPU, math.ceil(amount * amd_partition(profile, gpu_model).milli)
    if resource == RESOURCE_NVIDIA_GPU_SHARED:
        if not replicas_per_device or replicas_per_device < 1:
            raise QuantityError(f"{resource} needs replicas_per_device (the DevicePool's replica count)")
        # Rounded down like MIG slices: all replicas of one device must fit that device's quota.
        return RESOURCE_NVIDIA_GPU, math.floor(amount * MILLI_PER_DEVICE / replicas_per_device)
    if resource == CPU:
        return CPU, math.ceil(amount * 1000)
    return resource, math.ceil(amount)  # bytes for memory and storage, a count for anything else


def quota_request(
    requests: Mapping[str, Quantity],
    *,
    count: int = 1,
    share: Quantity | None = None,
    replicas_per_device: int | None = None,
) -> Resources:
    """The quota vector of one pod's ``requests`` times ``count`` pods (a gang sums its pods).

    ``share`` applies to the whole-device resources (a pod asking ``nvidia.com/gpu: 1`` with a 0.5 share).
    """
    units: dict[str, int] = {}
    for resource, quantity in requests.items():
        name, value = quota_units(resource, quantity, share=share, replicas_per_device=replicas_per_device)
        units[name] = units.get(name, 0) + value
    return Resources(units).scaled(count)


def format_amount(resource: str, amount: int) -> str:
    """A quota amount as its owner wrote it: ``64 GPUs``, ``0.5 GPU``, ``16 CPUs``, ``64Gi memory``.

    ``resource`` is a quota key (``nvidia.com/gpu@pool-a`` reads ``8 GPUs in pool pool-a``). Messages say
    this rather than quota units (``64000m``), which nobody wrote in a manifest.
    """
    name, _, pool = resource.partition("@")
    where = f" in pool {pool}" if pool else ""
    if name in _BYTE_RESOURCES:
        for suffix, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if amount and amount % size == 0:
                return f"{amount // size}{suffix} {name}{where}"
        return f"{amount} bytes of {name}{where}"
    if name in _MILLI_RESOURCES:
        count = Fraction(amount, MILLI_PER_DEVICE)
        text = str(count.numerator) if count.denominator == 1 else f"{float(count):.3f}".rstrip("0")
        if name == RESOURCE_NVIDIA_GPU:
            return f"{text} GPU{'' if count == 1 or count.denominator != 1 else 's'}{where}"
        if name == CPU:
            return f"{text} CPU{'' if count == 1 or count.denominator != 1 else 's'}{where}"
        return f"{text} {name}{where}"
    return f"{amount} {name}{where}"
