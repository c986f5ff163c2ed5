"""Turn a :class:`ClusterProfile` into Node manifests (plain dicts) and device inventories.

Pure functions, no Kubernetes client: the dev cluster posts the manifests to the API server for kwok to
manage, and the scheduler's simulator can use the very same objects. Labels, capacities and taints mirror
what the real agents put on a node: the NVIDIA/Ascend device plugins (extended resources), NVIDIA GPU
feature discovery (``nvidia.com/gpu.*`` labels) and Motherboard's own device plugin (topology labels and the
device-inventory annotation).
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from motherboard.api.constants import (
    LABEL_ACCELERATOR_COUNT,
    LABEL_ACCELERATOR_MEMORY_MIB,
    LABEL_ACCELERATOR_MODEL,
    LABEL_ACCELERATOR_VENDOR,
    LABEL_AMD_PARTITION,
    LABEL_DRIVER_VERSION,
    LABEL_HOSTNAME,
    LABEL_NVIDIA_COUNT,
    LABEL_NVIDIA_MEMORY,
    LABEL_NVIDIA_MIG_CAPABLE,
    LABEL_NVIDIA_MIG_STRATEGY,
    LABEL_NVIDIA_PRODUCT,
    LABEL_NVLINK_DOMAIN,
    LABEL_RACK,
    LABEL_REGION,
    LABEL_SITE,
    LABEL_SITE_KIND,
    LABEL_ZONE,
    RESOURCE_NVIDIA_GPU,
    RESOURCE_NVIDIA_GPU_SHARED,
    mig_resource_name,
)
from motherboard.api.mig import place_layout
from motherboard.api.partitions import amd_partition
from motherboard.api.partitions import partition_resource as amd_partition_resource
from motherboard.devcluster.build import K8S_VERSION
from motherboard.devcluster.profile import (
    TAINT_EDGE,
    ClusterProfile,
    DeviceSpec,
    NodeGroup,
    Site,
    SiteKind,
    Taint,
    TaintEffect,
)
from motherboard.devices.model import Device, NodeInventory, Partition, Vendor

KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
"""kwok manages exactly the nodes with this annotation set to ``fake`` (its annotation selector)."""
KWOK_NODE_VALUE = "fake"
KUBELET_VERSION = K8S_VERSION
NUMA_NODES = 2
NODE_IP_BASE = ipaddress.IPv4Address("172.16.0.10")
"""Nodes' InternalIPs count up from here (172.16.0.0/12 holds a million nodes)."""

# Labels real clusters carry that Motherboard has no constant for (nobody in Motherboard reads them).
LABEL_OS = "kubernetes.io/os"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_NVIDIA_FAMILY = "nvidia.com/gpu.family"
LABEL_NVIDIA_REPLICAS = "nvidia.com/gpu.replicas"
LABEL_ASCEND_ACCELERATOR = "accelerator"
"""Label the Ascend device plugin's node selector uses: ``huawei-Ascend910`` / ``huawei-Ascend310P``."""

# Stable ids: the same profile renders the same device UUIDs on every run and in the simulator.
_ID_NAMESPACE = uuid.UUID("5b0c4a52-8d5e-4c1e-9a43-6d6f74686572")


@dataclass(frozen=True)
class NodePlacement:
    """Where one node of a group sits: its name and its rack, zone and NVLink domain."""

    name: str
    site: Site
    group: NodeGroup
    index: int
    rack: str
    zone: str
    nvlink_domain: str | None
    ordinal: int
    """Position in the whole profile; gives each node a distinct InternalIP."""

    @property
    def internal_ip(self) -> str:
        return str(NODE_IP_BASE + self.ordinal)


def placements(profile: ClusterProfile) -> Iterator[NodePlacement]:
    """Every node of the profile, in a stable order."""
    ordinal = 0
    for site in profile.sites:
        zones = site.zone_names
        for group in site.node_groups:
            width = max(3, len(str(group.count - 1)))
            for index in range(group.count):
                name = f"{site.name}-{group.name}-{index:0{width}d}"
                rack_no = index // group.nodes_per_rack
                zone = group.zone or zones[rack_no % len(zones)]
                domain: str | None = None
                if group.nvlink_domain_size == 1:
                    domain = name
                elif group.nvlink_domain_size is not None:
                    domain = f"{site.name}-{group.name}-nvl{index // group.nvlink_domain_size:02d}"
                rack = f"{site.name}-{group.name}-rack{rack_no:02d}"
                yield NodePlacement(name, site, group, index, rack, zone, domain, ordinal)
                ordinal += 1


def _uid(*parts: object) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(map(str, parts))))


def inventory(place: NodePlacement) -> NodeInventory:
    """The devices a node's device plugin would publish (its ``motherboard.io/device-inventory``)."""
    spec = place.group.devices
    if spec is None:
        return NodeInventory()
    cat = spec.catalogue
    prefix = _ID_PREFIX.get(cat.vendor, "GPU")
    devices: list[Device] = []
    for index in range(spec.count):
        device_id = f"{prefix}-{_uid(place.name, index)}"
        layout = spec.layout_of(index)
        partitions: tuple[Partition, ...] = ()
        if layout and cat.vendor is Vendor.AMD:
            partitions = _amd_partitions(place.name, index, layout[0], spec)
        elif layout and cat.mig:
            partitions = tuple(
                Partition(
                    id=f"MIG-{_uid(place.name, index, p.start, p.profile.name)}",
                    profile=p.profile.name,
                    start=p.start,
                    slices=p.profile.memory_slices,
                    milli=p.profile.milli,
                    memory_mib=spec.device_memory_mib
                    * p.profile.memory_slices
                    // p.profile.gpu_memory_slices,
                )
                for p in place_layout(layout, spec.model)
            )
        devices.append(
            Device(
                id=device_id,
                index=index,
                vendor=cat.vendor,
                model=spec.model,
                memory_mib=spec.device_memory_mib,
                resource=RESOURCE_NVIDIA_GPU_SHARED if spec.share_replicas else cat.resource,
                numa_node=index * NUMA_NODES // spec.count,
                interconnect_domain=place.nvlink_domain,
                mig_enabled=bool(partitions),
                partitions=partitions,
                share_replicas=spec.share_replicas,
                device_paths=(cat.device_path.format(index=index),),
            )
        )
    return NodeInventory(devices=tuple(devices))


_ID_PREFIX = {Vendor.HUAWEI: "NPU", Vendor.CAMBRICON: "MLU", Vendor.KUNLUNXIN: "XPU"}


def _amd_partitions(node: str, index: int, mode: str, spec: DeviceSpec) -> tuple[Partition, ...]:
    """The compute partitions of an AMD GPU in ``mode`` (``cpx_nps1``): N equal ones, as amd-smi lists them."""
    n = amd_partition(mode, spec.model).per_gpu
    return tuple(
        Partition(
            id=f"XCP-{_uid(node, index, k, mode)}",
            profile=mode,
            start=k,
            slices=1,
            milli=1000 // n,
            memory_mib=spec.device_memory_mib // n,
        )
        for k in range(n)
    )


def extended_resources(spec: DeviceSpec) -> dict[str, int]:
    """What the vendor device plugin advertises, NVIDIA's ``mixed`` MIG strategy included.

    A MIG-enabled GPU is advertised only as its slices, a time-sliced one only as ``nvidia.com/gpu.shared``
    replicas (the plugin's ``renameByDefault``), and the rest as whole devices.
    """
    cat = spec.catalogue
    if spec.share_replicas:
        return {RESOURCE_NVIDIA_GPU_SHARED: spec.count * spec.share_replicas}
    counts: Counter[str] = Counter()
    for index in range(spec.count):
        layout = spec.layout_of(index)
        if layout and cat.vendor is Vendor.AMD:  # ROCm's mixed strategy: amd.com/cpx_nps1 per partition
            counts[amd_partition_resource(layout[0])] += amd_partition(layout[0], spec.model).per_gpu
        elif layout:
            counts.update(mig_resource_name(p) for p in layout)
        else:
            counts[cat.resource] += 1
    return dict(sorted(counts.items()))


def node_labels(place: NodePlacement) -> dict[str, str]:
    site, group, spec = place.site, place.group, place.group.devices
    labels = {
        LABEL_HOSTNAME: place.name,
        LABEL_OS: "linux",
        LABEL_ARCH: group.arch,
        LABEL_INSTANCE_TYPE: group.instance_type or group.name,
        "type": "kwok",
        LABEL_SITE: site.name,
        LABEL_SITE_KIND: site.kind.value,
        LABEL_REGION: site.region,
        LABEL_ZONE: place.zone,
        LABEL_RACK: place.rack,
    }
    if place.nvlink_domain is not None:
        labels[LABEL_NVLINK_DOMAIN] = place.nvlink_domain
    if spec is None:
        return labels | group.labels
    cat = spec.catalogue
    labels |= {
        LABEL_ACCELERATOR_VENDOR: cat.vendor.value,
        LABEL_ACCELERATOR_MODEL: spec.model,
        LABEL_ACCELERATOR_COUNT: str(spec.count),
        LABEL_ACCELERATOR_MEMORY_MIB: str(spec.device_memory_mib),
        LABEL_DRIVER_VERSION: spec.driver_version or cat.driver_version,
    }
    if cat.vendor is Vendor.NVIDIA:
        labels |= {
            # GPU feature discovery marks time-sliced GPUs by suffixing the product name.
            LABEL_NVIDIA_PRODUCT: cat.product + ("-SHARED" if spec.share_replicas else ""),
            LABEL_NVIDIA_MEMORY: str(spec.device_memory_mib),
            LABEL_NVIDIA_COUNT: str(spec.count),
            LABEL_NVIDIA_FAMILY: cat.family,
            LABEL_NVIDIA_MIG_CAPABLE: str(cat.mig).lower(),
        }
        if spec.mig_enabled:
            labels[LABEL_NVIDIA_MIG_STRATEGY] = "mixed"
        if spec.share_replicas:
            labels[LABEL_NVIDIA_REPLICAS] = str(spec.share_replicas)
    elif cat.vendor is Vendor.AMD and len({m for layout in spec.mig_layouts for m in layout}) == 1:
        labels[LABEL_AMD_PARTITION] = next(m for layout in spec.mig_layouts for m in layout)
    elif cat.vendor is Vendor.HUAWEI:
        labels[LABEL_ASCEND_ACCELERATOR] = f"huawei-{cat.resource.rsplit('/', 1)[-1]}"
    return labels | group.labels


def node_taints(place: NodePlacement) -> list[Taint]:
    """Taints a real cluster's admins put on such nodes, so ordinary pods stay off scarce hardware."""
    taints: list[Taint] = []
    spec = place.group.devices
    if spec is not None:
        key = RESOURCE_NVIDIA_GPU if spec.vendor is Vendor.NVIDIA else spec.catalogue.resource
        taints.append(Taint(key=key, value="present", effect=TaintEffect.NO_SCHEDULE))
    if place.site.kind is SiteKind.EDGE and place.site.taint_edge_nodes:
        taints.append(Taint(key=TAINT_EDGE, value="true", effect=TaintEffect.NO_SCHEDULE))
    return taints + [t for t in place.group.taints if t.key not in {x.key for x in taints}]


def capacity(group: NodeGroup) -> dict[str, str]:
    res = {
        "cpu": str(group.cpu),
        "memory": f"{group.memory_gib}Gi",
        "pods": str(group.pods),
        "ephemeral-storage": f"{group.ephemeral_storage_gib}Gi",
    }
    if group.devices is not None:
        res |= {name: str(n) for name, n in extended_resources(group.devices).items()}
    return res


def _node_info(place: NodePlacement) -> dict[str, str]:
    """What a kubelet reports about its host (every field is required by the API's schema)."""
    arm = place.group.arch == "arm64"
    return {
        "architecture": place.group.arch,
        "operatingSystem": "linux",
        # Ascend servers run on Kunpeng (arm64) hosts, usually with openEuler.
        "osImage": "openEuler 22.03 (LTS-SP3)" if arm else "Ubuntu 22.04.4 LTS",
        "kernelVersion": "5.10.0-182.0.0.95.oe2203sp3.aarch64" if arm else "5.15.0-119-generic",
        "containerRuntimeVersion": "containerd://1.7.22",
        "kubeletVersion": KUBELET_VERSION,
        "kubeProxyVersion": KUBELET_VERSION,
        "machineID": _uid(place.name, "machine").replace("-", ""),
        "systemUUID": _uid(place.name, "system"),
        "bootID": _uid(place.name, "boot"),
    }


def render_node(place: NodePlacement) -> dict[str, Any]:
    """A Node manifest for kwok to manage.

    Allocatable equals capacity: system reservations would only make every test and simulator computation
    subtract the same constants. The status is accepted on create; kwok's node-initialize stage keeps it.
    """
    cap = capacity(place.group)
    annotations = {KWOK_NODE_ANNOTATION: KWOK_NODE_VALUE, "node.alpha.kubernetes.io/ttl": "0"}
    if place.group.devices is not None:
        annotations |= inventory(place).annotations()
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": place.name, "labels": node_labels(place), "annotations": annotations},
        "spec": {"taints": [t.model_dump(mode="json", exclude_defaults=False) for t in node_taints(place)]},
        "status": {
            "capacity": cap,
            "allocatable": dict(cap),
            "addresses": [
                {"type": "InternalIP", "address": place.internal_ip},
                {"type": "Hostname", "address": place.name},
            ],
            "nodeInfo": _node_info(place),
        },
    }


def render_nodes(profile: ClusterProfile) -> list[dict[str, Any]]:
    return [render_node(p) for p in placements(profile)]
