"""The Open Inference Protocol over gRPC (KServe's ``grpc_predict_v2.proto`` plus Triton's extensions).

Runs on the same asyncio loop as the REST server (``grpc.aio``), over the same repository, so both
protocols see the same models, queues and counters. Tensors travel as ``raw_input_contents`` /
``raw_output_contents`` (what tritonclient sends by default), or as typed ``contents`` when a client fills
those; outputs are always raw.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np

from motherboard.runtime.codec import (
    InputTensor,
    check_shape,
    tensor_from_bytes,
    tensor_from_data,
    tensor_to_bytes,
)
from motherboard.runtime.config import ServingConfig
from motherboard.runtime.errors import InferError, invalid
from motherboard.runtime.proto import grpc_stubs, pb
from motherboard.runtime.repository import LoadedVersion, Repository
from motherboard.runtime.rest import EXTENSIONS
from motherboard.runtime.state import ServerState
from motherboard.runtime.stats import Duration, VersionStats

# Which typed ``contents`` field carries each datatype (the proto groups small ints together).
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_DATATYPE_ENUM = {"BYTES": "TYPE_STRING"}


def _abort_code(exc: InferError) -> grpc.StatusCode:
    code: grpc.StatusCode = getattr(grpc.StatusCode, exc.status.grpc_name)
    return code


def decode_inputs(request: Any) -> list[InputTensor]:
    """The inputs of a ``ModelInferRequest``; ``InferError`` naming the input on any inconsistency."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise invalid(f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs")
    inputs = []
    seen: set[str] = set()
    for i, tensor in enumerate(request.inputs):
        name = tensor.name
        if name in seen:
            raise invalid(f"input '{name}' is given twice")
        seen.add(name)
        shape = check_shape(name, list(tensor.shape))
        if raw:
            if tensor.HasField("contents"):
                raise invalid(f"input '{name}': contents must be empty when raw_input_contents is used")
            array = tensor_from_bytes(name, tensor.datatype, shape, memoryview(raw[i]))
        else:
            field = _CONTENTS_FIELD.get(tensor.datatype)
            if field is None:
                raise invalid(
                    f"input '{name}': datatype {tensor.datatype!r} must be sent as raw_input_contents"
                )
            values = list(getattr(tensor.contents, field))
            if len(values) != math.prod(shape):
                raise invalid(
                    f"input '{name}': shape {list(shape)} needs {math.prod(shape)} values, "
                    f"contents.{field} has {len(values)}"
                )
            array = tensor_from_data(name, tensor.datatype, shape, values)
        inputs.append(InputTensor(name, tensor.datatype, shape, array))
    if not inputs:
        raise invalid("inputs: a request needs at least one input tensor")
    return inputs


def _duration(d: Duration) -> Any:
    return pb.StatisticDuration(count=d.count, ns=d.ns)


def stats_message(version: LoadedVersion) -> Any:
    s: VersionStats = version.stats
    return pb.ModelStatistics(
        name=version.model,
        version=str(version.version),
        last_inference=s.last_inference_ms,
        inference_count=s.inference_count,
        execution_count=s.execution_count,
        inference_stats=pb.InferStatistics(
            success=_duration(s.success),
            fail=_duration(s.fail),
            queue=_duration(s.queue),
            compute_input=_duration(s.compute_input),
            compute_infer=_duration(s.compute_infer),
            compute_output=_duration(s.compute_output),
        ),
        batch_stats=[
            pb.InferBatchStatistics(
                batch_size=rows,
                compute_input=_duration(b.compute_input),
                compute_infer=_duration(b.compute_infer),
                compute_output=_duration(b.compute_output),
            )
            for rows, b in sorted(s.batches.items())
        ],
    )


def config_message(config: ServingConfig) -> Any:
    """The Triton ``ModelConfig`` message (the subset this server fills) from the served config."""
    data = config.to_triton_json()

    def dtype(name: str) -> Any:
        return pb.DataType.Value(_DATATYPE_ENUM.get(name.removeprefix("TYPE_"), name))

    policy = config.version_policy
    if policy.kind == "all":
        version_policy = pb.ModelVersionPolicy(all=pb.ModelVersionPolicy.All())
    elif policy.kind == "specific":
        version_policy = pb.ModelVersionPolicy(
            specific=pb.ModelVersionPolicy.Specific(versions=policy.versions)
        )
    else:
        version_policy = pb.ModelVersionPolicy(
            latest=pb.ModelVersionPolicy.Latest(num_versions=policy.num_versions)
        )
    message = pb.ModelConfig(
        name=data["name"],
        platform=data["platform"],
        backend=data["backend"],
        version_policy=version_policy,
        max_batch_size=data["max_batch_size"],
        input=[
            pb.ModelInput(name=t["name"], data_type=dtype(t["data_type"]), dims=t["dims"])
            for t in data["input"]
        ],
        output=[
            pb.ModelOutput(name=t["name"], data_type=dtype(t["data_type"]), dims=t["dims"])
            for t in data["output"]
        ],
        instance_group=[
            pb.ModelInstanceGroup(name=g["name"], count=g["count"], kind=pb.ModelInstanceGroup.KIND_CPU)
            for g in data["instance_group"]
        ],
        model_transaction_policy=pb.ModelTransactionPolicy(decoupled=False),
    )
    if "dynamic_batching" in data:
        dyn = data["dynamic_batching"]
        message.dynamic_batching.CopyFrom(
            pb.ModelDynamicBatching(
                preferred_batch_size=dyn["preferred_batch_size"],
                max_queue_delay_microseconds=dyn["max_queue_delay_microseconds"],
                default_queue_policy=pb.ModelQueuePolicy(
                    max_queue_size=dyn["default_queue_policy"]["max_queue_size"]
                ),
            )
        )
    for step in config.steps:
        message.ensemble_scheduling.step.append(
            pb.ModelEnsembling.Step(
                model_name=step.model_name,
                model_version=step.model_version,
                input_map=step.input_map,
                output_map=step.output_map,
            )
        )
    return message


class InferenceServicer(grpc_stubs.GRPCInferenceServiceServicer):  # type: ignore[misc]
    """``inference.GRPCInferenceService`` over the shared repository."""

    def __init__(self, repository: Repository, state: ServerState) -> None:
        self.repository = repository
        self.state = state

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerReadyResponse(ready=self.state.ready)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            self.repository.get(request.name, request.version)
        except InferError:
            return pb.ModelReadyResponse(ready=False)
        return pb.ModelReadyResponse(ready=True)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerMetadataResponse(
            name="motherboard", version=self.state.version, extensions=EXTENSIONS
        )

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            version = self.repository.get(request.name, request.version)
        except InferError as exc:
            await context.abort(_abort_code(exc), exc.message)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=version.model,
            versions=[str(v) for v in sorted(self.repository.models[version.model].versions)],
            platform=version.config.platform,
            inputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in version.config.inputs],
            outputs=[tensor(name=s.name, datatype=s.datatype, shape=s.shape) for s in version.config.outputs],
        )

    async def ModelConfig(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            version = self.repository.get(request.name, request.version)
        except InferError as exc:
            await context.abort(_abort_code(exc), exc.message)
        return pb.ModelConfigResponse(config=config_message(version.config))

    async def ModelStatistics(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            if not request.name:
                chosen = [v for m in self.repository.models.values() for v in m.versions.values()]
            elif request.version:
                chosen = [self.repository.get(request.name, request.version)]
            else:
                self.repository.get(request.name)
                chosen = list(self.repository.models[request.name].versions.values())
        except InferError as exc:
            await context.abort(_abort_code(exc), exc.message)
        return pb.ModelStatisticsResponse(model_stats=[stats_message(v) for v in chosen])

    async def RepositoryIndex(self, request: Any, context: Any) -> Any:  # noqa: N802
        entry = pb.RepositoryIndexResponse.ModelIndex
        return pb.RepositoryIndexResponse(
            models=[entry(**row) for row in self.repository.index(request.ready)]
        )

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            await self.repository.load(request.model_name)
        except InferError as exc:
            await context.abort(_abort_code(exc), exc.message)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            await self.repository.unload(request.model_name)
        except InferError as exc:
            await context.abort(_abort_code(exc), exc.message)
        return pb.RepositoryModelUnloadResponse()

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        self.state.in_flight += 1
        try:
            inputs = decode_inputs(request)
            requested = [o.name for o in request.outputs] or None
            version, outputs = await self.repository.infer(
                request.model_name, request.model_version, inputs, requested
            )
        except InferError as exc:
            await context.abort(_abort_code(exc), exc.message)
        finally:
            self.state.in_flight -= 1
        names = requested or [s.name for s in version.config.outputs]
        response = pb.ModelInferResponse(
            model_name=version.model, model_version=str(version.version), id=request.id
        )
        for name in names:
            array: np.ndarray[Any, Any] = outputs[name]
            response.outputs.add(name=name, datatype=_datatype(array), shape=array.shape)
            response.raw_output_contents.append(tensor_to_bytes(array))
        return response


def _datatype(array: np.ndarray[Any, Any]) -> str:
    from motherboard.models.tensors import datatype_of_numpy

    return datatype_of_numpy(array.dtype)


def make_server(
    repository: Repository, state: ServerState, host: str, port: int, max_message_bytes: int
) -> Any:
    """A ``grpc.aio`` server bound to ``host:port`` (not started); returns (server, bound port)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
    )
    grpc_stubs.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(repository, state), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {host}:{port}")
    return server, bound
