"""Trace rows → the scheduler core's node specs and pod requests."""

from __future__ import annotations

from motherboard.api.constants import LABEL_ACCELERATOR_MODEL, RESOURCE_NVIDIA_GPU
from motherboard.devices.model import Device, NodeInventory, Vendor
from motherboard.scheduler.cache.types import WHOLE_MILLI, DeviceKind, DeviceRequest, NodeSpec, PodRequest
from motherboard.scheduler.simulate.trace import TraceNode, TracePod

GPU_MEMORY_MIB = {
    "P4": 7611, "T4": 15109, "V100M16": 16160, "P100": 16280, "A10": 22731,
    "V100M32": 32510, "A100": 81251, "G1": 16384, "G2": 16384, "G3": 32768,
}  # fmt: skip
"""Per-GPU memory of the trace's models (the artefact's table; G1–G3 are undisclosed, assumed)."""

PRIORITY = {"LS": 2, "Guaranteed": 2, "Burstable": 1, "BE": 0}
"""Queue priority by QoS class: latency-sensitive work ahead of best-effort."""


def node_spec(node: TraceNode) -> NodeSpec:
    """A trace node as a shared-GPU node: every GPU may be split into fractional shares."""
    devices = tuple(
        Device(
            id=f"{node.name}-gpu{i}",
            index=i,
            vendor=Vendor.NVIDIA,
            model=node.model,
            memory_mib=GPU_MEMORY_MIB.get(node.model, 16384),
            resource=RESOURCE_NVIDIA_GPU,
        )
        for i in range(node.gpus)
    )
    labels = {LABEL_ACCELERATOR_MODEL: node.model} if node.model else {}
    return NodeSpec(
        node.name, node.cpu_milli, node.memory_mib, NodeInventory(devices=devices), labels, share_all=True
    )


def pod_request(pod: TracePod) -> PodRequest:
    """A trace pod as a request: no GPU, one share of a GPU, or whole GPUs."""
    devices = None
    if pod.num_gpu:
        kind = DeviceKind.FRACTION if pod.gpu_milli < WHOLE_MILLI else DeviceKind.WHOLE
        devices = DeviceRequest(kind=kind, count=pod.num_gpu, milli=pod.gpu_milli, models=pod.gpu_spec)
    return PodRequest(
        name=pod.name,
        cpu_milli=pod.cpu_milli,
        memory_mib=pod.memory_mib,
        devices=devices,
        priority=PRIORITY.get(pod.qos, 0),
        queue=pod.qos,
    )
