"""Hardware targets as data: the one place that says what a model is compiled for and how.

A target names an instruction set and a device kind (``cpu-x86_64``, ``cpu-aarch64``, ``cuda-sm90``,
``ascend-910b``, ``rocm-gfx942``) with the options each backend needs for it. Everything else — the CLI, the compiler, the
runtime's choice of artifact, the operator's choice of compile jobs — asks this module, never a string
written elsewhere. :func:`target_for_node` and :func:`target_for_device` map what the cluster knows (node
labels written by the device plugin, a DevicePool's vendor and model, a replica's assigned device) to a
target.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from motherboard.api import constants as c
from motherboard.api.v1alpha1.common import Vendor
from motherboard.models.errors import ModelError

LABEL_ARCH = "kubernetes.io/arch"


class DeviceKind(StrEnum):
    """What executes the model."""

    CPU = "cpu"
    CUDA = "cuda"
    ASCEND = "ascend"
    ROCM = "rocm"


@dataclass(frozen=True)
class Target:
    """One hardware target and the per-backend options for it.

    ``tvm`` is TVM's target in its JSON-dict form (CLI target strings are rejected by TVM 0.27); ``None``
    where TVM cannot compile for the target. ``ort_providers`` are ONNX Runtime's execution providers in
    order of preference; empty where ONNX Runtime has none.
    """

    name: str
    kind: DeviceKind
    arch: str
    """The host CPU architecture the artifact's shared library is built for (``x86_64``, ``aarch64``)."""
    description: str
    tvm: Mapping[str, Any] | None = None
    tvm_host: Mapping[str, Any] | None = None
    ort_providers: tuple[str, ...] = ()
    compute_capability: str | None = None
    ascend_soc: str | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def runs_here(self) -> bool:
        """Whether this machine can execute the target's artifacts natively (CPU targets of this arch)."""
        return self.kind is DeviceKind.CPU and self.arch == host_arch()


def host_arch() -> str:
    """This machine's architecture in the targets' vocabulary."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


# x86-64-v3 = AVX2, FMA, BMI2 (Haswell, Zen and later); without mcpu LLVM emits SSE2 code only.
_X86 = {"kind": "llvm", "mtriple": "x86_64-linux-gnu", "mcpu": "x86-64-v3"}
_ARM = {"kind": "llvm", "mtriple": "aarch64-linux-gnu", "mattr": ["+neon"]}


def _cuda(sm: str, products: str) -> Target:
    return Target(
        name=f"cuda-sm{sm}",
        kind=DeviceKind.CUDA,
        arch="x86_64",
        description=f"NVIDIA GPUs of compute capability {sm[:-1]}.{sm[-1]} ({products})",
        tvm={"kind": "cuda", "arch": f"sm_{sm}"},
        tvm_host=_X86,
        ort_providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
        compute_capability=f"{sm[:-1]}.{sm[-1]}",
    )


def _rocm(gfx: str, products: str) -> Target:
    return Target(
        name=f"rocm-{gfx}",
        kind=DeviceKind.ROCM,
        arch="x86_64",
        description=f"AMD Instinct GPUs of ISA {gfx} ({products}; ONNX Runtime's MIGraphX or ROCm provider)",
        tvm={"kind": "rocm", "mcpu": gfx, "mtriple": "amdgcn-amd-amdhsa-hcc"},
        tvm_host=_X86,
        ort_providers=("MIGraphXExecutionProvider", "ROCMExecutionProvider", "CPUExecutionProvider"),
    )


TARGETS: tuple[Target, ...] = (
    Target(
        name="cpu-x86_64",
        kind=DeviceKind.CPU,
        arch="x86_64",
        description="x86-64 CPUs with AVX2 and FMA (x86-64-v3: Haswell, Zen and later)",
        tvm=_X86,
        ort_providers=("CPUExecutionProvider",),
        aliases=("cpu-amd64", "x86_64"),
    ),
    Target(
        name="cpu-aarch64",
        kind=DeviceKind.CPU,
        arch="aarch64",
        description="64-bit Arm CPUs with NEON (edge nodes; cross-compiled, linked with ld.lld)",
        tvm=_ARM,
        ort_providers=("CPUExecutionProvider",),
        aliases=("cpu-arm64", "aarch64"),
    ),
    _cuda("75", "T4"),
    _cuda("80", "A100, A30"),
    _cuda("86", "A10, A40, RTX A6000"),
    _cuda("89", "L4, L40, L40S"),
    _cuda("90", "H100, H200, H20, H800"),
    Target(
        name="ascend-310p",
        kind=DeviceKind.ASCEND,
        arch="aarch64",
        description="Huawei Ascend 310P (ONNX Runtime's CANN execution provider, onnxruntime-cann)",
        ort_providers=("CANNExecutionProvider", "CPUExecutionProvider"),
        ascend_soc="Ascend310P3",
    ),
    Target(
        name="ascend-910b",
        kind=DeviceKind.ASCEND,
        arch="aarch64",
        description="Huawei Ascend 910B (ONNX Runtime's CANN execution provider, onnxruntime-cann)",
        ort_providers=("CANNExecutionProvider", "CPUExecutionProvider"),
        ascend_soc="Ascend910B",
    ),
    _rocm("gfx90a", "MI210, MI250, MI250X"),
    _rocm("gfx942", "MI300X, MI300A, MI325X"),
)
_BY_NAME = {t.name: t for t in TARGETS} | {a: t for t in TARGETS for a in t.aliases}

# GPU model prefix → the CUDA target; the longest matching prefix wins (A100 before A10).
_NVIDIA_MODELS: tuple[tuple[str, str], ...] = (
    ("T4", "cuda-sm75"),
    ("A100", "cuda-sm80"),
    ("A30", "cuda-sm80"),
    ("A800", "cuda-sm80"),
    ("A10", "cuda-sm86"),
    ("A40", "cuda-sm86"),
    ("A6000", "cuda-sm86"),
    ("L40", "cuda-sm89"),
    ("L4", "cuda-sm89"),
    ("H100", "cuda-sm90"),
    ("H200", "cuda-sm90"),
    ("H20", "cuda-sm90"),
    ("H800", "cuda-sm90"),
)
_ASCEND_MODELS: tuple[tuple[str, str], ...] = (("910", "ascend-910b"), ("310", "ascend-310p"))
_AMD_MODELS: tuple[tuple[str, str], ...] = (
    ("MI210", "rocm-gfx90a"),
    ("MI250", "rocm-gfx90a"),
    ("MI300", "rocm-gfx942"),
    ("MI325", "rocm-gfx942"),
)
_VENDOR_MODELS = {Vendor.NVIDIA: _NVIDIA_MODELS, Vendor.HUAWEI: _ASCEND_MODELS, Vendor.AMD: _AMD_MODELS}
# Kunlunxin XPUs and MetaX GPUs have no target yet: neither TVM nor ONNX Runtime upstream generates code for
# them (their toolchains, XTCL and MACA, are vendor builds this image does not carry).


def get_target(name: str) -> Target:
    """The target called ``name`` (or one of its aliases); ``ModelError`` listing the known names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(t.name for t in TARGETS)
        raise ModelError(f"target {name!r} is unknown; known targets: {known}") from None


def _by_prefix(table: tuple[tuple[str, str], ...], model: str) -> str | None:
    # GPU feature discovery writes products such as NVIDIA-Tesla-T4 and NVIDIA-RTX-A6000.
    model = model.upper().replace(" ", "-")
    for prefix in ("NVIDIA-", "TESLA-", "RTX-", "ASCEND", "AMD-", "INSTINCT-"):
        model = model.removeprefix(prefix)
    matches = [(prefix, name) for prefix, name in table if model.startswith(prefix)]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None


def target_for_device(vendor: Vendor | str | None, model: str | None, arch: str = "x86_64") -> Target:
    """The target for a device (or a CPU-only node of ``arch`` when ``vendor`` is None).

    ``ModelError`` when a vendor's model maps to no target, naming the models that do.
    """
    if vendor is None:
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
        return get_target(f"cpu-{arch}")
    vendor = Vendor(vendor)
    table = _VENDOR_MODELS.get(vendor)
    name = _by_prefix(table, model or "") if table else None
    if name is None:
        known = ", ".join(prefix for prefix, _ in table) if table else "none yet"
        raise ModelError(f"no compile target for {vendor.value} model {model!r}; models with one: {known}")
    return get_target(name)


def target_for_node(labels: Mapping[str, str]) -> Target:
    """The target a node's pods run on, from its labels (accelerator labels first, else its CPU arch)."""
    arch = labels.get(LABEL_ARCH, "amd64")
    vendor = labels.get(c.LABEL_ACCELERATOR_VENDOR)
    if vendor in (Vendor.NVIDIA.value, Vendor.HUAWEI.value, Vendor.AMD.value):
        return target_for_device(vendor, labels.get(c.LABEL_ACCELERATOR_MODEL), arch)
    return target_for_device(None, None, arch)
