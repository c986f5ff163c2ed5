"""The committed gRPC stubs are exactly what the committed ``api.proto`` generates."""

from __future__ import annotations

from pathlib import Path

from motherboard.deviceplugin.codegen import GENERATED, PROTO_DIR, generate
from motherboard.deviceplugin.proto import API_VERSION, grpc_stubs, pb


def test_regenerating_the_stubs_gives_the_committed_files(tmp_path: Path) -> None:
    fresh = {path.name: path.read_text() for path in generate(tmp_path)}
    assert sorted(fresh) == sorted(GENERATED)
    stale = [name for name, text in fresh.items() if (PROTO_DIR / name).read_text() != text]
    assert not stale, f"{stale} are stale: run `python -m motherboard.deviceplugin.codegen`"


def test_the_stubs_speak_the_kubelet_v1beta1_wire_names() -> None:
    assert API_VERSION == "v1beta1"
    services = pb.DESCRIPTOR.services_by_name
    assert services["Registration"].full_name == "v1beta1.Registration"
    assert [m.name for m in services["DevicePlugin"].methods] == [
        "GetDevicePluginOptions",
        "ListAndWatch",
        "GetPreferredAllocation",
        "Allocate",
        "PreStartContainer",
    ]
    fields = pb.ContainerAllocateResponse.DESCRIPTOR.fields_by_name
    assert (fields["cdi_devices"].number, fields["annotations"].number) == (5, 4)
    assert pb.NUMANode.DESCRIPTOR.fields_by_name["ID"].number == 1
    assert hasattr(grpc_stubs, "add_DevicePluginServicer_to_server")
