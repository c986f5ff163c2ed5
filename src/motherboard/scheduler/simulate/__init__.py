"""Trace loaders and replay drivers behind ``motherboard simulate`` (no Kubernetes involved)."""

from motherboard.scheduler.simulate.packing import PackingResult, inflate, run_packing
from motherboard.scheduler.simulate.trace import TraceError, TraceNode, TracePod, load_nodes, load_pods

__all__ = [
    "PackingResult",
    "TraceError",
    "TraceNode",
    "TracePod",
    "inflate",
    "load_nodes",
    "load_pods",
    "run_packing",
]
