"""One quota unit: whole devices, MIG slices, fractional shares, CPU and memory."""

from __future__ import annotations

from fractions import Fraction

import pytest

from motherboard.scheduler.admission import (
    QuantityError,
    Resources,
    format_amount,
    mig_share_milli,
    parse_quantity,
    quota_request,
    quota_units,
)

GPU = "nvidia.com/gpu"


@pytest.mark.parametrize(
    ("resource", "quantity", "kwargs", "expected"),
    [
        (GPU, 2, {}, (GPU, 2000)),
        (GPU, 1, {"share": 0.25}, (GPU, 250)),
        (GPU, "1", {"share": "0.5"}, (GPU, 500)),
        ("nvidia.com/mig-1g.10gb", 1, {}, (GPU, 142)),
        ("nvidia.com/mig-3g.40gb", 2, {}, (GPU, 856)),
        ("nvidia.com/mig-7g.80gb", 1, {}, (GPU, 1000)),
        ("nvidia.com/mig-1g.12gb", 1, {}, (GPU, 142)),  # H100 NVL
        ("nvidia.com/mig-2g.12gb", 1, {}, (GPU, 500)),  # A30: 4 compute slices
        ("nvidia.com/gpu.shared", 1, {"replicas_per_device": 4}, (GPU, 250)),
        ("nvidia.com/gpu.shared", 3, {"replicas_per_device": 3}, (GPU, 1000)),
        ("huawei.com/Ascend910", 8, {}, ("huawei.com/Ascend910", 8000)),
        ("cpu", "500m", {}, ("cpu", 500)),
        ("cpu", 2.5, {}, ("cpu", 2500)),
        ("memory", "1Gi", {}, ("memory", 2**30)),
        ("memory", "1G", {}, ("memory", 10**9)),
        ("example.com/widget", 3, {}, ("example.com/widget", 3)),
    ],
)
def test_quota_units_maps_every_request_form_to_its_family(
    resource: str, quantity: int | str | float, kwargs: dict[str, object], expected: tuple[str, int]
) -> None:
    assert quota_units(resource, quantity, **kwargs) == expected  # type: ignore[arg-type]


def test_every_valid_mig_layout_fits_the_quota_of_one_gpu() -> None:
    # Seven 1g slices, or 3g + 4g, are one A100: a queue with one GPU of quota must admit them.
    assert 7 * mig_share_milli("1g.10gb") <= 1000
    assert mig_share_milli("3g.40gb") + mig_share_milli("4g.40gb") <= 1000
    assert 2 * mig_share_milli("2g.12gb") <= 1000  # A30


def test_mig_share_can_be_read_for_one_gpu_model() -> None:
    assert mig_share_milli("4g.24gb", "A30-24GB") == 1000
    assert mig_share_milli("4g.40gb", "A100-80GB") == 571


@pytest.mark.parametrize(
    ("resource", "quantity", "kwargs"),
    [
        ("nvidia.com/mig-9g.99gb", 1, {}),
        ("nvidia.com/gpu.shared", 1, {}),
        (GPU, 1, {"share": 1.5}),
        (GPU, -1, {}),
        ("cpu", "lots", {}),
        ("memory", "1Qi", {}),
    ],
)
def test_invalid_requests_are_rejected_with_a_quantity_error(
    resource: str, quantity: int | str, kwargs: dict[str, object]
) -> None:
    with pytest.raises(QuantityError):
        quota_units(resource, quantity, **kwargs)  # type: ignore[arg-type]


def test_parse_quantity_is_exact() -> None:
    assert parse_quantity("100m") == Fraction(1, 10)
    assert parse_quantity("1e3") == 1000
    assert parse_quantity(0.1) == Fraction(1, 10)


def test_a_gang_request_is_the_sum_of_its_pods() -> None:
    request = quota_request({"nvidia.com/mig-1g.10gb": 1, "cpu": "4", "memory": "16Gi"}, count=7)
    assert request == Resources({GPU: 994, "cpu": 28000, "memory": 7 * 16 * 2**30})


def test_amounts_print_in_the_units_users_read() -> None:
    # In the units a person wrote (issue 14: messages said 64000m), with a per-pool key's pool named.
    assert format_amount(GPU, 8000) == "8 GPUs"
    assert format_amount(GPU, 1000) == "1 GPU"
    assert format_amount(GPU, 250) == "0.25 GPU"
    assert format_amount(f"{GPU}@a100-mig", 142) == "0.142 GPU in pool a100-mig"
    assert format_amount("cpu", 1500) == "1.5 CPU"
    assert format_amount("cpu", 64_000) == "64 CPUs"
    assert format_amount("memory", 16 * 2**30) == "16Gi memory"
    assert format_amount("example.com/widget", 3) == "3 example.com/widget"


def test_resources_arithmetic_treats_missing_as_zero() -> None:
    a = Resources({GPU: 1000, "cpu": 0})
    assert a == Resources({GPU: 1000})
    assert (a - a) == Resources() and not (a - a)
    assert (a + {"cpu": 5}).get_amount("cpu") == 5
    assert a.fits_in({GPU: 1000}) and not a.fits_in({"cpu": 10})
