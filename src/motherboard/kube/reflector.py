"""List then watch one kind, from the list's resourceVersion; relist on 410 Gone or a broken stream.

The informer of this project: the scheduler and the operator both feed their caches through it.

Nothing the API server can store takes a reflector down: watch lines are read up to far past the largest
object (:data:`motherboard.kube.client.MAX_WATCH_LINE`), an object its handler cannot take is skipped and
reported (``on_error``), and any other failure relists with a growing pause. :attr:`Reflector.healthy`
turns false when rounds keep failing, for the readiness probes.

The handler sees every object of the initial list as an upsert, then every watch event. On a relist it
also sees a delete for each object that vanished while the watch was down, so the cache never keeps a
pod that ended unseen. ``synced`` is set after the first list has been handed over.

Memory: objects reach the handler without ``metadata.managedFields`` (often half of an object, and no
consumer here reads it), and the reflector itself remembers only each object's identity and labels (what
a delete handler needs), not the object: with 4,000 pods and 1,000 nodes, keeping whole objects cost the
operator over 100 MiB.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from motherboard.kube import ApiError, Kube

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Handler = Callable[[Obj, bool], None]
"""``handler(object, deleted)``."""
ErrorHandler = Callable[[Obj, Exception], None]
"""``on_error(object, error)``: the handler could not take this object (it was skipped)."""

GONE = 410
UNHEALTHY_AFTER = 3
"""Failed rounds in a row after which the reflector reports itself unhealthy (readiness fails)."""
MAX_PAUSE = 30.0


class Reflector:
    """One kind's list+watch loop feeding ``handler``.

    It never dies of what the API server sends: a broken stream, an unreadable answer or any other error
    relists (with a growing pause); an object the handler cannot take is reported to ``on_error`` and
    skipped, so one hostile object costs its own update and nothing else. Whether the loop is doing its
    job is :attr:`healthy`, which the processes' readiness probes read.
    """

    def __init__(
        self,
        kube: Kube,
        path: str,
        handler: Handler,
        *,
        page: int = 500,
        optional: bool = False,
        on_error: ErrorHandler | None = None,
        backoff: float = 1.0,
    ) -> None:
        self.kube, self.path, self.handler, self.page = kube, path, handler, page
        self.optional = optional
        """A kind whose CRD may be absent: 404 counts as an empty, synced list (retried later)."""
        self.on_error = on_error
        self.backoff = backoff
        """Pause after the first failed round; it doubles with each failure in a row, up to MAX_PAUSE."""
        self.synced = asyncio.Event()
        self.relists = 0
        self.failures = 0
        """Failed list/watch rounds since the last one that worked (a list, then a watch that answered)."""
        self.skipped = 0
        """Objects the handler could not take."""
        self.last_error = ""
        self.running = False
        self._known: dict[str, Obj] = {}

    @property
    def healthy(self) -> bool:
        """Running, and not failing round after round: a watch that keeps breaking serves a stale view."""
        return self.running and self.failures < UNHEALTHY_AFTER

    async def run(self) -> None:
        """Until cancelled."""
        self.running = True
        try:
            while True:
                pause = await self._round()
                self.relists += 1
                if pause:
                    await asyncio.sleep(pause)
        finally:
            self.running = False

    async def _round(self) -> float:
        """One list and the watch after it; the pause before the next round (0: at once)."""
        try:
            version = await self._list()
            await self._watch(version)
        except asyncio.CancelledError:
            raise
        except ApiError as exc:
            if exc.not_found and self.optional:
                self.synced.set()
                return 10.0
            if exc.status == GONE:
                return 0.0
            return self._failed(f"watch {self.path} failed: {exc}")
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            return self._failed(f"watch {self.path} broke: {exc}")
        except Exception as exc:  # anything else (an unreadable answer, a bug): relist, never die
            return self._failed(f"watch {self.path}: {type(exc).__name__}: {exc}")
        return 0.0

    def _failed(self, message: str) -> float:
        self.failures += 1
        self.last_error = message
        log.warning("%s; relisting (failure %d in a row)", message, self.failures)
        return float(min(MAX_PAUSE, self.backoff * 2 ** (self.failures - 1)))

    def _deliver(self, obj: Obj, deleted: bool) -> None:
        try:
            self.handler(obj, deleted)
        except Exception as exc:  # this object alone is skipped; the watch and every other object go on
            self.skipped += 1
            meta = obj.get("metadata") or {}
            where = f"{meta.get('namespace', '')}/{meta.get('name', '?')}".lstrip("/")
            log.warning(
                "%s: skipped %s, which cannot be read: %s: %s", self.path, where, type(exc).__name__, exc
            )
            if self.on_error is not None:
                try:
                    self.on_error(obj, exc)
                except Exception:  # reporting is best effort; it must not take the watch down either
                    log.exception("%s: reporting the unreadable %s failed", self.path, where)

    async def _list(self) -> str:
        items: list[Obj] = []
        params = {"limit": str(self.page)}
        while True:
            page = await self.kube.list(self.path, **params)
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
            params = {"limit": str(self.page), "continue": cont}
        version = str(page["metadata"]["resourceVersion"])
        seen = {_uid(obj): _stub(obj) for obj in items}
        for uid, old in list(self._known.items()):
            if uid not in seen:
                self._deliver(old, True)  # it went away while we were not watching
        self._known = seen
        for obj in items:
            _slim(obj)
            self._deliver(obj, False)
        self.synced.set()
        return version

    async def _watch(self, version: str) -> None:
        # Server-side timeout: the stream ends cleanly every few minutes and resumes from the last version.
        while True:
            async for event in self.kube.watch(self.path, version, timeoutSeconds="300"):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    code, reason, message = obj.get("code"), obj.get("reason", ""), obj.get("message", "")
                    raise ApiError(int(code or 500), str(reason), str(message), obj)
                self.failures = 0  # listed and watching: this round works
                version = obj["metadata"]["resourceVersion"]
                if kind == "BOOKMARK":
                    continue
                deleted = kind == "DELETED"
                if deleted:
                    self._known.pop(_uid(obj), None)
                else:
                    self._known[_uid(obj)] = _stub(obj)
                _slim(obj)
                self._deliver(obj, deleted)


def _uid(obj: Obj) -> str:
    meta = obj["metadata"]
    return str(meta.get("uid") or f"{meta.get('namespace', '')}/{meta['name']}")


def _slim(obj: Obj) -> None:
    (obj.get("metadata") or {}).pop("managedFields", None)


def _stub(obj: Obj) -> Obj:
    """What a delete handler reads of an object that vanished unseen: its identity and labels."""
    meta = obj["metadata"]
    keep = ("name", "namespace", "uid", "labels", "resourceVersion")
    return {"metadata": {k: meta[k] for k in keep if k in meta}}
