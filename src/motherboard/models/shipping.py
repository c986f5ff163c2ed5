"""Store entries on the wire: one artifact with its manifest and key, as an uncompressed tar.

Compile jobs upload what they built to the operator's artifact endpoint, and replicas download what they
serve from it, in this one format. Compiled artifacts are already dense (shared libraries, ONNX weights):
compression would cost CPU on both ends for little. Unpacking checks everything a reader relies on before
anything enters a store: only the expected regular files, the key's id matching the name it was sent under,
the manifest's target matching the key's, and the artifact's digest matching the manifest's.
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path

from motherboard.models.digests import digest_file
from motherboard.models.errors import ModelError
from motherboard.models.manifest import MANIFEST_FILE, Latency, Manifest
from motherboard.models.store import KEY_FILE, LATENCY_FILE, ArtifactKey, ArtifactStore, StoredArtifact

MAX_ENTRY_BYTES = 4 << 30
"""Largest entry accepted (a 4 GiB artifact is already far beyond what the runtime loads comfortably)."""


def pack(stored: StoredArtifact, latency: tuple[Latency, ...] = ()) -> bytes:
    """The entry of ``stored`` as tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(stored.path, arcname=stored.manifest.artifact)
        tar.add(stored.folder / MANIFEST_FILE, arcname=MANIFEST_FILE)
        key = json.dumps(stored.key.__dict__, sort_keys=True).encode()
        _add_bytes(tar, KEY_FILE, key)
        if latency:
            _add_bytes(tar, LATENCY_FILE, json.dumps([x.to_json() for x in latency]).encode())
    return buffer.getvalue()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def unpack_into(data: bytes, store: ArtifactStore, key_id: str) -> StoredArtifact:
    """Check the tar ``data`` sent as entry ``key_id`` and put it into ``store``; ``ModelError`` naming what
    is wrong otherwise (nothing is stored then)."""
    if len(data) > MAX_ENTRY_BYTES:
        raise ModelError(f"artifact {key_id}: {len(data)} bytes exceeds {MAX_ENTRY_BYTES}")
    with tempfile.TemporaryDirectory(prefix="motherboard-entry-") as tmp:
        folder = Path(tmp)
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                members = tar.getmembers()
                bad = [m.name for m in members if not m.isfile() or "/" in m.name or m.name.startswith(".")]
                if bad:
                    raise ModelError(f"artifact {key_id}: unexpected entries {bad[:3]} (plain files only)")
                # Members were checked above (plain files, no paths). The "data" filter adds the same
                # checks where this Python has it (3.11.4+; Debian bookworm's 3.11.2 does not).
                if hasattr(tarfile, "data_filter"):
                    tar.extractall(folder, filter="data")
                else:
                    tar.extractall(folder)
        except tarfile.TarError as exc:
            raise ModelError(f"artifact {key_id}: not a tar archive ({exc})") from exc
        try:
            key = ArtifactKey(**json.loads((folder / KEY_FILE).read_text()))
            manifest = Manifest.read(folder)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(f"artifact {key_id}: {KEY_FILE} or {MANIFEST_FILE} unreadable ({exc})") from exc
        if key.id != key_id:
            raise ModelError(f"artifact {key_id}: the entry's key is {key.id}; send it under that name")
        artifact = folder / manifest.artifact
        if not artifact.is_file():
            raise ModelError(f"artifact {key_id}: the manifest names {manifest.artifact}, which is missing")
        actual = digest_file(artifact)
        if actual != manifest.artifact_digest:
            raise ModelError(
                f"artifact {key_id}: digest {actual} does not match the manifest's {manifest.artifact_digest}"
            )
        stored = store.put(key, artifact, manifest)
        latency_file = folder / LATENCY_FILE
        if latency_file.is_file():
            try:
                latency = tuple(Latency.from_json(x) for x in json.loads(latency_file.read_text()))
            except (ValueError, KeyError, TypeError):
                latency = ()
            if latency:
                store.record_latency(key, latency)
        return stored
