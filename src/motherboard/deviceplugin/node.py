"""Publishing what the plugin found on its Node: feature labels and the device inventory annotation.

The scheduler reads the inventory annotation (``motherboard.io/device-inventory``) to choose exact devices;
DevicePools and users select on the labels. The Kubernetes call sits in a small adapter so that the rest
of the plugin (and its tests) never needs an API server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from motherboard.deviceplugin.pods import core_v1_api
from motherboard.devices.labels import label_patch, node_labels
from motherboard.devices.model import Device, NodeInventory


class NodePublisher(Protocol):
    """Writes labels (``None`` removes one) and annotations on a Node."""

    def publish(
        self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str]
    ) -> None: ...


class KubernetesNodePublisher:
    """A strategic-merge patch of the Node's metadata through the API server."""

    def __init__(self, api: Any = None) -> None:
        self._api = api if api is not None else core_v1_api()

    def publish(self, node: str, labels: Mapping[str, str | None], annotations: Mapping[str, str]) -> None:
        self._api.patch_node(node, {"metadata": {"labels": dict(labels), "annotations": dict(annotations)}})


def node_metadata(
    devices: Sequence[Device], driver_version: str, site: str | None, site_kind: str | None
) -> tuple[dict[str, str | None], dict[str, str]]:
    """The label patch and annotations describing these devices (pure; what :func:`publish` writes)."""
    labels = label_patch(node_labels(devices, driver_version, site, site_kind))
    return labels, NodeInventory(devices=tuple(devices)).annotations()
