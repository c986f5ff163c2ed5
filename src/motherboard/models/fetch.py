"""A serving replica's first step: pick the artifact built for the device it was given, verify it, lay it out.

The operator renders each replica with a serving plan (``$MOTHERBOARD_SERVING``): the model, the version,
and per target the artifacts it may load, best first, by store key and digest. The replica learns its
device from what the device plugin's ``Allocate`` put in its environment (``MOTHERBOARD_DEVICE_VENDOR`` and
``MOTHERBOARD_DEVICE_MODEL``; none for a CPU replica) and its CPU architecture, maps that to a target
through :mod:`.targets`, and takes that target's candidates only: an artifact built for another target is
never loaded. Each candidate is looked up in the node's cache first (so an edge replica restarts while cut
off from the central site), else downloaded from the operator's artifact endpoint, and its digest checked.
The result is a model-repository version folder for ``motherboard runtime serve`` and one line for the
pod's termination message (the operator reads it: which target and artifact, and any fallback).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motherboard.models.errors import ModelError
from motherboard.models.store import KEY_FILE, ArtifactKey, FilesystemStore, StoredArtifact
from motherboard.models.targets import host_arch, target_for_device

ENV = "MOTHERBOARD_SERVING"
TARGET_FILE = ".target"
"""Written into the repository: the runtime serves for this target (``runtime serve --target-file``)."""


@dataclass(frozen=True)
class ServingRequest:
    """What the operator asks a replica to serve."""

    model: str
    version: int
    endpoint: str
    plan: dict[str, list[dict[str, str]]]
    """Target → candidates ``{"key", "digest", "backend"}``, best first."""
    max_batch_size: int | None = None
    max_queue_delay_us: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "version": self.version,
                "endpoint": self.endpoint,
                "plan": self.plan,
                "maxBatchSize": self.max_batch_size,
                "maxQueueDelayMicroseconds": self.max_queue_delay_us,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ServingRequest:
        try:
            d = json.loads(text)
            return cls(
                model=str(d["model"]),
                version=int(d["version"]),
                endpoint=str(d["endpoint"]).rstrip("/"),
                plan={str(t): [dict(c) for c in cands] for t, cands in d["plan"].items()},
                max_batch_size=d.get("maxBatchSize"),
                max_queue_delay_us=int(d.get("maxQueueDelayMicroseconds") or 0),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"${ENV}: not a serving plan ({exc})") from exc


@dataclass(frozen=True)
class Fetched:
    """What the replica loaded."""

    target: str
    key: str
    digest: str
    backend: str
    from_cache: bool
    fallback: str = ""
    """Why the preferred candidate was not used (empty when it was)."""

    def summary(self) -> str:
        body: dict[str, Any] = {
            "target": self.target, "key": self.key, "digest": self.digest, "backend": self.backend,
            "cache": self.from_cache,
        }  # fmt: skip
        if self.fallback:
            body["fallback"] = self.fallback
        return json.dumps(body, sort_keys=True)


def detect_target(env: dict[str, str] | None = None, arch: str | None = None) -> str:
    """This replica's target, from the device plugin's variables and the CPU architecture."""
    env = dict(os.environ) if env is None else env
    vendor = env.get("MOTHERBOARD_DEVICE_VENDOR") or None
    model = env.get("MOTHERBOARD_DEVICE_MODEL") or None
    return target_for_device(vendor, model, arch or host_arch()).name


def _cached(store: FilesystemStore, key_id: str) -> StoredArtifact | None:
    key_file = store.root / key_id / KEY_FILE
    if not key_file.is_file():
        return None
    try:
        key = ArtifactKey(**json.loads(key_file.read_text()))
        return store.get(key)
    except (ModelError, ValueError, TypeError):
        return None  # damaged: download again


def _download(
    endpoint: str, key_id: str, store: FilesystemStore, timeout: float, replace: bool = False
) -> StoredArtifact:
    """The entry from the endpoint into ``store``; ``replace``: the cached copy goes, once the new one is here."""
    from motherboard.models.shipping import unpack_into

    url = f"{endpoint}/v1/artifacts/{key_id}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise ModelError(f"{url}: {exc.code} {exc.read().decode(errors='replace')[:200]}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ModelError(f"{url}: unreachable ({exc})") from exc
    if replace:
        shutil.rmtree(store.root / key_id, ignore_errors=True)
    return unpack_into(data, store, key_id)


def _matches(stored: StoredArtifact, digest: str, target: str) -> bool:
    return stored.manifest.artifact_digest == digest and stored.manifest.target == target


def fetch(
    request: ServingRequest, repository: Path, cache: Path, target: str, timeout: float = 60.0
) -> Fetched:
    """Lay out ``repository/<model>/<version>/`` with the best candidate for ``target`` that verifies."""
    candidates = request.plan.get(target)
    if not candidates:
        raise ModelError(
            f"the serving plan has no artifact for target {target} (it has {', '.join(sorted(request.plan))}); "
            "this replica was placed on a device the job's compile targets do not cover"
        )
    store = FilesystemStore(cache)
    problems: list[str] = []
    for candidate in candidates:
        key_id, digest = candidate["key"], candidate["digest"]
        stored = _cached(store, key_id)
        from_cache = stored is not None and _matches(stored, digest, target)
        if not from_cache:
            # Not cached, or a stale copy: the key was built again since this node cached it (a TVM build is
            # not byte-for-byte reproducible, so an artifact deleted from the store and compiled again has a
            # new digest). The endpoint's copy is the plan's; the stale one goes once that one is here.
            try:
                stored = _download(request.endpoint, key_id, store, timeout, replace=stored is not None)
            except ModelError as exc:
                problems.append(f"{candidate['backend']} artifact {digest[:19]}: {exc}")
                continue
        assert stored is not None
        if not _matches(stored, digest, target):
            problems.append(
                f"{candidate['backend']} artifact {key_id}: digest {stored.manifest.artifact_digest} for "
                f"{stored.manifest.target}, the plan says {digest} for {target}"
            )
            continue
        changes: dict[str, Any] = {}
        if request.max_batch_size is not None:
            changes["max_batch_size"] = request.max_batch_size
        store.export(stored.key, repository / request.model / str(request.version), request.model,
                     request.version, changes)  # fmt: skip
        batch = (
            request.max_batch_size if request.max_batch_size is not None else stored.manifest.max_batch_size
        )
        if batch:
            config = {"max_batch_size": batch,
                      "dynamic_batching": {"max_queue_delay_microseconds": request.max_queue_delay_us}}  # fmt: skip
            (repository / request.model / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (repository / TARGET_FILE).write_text(target + "\n")
        return Fetched(target, key_id, digest, candidate["backend"], from_cache, "; ".join(problems))
    raise ModelError(f"no artifact for {target} could be fetched: {'; '.join(problems)}")
