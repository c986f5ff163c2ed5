"""Content digests (``sha256:<hex>``) of files and bytes: the identity of models and artifacts."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def digest_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_file(path: Path) -> str:
    """The digest of a file, read in 1 MiB chunks (artifacts and models can be hundreds of MiB)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def short(digest: str, length: int = 12) -> str:
    """The first hex characters of a digest, for names and messages."""
    return digest.removeprefix("sha256:")[:length]
