"""ONNX Runtime as a compiler backend: an ONNX file with ONNX Runtime's portable graph optimisations applied.

The "basic" optimisation level (constant folding, redundant node elimination, Conv+BatchNorm and similar
fusions into standard operators) is independent of the execution provider, so one optimised file serves
every target whose ONNX Runtime has a provider for it: CPU (x86-64, aarch64), CUDA, and CANN on Ascend
(``onnxruntime-cann``). Layout and kernel choices happen when the session is created on the node.
"""

from __future__ import annotations

from pathlib import Path

from motherboard.models.backends.base import Compiled, TuningOptions
from motherboard.models.digests import digest_bytes
from motherboard.models.errors import ModelError
from motherboard.models.importer import ImportedModel
from motherboard.models.targets import Target

ARTIFACT = "model.onnx"


def optimize(model_bytes: bytes, out: Path) -> None:
    """Write ONNX Runtime's provider-independent (basic) optimisation of a model to ``out``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own exception classes
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"ONNX Runtime cannot build the model: {first}") from None


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def version(self) -> str:
        import onnxruntime as ort

        return str(ort.__version__)

    def recipe(self, target: Target) -> str:
        # The basic optimisation is provider-independent: one recipe for every target.
        return digest_bytes(b"ort-basic-optimisation/v1")

    def unsupported(self, model: ImportedModel, target: Target) -> list[str]:
        if not target.ort_providers:
            return [f"ONNX Runtime has no execution provider for target {target.name}"]
        # ONNX Runtime implements every default-domain operator of the opsets it supports, and falls back to
        # its CPU kernels for nodes a device provider lacks; a custom domain it does not know is the exception.
        domains = {n.domain for n in model.proto.graph.node} - {"", "ai.onnx", "com.microsoft", "ai.onnx.ml"}
        return [f"operators of domain {d!r} have no ONNX Runtime kernels" for d in sorted(domains)]

    def compile(
        self, model: ImportedModel, target: Target, workdir: Path, tuning: TuningOptions | None = None
    ) -> Compiled:
        del tuning  # nothing to tune: kernels are chosen at session creation on the node
        out = workdir / ARTIFACT
        optimize(model.serialized(), out)
        return Compiled(artifact=out, extra={"providers": list(target.ort_providers)})
