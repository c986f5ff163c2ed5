"""Compile targets of the AMD, Kunlunxin and MetaX devices: ROCm by ISA; none (named) for XPU and MetaX."""

from __future__ import annotations

from pathlib import Path

import pytest

from motherboard.api import constants as c
from motherboard.models.compiler import compile_for_target
from motherboard.models.errors import ModelError
from motherboard.models.importer import import_onnx
from motherboard.models.store import FilesystemStore
from motherboard.models.targets import get_target, target_for_device, target_for_node


@pytest.mark.parametrize(
    ("model", "target"),
    [
        ("MI300X", "rocm-gfx942"),
        ("AMD-Instinct-MI300A", "rocm-gfx942"),
        ("MI325X", "rocm-gfx942"),
        ("MI250X", "rocm-gfx90a"),
    ],
)
def test_amd_models_map_to_the_rocm_target_of_their_isa(model: str, target: str) -> None:
    assert target_for_device("amd", model).name == target
    labels = {c.LABEL_ACCELERATOR_VENDOR: "amd", c.LABEL_ACCELERATOR_MODEL: model}
    assert target_for_node(labels).name == target


@pytest.mark.parametrize(("vendor", "model"), [("kunlunxin", "P800-OAM"), ("metax", "MXC500")])
def test_xpu_and_metax_devices_have_no_target_and_say_so(vendor: str, model: str) -> None:
    with pytest.raises(
        ModelError, match=f"no compile target for {vendor} model '{model}'; models with one: none yet"
    ):
        target_for_device(vendor, model)


def test_a_rocm_target_gets_an_onnxruntime_artifact_for_migraphx_and_tvm_builds_or_names_what_it_lacks(
    sample_dir: Path, store: FilesystemStore
) -> None:
    result = compile_for_target(
        import_onnx(sample_dir / "mlp.onnx"), get_target("rocm-gfx942"), store, name="mlp"
    )
    by_backend = {a.manifest.backend: a for a in result.artifacts}
    assert by_backend["onnxruntime"].manifest.extra["providers"][:2] == [
        "MIGraphXExecutionProvider",
        "ROCMExecutionProvider",
    ]
    # TVM generates AMDGPU code itself but links it against a ROCm installation (absent on CI machines).
    assert "tvm" in by_backend or any("ROCm" in reason for reason in result.refused.get("tvm", []))
