"""What a compile job's container does: fetch a version's source, compile it for one target, upload.

The operator decides what to compile and where; it runs ``motherboard model compile-job`` in a pod with a
:class:`CompileRequest` in ``$MOTHERBOARD_COMPILE``. The job downloads the source from the operator's
artifact endpoint (so ConfigMap, volume and ``file://`` sources the operator read need not be reachable
from the node), checks it is the model the operator imported (same digest, overrides applied), builds
every allowed backend's artifact into a scratch store, and uploads each entry with the job's token. A
failure is reported to the endpoint (and to the pod's termination message) with the reason a user can act
on, so the Model's status can say why even after the pod is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motherboard.models.errors import ModelError
from motherboard.models.tensors import TensorSpec

ENV = "MOTHERBOARD_COMPILE"
TERMINATION_LOG = Path("/dev/termination-log")


@dataclass(frozen=True)
class CompileRequest:
    """One compile: which version of which model, for which target, and where the result goes."""

    model: str
    version: int
    source: str
    """URL of the version's source bytes (the operator's ``/v1/sources/<sha256>``)."""
    source_sha256: str
    digest: str
    """The model's identity as the operator imported it (the source with overrides applied)."""
    target: str
    endpoint: str
    """The operator's artifact endpoint, e.g. ``http://10.244.0.1:8090``."""
    token: str
    """Authorises uploads of this model digest for this target, and nothing else."""
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    max_batch_size: int | None = None
    backends: tuple[str, ...] = ("tvm", "onnxruntime")
    trials: int = 0
    measure: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        body = {
            "model": self.model, "version": self.version, "source": self.source,
            "sourceSha256": self.source_sha256, "digest": self.digest, "target": self.target,
            "endpoint": self.endpoint, "token": self.token,
            "inputs": [t.to_json() for t in self.inputs], "outputs": [t.to_json() for t in self.outputs],
            "maxBatchSize": self.max_batch_size, "backends": list(self.backends), "trials": self.trials,
            "measure": self.measure,
        }  # fmt: skip
        return json.dumps(body, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CompileRequest:
        try:
            d = json.loads(text)
            return cls(
                model=str(d["model"]), version=int(d["version"]), source=str(d["source"]),
                source_sha256=str(d["sourceSha256"]), digest=str(d["digest"]), target=str(d["target"]),
                endpoint=str(d["endpoint"]).rstrip("/"), token=str(d["token"]),
                inputs=tuple(TensorSpec.from_json(t) for t in d.get("inputs", [])),
                outputs=tuple(TensorSpec.from_json(t) for t in d.get("outputs", [])),
                max_batch_size=d.get("maxBatchSize"), backends=tuple(d.get("backends", ("onnxruntime",))),
                trials=int(d.get("trials", 0)), measure=bool(d.get("measure", True)),
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"${ENV}: not a compile request ({exc})") from exc


def _put(url: str, body: bytes, token: str, content_type: str) -> None:
    request = urllib.request.Request(
        url,
        data=body,
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        raise ModelError(
            f"upload to {url} refused: {exc.code} {exc.read().decode(errors='replace')}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(f"the artifact endpoint {url} is unreachable: {exc}") from exc


def run(request: CompileRequest, log: Any = None) -> list[str]:
    """Compile and upload; returns the uploaded entries' key ids. ``ModelError`` on any failure."""
    from motherboard.models.compiler import compile_for_target
    from motherboard.models.importer import import_onnx
    from motherboard.models.shipping import pack
    from motherboard.models.sources import local_path
    from motherboard.models.store import FilesystemStore
    from motherboard.models.targets import get_target

    say = log or (lambda text: print(text, flush=True))
    with tempfile.TemporaryDirectory(prefix="motherboard-compile-") as tmp:
        source = local_path(request.source, Path(tmp) / "source.onnx")
        model = import_onnx(
            source, sha256=request.source_sha256, inputs=request.inputs, outputs=request.outputs
        )
        if model.digest != request.digest:
            raise ModelError(
                f"the source imports as {model.digest}, not the {request.digest} the operator imported; "
                "the Model changed meanwhile (the operator starts a new compile job)"
            )
        store = FilesystemStore(Path(tmp) / "store")
        result = compile_for_target(
            model, get_target(request.target), store, name=request.model, version=request.version,
            backends=request.backends, trials=request.trials, max_batch_size=request.max_batch_size,
            measure_latency=request.measure,
        )  # fmt: skip
        for backend, reasons in result.refused.items():
            say(f"{request.target}: {backend} refused: {'; '.join(reasons)}")
        uploaded = []
        for artifact in result.artifacts:
            key = artifact.stored.key
            _put(
                f"{request.endpoint}/v1/artifacts/{key.id}",
                pack(artifact.stored, artifact.latency),
                request.token,
                "application/x-tar",
            )
            say(
                f"uploaded {key.backend} artifact {artifact.manifest.artifact_digest} for {request.target} "
                f"({artifact.manifest.artifact_bytes} bytes, compiled in {artifact.manifest.compile_seconds:.1f} s)"
            )
            uploaded.append(key.id)
        if not uploaded:
            raise ModelError(
                f"no backend could build the model for {request.target}: "
                + "; ".join(f"{b}: {', '.join(r)}" for b, r in result.refused.items())
            )
        return uploaded


def report_failure(request: CompileRequest, message: str) -> None:
    """Tell the operator (best effort) and the kubelet (the termination message) why the compile failed."""
    with contextlib.suppress(OSError):  # not in a pod
        TERMINATION_LOG.write_text(message[:4000])
    try:
        _put(
            f"{request.endpoint}/v1/failures/{request.digest.removeprefix('sha256:')}/{request.target}",
            message.encode(),
            request.token,
            "text/plain",
        )
    except ModelError as exc:
        print(f"could not report the failure: {exc}", file=sys.stderr)


def main() -> int:
    """The container's entry point: 0 compiled and uploaded, 1 failed (reported), 2 no request."""
    text = os.environ.get(ENV)
    if not text:
        print(
            f"${ENV} is not set: this command runs in the compile jobs the operator creates", file=sys.stderr
        )
        return 2
    request = CompileRequest.from_json(text)
    try:
        run(request)
    except ModelError as exc:
        message = f"compile of {request.model} version {request.version} for {request.target} failed: {exc}"
        print(message, file=sys.stderr)
        report_failure(request, str(exc))
        return 1
    return 0
