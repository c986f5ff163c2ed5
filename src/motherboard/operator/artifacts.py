"""The operator's artifact endpoint: sources out to compile jobs, artifacts in from them and out to replicas.

Why HTTP from the operator and not a shared volume: edge sites share no filesystem with the central site,
and a ReadWriteMany volume is one more thing a platform team must provide. Every node can reach the
operator's Service; replicas keep what they fetched in a node-local cache (hostPath), so an edge replica
restarts while the link to the central site is down. The store behind it is the model layer's
content-addressed :class:`~motherboard.models.store.FilesystemStore` (a PersistentVolume in the chart).

- ``GET /v1/sources/<sha256>``: a Model version's source bytes (compile jobs fetch them; the operator read
  the source once, whatever its kind).
- ``GET /v1/artifacts/<key>``: one store entry (artifact, manifest, key) as tar; 404 names what is missing.
- ``PUT /v1/artifacts/<key>``: a compile job's upload, authorised by a token that is only valid for the
  model digest and target that job compiles (an HMAC with the operator's secret), checked and stored
  atomically.
- ``PUT /v1/failures/<digest>/<target>``: a compile job's reason for failing, kept for the Model's status.

Uploads are the only writes; they go through the store's atomic rename, so a reader never sees half an
artifact, and a restarted operator rebuilds its index from the folders.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import secrets
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from motherboard.models.errors import ModelError
from motherboard.models.manifest import Manifest
from motherboard.models.store import KEY_FILE, ArtifactKey, FilesystemStore

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 2 << 30


@dataclass(frozen=True)
class Entry:
    """One artifact in the store, as the index keeps it (no digest recomputation on every read)."""

    key: ArtifactKey
    manifest: Manifest
    folder: Path

    def present(self) -> bool:
        return (self.folder / self.manifest.artifact).is_file()


class ArtifactService:
    """The store, its index by (model digest, target), the sources, and the HTTP endpoint over them."""

    def __init__(self, root: Path, secret: bytes | None = None) -> None:
        self.root = root
        self.store = FilesystemStore(root / "store")
        self.sources = root / "sources"
        self.failures_dir = root / "failures"
        self._secret = secret if secret is not None else self._load_secret()
        self._index: dict[tuple[str, str], dict[str, Entry]] = {}
        self.listeners: list[Callable[[str, str], None]] = []
        """``listener(model_digest, target)``: an artifact arrived, or a compile reported a failure."""
        self._runner: web.AppRunner | None = None
        self.scrape_targets: Callable[[], list[dict[str, object]]] = list
        """The model replicas to scrape, as Prometheus HTTP service discovery lists them (set by the model
        controller)."""
        self.reindex()

    def _load_secret(self) -> bytes:
        # Kept on disk beside the store: a restarted operator still accepts the uploads of compile jobs
        # started by its predecessor.
        path = self.root / "upload-secret"
        self.root.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return path.read_bytes()

    # --- index ------------------------------------------------------------------------------------------------
    def reindex(self) -> None:
        self._index.clear()
        if self.store.root.is_dir():
            self.store.clean_temporaries()
        for key in self.store.keys():  # noqa: SIM118 (the store's method, not a dict)
            folder = self.store.root / key.id
            try:
                self._add(Entry(key, Manifest.read(folder), folder))
            except (ModelError, OSError, ValueError) as exc:
                log.warning("artifact store: %s is unreadable and ignored: %s", folder, exc)

    def _add(self, entry: Entry) -> None:
        self._index.setdefault((entry.key.model_digest, entry.key.target), {})[entry.key.id] = entry

    def entries(self, model_digest: str, target: str) -> list[Entry]:
        """The artifacts of a model for a target that are still on disk (a deleted one drops out)."""
        found = self._index.get((model_digest, target), {})
        gone = [k for k, e in found.items() if not e.present()]
        for key in gone:
            log.warning("artifact %s (%s on %s) was deleted from the store", key, model_digest[:19], target)
            del found[key]
        return list(found.values())

    def entry(self, key_id: str) -> Entry | None:
        for found in self._index.values():
            if key_id in found:
                return found[key_id]
        return None

    def targets_of(self, model_digest: str) -> set[str]:
        """Targets with at least one indexed artifact of ``model_digest``."""
        return {t for (d, t), found in self._index.items() if d == model_digest and found}

    # --- tokens -----------------------------------------------------------------------------------------------
    def token(self, model_digest: str, target: str) -> str:
        """What a compile job of ``model_digest`` for ``target`` presents to upload (and nothing else)."""
        scope = f"{model_digest}|{target}".encode()
        return hmac.new(self._secret, scope, hashlib.sha256).hexdigest()

    def _authorised(self, request: web.Request, model_digest: str, target: str) -> bool:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(given, self.token(model_digest, target))

    # --- sources and failures -----------------------------------------------------------------------------------
    def keep_source(self, data: bytes) -> str:
        """Store a version's source bytes; returns their sha256 (hex), the name compile jobs fetch."""
        sha = hashlib.sha256(data).hexdigest()
        path = self.sources / f"{sha}.onnx"
        if not path.exists():
            self.sources.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp-{secrets.token_hex(4)}")
            tmp.write_bytes(data)
            tmp.replace(path)
        return sha

    def failure(self, model_digest: str, target: str) -> str | None:
        path = self.failures_dir / f"{model_digest.removeprefix('sha256:')}-{target}.txt"
        return path.read_text() if path.exists() else None

    def clear_failure(self, model_digest: str, target: str) -> None:
        (self.failures_dir / f"{model_digest.removeprefix('sha256:')}-{target}.txt").unlink(missing_ok=True)

    # --- HTTP ---------------------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/v1/sources/{sha}", self._get_source)
        app.router.add_get("/v1/artifacts/{key}", self._get_artifact)
        app.router.add_put("/v1/artifacts/{key}", self._put_artifact)
        app.router.add_put("/v1/failures/{digest}/{target}", self._put_failure)
        app.router.add_get("/v1/sd/model-replicas", self._get_scrape_targets)
        return app

    async def start(self, host: str, port: int) -> int:
        """Serve on ``host:port`` (0: any free port); returns the port."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _get_scrape_targets(self, _: web.Request) -> web.Response:
        # Prometheus's HTTP service discovery (http_sd_configs): for a Prometheus without the
        # prometheus-operator's PodMonitor, or without Kubernetes discovery at all (Debian's build).
        return web.json_response(self.scrape_targets())

    async def _get_source(self, request: web.Request) -> web.StreamResponse:
        sha = request.match_info["sha"]
        path = self.sources / f"{sha}.onnx"
        if len(sha) != 64 or not path.is_file():
            return web.Response(status=404, text=f"no source {sha}: the operator has not read it (yet)")
        return web.FileResponse(path)

    async def _get_artifact(self, request: web.Request) -> web.Response:
        from motherboard.models.shipping import pack

        key_id = request.match_info["key"]
        key_file = self.store.root / key_id / KEY_FILE
        if "/" in key_id or key_id.startswith(".") or not key_file.is_file():
            return web.Response(
                status=404, text=f"no artifact {key_id} in the store (deleted, or never built)"
            )
        try:
            key = ArtifactKey(**json.loads(key_file.read_text()))
            stored = await asyncio.to_thread(self.store.get, key)
        except (ModelError, ValueError, TypeError) as exc:
            return web.Response(status=500, text=f"artifact {key_id} is damaged: {exc}")
        if stored is None:
            return web.Response(status=404, text=f"no artifact {key_id} in the store")
        body = await asyncio.to_thread(pack, stored, self.store.latency(key))
        return web.Response(body=body, content_type="application/x-tar")

    async def _put_artifact(self, request: web.Request) -> web.Response:
        from motherboard.models.shipping import unpack_into

        key_id = request.match_info["key"]
        data = await request.read()
        try:
            key = _peek_key(data)
        except ModelError as exc:
            return web.Response(status=400, text=str(exc))
        if not self._authorised(request, key.model_digest, key.target):
            return web.Response(status=403, text=f"the token does not allow uploads for {key.target}")
        try:
            stored = await asyncio.to_thread(unpack_into, data, self.store, key_id)
        except ModelError as exc:
            return web.Response(status=400, text=str(exc))
        self._add(Entry(stored.key, stored.manifest, stored.folder))
        self.clear_failure(key.model_digest, key.target)
        log.info(
            "artifact %s uploaded: %s on %s (%s)", key_id, key.backend, key.target, key.model_digest[:19]
        )
        for listener in self.listeners:
            listener(key.model_digest, key.target)
        return web.Response(status=201, text=key_id)

    async def _put_failure(self, request: web.Request) -> web.Response:
        digest = "sha256:" + request.match_info["digest"]
        target = request.match_info["target"]
        if not self._authorised(request, digest, target):
            return web.Response(status=403, text="the token does not allow reports for this compile")
        text = (await request.read()).decode(errors="replace")[:4000]
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        (self.failures_dir / f"{digest.removeprefix('sha256:')}-{target}.txt").write_text(text)
        for listener in self.listeners:
            listener(digest, target)
        return web.Response(status=204)


def _peek_key(data: bytes) -> ArtifactKey:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            member = tar.getmember(KEY_FILE)
            handle = tar.extractfile(member)
            if handle is None:
                raise ModelError(f"{KEY_FILE} is not a file")
            return ArtifactKey(**json.loads(handle.read()))
    except (tarfile.TarError, KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"not an artifact entry: {exc}") from exc
