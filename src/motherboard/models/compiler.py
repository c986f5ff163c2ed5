"""Compile an imported model for a target with each allowed backend, through the artifact store.

The story of one ``compile_for_target`` call:

1. for each allowed backend, work out the artifact's key (model digest × target × backend version × tuning
   records) and take the artifact from the store when it is there — never rebuild it;
2. otherwise ask the backend whether it can build the model for the target (before compiling anything);
3. if it can, compile in a scratch folder, write the manifest, and put both into the store atomically;
4. measure latency where the target runs on this machine;
5. let the adaptation policy (:mod:`motherboard.models.policy`) choose the artifact to serve, with a reason.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from motherboard.models.backends.base import Backend, Compiled, TuningOptions
from motherboard.models.digests import digest_file
from motherboard.models.errors import ModelError
from motherboard.models.importer import ImportedModel
from motherboard.models.manifest import Latency, Manifest
from motherboard.models.policy import Choice, choose
from motherboard.models.store import ArtifactKey, ArtifactStore, StoredArtifact
from motherboard.models.targets import Target
from motherboard.models.tuning import budget_spent, database_dir, records_digest

BACKEND_NAMES = ("tvm", "onnxruntime")


def backend(name: str) -> Backend:
    """The backend called ``name``; ``ModelError`` listing the known ones."""
    if name == "tvm":
        from motherboard.models.backends.tvm import TvmBackend

        return TvmBackend()
    if name == "onnxruntime":
        from motherboard.models.backends.onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend()
    raise ModelError(f"backend {name!r} is unknown; known backends: {', '.join(BACKEND_NAMES)}")


class Unsupported(ModelError):
    """A backend cannot build the model for the target, for these reasons."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class ArtifactResult:
    """One backend's artifact for one target: stored, and measured where it could be."""

    stored: StoredArtifact
    cached: bool
    latency: tuple[Latency, ...]

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest


@dataclass(frozen=True)
class TargetResult:
    """Every backend's outcome for one target and the policy's choice among them."""

    target: Target
    artifacts: tuple[ArtifactResult, ...]
    refused: dict[str, list[str]]
    """Backend → why it could not build the model for this target."""
    choice: Choice | None
    max_batch_size: int = 0
    """The largest batch the served artifact may be given: a property of this use, not of the artifact
    (the store's copy keeps whatever its first compile said; version folders get this value)."""


def _tuning(
    model: ImportedModel, target: Target, name: str, budget: int, tuning_root: Path | None
) -> TuningOptions | None:
    if name != "tvm" or tuning_root is None or target.tvm is None:
        return None
    database = database_dir(tuning_root, model.digest, target.name)
    done = budget_spent(database)
    if budget <= 0 and done == 0:
        return None
    return TuningOptions(trials=max(0, budget - done), database=database)


def compile_with(
    model: ImportedModel,
    target: Target,
    impl: Backend,
    store: ArtifactStore,
    *,
    name: str,
    version: int,
    max_batch_size: int,
    tuning: TuningOptions | None = None,
    measure_latency: bool = True,
) -> ArtifactResult:
    """Steps 2–4 for one backend: the stored artifact, or a new one compiled and stored."""
    from motherboard.models.measure import measure
    from motherboard.models.runner import load_runner

    key = ArtifactKey(
        model_digest=model.digest,
        target=target.name,
        backend=impl.name,
        backend_version=impl.version(),
        tuning_digest=records_digest(tuning.database) if tuning and tuning.trials == 0 else None,
        recipe=impl.recipe(target),
    )
    # With tuning still to run, the key (its records' digest) is only known afterwards: compile first.
    known_key = tuning is None or tuning.trials == 0
    stored = store.get(key) if known_key else None
    cached = stored is not None
    with tempfile.TemporaryDirectory(prefix="motherboard-compile-") as scratch:
        if stored is None:
            # Asked only on a miss: the operator check imports TVM's frontend (a second of start-up).
            reasons = impl.unsupported(model, target)
            if reasons:
                raise Unsupported(reasons)
            started = time.perf_counter()
            compiled = impl.compile(model, target, Path(scratch), tuning)
            seconds = time.perf_counter() - started
            key = replace(key, tuning_digest=compiled.tuning_digest)
            manifest = _manifest(model, target, impl, compiled, name, version, max_batch_size, seconds)
            stored = store.get(key) or store.put(key, compiled.artifact, manifest)
        latency = store.latency(key)
        if measure_latency and target.runs_here and not latency:
            folder = Path(scratch) / "measure"
            store.export(key, folder, name, version)
            runner = load_runner(folder, target.name)
            try:
                latency = measure(runner)
            except Exception as exc:  # a backend's runtime error: this artifact cannot serve here
                raise ModelError(f"{impl.name} artifact failed when run on {target.name}: {exc}") from None
            finally:
                runner.close()
            store.record_latency(key, latency)
    return ArtifactResult(stored=stored, cached=cached, latency=latency)


def _manifest(
    model: ImportedModel,
    target: Target,
    impl: Backend,
    compiled: Compiled,
    name: str,
    version: int,
    max_batch_size: int,
    seconds: float,
) -> Manifest:
    extra = dict(compiled.extra)
    if compiled.static_batch:
        extra["staticBatch"] = compiled.static_batch
    return Manifest(
        model=name,
        version=version,
        model_digest=model.digest,
        target=target.name,
        backend=impl.name,
        backend_version=impl.version(),
        artifact=compiled.artifact.name,
        artifact_digest=digest_file(compiled.artifact),
        artifact_bytes=compiled.artifact.stat().st_size,
        inputs=model.inputs,
        outputs=model.outputs,
        max_batch_size=max_batch_size,
        compile_seconds=seconds,
        tuning_trials=compiled.tuning_trials,
        tuning_digest=compiled.tuning_digest,
        extra=extra,
    )


def default_max_batch_size(model: ImportedModel, cap: int = 64) -> int:
    """Triton's convention: a batchable model (every input's first dimension dynamic) gets ``cap``, else 0."""
    inputs = model.inputs
    return cap if inputs and all(spec.shape and spec.shape[0] < 0 for spec in inputs) else 0


def compile_for_target(
    model: ImportedModel,
    target: Target,
    store: ArtifactStore,
    *,
    name: str,
    version: int = 1,
    backends: Sequence[str] = BACKEND_NAMES,
    trials: int = 0,
    tuning_root: Path | None = None,
    max_batch_size: int | None = None,
    measure_latency: bool = True,
) -> TargetResult:
    """Build (or find) every allowed backend's artifact for ``target`` and choose one to serve."""
    batch = default_max_batch_size(model) if max_batch_size is None else max_batch_size
    if batch > 0 and default_max_batch_size(model) == 0:
        fixed = ", ".join(f"{s.name}{list(s.shape)}" for s in model.inputs)
        raise ModelError(
            f"maxBatchSize {batch}: the model has no batch dimension to batch on ({fixed} fix the first "
            "dimension); use 0, or import it with the first dimension -1"
        )
    refused: dict[str, list[str]] = {}
    results: list[ArtifactResult] = []
    for backend_name in backends:
        impl = backend(backend_name)
        tuning = _tuning(model, target, backend_name, trials, tuning_root)
        try:
            results.append(
                compile_with(
                    model,
                    target,
                    impl,
                    store,
                    name=name,
                    version=version,
                    max_batch_size=batch,
                    tuning=tuning,
                    measure_latency=measure_latency,
                )
            )
        except Unsupported as exc:
            refused[backend_name] = exc.reasons
        except ModelError as exc:
            if len(backends) == 1:
                raise
            refused[backend_name] = [str(exc)]
    if not results:
        detail = "; ".join(f"{b}: {', '.join(r)}" for b, r in refused.items())
        raise ModelError(f"no backend can build this model for target {target.name}: {detail}")
    choice = choose(target, [(r.manifest, r.latency) for r in results])
    return TargetResult(
        target=target, artifacts=tuple(results), refused=refused, choice=choice, max_batch_size=batch
    )
