"""Valid MIG layouts: which sets of GPU instances can coexist on one GPU.

NVIDIA documents each profile with the memory-slice positions it may start at and the number of memory
slices it spans (``nvidia-smi mig -lgipp``). A layout is valid when every instance starts at one of its
profile's placements, no two instances share a memory slice, and the compute slices add up to at most 7.
The scheduler keeps a device's MIG state as a bitmask of occupied memory slices, so checking a placement
is two integer operations.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from motherboard.api.mig import COMPUTE_SLICES, MEMORY_SLICES, MIG_PROFILES, MigProfile

_ALIASES = {
    "A100-40GB": "A100-40GB",
    "A100-80GB": "A100-80GB",
    "A100-PCIE-40GB": "A100-40GB",
    "A100-PCIE-80GB": "A100-80GB",
    "H100-80GB": "H100-80GB",
    "H100-PCIE-80GB": "H100-80GB",
    "H100-NVL": "H100-94GB",
    "H200-141GB": "H200-141GB",
}


class MigLayoutError(ValueError):
    """A set of MIG instances that cannot coexist on one GPU."""


@dataclass(frozen=True, slots=True)
class MigInstance:
    """One GPU instance: a profile placed at a memory-slice start."""

    profile: str
    start: int


def canonical_model(model: str) -> str:
    """The catalogue's name for a GPU model (inventories say ``A100-80GB``; NVIDIA says more)."""
    return _ALIASES.get(model, model)


def mig_capable(model: str) -> bool:
    """Whether the model has a MIG profile table."""
    return canonical_model(model) in MIG_PROFILES


def profile_of(model: str, profile: str) -> MigProfile:
    """The profile row of ``model``; a :class:`MigLayoutError` when the model does not offer it."""
    table = MIG_PROFILES.get(canonical_model(model))
    if table is None:
        raise MigLayoutError(f"GPU model {model!r} does not support MIG")
    row = table.get(profile)
    if row is None:
        raise MigLayoutError(f"GPU model {model!r} has no MIG profile {profile!r}; it has {', '.join(table)}")
    return row


def slice_mask(row: MigProfile, start: int) -> int:
    """The memory slices an instance of ``row`` occupies when it starts at ``start``."""
    return ((1 << row.memory_slices) - 1) << start


def validate_layout(model: str, instances: Iterable[MigInstance]) -> int:
    """Check a layout; return its occupied-slice mask. Raises :class:`MigLayoutError` naming the clash."""
    occupied, compute = 0, 0
    for inst in instances:
        row = profile_of(model, inst.profile)
        if inst.start not in row.placements:
            raise MigLayoutError(
                f"{inst.profile} cannot start at memory slice {inst.start} on {model} "
                f"(placements: {', '.join(map(str, row.placements))})"
            )
        mask = slice_mask(row, inst.start)
        if occupied & mask:
            raise MigLayoutError(f"{inst.profile}@{inst.start} overlaps another instance on {model}")
        occupied |= mask
        compute += row.compute_slices
    if compute > COMPUTE_SLICES:
        raise MigLayoutError(f"layout uses {compute} compute slices on {model}; a GPU has {COMPUTE_SLICES}")
    if occupied >= 1 << MEMORY_SLICES:
        raise MigLayoutError(f"layout exceeds the {MEMORY_SLICES} memory slices of {model}")
    return occupied


def place(model: str, occupied: int, compute_used: int, profile: str) -> int | None:
    """The lowest start where a new ``profile`` instance fits next to ``occupied``; ``None`` if none.

    Lowest start first, as ``nvidia-smi`` does, which keeps the high slices free for the big profiles.
    """
    row = profile_of(model, profile)
    if compute_used + row.compute_slices > COMPUTE_SLICES:
        return None
    for start in row.placements:
        if not occupied & slice_mask(row, start):
            return start
    return None
