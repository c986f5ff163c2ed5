"""The cluster profile: which sites, node groups and accelerators a (simulated) cluster has.

A profile is YAML (see ``profiles/demo.yaml``) validated by :class:`ClusterProfile`. It is pure data with no
Kubernetes client import: the dev cluster renders it into kwok Node objects
(:mod:`motherboard.devcluster.render`) and the scheduler's simulator can build the same nodes in memory.

The accelerator catalogue (:data:`MODELS`) carries what a profile should not have to repeat for every node
group: the extended resource a model is advertised as, its memory, NVIDIA's product label and the MIG
geometry that decides which partition layouts a GPU can really hold.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from motherboard.api.constants import (
    RESOURCE_AMD_GPU,
    RESOURCE_ASCEND_310P,
    RESOURCE_ASCEND_910,
    RESOURCE_KUNLUNXIN_XPU,
    RESOURCE_METAX_GPU,
    RESOURCE_NVIDIA_GPU,
)
from motherboard.api.mig import place_layout
from motherboard.api.partitions import amd_partition
from motherboard.devices.model import Vendor

PROFILE_KIND = "ClusterProfile"
PROFILE_API_VERSION = "motherboard.io/v1alpha1"

TAINT_EDGE = "motherboard.io/edge"
"""Taint key on edge-site nodes, so only workloads that tolerate the edge's constraints land there."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNSLabel = Annotated[str, Field(min_length=1, max_length=40, pattern=_DNS_LABEL.pattern)]


# --- accelerator catalogue ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class AcceleratorModel:
    vendor: Vendor
    resource: str
    """Extended resource a whole device is advertised as by its vendor's device plugin."""
    memory_mib: int
    product: str
    """NVIDIA GPU feature discovery's ``nvidia.com/gpu.product`` value, or the vendor's chip name."""
    family: str = ""
    mig: bool = False
    """Whether the model supports MIG (its profiles: :data:`motherboard.api.mig.MIG_PROFILES`)."""
    device_path: str = "/dev/nvidia{index}"
    driver_version: str = "550.90.07"


MODELS: dict[str, AcceleratorModel] = {
    "H100-80GB": AcceleratorModel(
        Vendor.NVIDIA, RESOURCE_NVIDIA_GPU, 81559, "NVIDIA-H100-80GB-HBM3", "hopper", mig=True
    ),
    "A100-80GB": AcceleratorModel(
        Vendor.NVIDIA, RESOURCE_NVIDIA_GPU, 81920, "NVIDIA-A100-80GB", "ampere", mig=True
    ),
    "A100-40GB": AcceleratorModel(
        Vendor.NVIDIA, RESOURCE_NVIDIA_GPU, 40960, "NVIDIA-A100-SXM4-40GB", "ampere", mig=True
    ),
    "T4": AcceleratorModel(Vendor.NVIDIA, RESOURCE_NVIDIA_GPU, 15360, "Tesla-T4", "turing"),
    "Ascend910B": AcceleratorModel(
        Vendor.HUAWEI, RESOURCE_ASCEND_910, 65536, "Ascend910B", device_path="/dev/davinci{index}",
        driver_version="24.1.rc2",
    ),
    "Ascend310P": AcceleratorModel(
        Vendor.HUAWEI, RESOURCE_ASCEND_310P, 24576, "Ascend310P", device_path="/dev/davinci{index}",
        driver_version="24.1.rc2",
    ),
    # AMD Instinct: compute partitions (migLayouts: [[cpx_nps1]]) per motherboard.api.partitions.
    "MI300X": AcceleratorModel(
        Vendor.AMD, RESOURCE_AMD_GPU, 196608, "MI300X", "gfx942", device_path="/dev/dri/card{index}",
        driver_version="6.10.10",
    ),
    "P800-OAM": AcceleratorModel(
        Vendor.KUNLUNXIN, RESOURCE_KUNLUNXIN_XPU, 98304, "P800-OAM", "kl3", device_path="/dev/xpu{index}",
        driver_version="5.0.21.47",
    ),
    "MXC500": AcceleratorModel(
        Vendor.METAX, RESOURCE_METAX_GPU, 65536, "MXC500", device_path="/dev/dri/card{index}",
        driver_version="2.5.014",
    ),
}  # fmt: skip


# --- the profile ---------------------------------------------------------------------------------------------
class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid")


class SiteKind(StrEnum):
    CENTRAL = "central"
    EDGE = "edge"


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(_Model):
    key: str = Field(min_length=1)
    value: str = ""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE


class DeviceSpec(_Model):
    """The accelerators of every node in a group (one model per node, as real servers have)."""

    model: str = Field(description="A key of the accelerator catalogue, e.g. H100-80GB, Ascend910B.")
    count: int = Field(ge=1, le=16)
    memory_mib: int | None = Field(default=None, alias="memoryMiB", ge=1, description="Override.")
    mig_layouts: tuple[tuple[str, ...], ...] = Field(
        default=(),
        alias="migLayouts",
        description=(
            "MIG instances per GPU; GPU i takes layout i mod len. An empty layout is a whole GPU. AMD GPUs"
            " name one compute-partition mode per layout instead, e.g. [cpx_nps1]."
        ),
    )
    share_replicas: int = Field(
        default=0, alias="shareReplicas", ge=0, le=64, description="Time-sliced shares per GPU (0 = whole)."
    )
    driver_version: str | None = Field(default=None, alias="driverVersion")

    @property
    def catalogue(self) -> AcceleratorModel:
        return MODELS[self.model]

    @property
    def vendor(self) -> Vendor:
        return self.catalogue.vendor

    @property
    def device_memory_mib(self) -> int:
        return self.memory_mib if self.memory_mib is not None else self.catalogue.memory_mib

    def layout_of(self, index: int) -> tuple[str, ...]:
        """MIG profiles of GPU ``index`` (empty: MIG disabled on it)."""
        return self.mig_layouts[index % len(self.mig_layouts)] if self.mig_layouts else ()

    @property
    def mig_enabled(self) -> bool:
        return any(self.mig_layouts)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.model not in MODELS:
            raise ValueError(f"unknown accelerator model {self.model!r}; known: {sorted(MODELS)}")
        cat = MODELS[self.model]
        if self.mig_enabled and cat.vendor is Vendor.AMD:
            for layout in self.mig_layouts:
                if len(layout) > 1:
                    raise ValueError(
                        f"migLayouts: an AMD GPU is in one partition mode, e.g. [cpx_nps1]; not {layout}"
                    )
                for mode in layout:
                    try:
                        amd_partition(mode, self.model)
                    except KeyError as exc:
                        raise ValueError(f"migLayouts: {exc.args[0]}") from exc
        elif self.mig_enabled:
            if not cat.mig:
                raise ValueError(f"{self.model} does not support MIG")
            for layout in self.mig_layouts:
                place_layout(layout, self.model)
        if self.share_replicas:
            if cat.vendor is not Vendor.NVIDIA:
                raise ValueError("shareReplicas (time-slicing) is an NVIDIA device-plugin feature")
            if self.mig_enabled:
                raise ValueError("a GPU group is either MIG-partitioned or time-sliced, not both")
        return self


class NodeGroup(_Model):
    """``count`` identical nodes."""

    name: DNSLabel
    count: int = Field(ge=0, le=10_000)
    cpu: int = Field(ge=1, description="Cores.")
    memory_gib: int = Field(alias="memoryGiB", ge=1)
    pods: int = Field(default=110, ge=1)
    ephemeral_storage_gib: int = Field(default=400, alias="ephemeralStorageGiB", ge=1)
    arch: str = Field(default="amd64", pattern=r"^(amd64|arm64)$")
    instance_type: str | None = Field(default=None, alias="instanceType")
    zone: str | None = Field(default=None, description="Pin the group to one of its site's zones.")
    nodes_per_rack: int = Field(default=8, alias="nodesPerRack", ge=1)
    nvlink_domain_size: int | None = Field(
        default=None,
        alias="nvlinkDomainSize",
        ge=1,
        description="Nodes sharing one NVLink/HCCS domain (1: each node is its own, as in HGX servers).",
    )
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    devices: DeviceSpec | None = None


class Site(_Model):
    name: DNSLabel
    kind: SiteKind
    region: str = Field(min_length=1)
    zones: tuple[str, ...] = Field(default=(), description="Defaults to one zone named <site>-a.")
    taint_edge_nodes: bool = Field(
        default=True, alias="taintEdgeNodes", description=f"Taint edge nodes with {TAINT_EDGE}=true."
    )
    node_groups: tuple[NodeGroup, ...] = Field(alias="nodeGroups", min_length=1)

    @property
    def zone_names(self) -> tuple[str, ...]:
        return self.zones or (f"{self.name}-a",)

    @model_validator(mode="after")
    def _check(self) -> Self:
        dup = [n for n, c in Counter(g.name for g in self.node_groups).items() if c > 1]
        if dup:
            raise ValueError(f"site {self.name}: duplicate node group names {dup}")
        for group in self.node_groups:
            if group.zone is not None and group.zone not in self.zone_names:
                raise ValueError(
                    f"site {self.name}: group {group.name} zone {group.zone!r} is not a site zone"
                )
        return self


MAX_REAL_NODES = 1
"""Real kubelets per machine: the kubelet's device-plugin socket directory (``/var/lib/kubelet/device-plugins``)
is fixed in its source and the ``kubepods`` cgroups and its iptables chains are host-wide, so a second kubelet
would fight the first."""


class RealNodes(_Model):
    """Real kubelet nodes (containerd + runc) beside the kwok ones: where they sit and how they are labelled.

    ``dev-cluster up --real-nodes N`` overrides :attr:`count`; the rest always comes from the profile.
    """

    count: int = Field(default=0, ge=0, le=MAX_REAL_NODES)
    site: DNSLabel | None = Field(
        default=None, description="A site of the profile [default: the central one]."
    )
    zone: str | None = Field(default=None, description="One of the site's zones [default: its first].")
    labels: dict[str, str] = Field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    device_plugin: str | None = Field(
        default="simulated",
        alias="devicePlugin",
        pattern=r"^(simulated|nvidia|ascend|cambricon)$",
        description="Value of the motherboard.io/device-plugin label that the plugin DaemonSets select on.",
    )
    max_pods: int = Field(default=20, alias="maxPods", ge=1, le=110)


class ClusterProfile(_Model):
    """A whole simulated cluster: one central site and any number of edge sites."""

    api_version: str = Field(default=PROFILE_API_VERSION, alias="apiVersion")
    kind: str = PROFILE_KIND
    name: DNSLabel
    description: str = ""
    sites: tuple[Site, ...] = Field(min_length=1)
    real_nodes: RealNodes = Field(default_factory=RealNodes, alias="realNodes")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value != PROFILE_KIND:
            raise ValueError(f"kind must be {PROFILE_KIND}")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        dup = [n for n, c in Counter(s.name for s in self.sites).items() if c > 1]
        if dup:
            raise ValueError(f"duplicate site names {dup}")
        if sum(s.kind is SiteKind.CENTRAL for s in self.sites) != 1:
            raise ValueError("a profile has exactly one central site")
        real = self.real_nodes
        if real.site is not None and real.site not in {s.name for s in self.sites}:
            raise ValueError(f"realNodes.site {real.site!r} is not a site of the profile")
        if real.zone is not None and real.zone not in self.real_node_site.zone_names:
            raise ValueError(f"realNodes.zone {real.zone!r} is not a zone of site {self.real_node_site.name}")
        return self

    @property
    def real_node_site(self) -> Site:
        """The site the real nodes join (``realNodes.site``, else the central site)."""
        wanted = self.real_nodes.site
        return next(s for s in self.sites if (s.name == wanted if wanted else s.kind is SiteKind.CENTRAL))

    @property
    def node_count(self) -> int:
        return sum(g.count for s in self.sites for g in s.node_groups)

    @classmethod
    def from_yaml(cls, text: str) -> ClusterProfile:
        return cls.model_validate(yaml.safe_load(text))

    @classmethod
    def load(cls, path: Path) -> ClusterProfile:
        return cls.from_yaml(path.read_text())
