"""The API's names for AMD, Kunlunxin and MetaX: resources, AMD compute partitions, quota units, errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from motherboard.api.resources import device_resources, partition_resource, quota_family
from motherboard.api.v1alpha1 import DevicePoolSpec, DeviceRequest
from motherboard.scheduler.admission.units import quota_units


@pytest.mark.parametrize(
    ("request_doc", "resources"),
    [
        ({"vendor": "amd", "count": 2}, {"amd.com/gpu": 2}),
        (
            {"vendor": "amd", "sharing": {"mode": "MIG", "migProfile": "cpx_nps4"}, "count": 3},
            {"amd.com/cpx_nps4": 3},
        ),
        ({"vendor": "kunlunxin", "model": "P800", "count": 8}, {"kunlunxin.com/xpu": 8}),
        ({"vendor": "metax", "count": 1}, {"metax-tech.com/gpu": 1}),
        (
            {"vendor": "metax", "sharing": {"mode": "Fraction", "fraction": 0.5}},
            {"metax-tech.com/gpu.shared": 5},
        ),
    ],
)
def test_each_vendor_request_asks_for_its_vendor_plugin_resource(
    request_doc: dict[str, object], resources: dict[str, int]
) -> None:
    assert device_resources(DeviceRequest.model_validate(request_doc)) == resources


def test_a_pool_of_amd_partitions_supplies_vendor_and_profile_resources() -> None:
    pool = DevicePoolSpec.model_validate(
        {"vendor": "amd", "sharing": {"mode": "MIG", "migProfiles": ["cpx_nps1"]}}
    )
    request = DeviceRequest.model_validate(
        {"pool": "mi300x-cpx", "sharing": {"mode": "MIG", "migProfile": "cpx_nps1"}}
    )
    assert device_resources(request, pool) == {"amd.com/cpx_nps1": 1}


def test_partitions_are_charged_their_compute_share_of_the_gpu_family() -> None:
    assert partition_resource("amd.com/gpu", "cpx_nps1") == "amd.com/cpx_nps1"
    assert partition_resource("nvidia.com/gpu", "1g.10gb") == "nvidia.com/mig-1g.10gb"
    assert quota_family("amd.com/cpx_nps4") == "amd.com/gpu"
    assert quota_units("amd.com/cpx_nps1", 8) == ("amd.com/gpu", 1000)  # eight CPX partitions: one MI300X
    assert quota_units("amd.com/dpx_nps2", 1) == ("amd.com/gpu", 500)
    assert quota_units("amd.com/cpx_nps1", 1, gpu_model="MI300A") == ("amd.com/gpu", 166)  # six XCDs
    assert quota_units("kunlunxin.com/xpu", 2) == ("kunlunxin.com/xpu", 2000)
    assert quota_units("metax-tech.com/gpu", 1, share="0.25") == ("metax-tech.com/gpu", 250)


def test_bad_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(
        ValidationError, match="'nvidia', 'huawei', 'cambricon', 'amd', 'kunlunxin' or 'metax'"
    ):
        DeviceRequest.model_validate({"vendor": "intel"})
    with pytest.raises(ValidationError, match="cpx_nps1, cpx_nps4, dpx_nps1"):
        DeviceRequest.model_validate({"vendor": "amd", "sharing": {"mode": "MIG", "migProfile": "cpx_nps8"}})
    with pytest.raises(ValidationError, match="MIG \\(hardware partitions\\) needs vendor nvidia or amd"):
        DevicePoolSpec.model_validate(
            {"vendor": "kunlunxin", "sharing": {"mode": "MIG", "migProfiles": ["cpx_nps1"]}}
        )
