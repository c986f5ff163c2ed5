"""Apache TVM (Relax) as a compiler backend: ONNX → Relax → ``tvm.compile`` → a shared library.

- The ONNX graph first gets ONNX Runtime's portable optimisations: constant folding turns the
  ``Shape → Slice → Concat → Reshape`` chains of exported models into constants that Relax's importer
  accepts (it refuses a Reshape whose shape is a computed tensor).
- When the importer cannot keep the batch dimension symbolic, the artifact is built for batch 1 and the
  manifest says so (``staticBatch``); the runtime then runs a batch sample by sample.
- Shared libraries are linked with ``ld.lld``, which links x86-64 and aarch64 alike, so a compile node
  needs no cross toolchain; CUDA artifacts are built without a GPU and carry the kernels' CUDA source,
  compiled on the GPU node when loaded.
- Tuning (MetaSchedule) needs static shapes and the target's own CPU; its database persists per
  model digest × target, so a second run with a budget continues from the records of the first.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from motherboard.models.backends.base import Compiled, TuningOptions
from motherboard.models.backends.onnxruntime import optimize
from motherboard.models.digests import digest_bytes, digest_file
from motherboard.models.errors import ModelError
from motherboard.models.importer import ImportedModel
from motherboard.models.targets import Target
from motherboard.models.tuning import RECORDS, budget_spent, record_budget, records_count

ARTIFACT = "model.so"
PASSES = "ort-basic-then-relax/static-batch-1-fallback/v1"
"""This project's own steps before TVM's; change it when they change, so stored artifacts are not reused."""
LINKER = "ld.lld"


def convertible_operators() -> frozenset[str]:
    """The ONNX operator types TVM's Relax importer converts."""
    from tvm.relax.frontend.onnx import onnx_frontend

    return frozenset(onnx_frontend._get_convert_map())


def link_shared(output: str, objects: Sequence[str], options: Any = None, cc: Any = None, **_: Any) -> None:
    """``fcompile`` for ``export_library``: link object files into a shared library with ``ld.lld``."""
    del options, cc
    linker = shutil.which(LINKER)
    if linker is None:
        raise ModelError(f"{LINKER} is not installed (Debian package lld); TVM artifacts need it to link")
    proc = subprocess.run(
        [linker, "-shared", "-o", output, *objects], check=False, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ModelError(f"{LINKER} failed linking {output}: {proc.stderr.strip()}")


link_shared.output_format = "so"  # type: ignore[attr-defined]  # export_library reads this attribute


def _fix_batch(proto: Any, batch: int) -> None:
    for value in proto.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = batch


def _is_static(model: ImportedModel) -> bool:
    return all(not spec.dynamic_axes for spec in model.inputs)


class TvmBackend:
    name = "tvm"

    def version(self) -> str:
        from importlib.metadata import version

        return version("apache-tvm")

    def recipe(self, target: Target) -> str:
        options = {"target": target.tvm, "host": target.tvm_host, "passes": PASSES}
        return digest_bytes(json.dumps(options, sort_keys=True).encode())

    def unsupported(self, model: ImportedModel, target: Target) -> list[str]:
        if target.tvm is None:
            return [f"TVM has no code generator configured for target {target.name}"]
        from motherboard.models.analysis import operator_name

        known = convertible_operators()
        ops = sorted({operator_name(n) for n in model.proto.graph.node} - known)
        return [f"operator {op} has no TVM conversion" for op in ops]

    def _relax(self, model: ImportedModel) -> tuple[Any, int | None]:
        import onnx
        from tvm.relax.frontend.onnx import from_onnx

        proto = onnx.load_model_from_string(model.serialized())
        static_batch: int | None = None
        with _Scratch() as tmp:
            optimize(proto.SerializeToString(), tmp / "opt.onnx")
            optimized = onnx.load(str(tmp / "opt.onnx"))
        try:
            return from_onnx(optimized, keep_params_in_input=False), None
        except Exception as first:  # TVM raises TypeError/TVMError/ValueError from C++
            if _is_static(model):
                raise ModelError(f"TVM cannot import the model: {str(first).splitlines()[-1]}") from None
        static_batch = 1
        _fix_batch(proto, static_batch)
        with _Scratch() as tmp:
            optimize(proto.SerializeToString(), tmp / "opt.onnx")
            optimized = onnx.load(str(tmp / "opt.onnx"))
        try:
            return from_onnx(optimized, keep_params_in_input=False), static_batch
        except Exception as exc:
            raise ModelError(f"TVM cannot import the model: {str(exc).splitlines()[-1]}") from None

    def compile(
        self, model: ImportedModel, target: Target, workdir: Path, tuning: TuningOptions | None = None
    ) -> Compiled:
        if target.tvm is None:
            raise ModelError(f"TVM has no code generator configured for target {target.name}")
        import tvm

        mod, static_batch = self._relax(model)
        options = dict(target.tvm)
        tuned = tuning is not None and (tuning.trials > 0 or records_count(tuning.database) > 0)
        if tuned:  # MetaSchedule sizes its parallel loops by the target's core count
            options["num-cores"] = os.cpu_count() or 1
        tvm_target = tvm.target.Target(options, host=dict(target.tvm_host) if target.tvm_host else None)
        trials, records = 0, None
        if tuning is not None and tuned:
            mod, trials, records = self._tune(mod, model, target, tvm_target, tuning, static_batch)
        try:
            executable = tvm.compile(mod, target=tvm_target)
        except Exception as exc:
            raise ModelError(f"TVM cannot compile for {target.name}: {str(exc).splitlines()[-1]}") from None
        out = workdir / ARTIFACT
        try:
            executable.export_library(str(out), fcompile=link_shared)
        except ModelError:
            raise
        except Exception as exc:  # TVMError from the exporter
            raise ModelError(
                f"exporting the {target.name} library failed: {str(exc).strip().splitlines()[-1]}"
            ) from None
        return Compiled(
            artifact=out,
            tuning_trials=trials,
            tuning_digest=records,
            static_batch=static_batch,
            extra={"tvmTarget": dict(target.tvm)},
        )

    def _tune(
        self,
        mod: Any,
        model: ImportedModel,
        target: Target,
        tvm_target: Any,
        tuning: TuningOptions,
        static_batch: int | None,
    ) -> tuple[Any, int, str | None]:
        if tuning.trials > 0 and not target.runs_here:
            raise ModelError(
                f"tuning for {target.name} must run on that hardware (this machine is not one); "
                "compile without --trials, or tune on a node of the target"
            )
        if not _is_static(model) and static_batch is None:
            dims = ", ".join(f"{s.name}{list(s.shape)}" for s in model.inputs if s.dynamic_axes)
            raise ModelError(
                f"tuning needs static shapes and these inputs have dynamic dimensions: {dims}; "
                "fix them with --input NAME:DTYPE:SHAPE"
            )
        from tvm import relax

        tuning.database.mkdir(parents=True, exist_ok=True)
        # MetaSchedule hands trials to tasks in order, each up to the per-task cap: with the cap at the
        # whole budget, the first tasks (a reshape, a mean) took it all and the convolutions got none.
        per_task = max(
            1, min(tuning.trials_per_task, math.ceil(tuning.trials / _task_count(mod, tvm_target)))
        )
        pipeline = relax.get_pipeline(
            "static_shape_tuning",
            total_trials=tuning.trials,
            target=tvm_target,
            work_dir=str(tuning.database),
            max_trials_per_task=per_task,
        )
        before = budget_spent(tuning.database)
        try:
            with tvm_target:
                tuned = pipeline(mod)
        except Exception as exc:  # MetaSchedule raises TVMError and friends from C++
            raise ModelError(
                f"tuning for {target.name} failed: {str(exc).strip().splitlines()[-1]}"
            ) from None
        record_budget(tuning.database, before + tuning.trials)
        records = tuning.database / RECORDS
        digest = digest_file(records) if records.exists() else None
        return tuned, records_count(tuning.database), digest


def _task_count(mod: Any, tvm_target: Any) -> int:
    """How many tuning tasks MetaSchedule will see (the same lowering the tuning pipeline applies first)."""
    import tvm
    from tvm import relax
    from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

    with tvm_target:
        lowered = tvm.transform.Sequential(
            [
                relax.transform.DecomposeOpsForInference(),
                relax.transform.CanonicalizeBindings(),
                relax.pipeline.zero_pipeline(),
            ]
        )(mod)
    return max(1, len(extract_tasks(lowered, tvm_target)))


class _Scratch:
    """A temporary directory as a context manager returning a Path (tempfile's returns a str)."""

    def __enter__(self) -> Path:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="motherboard-tvm-")
        return Path(self._tmp.name)

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()
