"""Kopf indices shared by the status aggregator and the admission webhook: what the operator has seen."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from motherboard.api.constants import GROUP, VERSION
from motherboard.operator.aggregate import NodeView, PodUsage
from motherboard.operator.handlers import registry


@kopf.index("nodes", registry=registry)
def nodes_index(*, name: str, body: kopf.Body, **_: Any) -> dict[str, NodeView]:
    return {name: NodeView.from_node(body)}


@kopf.index(GROUP, VERSION, "queues", registry=registry)
def queues_index(*, name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    return {name: {"metadata": {"name": name}, "spec": dict(body.spec), "status": dict(body.status)}}


@kopf.index("namespaces", registry=registry)
def namespaces_index(*, name: str, labels: Mapping[str, str], **_: Any) -> dict[str, dict[str, str]]:
    return {name: dict(labels)}


@kopf.index("pods", registry=registry)
def bound_pods_index(
    *, namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[str, PodUsage] | None:
    """Bound, unfinished pods (any owner): what they hold counts for pools and queues."""
    usage = PodUsage.from_pod(body)
    return None if usage is None else {f"{namespace}/{name}": usage}
