"""Prometheus metrics of the device plugin (registered once per process, in the default registry)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from prometheus_client import Counter, Gauge

from motherboard.deviceplugin.resources import Unit

DEVICES = Gauge(
    "motherboard_deviceplugin_devices",
    "Units advertised to the kubelet, by resource and health state.",
    ["resource", "state"],
)
ALLOCATIONS = Counter(
    "motherboard_deviceplugin_allocations",  # exposed as motherboard_deviceplugin_allocations_total
    "Allocate calls answered, by resource and outcome (ok, refused, error).",
    ["resource", "outcome"],
)
HEALTH_TRANSITIONS = Counter(
    "motherboard_deviceplugin_health_transitions",  # exposed with the _total suffix
    "Device or MIG-device health changes, by resource and new state.",
    ["resource", "state"],
)


def observe_units(units: Mapping[str, Sequence[Unit]]) -> None:
    """Set the device gauge from the current units (every state of every resource, zeros included)."""
    for resource, listed in units.items():
        healthy = sum(1 for u in listed if u.healthy)
        DEVICES.labels(resource=resource, state="Healthy").set(healthy)
        DEVICES.labels(resource=resource, state="Unhealthy").set(len(listed) - healthy)
