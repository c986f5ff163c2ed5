"""The :class:`Backend` protocol: what every compiler backend offers the model layer.

A backend answers three questions about an imported model and a target:

1. ``unsupported(model, target)``: why it cannot build this model for this target (the target is not
   one it knows, or the operators it has no conversion for) — before any compile is tried;
2. ``compile(model, target, workdir, tuning)``: build one artifact file in ``workdir``;
3. ``version()``: the backend's version, part of every artifact's key.

Loading an artifact for serving is not a backend method: the serving path goes through
:func:`motherboard.models.runner.load_runner`, which never imports a compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from motherboard.models.importer import ImportedModel
from motherboard.models.targets import Target


@dataclass(frozen=True)
class TuningOptions:
    """A tuning budget and where its records persist (one database per model digest × target)."""

    trials: int
    database: Path
    trials_per_task: int = 64


@dataclass(frozen=True)
class Compiled:
    """One artifact file a backend built, with what the manifest records about it."""

    artifact: Path
    tuning_trials: int = 0
    tuning_digest: str | None = None
    static_batch: int | None = None
    """Set when the artifact was built for a fixed batch size although the model's batch is dynamic."""
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    name: str

    def version(self) -> str: ...

    def recipe(self, target: Target) -> str:
        """A digest of everything besides the model, the backend version and tuning that the artifact's
        bytes depend on (target options, this project's own graph passes)."""
        ...

    def unsupported(self, model: ImportedModel, target: Target) -> list[str]:
        """Reasons this backend cannot build ``model`` for ``target``; empty when it can."""
        ...

    def compile(
        self, model: ImportedModel, target: Target, workdir: Path, tuning: TuningOptions | None = None
    ) -> Compiled: ...
