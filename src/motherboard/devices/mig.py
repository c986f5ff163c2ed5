"""MIG profile names and shares as NVML reports them (pure, no NVML needed); layouts: api.mig.place_layout.

Profiles are named as NVIDIA names them and as the ``mixed`` strategy advertises them: ``<g>g.<mem>gb``,
with a ``<c>c.`` prefix when a compute instance uses fewer slices than its GPU instance (``1c.3g.40gb``).
"""

from __future__ import annotations

import math

_MIB = 1024 * 1024
_GIB = 1024 * _MIB


def profile_name(gi_slices: int, ci_slices: int, memory_mib: int, device_memory_mib: int) -> str:
    """The profile name NVIDIA derives from a MIG device's attributes.

    The memory part is the instance's fraction of the device rounded *up* to eighths, times the device's
    memory in whole GiB (how NVIDIA's go-nvlib names them): 9856 MiB of an 80 GiB A100 is ``10gb``.
    """
    fraction = math.ceil(memory_mib * _MIB / (device_memory_mib * _MIB) * 8) / 8
    total_gib = (device_memory_mib * _MIB + _GIB - 1) // _GIB
    gb = round(fraction * total_gib)
    prefix = f"{ci_slices}c." if ci_slices != gi_slices else ""
    return f"{prefix}{gi_slices}g.{gb}gb"


def milli(gi_slices: int, max_slices: int = 7) -> int:
    """Compute share of a slice in thousandths of the GPU (``1g`` of 7 → 142), as quota charges it.

    Rounded down like :attr:`motherboard.api.mig.MigProfile.milli`, so that the slices of one GPU never
    add up to more than one GPU.
    """
    return max(1, min(1000, 1000 * gi_slices // max_slices))
