"""Fluent builders for scheduler tests (in the spirit of kube-scheduler's ``st.MakePod()``)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from motherboard.api.constants import LABEL_RACK, LABEL_SITE, LABEL_SITE_KIND, RESOURCE_NVIDIA_GPU
from motherboard.devices.model import Device, NodeInventory, Partition, Vendor
from motherboard.scheduler.cache import (
    DeviceKind,
    DeviceRequest,
    NodeSpec,
    PodRequest,
    TopologyLevel,
    TopologyRule,
)
from motherboard.scheduler.placement import Placer, Profile, ScoreEntry
from motherboard.scheduler.placement.plugins import default_registry


@dataclass
class NodeBuilder:
    name: str
    cpu: int = 64_000
    memory: int = 262_144
    devices: list[Device] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    share: bool = True

    def gpus(
        self, count: int, model: str = "A100-80GB", memory_mib: int = 81920, domain: str | None = None
    ) -> NodeBuilder:
        start = len(self.devices)
        for i in range(start, start + count):
            self.devices.append(
                Device(
                    id=f"{self.name}-gpu{i}",
                    index=i,
                    vendor=Vendor.NVIDIA,
                    model=model,
                    memory_mib=memory_mib,
                    resource=RESOURCE_NVIDIA_GPU,
                    interconnect_domain=domain,
                    share_replicas=10 if self.share else 0,
                )
            )
        return self

    def mig_gpu(self, model: str, layout: list[tuple[str, int]]) -> NodeBuilder:
        i = len(self.devices)
        parts = tuple(
            Partition(id=f"{self.name}-mig{i}-{k}", profile=p, start=s, slices=1, milli=143, memory_mib=10240)
            for k, (p, s) in enumerate(layout)
        )
        self.devices.append(
            Device(
                id=f"{self.name}-gpu{i}",
                index=i,
                vendor=Vendor.NVIDIA,
                model=model,
                memory_mib=81920,
                resource=RESOURCE_NVIDIA_GPU,
                mig_enabled=True,
                partitions=parts,
            )
        )
        return self

    def site(self, name: str, kind: str = "central") -> NodeBuilder:
        self.labels.update({LABEL_SITE: name, LABEL_SITE_KIND: kind})
        return self

    def rack(self, name: str) -> NodeBuilder:
        self.labels[LABEL_RACK] = name
        return self

    def build(self) -> NodeSpec:
        return NodeSpec(
            self.name, self.cpu, self.memory, NodeInventory(devices=tuple(self.devices)), dict(self.labels)
        )


def make_node(name: str, **kw: object) -> NodeBuilder:
    return NodeBuilder(name, **kw)  # type: ignore[arg-type]


@dataclass
class PodBuilder:
    pod: PodRequest

    def cpu(self, milli: int) -> PodBuilder:
        self.pod = replace(self.pod, cpu_milli=milli)
        return self

    def memory(self, mib: int) -> PodBuilder:
        self.pod = replace(self.pod, memory_mib=mib)
        return self

    def gpus(self, count: int, models: tuple[str, ...] = ()) -> PodBuilder:
        self.pod = replace(self.pod, devices=DeviceRequest(DeviceKind.WHOLE, count, models=models))
        return self

    def share(self, milli: int, memory_mib: int = 0) -> PodBuilder:
        self.pod = replace(self.pod, devices=DeviceRequest(DeviceKind.FRACTION, 1, milli, memory_mib))
        return self

    def mig(self, profile: str, count: int = 1) -> PodBuilder:
        self.pod = replace(self.pod, devices=DeviceRequest(DeviceKind.PARTITION, count, 143, profile=profile))
        return self

    def gang(self, group: str, level: TopologyLevel | None = None, required: bool = True) -> PodBuilder:
        rule = TopologyRule(level, required) if level else None
        self.pod = replace(self.pod, group=group, topology=rule)
        return self

    def site(self, name: str | None = None, kind: str | None = None) -> PodBuilder:
        self.pod = replace(self.pod, site=name, site_kind=kind)
        return self

    def build(self) -> PodRequest:
        return self.pod


def make_pod(name: str) -> PodBuilder:
    return PodBuilder(PodRequest(name, cpu_milli=1000, memory_mib=1024))


FILTERS = ("resources-fit", "device-fit", "site-affinity", "topology")


def placer_for(score: str = "bestfit", **args: object) -> Placer:
    profile = Profile(
        "test",
        filter=FILTERS,
        score=(ScoreEntry(score), ScoreEntry("topology", 1000)),
        plugin_args={score: dict(args)} if args else {},
    )
    return Placer(profile, default_registry())
