"""Which Model version and which artifacts each replica of a model-serving task gets. Pure: no API calls.

The model controller (:mod:`.modelctl`) knows, per Model, which versions are imported and which artifacts
exist per target (a :class:`ModelView`); the targets a task may land on come from the nodes its placement
allows (:mod:`.targeting`). :func:`resolve` joins them with the task's ``model`` spec into a
:class:`TaskServing`: whether replicas may be created yet (every target has an artifact of the version),
the stable and canary versions, and the candidates per target that a replica's fetch step tries in order.

Versions: ``Latest`` serves the newest version that is servable on every target and was not rolled back
(``status.serving[].failedVersions``); while a newer version compiles, the older one keeps serving. The
planner (:mod:`.lifecycle`) replaces replicas one at a time when their slot's serving plan changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from motherboard.api.v1alpha1 import AIJob, TaskSpec, VersionPolicy


@dataclass(frozen=True)
class Candidate:
    """An artifact a replica may load for its target, in the order the adaptation policy prefers."""

    key: str
    """The store key id (the artifact endpoint serves ``/v1/artifacts/<key>``)."""
    digest: str
    backend: str

    def to_json(self) -> dict[str, str]:
        return {"key": self.key, "digest": self.digest, "backend": self.backend}


@dataclass(frozen=True)
class VersionView:
    """One version of a Model as the controller sees it."""

    version: int
    digest: str | None
    """``None``: not imported (``problem`` says why)."""
    problem: str = ""
    artifacts: Mapping[str, tuple[Candidate, ...]] = field(default_factory=dict)
    """Target → candidates (first: the one the policy serves)."""
    compiling: Mapping[str, str] = field(default_factory=dict)
    """Target → what is happening (a compile job running, or why it failed)."""
    failed: Mapping[str, str] = field(default_factory=dict)
    """Target → why its compile failed for good (until the Model changes or the job is deleted)."""


@dataclass(frozen=True)
class ModelView:
    """What the controller knows of one Model: enough for planning, nothing else."""

    name: str
    versions: Mapping[int, VersionView]

    def servable(self, version: int, targets: Sequence[str]) -> bool:
        view = self.versions.get(version)
        return view is not None and view.digest is not None and all(view.artifacts.get(t) for t in targets)


@dataclass(frozen=True)
class TaskServing:
    """The serving plan of one task."""

    task: str
    model: str
    ready: bool
    """Replicas may be created (the stable version has an artifact for every target)."""
    reason: str = ""
    """CamelCase, when not ready: ``ModelNotFound``, ``VersionNotFound``, ``NoTarget``, ``Compiling``,
    ``CompileFailed``, ``ModelNotImported``."""
    message: str = ""
    stable: int | None = None
    canary: int | None = None
    canary_replicas: int = 0
    replicas: int = 0
    """Replicas wanted now (the autoscaler's figure for an autoscaled task)."""
    targets: tuple[str, ...] = ()
    plans: Mapping[int, Mapping[str, tuple[Candidate, ...]]] = field(default_factory=dict)
    """Version → target → candidates, for the versions served."""
    endpoint: str = ""
    """The operator's artifact endpoint, as replicas reach it."""
    image: str = ""
    """The image of the fetch step and the runtime."""
    max_batch_size: int | None = None
    max_queue_delay_us: int = 0

    def version_for(self, index: int) -> int | None:
        """The version replica ``index`` serves: the highest-numbered replicas are the canary."""
        if self.canary is not None and index >= self.replicas - self.canary_replicas:
            return self.canary
        return self.stable

    def plan_for(self, index: int) -> dict[str, list[dict[str, str]]]:
        version = self.version_for(index)
        if version is None:
            return {}
        return {t: [c.to_json() for c in cands] for t, cands in sorted(self.plans.get(version, {}).items())}

    def plan_hash(self, index: int) -> str:
        """Changes exactly when replica ``index`` must be replaced: another version or other artifacts."""
        body = json.dumps({"v": self.version_for(index), "plan": self.plan_for(index)}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]


def _not_ready(task: TaskSpec, reason: str, message: str, targets: Sequence[str] = ()) -> TaskServing:
    assert task.model is not None
    return TaskServing(
        task.name, task.model.name, False, reason, message, replicas=task.replicas, targets=tuple(targets)
    )


def _waiting(view: ModelView, version: int, targets: Sequence[str]) -> tuple[str, str]:
    """Why ``version`` is not servable on ``targets`` yet: (reason, message)."""
    v = view.versions[version]
    if v.digest is None:
        return "ModelNotImported", f"model {view.name} version {version}: {v.problem}"
    failed = {t: why for t, why in v.failed.items() if t in targets}
    if failed:
        return "CompileFailed", "; ".join(
            f"model {view.name} version {version} for {t}: {why}" for t, why in sorted(failed.items())
        )
    missing = [t for t in targets if not v.artifacts.get(t)]
    doing = [f"{t} ({v.compiling[t]})" if t in v.compiling else t for t in missing]
    return "Compiling", f"compiling model {view.name} version {version} for {', '.join(doing)}"


def resolve(
    job: AIJob,
    task: TaskSpec,
    view: ModelView | None,
    targets: Sequence[str],
    target_problem: str = "",
    replicas: int | None = None,
) -> TaskServing:
    """The serving plan of ``task`` given what is known of its Model and the targets it may land on."""
    spec = task.model
    assert spec is not None, "resolve() is for model-serving tasks"
    if view is None:
        return _not_ready(
            task, "ModelNotFound",
            f"model {spec.name} does not exist in namespace {job.metadata.namespace}: create it "
            "(kind: Model) or fix tasks[].model.name",
        )  # fmt: skip
    if not targets:
        return _not_ready(
            task, "NoTarget",
            target_problem or "no node the job's placement allows can run a model: widen the placement",
        )  # fmt: skip
    known = sorted(view.versions)
    failed = set()
    for s in job.status.serving if job.status else []:
        if s.task == task.name:
            failed = set(s.failed_versions)
    if spec.version_policy is VersionPolicy.PINNED:
        assert spec.version is not None
        if spec.version not in view.versions:
            return _not_ready(
                task, "VersionNotFound",
                f"model {spec.name} has no version {spec.version} (it has {', '.join(map(str, known))}): "
                "set tasks[].model.version to one of them, or add the version to the Model",
                targets,
            )  # fmt: skip
        stable: int | None = spec.version if view.servable(spec.version, targets) else None
        newest = spec.version
    else:
        usable = [v for v in known if v not in failed and view.servable(v, targets)]
        stable = usable[-1] if usable else None
        candidates = [v for v in known if v not in failed]
        newest = candidates[-1] if candidates else known[-1]
    canary = spec.canary.version if spec.canary else None
    if canary is not None and canary not in view.versions:
        return _not_ready(
            task, "VersionNotFound",
            f"model {spec.name} has no version {canary} for the canary (it has "
            f"{', '.join(map(str, known))}): fix tasks[].model.canary.version",
            targets,
        )  # fmt: skip
    if canary is not None and (canary in failed or not view.servable(canary, targets)):
        canary = None  # the canary waits for its artifacts (or was rolled back); the stable one serves
    if stable is None:
        reason, message = _waiting(view, newest, targets)
        return _not_ready(task, reason, message, targets)
    wanted = [stable] if canary is None else [stable, canary]
    plans = {v: {t: view.versions[v].artifacts[t] for t in targets} for v in wanted}
    message = ""
    if spec.version_policy is VersionPolicy.LATEST and newest > stable and newest not in failed:
        message = _waiting(view, newest, targets)[1] + f"; version {stable} serves meanwhile"
    return TaskServing(
        task=task.name,
        model=spec.name,
        ready=True,
        message=message,
        stable=stable,
        canary=canary,
        canary_replicas=spec.canary.replicas if spec.canary and canary is not None else 0,
        replicas=replicas if replicas is not None else task.replicas,
        targets=tuple(targets),
        plans=plans,
        max_batch_size=spec.batching.max_batch_size,
        max_queue_delay_us=spec.batching.max_queue_delay_microseconds,
    )
