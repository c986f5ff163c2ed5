"""The manifest beside an artifact in a model-repository version folder: what the server needs to load it.

``motherboard model compile FILE --target T --output DIR`` writes ``DIR/<artifact file>`` and
``DIR/manifest.json``; the runtime reads the manifest, verifies the artifact's digest, refuses an artifact
built for another target, and loads it through the named backend's runtime library. The format is JSON with
camelCase keys like the API objects, versioned by ``schema``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motherboard.models.errors import ModelError
from motherboard.models.tensors import TensorSpec

MANIFEST_FILE = "manifest.json"
SCHEMA = "motherboard.io/artifact-manifest/v1"


@dataclass(frozen=True)
class Latency:
    """Measured latency of one artifact at one batch size, in microseconds."""

    batch: int
    p50_us: float
    p99_us: float

    def to_json(self) -> dict[str, Any]:
        return {"batch": self.batch, "p50Us": round(self.p50_us, 1), "p99Us": round(self.p99_us, 1)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Latency:
        return cls(batch=int(data["batch"]), p50_us=float(data["p50Us"]), p99_us=float(data["p99Us"]))


@dataclass(frozen=True)
class Manifest:
    """One compiled artifact of one model version for one target."""

    model: str
    version: int
    model_digest: str
    target: str
    backend: str
    backend_version: str
    artifact: str
    """The artifact's file name inside the version folder."""
    artifact_digest: str
    artifact_bytes: int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    max_batch_size: int = 0
    """0: the model takes no batch dimension the server may batch on (Triton's convention)."""
    compile_seconds: float = 0.0
    tuning_trials: int = 0
    tuning_digest: str | None = None
    latency: tuple[Latency, ...] = ()
    reason: str = ""
    """Why the adaptation policy chose this artifact for the target (empty when there was no choice)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": SCHEMA,
            "model": self.model,
            "version": self.version,
            "modelDigest": self.model_digest,
            "target": self.target,
            "backend": self.backend,
            "backendVersion": self.backend_version,
            "artifact": self.artifact,
            "artifactDigest": self.artifact_digest,
            "artifactBytes": self.artifact_bytes,
            "inputs": [t.to_json() for t in self.inputs],
            "outputs": [t.to_json() for t in self.outputs],
            "maxBatchSize": self.max_batch_size,
            "compileSeconds": round(self.compile_seconds, 3),
            "tuningTrials": self.tuning_trials,
            "latency": [lat.to_json() for lat in self.latency],
            "reason": self.reason,
        }
        if self.tuning_digest:
            out["tuningDigest"] = self.tuning_digest
        if self.extra:
            out["extra"] = self.extra
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("schema") != SCHEMA:
            raise ModelError(f"manifest schema {data.get('schema')!r} is not {SCHEMA!r}")
        try:
            return cls(
                model=str(data["model"]),
                version=int(data["version"]),
                model_digest=str(data["modelDigest"]),
                target=str(data["target"]),
                backend=str(data["backend"]),
                backend_version=str(data["backendVersion"]),
                artifact=str(data["artifact"]),
                artifact_digest=str(data["artifactDigest"]),
                artifact_bytes=int(data["artifactBytes"]),
                inputs=tuple(TensorSpec.from_json(t) for t in data["inputs"]),
                outputs=tuple(TensorSpec.from_json(t) for t in data["outputs"]),
                max_batch_size=int(data.get("maxBatchSize", 0)),
                compile_seconds=float(data.get("compileSeconds", 0.0)),
                tuning_trials=int(data.get("tuningTrials", 0)),
                tuning_digest=data.get("tuningDigest"),
                latency=tuple(Latency.from_json(x) for x in data.get("latency", ())),
                reason=str(data.get("reason", "")),
                extra=dict(data.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"manifest is missing or has a bad field: {exc}") from None

    def write(self, folder: Path) -> Path:
        """Write ``folder/manifest.json`` atomically (temp file + rename)."""
        path = folder / MANIFEST_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelError(
                f"{path}: no manifest (compile the model with `motherboard model compile`)"
            ) from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path}: not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ModelError(f"{path}: a manifest is a JSON object")
        return cls.from_json(data)
