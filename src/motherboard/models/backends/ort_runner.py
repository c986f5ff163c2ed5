"""ONNX Runtime in the serving path: a session over an ONNX file (plain or optimised by the compiler)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from motherboard.models.errors import ModelError
from motherboard.models.manifest import Manifest
from motherboard.models.targets import DeviceKind, Target
from motherboard.models.tensors import TensorSpec

# ONNX Runtime's type strings → protocol datatypes.
_ORT_TYPES = {
    "tensor(float)": "FP32",
    "tensor(float16)": "FP16",
    "tensor(double)": "FP64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(bool)": "BOOL",
    "tensor(string)": "BYTES",
}


def _spec(arg: Any) -> TensorSpec:
    if arg.type not in _ORT_TYPES:
        raise ModelError(
            f"{arg.name}: ONNX Runtime type {arg.type} has no Open Inference Protocol datatype here "
            f"(supported: {', '.join(sorted(_ORT_TYPES))})"
        )
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in arg.shape)
    names = tuple(d if isinstance(d, str) else "" for d in arg.shape)
    return TensorSpec(arg.name, _ORT_TYPES[arg.type], shape, names if any(names) else ())


def session_options(threads: int, spin: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


class OrtRunner:
    """A thread-safe ONNX Runtime session on the target's first available execution provider."""

    backend = "onnxruntime"
    thread_safe = True

    def __init__(
        self, path: Path, target: Target, manifest: Manifest | None, threads: int = 0, spin: bool = True
    ) -> None:
        import onnxruntime as ort

        available = set(ort.get_available_providers())
        providers = [p for p in target.ort_providers if p in available]
        if target.kind is not DeviceKind.CPU and target.ort_providers[0] not in available:
            # A GPU or NPU target served on the CPU fallback would look healthy and be 10-100x slower.
            raise ModelError(
                f"target {target.name} needs ONNX Runtime's {target.ort_providers[0]}, which this installation "
                f"lacks (it has {', '.join(sorted(available))}); install the provider's build of onnxruntime"
            )
        if not providers:
            raise ModelError(
                f"ONNX Runtime here has none of {', '.join(target.ort_providers) or 'no providers'} "
                f"for target {target.name} (it has {', '.join(sorted(available))})"
            )
        try:
            self._session = ort.InferenceSession(
                str(path), session_options(threads, spin), providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... classes
            raise ModelError(f"{path}: ONNX Runtime cannot load it: {exc}") from None
        self.target = target.name
        self.manifest = manifest
        self.providers = tuple(self._session.get_providers())
        if manifest is not None:
            self._inputs, self._outputs = manifest.inputs, manifest.outputs
        else:
            self._inputs = tuple(_spec(a) for a in self._session.get_inputs())
            self._outputs = tuple(_spec(a) for a in self._session.get_outputs())
        self._output_names = [t.name for t in self._outputs]

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        return self._inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        return self._outputs

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        results = self._session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        del self._session
