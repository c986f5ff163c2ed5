"""The ``Model`` status as the model layer computes it: digests, graph summaries, artifacts, conditions.

:func:`model_status` imports every version of a Model (from sources already made local), summarises it,
compiles the latest version for the requested targets through the store, and returns the
``ModelStatus`` the operator writes. Failures become conditions with reasons, not exceptions: one
unreadable version does not hide the others.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from motherboard.api.base import Condition, ConditionStatus
from motherboard.api.v1alpha1.model import (
    ArtifactStatus,
    DynamicDimension,
    GraphSummaryStatus,
    LatencyStatus,
    Model,
    ModelConditionType,
    ModelStatus,
    ModelVersionStatus,
)
from motherboard.models.analysis import summarize
from motherboard.models.compiler import TargetResult, compile_for_target
from motherboard.models.errors import ModelError
from motherboard.models.importer import ImportedModel, import_onnx
from motherboard.models.sources import local_path
from motherboard.models.store import ArtifactStore
from motherboard.models.targets import get_target
from motherboard.models.tensors import TensorSpec


def _condition(kind: ModelConditionType, ok: bool, reason: str, message: str) -> Condition:
    return Condition(
        type=kind.value,
        status=ConditionStatus.TRUE if ok else ConditionStatus.FALSE,
        reason=reason,
        message=message,
        last_transition_time=datetime.now(UTC).replace(microsecond=0),
    )


def graph_summary(model: ImportedModel) -> GraphSummaryStatus:
    s = summarize(model)
    return GraphSummaryStatus(
        opset=s.opset,
        operators=s.operators,
        parameters=s.parameters,
        parameter_bytes=s.parameter_bytes,
        flops_per_sample=s.flops_per_sample,
        assumed_dims=s.assumed_dims,
        dynamic_dims=[DynamicDimension(tensor=d.tensor, axis=d.axis, name=d.name) for d in s.dynamic_dims],
    )


def _artifacts(result: TargetResult) -> list[ArtifactStatus]:
    chosen = result.choice.manifest.backend if result.choice else None
    return [
        ArtifactStatus(
            target=a.manifest.target,
            backend=a.manifest.backend,
            backend_version=a.manifest.backend_version,
            digest=a.manifest.artifact_digest,
            size_bytes=a.manifest.artifact_bytes,
            compile_seconds=round(a.manifest.compile_seconds, 3),
            tuning_trials=a.manifest.tuning_trials,
            latency=[LatencyStatus(batch=x.batch, p50_us=x.p50_us, p99_us=x.p99_us) for x in a.latency],
            serving=a.manifest.backend == chosen,
            reason=result.choice.reason if result.choice and a.manifest.backend == chosen else "",
        )
        for a in result.artifacts
    ]


def model_status(
    model: Model, targets: Sequence[str], store: ArtifactStore, tuning_root: Path | None = None
) -> ModelStatus:
    """Import every version, compile the latest for ``targets`` (plus the spec's own), report it all."""
    spec = model.spec
    overrides_in = [TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in spec.inputs]
    overrides_out = [TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in spec.outputs]
    versions: list[ModelVersionStatus] = []
    imported: dict[int, ImportedModel] = {}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="motherboard-source-") as tmp:
        for v in sorted(spec.versions, key=lambda v: v.version):
            status = ModelVersionStatus(version=v.version)
            try:
                if v.source.uri is None:
                    raise ModelError("source: ConfigMap and volume sources are read by the operator")
                path = local_path(v.source.uri, Path(tmp) / f"v{v.version}.onnx")
                m = import_onnx(path, sha256=v.sha256, inputs=overrides_in, outputs=overrides_out)
                imported[v.version] = m
                status = ModelVersionStatus(
                    version=v.version, digest=m.digest, size_bytes=m.size_bytes, summary=graph_summary(m)
                )
            except ModelError as exc:
                problems.append(f"version {v.version}: {exc}")
            versions.append(status)
    latest = max(v.version for v in spec.versions)
    conditions = [
        _condition(
            ModelConditionType.IMPORTED, not problems, "SourceError" if problems else "Imported",
            "; ".join(problems) or f"{len(imported)} version(s) imported",
        )
    ]  # fmt: skip
    wanted = list(dict.fromkeys([*targets, *spec.compile.targets]))
    serving: list[str] = []
    failures: list[str] = []
    refusals: list[str] = []  # a backend that could not build for a target another backend serves
    if latest in imported:
        for name in wanted:
            try:
                result = compile_for_target(
                    imported[latest], get_target(name), store, name=model.metadata.name, version=latest,
                    backends=tuple(b.value for b in spec.compile.backends), trials=spec.compile.tuning_trials,
                    tuning_root=tuning_root, max_batch_size=spec.max_batch_size,
                )  # fmt: skip
            except ModelError as exc:
                failures.append(f"{name}: {exc}")
                continue
            next(v for v in versions if v.version == latest).artifacts.extend(_artifacts(result))
            serving.append(name)
            refusals += [f"{name}: {b} refused: {'; '.join(r)}" for b, r in result.refused.items()]
    compiled = bool(wanted) and not failures and latest in imported
    conditions.append(
        _condition(
            ModelConditionType.COMPILED,
            compiled,
            "Compiled" if compiled else "CompileFailed",
            "; ".join(failures + refusals)
            or (f"artifacts for {', '.join(serving)}" if wanted else "no targets asked"),
        )
    )
    ready = compiled and bool(serving)
    conditions.append(
        _condition(
            ModelConditionType.READY,
            ready,
            "Ready" if ready else "NotReady",
            f"version {latest} serves on {', '.join(serving)}"
            if ready
            else "the latest version has no artifact",
        )
    )
    return ModelStatus(
        versions=versions,
        latest_version=latest,
        targets=",".join(serving),
        conditions=conditions,
        observed_generation=model.metadata.generation,
    )
