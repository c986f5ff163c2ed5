"""The committed inference gRPC stubs are what the committed ``.proto`` generates, and speak Triton's wire."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tritonclient.grpc.model_config_pb2 as triton_config
import tritonclient.grpc.service_pb2 as triton_service

from motherboard.runtime.codegen import GENERATED, PROTO_DIR, generate
from motherboard.runtime.proto import grpc_stubs, pb


def test_regenerating_the_stubs_gives_the_committed_files(tmp_path: Path) -> None:
    fresh = {path.name: path.read_text() for path in generate(tmp_path)}
    assert sorted(fresh) == sorted(GENERATED)
    stale = [name for name, text in fresh.items() if (PROTO_DIR / name).read_text() != text]
    assert not stale, f"{stale} are stale: run `python -m motherboard.runtime.codegen`"


def _triton_message(name: str) -> Any:
    for module in (triton_service, triton_config):
        if name in module.DESCRIPTOR.message_types_by_name:
            return module.DESCRIPTOR.message_types_by_name[name]
    raise AssertionError(f"tritonclient has no message {name}")


def _check_fields(ours: Any, theirs: Any, path: str) -> int:
    checked = 0
    for field in ours.fields:
        other = theirs.fields_by_name.get(field.name)
        assert other is not None, f"{path}.{field.name}: not in Triton's message"
        assert (field.number, field.type, field.is_repeated) == (
            other.number,
            other.type,
            other.is_repeated,
        ), (
            f"{path}.{field.name}: number/type/repeated {field.number, field.type, field.is_repeated} "
            f"vs Triton's {other.number, other.type, other.is_repeated}"
        )
        checked += 1
        if field.message_type is not None and not field.message_type.GetOptions().map_entry:
            checked += _check_fields(field.message_type, other.message_type, f"{path}.{field.name}")
    return checked


def test_every_message_is_wire_compatible_with_tritons() -> None:
    """Same field numbers, types and labels as tritonclient's own stubs: the client decodes our answers."""
    checked = 0
    for name, message in pb.DESCRIPTOR.message_types_by_name.items():
        checked += _check_fields(message, _triton_message(name), name)
    assert checked > 100
    ours = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = triton_service.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert ours.full_name == theirs.full_name == "inference.GRPCInferenceService"
    for method in ours.methods:
        other = theirs.methods_by_name[method.name]
        assert (
            method.input_type.name == other.input_type.name
            and method.output_type.name == other.output_type.name
        )
    for value in pb.DataType.DESCRIPTOR.values:
        assert triton_config.DataType.Value(value.name) == value.number
    assert hasattr(grpc_stubs, "add_GRPCInferenceServiceServicer_to_server")
