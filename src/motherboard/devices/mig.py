"""MIG profile names and shares, shared by the NVML and simulated backends (pure, no NVML needed).

Profiles are named as NVIDIA names them and as the ``mixed`` strategy advertises them: ``<g>g.<mem>gb``,
with a ``<c>c.`` prefix when a compute instance uses fewer slices than its GPU instance (``1c.3g.40gb``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from motherboard.api.mig import MEMORY_SLICES, mig_profile

_MIB = 1024 * 1024
_GIB = 1024 * _MIB


class MigProfileError(ValueError):
    """A MIG profile or layout that the GPU model does not offer."""


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


class Placed(NamedTuple):
    """A MIG instance placed on a GPU."""

    profile: str
    start: int
    memory_slices: int
    milli: int
    memory_gb: int


def place(layout: tuple[str, ...], gpu_model: str) -> list[Placed]:
    """Place a MIG layout on one GPU the way the driver accepts it, sorted by start slice.

    Larger instances first, each at its first free legal start (the catalogue's placements), which finds a
    placement for every layout NVIDIA lists as valid; a layout that does not fit raises ``ValueError``.
    """
    try:
        profiles = [mig_profile(name, gpu_model) for name in layout]
    except KeyError as exc:
        raise MigProfileError(str(exc.args[0])) from exc
    used = [False] * MEMORY_SLICES
    placed = []
    for prof in sorted(profiles, key=lambda p: -p.memory_slices):
        start = next((s for s in prof.placements if not any(used[s : s + prof.memory_slices])), None)
        if start is None:
            raise MigProfileError(
                f"MIG layout {list(layout)} does not fit one {gpu_model} ({prof.name} has no room)"
            )
        used[start : start + prof.memory_slices] = [True] * prof.memory_slices
        placed.append(Placed(prof.name, start, prof.memory_slices, prof.milli, prof.memory_gb))
    return sorted(placed, key=lambda p: p.start)
