"""AMD Instinct compute partitions: which modes each GPU model offers, and what one partition costs.

An MI300-series GPU is split by two settings at once: a *compute* partition mode (SPX: one device; DPX: 2;
TPX: 3; QPX: 4; CPX: one device per XCD, 8 on MI300X, 6 on MI300A) and a *memory* partition mode (NPS1: all
HBM in one NUMA domain; NPS2, NPS4: split). ROCm's device plugin (``mixed`` naming strategy) advertises the
logical devices of a GPU as ``amd.com/<compute>_<memory>``, e.g. ``amd.com/cpx_nps4``. A GPU is in one mode
at a time, so a valid layout is N identical partitions; the memory partitions may not outnumber the
compute partitions (AMD's compatibility matrix). Quota charges a partition its compute share of the GPU
(CPX on MI300X: 1000 // 8 = 125 milli-GPU), rounded down like MIG slices.

Sources: AMD Instinct MI300X partitioning overview and ROCm blog "compute and memory modes" (compatibility
matrix); ROCm/k8s-device-plugin docs/user-guide/configuration.md (resource names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

AMD_RESOURCE_DOMAIN: Final = "amd.com/"

COMPUTE_MODES: Final[dict[str, dict[str, int]]] = {
    "MI300X": {"SPX": 1, "DPX": 2, "QPX": 4, "CPX": 8},
    "MI325X": {"SPX": 1, "DPX": 2, "QPX": 4, "CPX": 8},
    "MI300A": {"SPX": 1, "TPX": 3, "CPX": 6},
}
"""Compute partitions per GPU in each compute mode, per model (model names as Motherboard labels them)."""

MEMORY_MODES: Final[dict[str, int]] = {"NPS1": 1, "NPS2": 2, "NPS4": 4}
"""Memory (NUMA) partitions per GPU in each memory mode."""

_VALID: Final[dict[str, tuple[str, ...]]] = {
    "MI300X": ("spx_nps1", "dpx_nps1", "dpx_nps2", "qpx_nps1", "cpx_nps1", "cpx_nps4"),
    "MI325X": ("spx_nps1", "dpx_nps1", "dpx_nps2", "qpx_nps1", "cpx_nps1", "cpx_nps4"),
    "MI300A": ("spx_nps1", "tpx_nps1", "cpx_nps1"),
}

KNOWN_AMD_PARTITIONS: Final[tuple[str, ...]] = tuple(sorted({p for ps in _VALID.values() for p in ps}))
"""Every ``<compute>_<memory>`` profile any supported AMD GPU offers: the values a partition request may name."""

_PROFILE = re.compile(r"^(?P<compute>[a-z]px)_(?P<memory>nps\d)$")


@dataclass(frozen=True, slots=True)
class AmdPartition:
    """One compute partition of one GPU model in one mode."""

    profile: str
    """``<compute>_<memory>`` in lower case, e.g. ``cpx_nps4``."""
    per_gpu: int
    """Partitions the GPU is split into in this mode."""

    @property
    def milli(self) -> int:
        """Compute share in thousandths of the GPU: what quota charges for one partition (rounded down)."""
        return 1000 // self.per_gpu


def gpu_family(model: str) -> str | None:
    """The partition table a model uses (``MI300X-192GB`` and ``AMD Instinct MI300X`` → ``MI300X``)."""
    upper = model.upper()
    return next((family for family in _VALID if family in upper), None)


def profile_name(compute: str, memory: str) -> str:
    """The advertised profile of a compute and memory mode as ``amd-smi`` prints them (``CPX``, ``NPS4``)."""
    return f"{compute.strip().lower()}_{memory.strip().lower()}"


def amd_partition(profile: str, model: str | None = None) -> AmdPartition:
    """Look up a profile on one model (default: the first model that offers it); ``KeyError`` names the fix."""
    families = [gpu_family(model)] if model and gpu_family(model) else list(_VALID)
    for family in families:
        if family is not None and profile in _VALID[family]:
            found = _PROFILE.match(profile)
            assert found is not None
            return AmdPartition(profile, COMPUTE_MODES[family][found["compute"].upper()])
    offered = ", ".join(_VALID[families[0]]) if len(families) == 1 and families[0] else None
    known = offered or ", ".join(KNOWN_AMD_PARTITIONS)
    raise KeyError(
        f"unknown AMD partition profile {profile!r}{f' on {model}' if model else ''}; known: {known}"
    )


def is_partition_resource(resource: str) -> bool:
    """Whether ``resource`` is an AMD compute partition (``amd.com/cpx_nps4``), not a whole ``amd.com/gpu``."""
    return resource.startswith(AMD_RESOURCE_DOMAIN) and resource.removeprefix(AMD_RESOURCE_DOMAIN) in set(
        KNOWN_AMD_PARTITIONS
    )


def partition_resource(profile: str) -> str:
    """``cpx_nps4`` → ``amd.com/cpx_nps4``."""
    return f"{AMD_RESOURCE_DOMAIN}{profile}"
