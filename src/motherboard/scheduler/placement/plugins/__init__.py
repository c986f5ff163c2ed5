"""The in-tree plugins and the registry that names them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from motherboard.scheduler.cache.types import NodeSpec
from motherboard.scheduler.placement.plugins import (
    baselines,
    devicefit,
    fgd,
    gpufit,
    modelpressure,
    nodeaffinity,
    nodesize,
    resources,
    sharepairing,
    site,
    stranding,
    taints,
    topology,
    wastegradient,
)
from motherboard.scheduler.placement.registry import Registry


def default_registry(nodes: Mapping[str, NodeSpec] | None = None) -> Registry:
    """Every in-tree plugin under the name profiles use.

    ``nodes`` (name → spec, kept current by the Kubernetes adapter) feeds the plugins that need node facts
    the state arrays do not hold (taints, arbitrary labels); without it they admit every node.
    """
    return Registry(
        {
            "resources-fit": resources.make,
            "device-fit": devicefit.make,
            "site-affinity": site.make,
            "topology": topology.make,
            "fgd": fgd.make_fgd,
            "bestfit": baselines.make_bestfit,
            "dotprod": baselines.make_dotprod,
            "packing": baselines.make_packing,
            "random": baselines.make_random,
            "spread": baselines.make_spread,
            "node-size": nodesize.make,
            "gpu-fit": gpufit.make,
            "waste-gradient": wastegradient.make,
            "share-pairing": sharepairing.make,
            "stranding": stranding.make,
            "model-pressure": modelpressure.make,
            "taints": partial(taints.make, nodes=nodes),
            "node-affinity": partial(nodeaffinity.make, nodes=nodes),
        }
    )


__all__ = ["default_registry"]
