"""Load a model-repository version folder for serving: the one entry point of the serving path.

A version folder holds either an artifact and its ``manifest.json`` (written by ``motherboard model
compile``) or a plain ``model.onnx``. :func:`load_runner` verifies the artifact's digest, refuses an artifact
built for another target than the one it is asked to serve, and returns a :class:`Runner` over the backend's
runtime library (the TVM runtime or ONNX Runtime; never a compiler).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from motherboard.models.digests import digest_file
from motherboard.models.errors import ModelError
from motherboard.models.manifest import MANIFEST_FILE, Manifest
from motherboard.models.targets import Target, get_target, host_arch
from motherboard.models.tensors import TensorSpec

PLAIN_ONNX = "model.onnx"


class Runner(Protocol):
    """A loaded model: run named numpy inputs, get named numpy outputs.

    ``run`` may be called from several threads only when ``thread_safe`` is true (ONNX Runtime's sessions
    are; a TVM virtual machine is not: load one runner per instance); inputs
    must match ``inputs`` by name, datatype and shape (``-1`` dimensions free); callers validate first.
    """

    backend: str
    target: str
    manifest: Manifest | None

    @property
    def inputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def thread_safe(self) -> bool: ...

    def run(self, feeds: Mapping[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]: ...

    def close(self) -> None: ...


def default_target() -> Target:
    """The target of this machine's CPU (a server given no device serves CPU artifacts)."""
    return get_target(f"cpu-{host_arch()}")


def load_runner(
    version_dir: Path, target: str | None = None, *, threads: int = 0, spin: bool = True
) -> Runner:
    """Load the artifact in ``version_dir`` for ``target`` (default: this machine's CPU target).

    ``threads`` caps the backend's intra-op threads (0: the backend's default); ``spin=False`` stops ONNX
    Runtime's idle threads from spinning (a server running several instances on few cores wants that: the
    spinning doubled its CPU per request). Raises ``ModelError`` for a
    missing folder or manifest, a digest mismatch, or an artifact built for another target.
    """
    if not version_dir.is_dir():
        raise ModelError(f"{version_dir}: no such version folder")
    want = get_target(target) if target else default_target()
    if not (version_dir / MANIFEST_FILE).exists():
        plain = version_dir / PLAIN_ONNX
        if not plain.exists():
            raise ModelError(f"{version_dir}: neither {MANIFEST_FILE} nor {PLAIN_ONNX}")
        from motherboard.models.backends.ort_runner import OrtRunner

        return OrtRunner(plain, want, manifest=None, threads=threads, spin=spin)
    manifest = Manifest.read(version_dir)
    if get_target(manifest.target).name != want.name:
        raise ModelError(
            f"{version_dir}: artifact was built for target {manifest.target}, not {want.name}; "
            f"compile it with `motherboard model compile --target {want.name}`"
        )
    artifact = version_dir / manifest.artifact
    if not artifact.exists():
        raise ModelError(f"{artifact}: the artifact named by the manifest is missing")
    actual = digest_file(artifact)
    if actual != manifest.artifact_digest:
        raise ModelError(
            f"{artifact}: digest {actual} does not match the manifest's {manifest.artifact_digest} "
            "(corrupt or replaced artifact; compile it again)"
        )
    if manifest.backend == "onnxruntime":
        from motherboard.models.backends.ort_runner import OrtRunner

        return OrtRunner(artifact, want, manifest=manifest, threads=threads, spin=spin)
    if manifest.backend == "tvm":
        from motherboard.models.backends.tvm_runner import TvmRunner

        return TvmRunner(artifact, want, manifest=manifest, threads=threads)
    raise ModelError(f"{version_dir}: backend {manifest.backend!r} in the manifest is not onnxruntime or tvm")
