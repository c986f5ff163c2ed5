"""Matching an ``Allocate`` to the pod container the scheduler assigned those devices to.

A *claim* is one container entry of a pod's :class:`~motherboard.api.assignment.DeviceAssignment` for this
plugin's resource, on a pending pod bound to this node, that the plugin has not served yet (or served with
exactly these device ids: the kubelet may retry). ``Allocate`` asks for some devices; the claim whose
assigned ids equal the requested ones wins. When claims exist but none matches, the kubelet is about to
give a container devices the scheduler did not count: that is refused, naming both sides.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from motherboard.api.assignment import AssignmentError, ContainerAssignment, DeviceAssignment
from motherboard.deviceplugin.pods import PodInfo
from motherboard.deviceplugin.state import AllocationStore, record_key

log = logging.getLogger(__name__)


class AllocationRefused(Exception):
    """``Allocate`` must fail: the message is shown to the user in the pod's events."""


@dataclass(frozen=True)
class Claim:
    """One container's assigned devices of one resource."""

    pod: PodInfo
    entry: ContainerAssignment

    @property
    def ids(self) -> set[str]:
        return {d.id for d in self.entry.devices}

    def describe(self) -> str:
        return f"pod {self.pod.ref} container {self.entry.name!r} was assigned {sorted(self.ids)}"


def open_claims(
    pods: Sequence[PodInfo], node: str, resource: str, store: AllocationStore, requested: Sequence[str] = ()
) -> list[Claim]:
    """Claims on ``resource`` not yet served (a malformed annotation is skipped, not fatal to others)."""
    claims: list[Claim] = []
    for pod in pods:
        if pod.phase != "Pending":
            continue
        try:
            assignment = DeviceAssignment.from_pod_annotations(dict(pod.annotations))
        except AssignmentError as exc:
            log.warning("pod %s is not a claim: %s", pod.ref, exc)
            continue
        if assignment is None or assignment.node != node:
            continue
        for entry in assignment.containers:
            if entry.resource != resource:
                continue
            served = store.get(record_key(pod.uid, entry.name, resource))
            if served is None or sorted(served.device_ids) == sorted(requested):
                claims.append(Claim(pod, entry))
    return claims


def match(claims: Sequence[Claim], backend_ids: Sequence[str], resource: str) -> Claim | None:
    """The claim for these backend ids; ``None`` when nobody claimed any (a pod the scheduler did not place).

    Raises :class:`AllocationRefused` when claims exist and none assigned exactly these devices.
    """
    wanted = set(backend_ids)
    for claim in claims:
        if claim.ids == wanted:
            return claim
    if not claims:
        return None
    raise AllocationRefused(
        f"the kubelet asked for {resource} {sorted(wanted)}, which contradicts the scheduler's device "
        f"assignment: {'; '.join(c.describe() for c in claims)}. Refusing, so that the container does not "
        "get devices the scheduler did not count; the kubelet retries after its next device update"
    )
