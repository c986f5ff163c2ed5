"""Scheduler state: the cluster cache, immutable snapshots, and transactions."""

from motherboard.scheduler.cache.assignment import device_assignment
from motherboard.scheduler.cache.cache import ClusterCache, UnknownPodError
from motherboard.scheduler.cache.devices import AccountingError
from motherboard.scheduler.cache.snapshot import Snapshot
from motherboard.scheduler.cache.state import Catalog, ClusterState
from motherboard.scheduler.cache.transaction import Transaction, TransactionConflict
from motherboard.scheduler.cache.types import (
    WHOLE_MILLI,
    DeviceKind,
    DevicePick,
    DeviceRequest,
    NodeSpec,
    Placement,
    PodRequest,
    TopologyLevel,
    TopologyRule,
)

__all__ = [
    "WHOLE_MILLI",
    "AccountingError",
    "Catalog",
    "ClusterCache",
    "ClusterState",
    "DeviceKind",
    "DevicePick",
    "DeviceRequest",
    "NodeSpec",
    "Placement",
    "PodRequest",
    "Snapshot",
    "TopologyLevel",
    "TopologyRule",
    "Transaction",
    "TransactionConflict",
    "UnknownPodError",
    "device_assignment",
]
