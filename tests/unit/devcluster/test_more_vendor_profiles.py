"""Profile nodes of the AMD, Kunlunxin and MetaX catalogue entries: partitions, capacity, bad layouts."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from motherboard.api.constants import ANNOTATION_DEVICE_INVENTORY
from motherboard.api.resources import partition_resource
from motherboard.devcluster.profile import ClusterProfile, DeviceSpec
from motherboard.devcluster.render import extended_resources, render_nodes
from motherboard.devices.model import NodeInventory


def test_a_cpx_mi300x_advertises_eight_partitions_per_gpu_matching_its_inventory() -> None:
    doc = {
        "apiVersion": "motherboard.io/v1alpha1",
        "kind": "ClusterProfile",
        "name": "amd",
        "sites": [
            {
                "name": "c",
                "kind": "central",
                "region": "r",
                "nodeGroups": [
                    {
                        "name": "mi300x",
                        "count": 1,
                        "cpu": 8,
                        "memoryGiB": 64,
                        "devices": {"model": "MI300X", "count": 2, "migLayouts": [["cpx_nps4"]]},
                    }
                ],
            }
        ],
    }
    (node,) = render_nodes(ClusterProfile.model_validate(doc))
    assert node["status"]["capacity"]["amd.com/cpx_nps4"] == "16"
    assert "amd.com/gpu" not in node["status"]["capacity"]
    assert node["metadata"]["labels"]["amd.com/compute-memory-partition"] == "cpx_nps4"
    inv = NodeInventory.from_annotation(node["metadata"]["annotations"][ANNOTATION_DEVICE_INVENTORY])
    counted = Counter(partition_resource(d.resource, p.profile) for d in inv.devices for p in d.partitions)
    assert counted == {"amd.com/cpx_nps4": 16}
    assert {(p.milli, p.memory_mib) for d in inv.devices for p in d.partitions} == {(125, 24576)}


@pytest.mark.parametrize(
    ("layouts", "message"),
    [
        ([["cpx_nps1", "cpx_nps1"]], "an AMD GPU is in one partition mode"),
        ([["tpx_nps1"]], "unknown AMD partition profile 'tpx_nps1' on MI300X; known: spx_nps1, dpx_nps1"),
    ],
)
def test_an_amd_layout_that_the_gpu_cannot_take_is_refused_with_the_modes_it_can(
    layouts: list[list[str]], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        DeviceSpec.model_validate({"model": "MI300X", "count": 8, "migLayouts": layouts})


def test_kunlunxin_and_metax_nodes_advertise_whole_devices_under_their_vendor_resources() -> None:
    assert extended_resources(DeviceSpec(model="P800-OAM", count=8)) == {"kunlunxin.com/xpu": 8}
    assert extended_resources(DeviceSpec(model="MXC500", count=8)) == {"metax-tech.com/gpu": 8}
