"""Topology-aware choice of devices for one container, shared by every backend.

The kubelet asks ``GetPreferredAllocation``: "``size`` devices out of these, including those". The best
answer keeps a container's devices on one NVLink/HCCS domain (collectives stay off PCIe) and then on one
NUMA node (host memory stays local). When several domains could hold the request, the *smallest* one that
fits wins: a best fit keeps large domains whole for the large jobs that need them.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from motherboard.devices.model import Device


@dataclass(frozen=True)
class Locality:
    """Where a device (or partition) sits: the keys the choice groups by, coarsest first."""

    domain: str | None
    numa: int | None
    index: int


def localities(devices: Sequence[Device]) -> dict[str, Locality]:
    """The locality of every device and partition id (partitions inherit their device's)."""
    out: dict[str, Locality] = {}
    for device in devices:
        loc = Locality(device.interconnect_domain, device.numa_node, device.index)
        out[device.id] = loc
        for part in device.partitions:
            out[part.id] = loc
    return out


def prefer(
    where: Mapping[str, Locality], available: Sequence[str], must_include: Sequence[str], size: int
) -> list[str]:
    """``size`` ids from ``available``, ``must_include`` first, grouped by domain then NUMA node.

    Ids without a known locality sort last. The result never exceeds what is available.
    """
    unknown = Locality(None, None, 1 << 30)
    loc = {i: where.get(i, unknown) for i in available}
    chosen = list(dict.fromkeys(i for i in must_include if i in loc))
    rest = sorted((i for i in loc if i not in chosen), key=lambda i: (loc[i].index, i))
    levels: list[Callable[[str], Hashable]] = [lambda i: loc[i].domain, lambda i: loc[i].numa]
    anchors = [{key(i) for i in chosen} for key in levels]
    chosen += _fill(rest, size - len(chosen), levels, anchors)
    return chosen


def _fill(
    candidates: list[str], need: int, levels: list[Callable[[str], Hashable]], anchors: list[set[Hashable]]
) -> list[str]:
    """Pick ``need`` of ``candidates``: best group at the first level, then recurse inside the group."""
    if need <= 0:
        return []
    if not levels:
        return candidates[:need]
    key, anchor = levels[0], anchors[0]
    groups: dict[Hashable, list[str]] = {}
    for cand in candidates:
        groups.setdefault(key(cand), []).append(cand)

    def rank(group: Hashable) -> tuple[int, int]:
        size = len(groups[group])
        if group in anchor:  # already holds part of the allocation: stay there
            return (0, 0)
        if size >= need:  # fits alone: the smallest such group (best fit)
            return (1, size)
        return (2, -size)  # must spread: the largest groups first

    picked: list[str] = []
    for group in sorted(groups, key=rank):
        picked += _fill(groups[group], need - len(picked), levels[1:], anchors[1:])
        if len(picked) >= need:
            break
    return picked
