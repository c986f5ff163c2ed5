"""Where ``Allocate`` learns which pod it is admitting: the pods bound to this node.

The kubelet's ``Allocate`` carries device ids only. Like HAMi, the plugin looks at the pods bound to its
node that carry the scheduler's device assignment and have not been served yet. The lookup sits behind
:class:`PodSource` so that tests use a fake and the plugin uses the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from motherboard.devices.backend import BackendUnavailable, import_vendor_module


@dataclass(frozen=True)
class PodInfo:
    """The few facts about a pod that allocation needs."""

    namespace: str
    name: str
    uid: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Pending"
    created: float = 0.0

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class PodSource(Protocol):
    """Lists the pods bound to a node."""

    def pods_on_node(self, node: str) -> list[PodInfo]:
        """Every pod whose ``spec.nodeName`` is ``node``, oldest first."""
        ...


class StaticPodSource:
    """A fixed, mutable list of pods: for tests and for nodes run without an API server."""

    def __init__(self, pods: list[PodInfo] | None = None) -> None:
        self.pods: list[PodInfo] = list(pods or [])

    def pods_on_node(self, node: str) -> list[PodInfo]:
        return list(self.pods)


class KubernetesPodSource:
    """Pods from the API server (in-cluster credentials, else the local kubeconfig)."""

    def __init__(self, api: Any = None) -> None:
        self._api = api if api is not None else core_v1_api()

    def pods_on_node(self, node: str) -> list[PodInfo]:
        listed = self._api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}")
        pods = [
            PodInfo(
                namespace=p.metadata.namespace,
                name=p.metadata.name,
                uid=p.metadata.uid,
                annotations=dict(p.metadata.annotations or {}),
                phase=(p.status.phase if p.status else None) or "Pending",
                created=p.metadata.creation_timestamp.timestamp() if p.metadata.creation_timestamp else 0.0,
            )
            for p in listed.items
        ]
        return sorted(pods, key=lambda p: p.created)


def core_v1_api() -> Any:
    """A ``CoreV1Api`` client; a missing client library or configuration is a one-line error."""
    k8s = import_vendor_module("kubernetes", "the Kubernetes client", "pip install kubernetes")
    try:
        k8s.config.load_incluster_config()
    except k8s.config.ConfigException:
        try:
            k8s.config.load_kube_config()
        except (k8s.config.ConfigException, OSError) as exc:
            raise BackendUnavailable(f"no Kubernetes credentials (in-cluster or kubeconfig): {exc}") from exc
    return k8s.client.CoreV1Api()
