"""The model controller: imports Models, runs compile jobs per target, writes Model status, plans serving.

For each Model it (1) reads every version's source once (``file://``, ``http(s)://`` or a ConfigMap),
keeps the bytes for compile jobs and records digest and graph summary; (2) works out which (version,
target) pairs are needed: the targets of every node an Inference AIJob serving the Model may land on
(:mod:`.targeting`) for the versions those jobs serve, plus ``spec.compile.targets``; (3) for each pair
without an artifact in the store, creates a compile job — an AIJob of type Batch, so Motherboard's scheduler
places it on CPU capacity and charges it to the serving job's queue — and otherwise lists the artifacts in
the adaptation policy's order; (4) writes the Model's status (versions, artifacts, conditions) with Events
on changes; (5) hands the AIJob reconciler a :class:`~.serving.TaskServing` per model-serving task.

An artifact already in the store is never rebuilt (the store is content-addressed and the controller
looks before it compiles). A failed compile keeps its reason (from the job's report, else the AIJob's own
status) until the compile AIJob is deleted or expires (``ttlSecondsAfterFinished``), then it is retried.

The autoscaler lives here too: it reads each replica's in-flight requests from the runtime's own metrics
and sets the task's replica count between ``minReplicas`` and ``maxReplicas``; the scheduler admits every
replica above what runs against the queue's quota like any other pod.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import ValidationError

from motherboard.api import constants as c
from motherboard.api.base import Condition, ConditionStatus
from motherboard.api.manifests import explain
from motherboard.api.v1alpha1 import AIJob, JobPhase, JobType, Model, VersionPolicy
from motherboard.api.v1alpha1.model import (
    ArtifactStatus,
    LatencyStatus,
    ModelConditionType,
    ModelStatus,
    ModelVersionStatus,
)
from motherboard.kube.client import MERGE_PATCH, ApiError, Kube, ignore, path_for
from motherboard.models.errors import ModelError
from motherboard.models.policy import choose
from motherboard.models.targets import get_target
from motherboard.models.tensors import TensorSpec
from motherboard.operator.artifacts import ArtifactService, Entry
from motherboard.operator.names import fit
from motherboard.operator.render import RUNTIME_METRICS_PORT
from motherboard.operator.serving import Candidate, ModelView, TaskServing, VersionView, resolve
from motherboard.operator.store import Store
from motherboard.operator.targeting import task_targets

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Key = tuple[str, str]
COMPILE_TTL_SECONDS = 600
"""A finished compile AIJob is deleted after this long; a failed compile is then retried."""
COALESCE_SECONDS = 0.5
AUTOSCALE_PERIOD_SECONDS = 2.0
FALLBACK_LOG_TRIES = 3
"""Reads of a replica's log before giving up (nodes without a kubelet serving logs, e.g. kwok's)."""
FALLBACK_LOG_BYTES = 65536
"""The fetch step's line comes first: the head of the log is enough."""


@dataclass(frozen=True)
class ServingOptions:
    """How the operator renders compile jobs and replicas."""

    endpoint: str
    """The artifact endpoint's URL as pods reach it."""
    image: str
    """The project's image (compiler, fetch step and runtime)."""
    compile_pod: Mapping[str, Any] = field(default_factory=dict)
    """Merged into every compile pod's spec (``nodeSelector``, ``tolerations``, ...)."""
    compile_resources: Mapping[str, Any] = field(
        default_factory=lambda: {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "4Gi"}}
    )
    measure: bool = True


@dataclass(frozen=True)
class Imported:
    """One version's import, cached by what determines it."""

    digest: str | None
    source_sha256: str | None = None
    size_bytes: int | None = None
    summary: Any = None
    problem: str = ""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def compile_job_name(model: str, version: int, target: str, digest: str) -> str:
    """A valid, stable AIJob name per (model, version, target, digest)."""
    return fit(f"compile-{model}-v{version}-{target.replace('_', '-')}-{digest.removeprefix('sha256:')[:8]}")


class ModelController:
    """Keeps every Model's artifacts and status current and answers the reconciler's serving questions."""

    def __init__(
        self,
        kube: Kube,
        store: Store,
        artifacts: ArtifactService,
        options: ServingOptions,
        jobs_changed: Callable[[Key], None],
    ) -> None:
        self._kube, self._store, self._artifacts, self._options = kube, store, artifacts, options
        self._jobs_changed = jobs_changed
        self.views: dict[Key, ModelView] = {}
        self._imports: dict[tuple[str, str, int, str], Imported] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._again: set[Key] = set()
        self._digests: dict[str, set[Key]] = {}
        self.desired: dict[tuple[str, str, str], int] = {}
        """(namespace, job, task) → replicas the autoscaler wants."""
        self._low_since: dict[tuple[str, str, str], float] = {}
        self._http: aiohttp.ClientSession | None = None
        self._fallback_tries: dict[tuple[str, str, str], int] = {}
        """(namespace, pod, created) of serving replicas → failed reads of their log (-1: read)."""
        artifacts.listeners.append(self._artifact_arrived)

    # --- triggers -------------------------------------------------------------------------------------------
    def trigger(self, key: Key) -> None:
        if key in self._running:
            self._again.add(key)
            return
        self._running[key] = asyncio.get_running_loop().create_task(self._loop(key), name=f"model {key}")

    def job_changed(self, key: Key) -> None:
        """An AIJob changed: its models (serving or compiling) may need another pass."""
        body = self._store.jobs.get(key)
        if body is None:
            for model_key in list(self.views):
                if model_key[0] == key[0]:
                    self.trigger(model_key)
            return
        labels = body["metadata"].get("labels") or {}
        if c.LABEL_COMPILE_TARGET in labels and c.LABEL_MODEL in labels:
            self.trigger((key[0], labels[c.LABEL_MODEL]))
            return
        for task in (body.get("spec") or {}).get("tasks") or []:
            name = (task.get("model") or {}).get("name") if isinstance(task, dict) else None
            if isinstance(name, str):
                self.trigger((key[0], name))

    def _artifact_arrived(self, digest: str, _target: str) -> None:
        for key in self._digests.get(digest, set()):
            self.trigger(key)

    async def _loop(self, key: Key) -> None:
        try:
            while True:
                self._again.discard(key)
                try:
                    await self.reconcile(key)
                except (ApiError, OSError, TimeoutError) as exc:
                    log.warning("model %s/%s: %s; retrying", *key, exc)
                    asyncio.get_running_loop().call_later(3.0, self.trigger, key)
                if key not in self._again:
                    return
                await asyncio.sleep(COALESCE_SECONDS)
        finally:
            self._running.pop(key, None)

    # --- serving plans (what the AIJob reconciler asks) ------------------------------------------------------
    def serving_for(self, job: AIJob) -> dict[str, TaskServing]:
        namespace = job.metadata.namespace or ""
        plans: dict[str, TaskServing] = {}
        for task in job.spec.tasks:
            if task.model is None:
                continue
            key = (namespace, task.model.name)
            targets, problem = task_targets(job, task, self._store.nodes, self._store.pools)
            view = self.views.get(key)
            desired = self.desired.get((namespace, job.metadata.name, task.name))
            if view is None and key in self._store.models:
                plans[task.name] = TaskServing(
                    task.name, task.model.name, False, "Importing",
                    f"reading model {task.model.name}'s versions", replicas=task.replicas,
                )  # fmt: skip
                continue
            plan = resolve(job, task, view, targets, problem, desired)
            plans[task.name] = _with_render(plan, self._options)
        return plans

    # --- one Model ----------------------------------------------------------------------------------------------
    async def reconcile(self, key: Key) -> None:
        body = self._store.models.get(key)
        if body is None:
            if self.views.pop(key, None) is not None:
                self._notify_jobs(key)
            return
        try:
            model = Model.model_validate(body)
        except ValidationError as exc:
            log.warning("model %s/%s is invalid: %s", *key, explain(exc))
            return
        imports = await self._import_all(key, model, body)
        digests = {v: imp.digest for v, imp in imports.items() if imp.digest}
        for digest in digests.values():
            self._digests.setdefault(digest, set()).add(key)
        needed = self._needed(key, model, imports)
        compile_jobs = self._compile_jobs(key)
        versions: dict[int, VersionView] = {}
        for number in sorted(imports):
            imp = imports[number]
            if imp.digest is None:
                versions[number] = VersionView(number, None, imp.problem)
                continue
            artifacts, compiling, failed = {}, {}, {}
            for target in sorted(needed.get(number, set()) | self._targets_with_entries(imp.digest)):
                entries = self._artifacts.entries(imp.digest, target)
                if entries:
                    artifacts[target] = _ordered(target, entries, self._artifacts)
                    continue
                if target not in needed.get(number, set()):
                    continue
                state = await self._ensure_compile(key, model, number, imp, target, compile_jobs)
                if state.startswith("failed: "):
                    failed[target] = state.removeprefix("failed: ")
                else:
                    compiling[target] = state
            versions[number] = VersionView(number, imp.digest, "", artifacts, compiling, failed)
        view = ModelView(key[1], versions)
        changed = self.views.get(key) != view
        self.views[key] = view
        await self._write_status(key, model, body, imports, view, needed)
        if changed:
            self._notify_jobs(key)

    def _notify_jobs(self, key: Key) -> None:
        namespace, name = key
        for job_key, body in list(self._store.jobs.items()):
            if job_key[0] != namespace:
                continue
            tasks = (body.get("spec") or {}).get("tasks") or []
            if any(isinstance(t, dict) and (t.get("model") or {}).get("name") == name for t in tasks):
                self._jobs_changed(job_key)

    def _targets_with_entries(self, digest: str) -> set[str]:
        return self._artifacts.targets_of(digest)

    def _serving_jobs(self, key: Key) -> list[AIJob]:
        namespace, name = key
        jobs = []
        for job_key, body in list(self._store.jobs.items()):
            if job_key[0] != namespace:
                continue
            tasks = (body.get("spec") or {}).get("tasks") or []
            if not any(isinstance(t, dict) and (t.get("model") or {}).get("name") == name for t in tasks):
                continue
            try:
                job = AIJob.model_validate(body)
            except ValidationError:
                continue
            if job.status is not None and job.status.phase in (JobPhase.SUCCEEDED, JobPhase.FAILED):
                continue
            if job.spec.type is JobType.INFERENCE:
                jobs.append(job)
        return jobs

    def _needed(self, key: Key, model: Model, imports: Mapping[int, Imported]) -> dict[int, set[str]]:
        """(version → targets) that must have artifacts."""
        usable = sorted(v for v, imp in imports.items() if imp.digest)
        needed: dict[int, set[str]] = {}
        if usable and model.spec.compile.targets:
            needed.setdefault(usable[-1], set()).update(model.spec.compile.targets)
        for job in self._serving_jobs(key):
            failed: set[int] = set()
            for s in job.status.serving if job.status else []:
                failed |= set(s.failed_versions)
            for task in job.spec.tasks:
                if task.model is None or task.model.name != key[1]:
                    continue
                targets, _ = task_targets(job, task, self._store.nodes, self._store.pools)
                versions: list[int] = []
                pinned = task.model.version
                if (
                    task.model.version_policy is VersionPolicy.PINNED
                    and pinned is not None
                    and pinned in imports
                ):
                    versions.append(pinned)
                elif task.model.version_policy is VersionPolicy.LATEST:
                    # The newest version not rolled back, and the older ones down to one already servable
                    # (it serves while the newer compiles).
                    for number in reversed([v for v in usable if v not in failed]):
                        versions.append(number)
                        if self._servable(imports[number], targets):
                            break
                if task.model.canary and task.model.canary.version in imports:
                    versions.append(task.model.canary.version)
                for number in versions:
                    if imports.get(number) and imports[number].digest:
                        needed.setdefault(number, set()).update(targets)
        return needed

    def _servable(self, imp: Imported, targets: tuple[str, ...]) -> bool:
        return imp.digest is not None and all(self._artifacts.entries(imp.digest, t) for t in targets)

    # --- import -----------------------------------------------------------------------------------------------
    async def _import_all(self, key: Key, model: Model, body: Obj) -> dict[int, Imported]:
        overrides = json.dumps(
            [model.spec.model_dump(mode="json", include={"inputs", "outputs"})], sort_keys=True
        )
        result: dict[int, Imported] = {}
        for version in model.spec.versions:
            source = json.dumps(version.model_dump(mode="json", by_alias=True), sort_keys=True)
            cache_key = (key[0], key[1], version.version, source + overrides)
            cached = self._imports.get(cache_key)
            if cached is None or cached.digest is None:  # a source that failed may be readable now
                cached = await self._import_one(key, model, version, body)
                self._imports[cache_key] = cached
            result[version.version] = cached
        return result

    async def _import_one(self, key: Key, model: Model, version: Any, body: Obj) -> Imported:
        from motherboard.models.importer import import_onnx
        from motherboard.models.sources import local_path
        from motherboard.models.status import graph_summary

        ins = [TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in model.spec.inputs]
        outs = [TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in model.spec.outputs]
        try:
            data: bytes
            src = version.source
            if src.config_map is not None:
                cm = await self._kube.get(path_for("", "v1", "configmaps", key[0], src.config_map.name))
                if src.config_map.key in (cm.get("binaryData") or {}):
                    data = base64.b64decode(cm["binaryData"][src.config_map.key])
                elif src.config_map.key in (cm.get("data") or {}):
                    data = cm["data"][src.config_map.key].encode()
                else:
                    raise ModelError(
                        f"source.configMap: ConfigMap {src.config_map.name} has no key {src.config_map.key}"
                    )
            elif src.persistent_volume_claim is not None:
                raise ModelError(
                    "source.persistentVolumeClaim: not read by this operator yet; use a uri or a configMap"
                )
            else:
                uri = src.uri
                assert uri is not None

                def read() -> bytes:
                    with tempfile.TemporaryDirectory(prefix="motherboard-source-") as tmp:
                        return local_path(uri, Path(tmp) / "source.onnx").read_bytes()

                data = await asyncio.to_thread(read)
            sha = self._artifacts.keep_source(data)

            def load() -> Imported:
                path = self._artifacts.sources / f"{sha}.onnx"
                m = import_onnx(path, sha256=version.sha256, inputs=ins, outputs=outs)
                return Imported(m.digest, sha, m.size_bytes, graph_summary(m))

            return await asyncio.to_thread(load)
        except ApiError as exc:
            return Imported(None, problem=f"source: cannot read the ConfigMap: {exc}")
        except ModelError as exc:
            return Imported(None, problem=f"source: {exc}" if "source" not in str(exc)[:12] else str(exc))

    # --- compile jobs -----------------------------------------------------------------------------------------
    def _compile_jobs(self, key: Key) -> dict[str, Obj]:
        return {
            body["metadata"]["name"]: body
            for (ns, _), body in list(self._store.jobs.items())
            if ns == key[0] and (body["metadata"].get("labels") or {}).get(c.LABEL_MODEL) == key[1]
            and c.LABEL_COMPILE_TARGET in (body["metadata"].get("labels") or {})
        }  # fmt: skip

    async def _ensure_compile(
        self, key: Key, model: Model, version: int, imp: Imported, target: str, jobs: Mapping[str, Obj]
    ) -> str:
        """What is happening to the artifact: ``compile job X Queued`` or ``failed: why``."""
        assert imp.digest is not None and imp.source_sha256 is not None
        name = compile_job_name(key[1], version, target, imp.digest)
        existing = jobs.get(name)
        reported = self._artifacts.failure(imp.digest, target)
        if existing is not None:
            status = existing.get("status") or {}
            phase = status.get("phase", "Pending")
            if phase == JobPhase.FAILED.value:
                return (
                    "failed: "
                    + (reported or status.get("message") or "the compile job failed")
                    + (f" (delete AIJob {name} to retry)")
                )
            if phase == JobPhase.SUCCEEDED.value:
                return (
                    f"failed: compile job {name} succeeded but uploaded no artifact for {target} (did it run on "
                    f"a simulated node? compile pods need a real node: see --compile-pod-overrides)"
                )
            return f"compile job {name} {phase}"
        try:
            get_target(target)
        except ModelError as exc:
            return f"failed: {exc}"
        self._artifacts.clear_failure(imp.digest, target)
        await self._create_compile_job(key, model, version, imp, target, name)
        return f"compile job {name} created"

    async def _create_compile_job(
        self, key: Key, model: Model, version: int, imp: Imported, target: str, name: str
    ) -> None:
        from motherboard.models.compilejob import ENV, CompileRequest

        assert imp.digest is not None and imp.source_sha256 is not None
        serving = self._serving_jobs(key)
        queue = next((j.spec.queue for j in serving if j.spec.queue), None)
        sites = next(
            (list(j.spec.placement.required_sites) for j in serving if j.spec.placement.required_sites), []
        )
        request = CompileRequest(
            model=key[1], version=version,
            source=f"{self._options.endpoint}/v1/sources/{imp.source_sha256}",
            source_sha256=imp.source_sha256, digest=imp.digest, target=target,
            endpoint=self._options.endpoint, token=self._artifacts.token(imp.digest, target),
            inputs=tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in model.spec.inputs),
            outputs=tuple(TensorSpec(t.name, t.datatype, tuple(t.shape)) for t in model.spec.outputs),
            max_batch_size=model.spec.max_batch_size,
            backends=tuple(b.value for b in model.spec.compile.backends),
            trials=model.spec.compile.tuning_trials, measure=self._options.measure,
        )  # fmt: skip
        pod_spec: Obj = {
            "restartPolicy": "Never",
            # The compiler's image is built for x86-64 and cross-compiles for the other architectures.
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "containers": [
                {
                    "name": "compile",
                    "image": self._options.image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["python3", "-m", "motherboard.cli", "model", "compile-job"],
                    "env": [{"name": ENV, "value": request.to_json()}],
                    "resources": dict(self._options.compile_resources),
                    "terminationMessagePolicy": "FallbackToLogsOnError",
                }
            ],
        }
        for field_name, value in self._options.compile_pod.items():
            if isinstance(value, dict) and isinstance(pod_spec.get(field_name), dict):
                pod_spec[field_name] = {**pod_spec[field_name], **value}
            else:
                pod_spec[field_name] = value
        labels = {
            c.LABEL_MODEL: key[1],
            c.LABEL_MODEL_VERSION: str(version),
            c.LABEL_COMPILE_TARGET: target.replace("_", "-"),
        }
        body: Obj = {
            "apiVersion": c.API_VERSION,
            "kind": "AIJob",
            "metadata": {
                "name": name,
                "namespace": key[0],
                "labels": labels,
                "ownerReferences": [
                    {
                        "apiVersion": c.API_VERSION,
                        "kind": "Model",
                        "name": key[1],
                        "uid": self._store.models[key]["metadata"]["uid"],
                    }
                ],
            },
            "spec": {
                "type": "Batch",
                "runPolicy": {"backoffLimit": 1, "ttlSecondsAfterFinished": COMPILE_TTL_SECONDS},
                "placement": {"requiredSites": sites} if sites else {},
                "tasks": [
                    {
                        "name": "compile",
                        "replicas": 1,
                        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
                    }
                ],
            },
        }
        if queue:
            body["spec"]["queue"] = queue
        created = await ignore(409, self._kube.create(path_for(c.GROUP, c.VERSION, "aijobs", key[0]), body))
        if created is not None:
            log.info(
                "compile job %s/%s created for %s version %d on %s", key[0], name, key[1], version, target
            )
            await self._event(key, "Normal", "CompileStarted",
                              f"compiling version {version} for {target} in AIJob {name}")  # fmt: skip

    # --- status -----------------------------------------------------------------------------------------------
    async def _write_status(
        self,
        key: Key,
        model: Model,
        body: Obj,
        imports: Mapping[int, Imported],
        view: ModelView,
        needed: Mapping[int, set[str]],
    ) -> None:
        old = ModelStatus.model_validate(body.get("status") or {})
        versions: list[ModelVersionStatus] = []
        for number in sorted(imports):
            imp = imports[number]
            vs = ModelVersionStatus(
                version=number, digest=imp.digest, size_bytes=imp.size_bytes, summary=imp.summary
            )
            v = view.versions[number]
            for target, cands in sorted(v.artifacts.items()):
                for rank, cand in enumerate(cands):
                    entry = next(
                        e for e in self._artifacts.entries(imp.digest or "", target) if e.key.id == cand.key
                    )
                    m = entry.manifest
                    vs.artifacts.append(
                        ArtifactStatus(
                            target=target, backend=m.backend, backend_version=m.backend_version,
                            digest=m.artifact_digest, size_bytes=m.artifact_bytes,
                            compile_seconds=round(m.compile_seconds, 3), tuning_trials=m.tuning_trials,
                            latency=[LatencyStatus(batch=x.batch, p50_us=x.p50_us, p99_us=x.p99_us)
                                     for x in self._artifacts.store.latency(entry.key)],
                            serving=rank == 0,
                            reason=(_reason(target, cands, self._artifacts) if rank == 0 else "fallback"),
                        )
                    )  # fmt: skip
            versions.append(vs)
        problems = [f"version {n}: {imp.problem}" for n, imp in sorted(imports.items()) if imp.digest is None]
        failures = [
            f"version {n} for {t}: {why}"
            for n, v in sorted(view.versions.items())
            for t, why in v.failed.items()
        ]
        compiling = [
            f"version {n} for {t} ({s})"
            for n, v in sorted(view.versions.items())
            for t, s in v.compiling.items()
        ]
        wanted = sum(len(ts) for ts in needed.values())
        latest = max(v.version for v in model.spec.versions)
        lat_view = view.versions.get(latest)
        latest_targets = sorted(lat_view.artifacts) if lat_view else []
        ready_targets = needed.get(latest, set())
        ready = bool(
            lat_view
            and lat_view.digest
            and ready_targets
            and all(lat_view.artifacts.get(t) for t in ready_targets)
        )
        conditions = [
            _condition(old, ModelConditionType.IMPORTED, not problems, "SourceError" if problems else "Imported",
                       "; ".join(problems) or f"{len(imports)} version(s) imported"),
            _condition(old, ModelConditionType.COMPILED, not failures and not compiling,
                       "CompileFailed" if failures else ("Compiling" if compiling else "Compiled"),
                       "; ".join(failures + compiling) or (f"{wanted} artifact(s) for the serving jobs' targets"
                                                            if wanted else "no serving job or target needs an artifact yet")),
            _condition(old, ModelConditionType.READY, ready, "Ready" if ready else "NotReady",
                       f"version {latest} serves on {', '.join(sorted(ready_targets))}" if ready
                       else f"version {latest} has no artifact for every target it is needed on yet"),
        ]  # fmt: skip
        status = ModelStatus(
            versions=versions,
            latest_version=latest,
            targets=",".join(latest_targets),
            conditions=conditions,
            observed_generation=model.metadata.generation,
        )
        wire = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if wire == body.get("status"):
            return
        await self._kube.patch(
            path_for(c.GROUP, c.VERSION, "models", *key) + "/status", {"status": wire}, MERGE_PATCH
        )
        for cond in conditions:
            before = next((o for o in old.conditions if o.type == cond.type), None)
            if before is None or before.reason != cond.reason:
                kind = (
                    "Normal"
                    if cond.status == ConditionStatus.TRUE or cond.reason == "Compiling"
                    else "Warning"
                )
                await self._event(key, kind, cond.reason or cond.type, cond.message or "")
        lost = _lost_artifacts(old, status)
        for what in lost:
            await self._event(
                key, "Warning", "ArtifactMissing", f"{what} is gone from the store; compiling it again"
            )

    async def _event(self, key: Key, kind: str, reason: str, message: str, involved: str = "Model") -> None:
        """An Event on the Model ``key`` (or, ``involved="AIJob"``, on the AIJob ``key``)."""
        body = (self._store.jobs if involved == "AIJob" else self._store.models).get(key)
        if body is None:
            return
        meta = body["metadata"]
        now = _now().isoformat().replace("+00:00", "Z")
        await ignore(
            404,
            self._kube.create(
                path_for("", "v1", "events", key[0]),
                {
                    "metadata": {"generateName": f"{key[1]}.", "namespace": key[0]},
                    "involvedObject": {
                        "apiVersion": c.API_VERSION,
                        "kind": involved,
                        "name": key[1],
                        "namespace": key[0],
                        "uid": meta.get("uid"),
                    },
                    "type": kind,
                    "reason": reason,
                    "message": message[:1024],
                    "source": {"component": "motherboard-operator"},
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
            ),
        )

    # --- autoscaling ------------------------------------------------------------------------------------------
    async def autoscale_forever(self) -> None:
        """Every few seconds: read in-flight requests of each autoscaled task's ready replicas, set replicas."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            self._http = http
            while True:
                await asyncio.sleep(AUTOSCALE_PERIOD_SECONDS)
                try:
                    await self._autoscale_once(http)
                except Exception:  # one bad pass must not stop autoscaling for good
                    log.exception("autoscaler pass failed")
                try:
                    await self.report_fallbacks()
                except Exception:
                    log.exception("fallback report pass failed")

    async def _autoscale_once(self, http: aiohttp.ClientSession) -> None:
        for key, body in list(self._store.jobs.items()):
            tasks = (body.get("spec") or {}).get("tasks") or []
            if not any(isinstance(t, dict) and t.get("autoscaling") for t in tasks):
                continue
            try:
                job = AIJob.model_validate(body)
            except ValidationError:
                continue
            for task in job.spec.tasks:
                if task.autoscaling is None:
                    continue
                ips = [p.ip for p in self._store.pods_of(key) if p.task == task.name and p.ready and p.ip]
                loads = await asyncio.gather(*(_in_flight(http, ip) for ip in ips))
                total = sum(x for x in loads if x is not None)
                slot = (key[0], key[1], task.name)
                current = self.desired.get(slot, task.replicas)
                want = decide(current, total, task.autoscaling.min_replicas, task.autoscaling.max_replicas,
                              task.autoscaling.target_in_flight)  # fmt: skip
                now = time.monotonic()
                if want < current:
                    since = self._low_since.setdefault(slot, now)
                    if now - since < task.autoscaling.scale_down_delay_seconds:
                        continue
                self._low_since.pop(slot, None)
                if want != current:
                    log.info("autoscaler: %s/%s task %s: %d in flight → %d replicas (was %d)",
                             key[0], key[1], task.name, total, want, current)  # fmt: skip
                    self.desired[slot] = want
                    self._jobs_changed(key)

    async def report_fallbacks(self) -> None:
        """An Event on the AIJob for each new replica that serves a fallback artifact.

        The replica's fetch step (it has no API access) prints what it loaded, and why the preferred
        candidate was not used, as its log's ``fetched {...}`` line; each ready replica's log is read once
        (a few tries where no kubelet serves logs, as on kwok nodes)."""
        live: set[tuple[str, str, str]] = set()
        for key, body in list(self._store.jobs.items()):
            tasks = (body.get("spec") or {}).get("tasks") or []
            serving = {t.get("name") for t in tasks if isinstance(t, dict) and t.get("model")}
            if not serving:
                continue
            for pod in self._store.pods_of(key):
                if pod.task not in serving or not pod.ready or pod.deleting or pod.created is None:
                    continue
                replica = (key[0], pod.name, pod.created.isoformat())
                live.add(replica)
                tries = self._fallback_tries.get(replica, 0)
                if tries < 0 or tries >= FALLBACK_LOG_TRIES:
                    continue  # read already (-1), or no log to be had
                try:
                    text = await self._kube.text(
                        path_for("", "v1", "pods", key[0], pod.name) + "/log",
                        container="runtime",
                        limitBytes=str(FALLBACK_LOG_BYTES),
                    )
                except (ApiError, OSError, TimeoutError):
                    self._fallback_tries[replica] = tries + 1
                    continue
                self._fallback_tries[replica] = -1
                fetched = fetched_report(text)
                if fetched is not None and fetched.get("fallback"):
                    message = (
                        f"replica {pod.name} serves the {fetched.get('backend')} artifact "
                        f"{str(fetched.get('digest', ''))[:19]} for {fetched.get('target')}, not the preferred "
                        f"one: {fetched['fallback']}"
                    )
                    await self._event(key, "Warning", "ServingFallback", message, involved="AIJob")
        self._fallback_tries = {r: n for r, n in self._fallback_tries.items() if r in live}

    def scrape_targets(self) -> list[dict[str, object]]:
        """Every serving replica with an IP, as Prometheus HTTP service discovery lists targets: its runtime's
        metrics port, and the labels a PodMonitor would give it (namespace, pod, node, aijob)."""
        targets: list[dict[str, object]] = []
        for key, body in sorted(self._store.jobs.items()):
            tasks = (body.get("spec") or {}).get("tasks") or []
            serving = {t.get("name") for t in tasks if isinstance(t, dict) and t.get("model")}
            if not serving:
                continue
            for pod in self._store.pods_of(key):
                if pod.task in serving and pod.ip and not pod.deleting and not pod.finished:
                    labels = {"namespace": key[0], "pod": pod.name, "aijob": key[1], "node": pod.node or ""}
                    targets.append({"targets": [f"{pod.ip}:{RUNTIME_METRICS_PORT}"], "labels": labels})
        return targets


def fetched_report(log_text: str) -> dict[str, Any] | None:
    """The fetch step's report (``fetched {...}``) in a replica's log, if there is one."""
    for line in log_text.splitlines():
        if line.startswith("fetched "):
            try:
                report = json.loads(line[len("fetched ") :])
            except ValueError:
                return None
            return report if isinstance(report, dict) else None
    return None


def decide(current: int, in_flight: float, low: int, high: int, target: float) -> int:
    """Replicas for ``in_flight`` requests at ``target`` per replica, within bounds; one step down at a time
    (scale-down drains one replica per delay), straight up to what the load needs."""
    need = max(low, min(high, math.ceil(in_flight / target) if in_flight > 0 else low))
    if need < current:
        return max(need, current - 1)
    return need


async def _in_flight(http: aiohttp.ClientSession, ip: str) -> float | None:
    try:
        async with http.get(f"http://{ip}:{RUNTIME_METRICS_PORT}/metrics") as response:
            text = await response.text()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    for line in text.splitlines():
        if line.startswith("motherboard_runtime_in_flight_requests "):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def _with_render(plan: TaskServing, options: ServingOptions) -> TaskServing:
    from dataclasses import replace

    return replace(plan, endpoint=options.endpoint, image=options.image)


def _ordered(target: str, entries: list[Entry], artifacts: ArtifactService) -> tuple[Candidate, ...]:
    """The entries best first, as the adaptation policy ranks them (measured fastest, else ONNX Runtime)."""
    choice = choose(get_target(target), [(e.manifest, artifacts.store.latency(e.key)) for e in entries])
    first = [e for e in entries if choice is not None and e.manifest is choice.manifest]
    rest = sorted((e for e in entries if e not in first), key=lambda e: e.manifest.backend)
    return tuple(Candidate(e.key.id, e.manifest.artifact_digest, e.manifest.backend) for e in first + rest)


def _reason(target: str, cands: tuple[Candidate, ...], artifacts: ArtifactService) -> str:
    entries = [e for k in cands if (e := artifacts.entry(k.key)) is not None]
    choice = choose(get_target(target), [(e.manifest, artifacts.store.latency(e.key)) for e in entries])
    return choice.reason[:1024] if choice else ""


def _condition(old: ModelStatus, kind: ModelConditionType, ok: bool, reason: str, message: str) -> Condition:
    value = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    before = next((o for o in old.conditions if o.type == kind.value), None)
    when = before.last_transition_time if before is not None and before.status == value else _now()
    return Condition(
        type=kind.value, status=value, reason=reason, message=message[:2048], last_transition_time=when
    )


def _lost_artifacts(old: ModelStatus, new: ModelStatus) -> list[str]:
    have = {(v.version, a.target, a.digest) for v in new.versions for a in v.artifacts}
    return [
        f"version {v.version}'s {a.backend} artifact for {a.target} ({a.digest[:19]})"
        for v in old.versions
        for a in v.artifacts
        if (v.version, a.target, a.digest) not in have
    ]
