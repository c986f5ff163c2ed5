"""The in-tree plugins and the registry that names them."""

from __future__ import annotations

from motherboard.scheduler.placement.plugins import (
    baselines,
    devicefit,
    fgd,
    nodesize,
    resources,
    site,
    topology,
)
from motherboard.scheduler.placement.registry import Registry


def default_registry() -> Registry:
    """Every in-tree plugin under the name profiles use."""
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
        }
    )


__all__ = ["default_registry"]
