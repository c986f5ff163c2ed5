"""placement.preferredSites scores placement (issue 14: the field was never read)."""

from __future__ import annotations

from dataclasses import replace

from motherboard.scheduler.cache import ClusterCache
from motherboard.scheduler.placement import Placer, shipped_profile
from motherboard.scheduler.placement.plugins import default_registry
from motherboard.scheduler.service.objects import pod_info
from tests.unit.scheduler.cache.builders import make_node, make_pod


def cache() -> ClusterCache:
    # Three alike nodes: without a preference, node order decides (west-0).
    west = make_node("west-0").site("west").gpus(8).build()
    east = make_node("east-0").site("east").gpus(8).build()
    other = make_node("west-1").site("west").gpus(8).build()
    return ClusterCache([west, east, other])


def place(pod_sites: tuple[str, ...]) -> str | None:
    pod = replace(make_pod("p").gpus(1).build(), preferred_sites=pod_sites)
    placer = Placer(shipped_profile(), default_registry())
    out = placer.place(pod, cache().snapshot())
    return None if out.placement is None else out.placement.node_name


def test_the_first_preferred_site_that_fits_wins() -> None:
    assert place(()) == "west-0"  # no preference: node order
    assert place(("east",)) == "east-0"
    assert place(("nowhere", "east", "west")) == "east-0"
    assert place(("west", "east")) in {"west-0", "west-1"}


def test_the_scheduler_reads_preferred_sites_from_the_placement_annotation() -> None:
    obj = {
        "metadata": {
            "name": "p",
            "namespace": "ns",
            "uid": "u",
            "annotations": {"motherboard.io/placement": '{"preferredSites": ["east", "west"]}'},
        },
        "spec": {"schedulerName": "motherboard-scheduler", "containers": [{"name": "main"}]},
        "status": {"phase": "Pending"},
    }
    assert pod_info(obj).request.preferred_sites == ("east", "west")
