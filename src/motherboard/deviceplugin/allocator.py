"""``Allocate`` and ``GetPreferredAllocation`` in plugin terms, honouring the scheduler's assignment.

Allocate, as a story:

1. resolve the kubelet's ids to units (unknown ids are refused);
2. list this node's pods and find the claim for exactly these devices (:mod:`.matching`); a contradiction
   is refused; no claim at all is served as asked (pods the scheduler did not place) unless the plugin
   requires assignments;
3. let the backend build the container settings, with share limits for replicas;
4. record the container in the allocation map and count the outcome.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Sequence

from motherboard.deviceplugin import faults, metrics
from motherboard.deviceplugin.inventory import LiveInventory
from motherboard.deviceplugin.matching import AllocationRefused, Claim, match, open_claims
from motherboard.deviceplugin.pods import PodInfo, PodSource
from motherboard.deviceplugin.resources import Unit, prefer_replicas
from motherboard.deviceplugin.state import AllocationRecord, AllocationStore
from motherboard.devices.backend import ContainerAllocation, DeviceBackend, ShareLimit

log = logging.getLogger(__name__)

TERMINAL_PHASES = ("Succeeded", "Failed")


class Allocator:
    """Shared by every resource server of one plugin process."""

    def __init__(
        self,
        backend: DeviceBackend,
        inventory: LiveInventory,
        node: str,
        pods: PodSource,
        store: AllocationStore,
        *,
        require_assignment: bool = False,
        cdi: bool = False,
    ) -> None:
        self._backend, self._inventory, self._node = backend, inventory, node
        self._pods, self._store = pods, store
        self._require, self._cdi = require_assignment, cdi
        self._lock = threading.Lock()  # claim matching + recording is atomic; pod listing is not under it

    def allocate(self, resource: str, kubelet_ids: Sequence[str]) -> ContainerAllocation:
        faults.allocate_started()
        try:
            out = self._allocate(resource, kubelet_ids)
        except AllocationRefused:
            metrics.ALLOCATIONS.labels(resource=resource, outcome="refused").inc()
            raise
        except Exception:
            metrics.ALLOCATIONS.labels(resource=resource, outcome="error").inc()
            raise
        metrics.ALLOCATIONS.labels(resource=resource, outcome="ok").inc()
        return out

    def _allocate(self, resource: str, kubelet_ids: Sequence[str]) -> ContainerAllocation:
        # 1. resolve
        table = self._inventory.unit_map(resource)
        unknown = [i for i in kubelet_ids if i not in table]
        if unknown:
            raise AllocationRefused(
                f"{resource}: unknown device ids {unknown} (not advertised by this plugin)"
            )
        units = [table[i] for i in kubelet_ids]
        backend_ids = list(dict.fromkeys(u.backend_id for u in units))
        # 2. find the claim
        pods = self._list_pods()
        # A pod that ended holds no devices any more (the kubelet freed them): its records go, so that the
        # map never shows a device held by a failed pod and by the replacement the scheduler gave it to.
        self._store.prune(p.uid for p in pods if p.phase not in TERMINAL_PHASES)
        with self._lock:
            claim = match(
                open_claims(pods, self._node, resource, self._store, kubelet_ids), backend_ids, resource
            )
            if claim is None and self._require:
                raise AllocationRefused(
                    f"no pending pod on node {self._node} has a device assignment for {resource} {backend_ids}; "
                    "this plugin serves only pods placed by the motherboard scheduler"
                )
            # 3. container settings
            out = self._backend.allocate(backend_ids, share_limit(units, claim))
            out.envs |= self._identity(backend_ids)
            faults.reached("before-record")
            # 4. remember
            if claim is not None:
                self._store.record(
                    AllocationRecord(
                        claim.pod.ref, claim.pod.uid, claim.entry.name, resource, tuple(kubelet_ids)
                    )
                )
            faults.reached("after-record")
        if not self._cdi:
            out.cdi_devices = []
        log.info(
            "allocated %s %s to %s",
            resource,
            list(kubelet_ids),
            claim.describe() if claim else "an unplaced pod",
        )
        return out

    def _identity(self, backend_ids: Sequence[str]) -> dict[str, str]:
        """What the container is given, vendor-neutrally: a model server picks the artifact compiled for
        this device from it (``motherboard model fetch``), without a vendor library or an API call."""
        wanted = set(backend_ids)
        for device in self._inventory.devices():
            if device.id in wanted or any(p.id in wanted for p in device.partitions):
                return {
                    "MOTHERBOARD_DEVICE_VENDOR": device.vendor.value,
                    "MOTHERBOARD_DEVICE_MODEL": device.model,
                }
        return {}

    def _list_pods(self) -> list[PodInfo]:
        try:
            return self._pods.pods_on_node(self._node)
        except (
            Exception
        ) as exc:  # the API server is a dependency, not a device problem: let the kubelet retry
            raise AllocationRefused(
                f"cannot list pods on {self._node} to check the device assignment: {exc}"
            ) from exc

    def preferred(
        self, resource: str, available: Sequence[str], must_include: Sequence[str], size: int
    ) -> list[str]:
        """The assigned devices when a claim fits what is available, else the best topology."""
        table = self._inventory.unit_map(resource)
        try:
            claims = open_claims(self._pods.pods_on_node(self._node), self._node, resource, self._store)
        except Exception as exc:  # a preference is advisory: fall back to topology
            log.warning("cannot list pods for a preferred allocation: %s", exc)
            claims = []
        for claim in claims:
            picked = _pick_for_claim(claim, table, available, must_include, size)
            if picked is not None:
                return picked
        known = [a for a in available if a in table]
        if known and table[known[0]].replica is not None:
            return prefer_replicas(table, known, must_include, size)
        return self._backend.preferred_allocation(known, must_include, size)


def _pick_for_claim(
    claim: Claim, table: dict[str, Unit], available: Sequence[str], must_include: Sequence[str], size: int
) -> list[str] | None:
    """The available units on the claim's devices, if they can make up the request."""
    allowed = claim.ids
    if any(table[m].backend_id not in allowed for m in must_include if m in table):
        return None
    on_claim = [a for a in available if a in table and table[a].backend_id in allowed]
    if {table[a].backend_id for a in on_claim} != allowed or len(on_claim) < size:
        return None
    if table[on_claim[0]].replica is not None:
        return prefer_replicas(table, on_claim, must_include, size)
    return on_claim if len(on_claim) == size else None


def share_limit(units: Sequence[Unit], claim: Claim | None) -> ShareLimit | None:
    """Limits of a container's replicas, per visible device: the assignment's, else replicas / total."""
    if not units or units[0].replica is None:
        return None
    if claim is not None:
        memory: Counter[str] = Counter()
        milli: Counter[str] = Counter()
        for d in claim.entry.devices:
            memory[d.id] += d.memory_mib or 0
            milli[d.id] += d.milli
        return ShareLimit(max(memory.values()) or None, min(1000, max(milli.values())))
    per_device = Counter(u.backend_id for u in units)
    device_id, n = per_device.most_common(1)[0]
    device = next(u.device for u in units if u.backend_id == device_id)
    replicas = max(1, device.share_replicas)
    return ShareLimit(device.memory_mib * n // replicas, min(1000, 1000 * n // replicas))
