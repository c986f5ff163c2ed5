"""The NVIDIA MIG profile catalogue: which profiles each GPU model offers, and what each one costs.

A profile ``<c>g.<m>gb`` takes ``c`` of the GPU's 7 compute slices and a number of its 8 memory slices.
Quota charges a MIG slice its compute share of the device (``c / 7``), so a tenant pays comparably for a
1g.10gb slice on an A100 and a 1g.12gb slice on an H100 NVL. Figures from NVIDIA's MIG user guide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

COMPUTE_SLICES: Final = 7
MEMORY_SLICES: Final = 8


@dataclass(frozen=True, slots=True)
class MigProfile:
    """One MIG GPU-instance profile of one GPU model."""

    name: str
    """Profile name as NVIDIA prints it, e.g. ``1g.10gb`` or ``1g.10gb+me``."""
    compute_slices: int
    """Compute (GPC) slices, out of 7."""
    memory_slices: int
    """Memory slices, out of 8."""
    memory_gb: int
    """Usable memory in GB as the name says."""
    placements: tuple[int, ...]
    """Memory-slice start positions where the instance may be created."""
    gpu_compute_slices: int = COMPUTE_SLICES
    """Compute slices of the whole GPU (7 on A100/H100/H200, 4 on A30)."""
    gpu_memory_slices: int = MEMORY_SLICES
    """Memory slices of the whole GPU (8 on A100/H100/H200, 4 on A30)."""

    @property
    def milli(self) -> int:
        """Compute share in thousandths of the GPU: what quota charges for one slice.

        Rounded down, so the slices of one full GPU never add up to more than one GPU (7 x 142 <= 1000).
        """
        return 1000 * self.compute_slices // self.gpu_compute_slices


def _table(one: int, two: int, half: int, full: int) -> dict[str, MigProfile]:
    # The A100/H100/H200 families share one slice layout; only the memory (GB) per profile differs:
    # `one` for 1g (one memory slice), `two` for 1g/2g with two slices, `half` for 3g/4g, `full` for 7g.
    rows = [
        MigProfile(f"1g.{one}gb", 1, 1, one, (0, 1, 2, 3, 4, 5, 6)),
        MigProfile(f"1g.{one}gb+me", 1, 1, one, (0, 1, 2, 3, 4, 5, 6)),
        MigProfile(f"1g.{two}gb", 1, 2, two, (0, 2, 4, 6)),
        MigProfile(f"2g.{two}gb", 2, 2, two, (0, 2, 4)),
        MigProfile(f"3g.{half}gb", 3, 4, half, (0, 4)),
        MigProfile(f"4g.{half}gb", 4, 4, half, (0,)),
        MigProfile(f"7g.{full}gb", 7, 8, full, (0,)),
    ]
    return {row.name: row for row in rows}


MIG_PROFILES: Final[dict[str, dict[str, MigProfile]]] = {
    "A100-40GB": _table(5, 10, 20, 40),
    "A100-80GB": _table(10, 20, 40, 80),
    "H100-80GB": _table(10, 20, 40, 80),
    "H100-94GB": _table(12, 24, 47, 94),
    "H200-141GB": _table(18, 35, 71, 141),
    "A30-24GB": {
        "1g.6gb": MigProfile("1g.6gb", 1, 1, 6, (0, 1, 2, 3), 4, 4),
        "1g.6gb+me": MigProfile("1g.6gb+me", 1, 1, 6, (0, 1, 2, 3), 4, 4),
        "2g.12gb": MigProfile("2g.12gb", 2, 2, 12, (0, 2), 4, 4),
        "2g.12gb+me": MigProfile("2g.12gb+me", 2, 2, 12, (0, 2), 4, 4),
        "4g.24gb": MigProfile("4g.24gb", 4, 4, 24, (0,), 4, 4),
    },
}
"""Profiles per GPU model (model names as Motherboard labels them)."""

KNOWN_MIG_PROFILES: Final[tuple[str, ...]] = tuple(
    sorted({name for table in MIG_PROFILES.values() for name in table})
)
"""Every profile name any supported GPU offers: the values a MIG request may name."""


def mig_profile(profile: str, gpu_model: str | None = None) -> MigProfile:
    """Look up a profile, on one GPU model or on the first model that offers it."""
    tables = [MIG_PROFILES[gpu_model]] if gpu_model in MIG_PROFILES else list(MIG_PROFILES.values())
    for table in tables:
        if profile in table:
            return table[profile]
    raise KeyError(f"unknown MIG profile {profile!r}; known: {', '.join(KNOWN_MIG_PROFILES)}")


class MigLayoutError(ValueError):
    """A set of MIG instances that one GPU of the model cannot hold."""


@dataclass(frozen=True, slots=True)
class PlacedInstance:
    """A MIG instance at its memory-slice start."""

    profile: MigProfile
    start: int


def place_layout(layout: Sequence[str], gpu_model: str) -> tuple[PlacedInstance, ...]:
    """Place a MIG layout on one GPU as the driver accepts it, sorted by start; :class:`MigLayoutError` if not.

    Larger instances first, each at its first free legal start, which finds a placement for every layout
    NVIDIA lists as valid. The one implementation used by the simulated backend and the local cluster.
    """
    if not layout:
        return ()
    table = MIG_PROFILES.get(gpu_model)
    if table is None:
        raise MigLayoutError(f"{gpu_model} does not support MIG")
    unknown = [name for name in layout if name not in table]
    if unknown:
        raise MigLayoutError(f"unknown MIG profile(s) {unknown} on {gpu_model}; known: {sorted(table)}")
    profiles = [table[name] for name in layout]
    compute = sum(p.compute_slices for p in profiles)
    if compute > profiles[0].gpu_compute_slices:
        raise MigLayoutError(
            f"MIG layout {list(layout)} needs {compute} compute slices of {profiles[0].gpu_compute_slices}"
        )
    used = [False] * profiles[0].gpu_memory_slices
    placed: list[PlacedInstance] = []
    for prof in sorted(profiles, key=lambda p: -p.memory_slices):
        start = next((s for s in prof.placements if not any(used[s : s + prof.memory_slices])), None)
        if start is None:
            raise MigLayoutError(
                f"MIG layout {list(layout)} does not fit one {gpu_model} ({prof.name} has no room)"
            )
        used[start : start + prof.memory_slices] = [True] * prof.memory_slices
        placed.append(PlacedInstance(prof, start))
    return tuple(sorted(placed, key=lambda p: p.start))
