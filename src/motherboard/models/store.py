"""The content-addressed artifact store.

An artifact's key is what determines its bytes: the model's digest × the target × the backend and its
version × the tuning records' digest. The same key is never compiled twice. Writes are atomic (a temporary
folder renamed into place, so a crash leaves nothing a reader could take for an artifact); reads verify the
artifact's digest; an artifact is refused on a target it was not built for.

:class:`ArtifactStore` is the interface (an object store implements the same four methods);
:class:`FilesystemStore` keeps ``ROOT/<key id>/{artifact, manifest.json, key.json}``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from motherboard.models.digests import digest_bytes, digest_file
from motherboard.models.errors import ModelError
from motherboard.models.manifest import Latency, Manifest

KEY_FILE = "key.json"
LATENCY_FILE = "latency.json"


@dataclass(frozen=True)
class ArtifactKey:
    """What an artifact's bytes depend on, and nothing else."""

    model_digest: str
    target: str
    backend: str
    backend_version: str
    tuning_digest: str | None = None
    recipe: str = ""
    """The digest of how the backend builds for the target (target options, the project's own passes):
    editing a target's options must not reuse artifacts built with the old ones."""

    @property
    def id(self) -> str:
        """A stable name for the key: the digest of its canonical JSON."""
        return digest_bytes(json.dumps(asdict(self), sort_keys=True).encode()).removeprefix("sha256:")[:40]


@dataclass(frozen=True)
class StoredArtifact:
    """An artifact in the store: its folder, file and manifest (digest already verified)."""

    key: ArtifactKey
    folder: Path
    manifest: Manifest

    @property
    def path(self) -> Path:
        return self.folder / self.manifest.artifact


class ArtifactStore(Protocol):
    """Where compiled artifacts live; the filesystem today, an object store tomorrow."""

    def get(self, key: ArtifactKey) -> StoredArtifact | None:
        """The artifact under ``key`` (digest verified), or None if there is none."""
        ...

    def put(self, key: ArtifactKey, artifact: Path, manifest: Manifest) -> StoredArtifact:
        """Store ``artifact`` with its manifest under ``key`` atomically; idempotent for an existing key."""
        ...

    def export(
        self,
        key: ArtifactKey,
        folder: Path,
        model: str,
        version: int,
        changes: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Write a version folder: the artifact and its manifest for ``model``/``version``, with ``changes``
        to the manifest's serving fields (``max_batch_size``, ``reason``, ``latency``, ``extra``)."""
        ...

    def keys(self) -> list[ArtifactKey]:
        """Every key in the store."""
        ...

    def latency(self, key: ArtifactKey) -> tuple[Latency, ...]:
        """The latency last measured for the artifact under ``key`` (empty when never measured)."""
        ...

    def record_latency(self, key: ArtifactKey, latency: tuple[Latency, ...]) -> None:
        """Remember a measurement, so a cached compile need not measure again."""
        ...


class FilesystemStore:
    """The store as folders under one root (local disk or a shared volume)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, key: ArtifactKey) -> Path:
        return self.root / key.id

    def get(self, key: ArtifactKey) -> StoredArtifact | None:
        folder = self._folder(key)
        if not folder.is_dir():
            return None
        manifest = Manifest.read(folder)
        if manifest.target != key.target:
            raise ModelError(
                f"store {folder}: the artifact was built for target {manifest.target}, not {key.target}"
            )
        stored = StoredArtifact(key, folder, manifest)
        actual = digest_file(stored.path) if stored.path.exists() else "missing"
        if actual != manifest.artifact_digest:
            raise ModelError(
                f"store {folder}: artifact digest {actual} does not match {manifest.artifact_digest}; "
                "the stored artifact is corrupt: delete the folder and compile again"
            )
        return stored

    def put(self, key: ArtifactKey, artifact: Path, manifest: Manifest) -> StoredArtifact:
        if manifest.target != key.target:
            raise ModelError(
                f"store: manifest target {manifest.target} does not match key target {key.target}"
            )
        final = self._folder(key)
        if final.is_dir():
            existing = self.get(key)
            assert existing is not None
            return existing
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            shutil.copyfile(artifact, tmp / manifest.artifact)
            digest = digest_file(tmp / manifest.artifact)
            if digest != manifest.artifact_digest:
                raise ModelError(f"store: {artifact} changed while being stored ({digest})")
            manifest.write(tmp)
            (tmp / KEY_FILE).write_text(json.dumps(asdict(key), indent=2, sort_keys=True) + "\n")
            try:
                os.rename(tmp, final)  # atomic on one filesystem; fails if another writer won the race
            except OSError:
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        stored = self.get(key)
        assert stored is not None
        return stored

    def export(
        self,
        key: ArtifactKey,
        folder: Path,
        model: str,
        version: int,
        changes: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """The folder is built beside its destination and renamed into place, replacing an older one whole:
        a reader sees the old folder or the new one, never a new artifact beside an old manifest, and no
        artifact of an earlier choice (``model.so`` beside a new ``model.onnx``) stays behind."""
        stored = self.get(key)
        if stored is None:
            raise ModelError(f"store: no artifact for model {key.model_digest} on target {key.target}")
        manifest = replace(stored.manifest, model=model, version=version, **dict(changes or {}))
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            shutil.copyfile(stored.path, staging / stored.manifest.artifact)
            manifest.write(staging)
            retired = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex}"
            if folder.exists():
                os.rename(folder, retired)
            os.rename(staging, folder)
            shutil.rmtree(retired, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def keys(self) -> list[ArtifactKey]:
        if not self.root.is_dir():
            return []
        keys = []
        for folder in sorted(self.root.iterdir()):
            key_file = folder / KEY_FILE
            if folder.name.startswith(".") or not key_file.exists():
                continue
            keys.append(ArtifactKey(**json.loads(key_file.read_text())))
        return keys

    def latency(self, key: ArtifactKey) -> tuple[Latency, ...]:
        path = self._folder(key) / LATENCY_FILE
        if not path.exists():
            return ()
        try:
            return tuple(Latency.from_json(x) for x in json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError):
            return ()  # a damaged measurement is measured again, not trusted

    def record_latency(self, key: ArtifactKey, latency: tuple[Latency, ...]) -> None:
        folder = self._folder(key)
        tmp = folder / f".{LATENCY_FILE}.{uuid.uuid4().hex}"
        tmp.write_text(json.dumps([x.to_json() for x in latency]) + "\n")
        tmp.replace(folder / LATENCY_FILE)

    def clean_temporaries(self) -> int:
        """Remove what interrupted writers left behind; returns how many folders were removed."""
        removed = 0
        for folder in self.root.glob(".tmp-*"):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
        return removed


def default_store_root() -> Path:
    """``$MOTHERBOARD_ARTIFACTS`` or ``~/.cache/motherboard/artifacts``."""
    override = os.environ.get("MOTHERBOARD_ARTIFACTS")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "motherboard" / "artifacts"
