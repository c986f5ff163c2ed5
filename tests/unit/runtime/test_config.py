"""config.json: Triton's field names, defaults derived from the model, errors naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from motherboard.models.tensors import TensorSpec
from motherboard.runtime.config import (
    DEFAULT_MAX_BATCH_SIZE,
    ConfigError,
    VersionPolicy,
    parse_config,
    read_config,
    resolve,
)

DYNAMIC = (TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "FP32", (-1, 2)),)
FIXED = (TensorSpec("x", "FP32", (1, 4)),), (TensorSpec("y", "FP32", (1, 2)),)


def test_no_config_file_derives_batching_from_a_dynamic_first_dimension(tmp_path: Path) -> None:
    config = read_config(tmp_path)
    served = resolve(config, *DYNAMIC, platform="onnxruntime_onnx")
    assert served.max_batch_size == DEFAULT_MAX_BATCH_SIZE and served.batching.enabled
    fixed = resolve(config, *FIXED, platform="onnxruntime_onnx")
    assert fixed.max_batch_size == 0 and not fixed.batching.enabled
    manifest = resolve(config, *DYNAMIC, platform="tvm", manifest_max_batch=4)
    assert manifest.max_batch_size == 4


def test_a_config_file_without_dynamic_batching_turns_batching_off_as_triton_does(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"max_batch_size": 8, "max_queue_size": 5}))
    served = resolve(read_config(tmp_path), *DYNAMIC, platform="onnxruntime_onnx")
    assert served.max_batch_size == 8 and not served.batching.enabled and served.batching.max_queue_size == 5
    triton = served.to_triton_json()
    assert "dynamic_batching" not in triton and triton["input"][0]["dims"] == [4]


def test_full_config_round_trips_to_tritons_json() -> None:
    config = parse_config(
        "m",
        {
            "name": "m",
            "max_batch_size": 16,
            "dynamic_batching": {
                "max_queue_delay_microseconds": "500",
                "preferred_batch_size": [8, 4],
                "default_queue_policy": {"max_queue_size": 64},
            },
            "instance_group": [{"count": 2, "kind": "KIND_CPU"}, {"count": 1}],
            "version_policy": {"specific": {"versions": [1, 3]}},
        },
    )
    served = resolve(config, *DYNAMIC, platform="onnxruntime_onnx")
    assert served.instances == 3 and served.batching.preferred_batch_sizes == (4, 8)
    out = served.to_triton_json()
    assert out["dynamic_batching"] == {
        "max_queue_delay_microseconds": 500,
        "preferred_batch_size": [4, 8],
        "default_queue_policy": {"max_queue_size": 64},
    }
    assert out["version_policy"] == {"specific": {"versions": [1, 3]}}
    assert out["instance_group"][0]["count"] == 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "other"}, "name: config says 'other' but the folder is 'm'"),
        ({"max_batch_size": "x"}, "max_batch_size: expected an integer"),
        ({"dynamic_batching": []}, "dynamic_batching: expected an object"),
        (
            {"dynamic_batching": {"preferred_batch_size": [0]}},
            "preferred_batch_size: expected a list of positive",
        ),
        ({"instance_group": [{"count": 0}]}, "instance_group[0].count: expected an integer >= 1"),
        ({"instance_group": [{"kind": "KIND_TPU"}]}, "instance_group[0].kind: 'KIND_TPU'"),
        ({"version_policy": {"newest": {}}}, "version_policy: 'newest' is not latest, all or specific"),
        (
            {"version_policy": {"specific": {"versions": []}}},
            "version_policy.specific.versions: expected a non-empty",
        ),
        ({"platform": "ensemble"}, "ensemble_scheduling.step: an ensemble needs a non-empty list"),
        (
            {
                "platform": "ensemble",
                "ensemble_scheduling": {
                    "step": [{"model_name": "a", "input_map": {}, "output_map": {"y": "y"}}]
                },
            },
            "step[0].input_map: expected a non-empty object",
        ),
    ],
)
def test_bad_configs_name_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("m", data)
    assert message in str(caught.value)


def test_resolve_refuses_batching_a_model_without_a_batch_dimension() -> None:
    with pytest.raises(
        ConfigError, match=r"max_batch_size: 4 needs a dynamic first dimension.*x has shape \[1, 4\]"
    ):
        resolve(parse_config("m", {"max_batch_size": 4}), *FIXED, platform="onnxruntime_onnx")
    with pytest.raises(ConfigError, match=r"preferred_batch_size: \[64\] exceed max_batch_size 8"):
        resolve(
            parse_config("m", {"max_batch_size": 8, "dynamic_batching": {"preferred_batch_size": [64]}}),
            *DYNAMIC,
            platform="onnxruntime_onnx",
        )


def test_unreadable_config_file_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ConfigError, match=r"config.json: not readable JSON"):
        read_config(tmp_path)


def test_version_policies_select_versions() -> None:
    available = [3, 1, 10, 2]
    assert VersionPolicy().select(available) == [10]
    assert VersionPolicy("latest", num_versions=2).select(available) == [3, 10]
    assert VersionPolicy("all").select(available) == [1, 2, 3, 10]
    assert VersionPolicy("specific", versions=(2, 7)).select(available) == [2]
