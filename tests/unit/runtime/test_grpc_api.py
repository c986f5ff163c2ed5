"""gRPC request decoding (raw and typed contents) and the Triton ModelConfig message, in-process."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from motherboard.models.tensors import TensorSpec
from motherboard.runtime.config import Batching, EnsembleStep, ServingConfig, VersionPolicy
from motherboard.runtime.errors import InferError
from motherboard.runtime.grpc_api import config_message, decode_inputs
from motherboard.runtime.proto import pb


def test_raw_and_typed_contents_decode_to_the_same_tensors() -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = pb.ModelInferRequest(model_name="m")
    raw.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    raw.raw_input_contents.append(x.tobytes())
    typed = pb.ModelInferRequest(model_name="m")
    tensor = typed.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    tensor.contents.fp32_contents.extend(x.reshape(-1).tolist())
    for request in (raw, typed):
        [decoded] = decode_inputs(request)
        np.testing.assert_array_equal(decoded.array, x)
    ints = pb.ModelInferRequest()
    ints.inputs.add(name="i", datatype="INT64", shape=[3]).contents.int64_contents.extend([1, 2, 3])
    assert decode_inputs(ints)[0].array.dtype == np.int64


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda r: r.raw_input_contents.extend([b"", b""]), "raw_input_contents has 2 entries for 1 inputs"),
        (lambda r: r.raw_input_contents.append(b"\0" * 8), "needs 24 bytes, got 8"),
        (
            lambda r: r.inputs[0].contents.fp32_contents.extend([1.0]),
            "needs 6 values, contents.fp32_contents has 1",
        ),
    ],
)
def test_inconsistent_requests_are_invalid_argument(build: Callable[[Any], object], message: str) -> None:
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype="FP32", shape=[2, 3])
    build(request)
    with pytest.raises(InferError, match=message) as caught:
        decode_inputs(request)
    assert caught.value.status.grpc_name == "INVALID_ARGUMENT"


def test_config_message_carries_tritons_fields() -> None:
    config = ServingConfig(
        name="e",
        platform="ensemble",
        max_batch_size=8,
        batching=Batching(max_queue_delay_us=100, preferred_batch_sizes=(4,), max_queue_size=9),
        instances=2,
        version_policy=VersionPolicy("specific", versions=(3,)),
        inputs=(TensorSpec("s", "BYTES", (-1, 1)),),
        outputs=(TensorSpec("y", "FP16", (-1, 2)),),
        steps=(EnsembleStep("a", -1, {"x": "s"}, {"y": "y"}),),
    )
    message = config_message(config)
    assert message.max_batch_size == 8 and message.platform == "ensemble"
    assert message.input[0].data_type == pb.TYPE_STRING and list(message.input[0].dims) == [1]
    assert message.output[0].data_type == pb.TYPE_FP16
    assert message.dynamic_batching.max_queue_delay_microseconds == 100
    assert message.dynamic_batching.default_queue_policy.max_queue_size == 9
    assert list(message.version_policy.specific.versions) == [3]
    assert message.ensemble_scheduling.step[0].input_map["x"] == "s"
    assert message.instance_group[0].count == 2
