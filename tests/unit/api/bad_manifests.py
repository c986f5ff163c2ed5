"""The table of invalid manifests: each is rejected, and the error names the field.

Shared by the unit test (pydantic models) and the integration test (the real API server's schema and CEL
rules), so both layers are held to the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.unit.api.builders import aijob, devicepool, queue, task


@dataclass(frozen=True)
class BadManifest:
    name: str
    manifest: dict[str, Any]
    field: str
    """A fragment of the field path the error must name."""
    server_checks: bool = True
    """Whether the API server's schema/CEL rejects it too (some rules need other objects: the webhook's)."""


def _devices(**sharing: Any) -> dict[str, Any]:
    return {"vendor": "nvidia", "count": 1, "sharing": sharing}


BAD_MANIFESTS: list[BadManifest] = [
    BadManifest("negative replicas", aijob(tasks=[task(replicas=-1)]), "replicas"),
    BadManifest("zero replicas", aijob(tasks=[task(replicas=0)]), "replicas"),
    BadManifest("empty tasks", aijob(tasks=[]), "tasks"),
    BadManifest("unknown sharing mode", aijob(tasks=[task(devices=_devices(mode="Slice"))]), "sharing.mode"),
    BadManifest(
        "minAvailable larger than replicas",
        aijob(gang={"minAvailable": 5}, tasks=[task(replicas=2)]),
        "minAvailable",
    ),
    BadManifest(
        "fraction above one",
        aijob(tasks=[task(devices=_devices(mode="Fraction", fraction=1.5))]),
        "fraction",
    ),
    BadManifest(
        "fraction of zero", aijob(tasks=[task(devices=_devices(mode="Fraction", fraction=0))]), "fraction"
    ),
    BadManifest(
        "unknown MIG profile",
        aijob(tasks=[task(devices=_devices(mode="MIG", migProfile="9g.99gb"))]),
        "migProfile",
    ),
    BadManifest("MIG without a profile", aijob(tasks=[task(devices=_devices(mode="MIG"))]), "migProfile"),
    BadManifest(
        "fraction on a whole device",
        aijob(tasks=[task(devices=_devices(mode="Whole", fraction=0.5))]),
        "fraction",
    ),
    BadManifest(
        "several devices with a fraction",
        aijob(
            tasks=[
                task(
                    devices={"vendor": "nvidia", "count": 2, "sharing": {"mode": "Fraction", "fraction": 0.5}}
                )
            ]
        ),
        "count",
    ),
    BadManifest(
        "device request without vendor or pool", aijob(tasks=[task(devices={"count": 1})]), "devices"
    ),
    BadManifest("zero devices", aijob(tasks=[task(devices={"vendor": "nvidia", "count": 0})]), "count"),
    BadManifest("unknown vendor", aijob(tasks=[task(devices={"vendor": "intel", "count": 1})]), "vendor"),
    BadManifest("task name not a DNS label", aijob(tasks=[task(name="Worker_1")]), "name"),
    BadManifest("duplicate task names", aijob(tasks=[task(), task()]), "tasks"),
    BadManifest("unknown job type", aijob(type="Finetune"), "type"),
    BadManifest("negative backoffLimit", aijob(runPolicy={"backoffLimit": -1}), "backoffLimit"),
    BadManifest(
        "Ray job without a head",
        aijob(framework="Ray", tasks=[task(name="worker")]),
        "tasks",
    ),
    BadManifest("unknown spec field (typo)", aijob(replica=3), "replica"),
    BadManifest(
        "quota that is not a quantity",
        queue(quotas=[{"resource": "nvidia.com/gpu", "nominal": "eight"}]),
        "nominal",
    ),
    BadManifest(
        "borrowing without a parent",
        queue(parent=None, quotas=[{"resource": "nvidia.com/gpu", "nominal": 8, "borrowingLimit": 4}]),
        "borrowingLimit",
    ),
    BadManifest(
        "the same resource twice in quotas",
        queue(quotas=[{"resource": "cpu", "nominal": 8}, {"resource": "cpu", "nominal": 4}]),
        "quotas",
    ),
    BadManifest("negative weight", queue(weight=-1), "weight"),
    BadManifest(
        "lending more than nominal",
        queue(quotas=[{"resource": "nvidia.com/gpu", "nominal": 4, "lendingLimit": 8}]),
        "lendingLimit",
        server_checks=False,  # quantity comparison needs the webhook (CEL quantity library is not relied on)
    ),
    BadManifest("MIG pool without profiles", devicepool(sharing={"mode": "MIG"}), "migProfiles"),
    BadManifest(
        "fraction pool without shares per device", devicepool(sharing={"mode": "Fraction"}), "sharesPerDevice"
    ),
    BadManifest(
        "MIG pool of a non-NVIDIA vendor",
        devicepool(vendor="huawei", sharing={"mode": "MIG", "migProfiles": ["1g.10gb"]}),
        "sharing.mode",
    ),
    BadManifest("time-slicing isolation on whole devices", devicepool(isolation="TimeSlice"), "isolation"),
]
