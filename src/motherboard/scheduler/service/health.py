"""``/healthz`` (the loop is alive) and ``/readyz`` (watches synced and healthy) on a small aiohttp server.

A watch that died or keeps breaking fails ``/readyz`` (its reason in the body) and, once it has stopped
running, ``/healthz`` too: a scheduler whose pod watch is dead schedules nothing new, and answering
``ok (leader)`` kept it from being restarted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from motherboard.kube.reflector import Reflector


class Health:
    """Liveness: the scheduling loop ticked recently and every watch runs. Readiness: every watch has listed
    once and is healthy."""

    def __init__(self, stale_after: float = 30.0) -> None:
        self.ready = False
        self.watches: Sequence[Reflector] = ()
        self.leading = False
        self._tick = time.monotonic()
        self._stale_after = stale_after
        self._runner: web.AppRunner | None = None

    def tick(self) -> None:
        self._tick = time.monotonic()

    @property
    def alive(self) -> bool:
        dead = self.ready and any(not watch.running for watch in self.watches)
        return not dead and time.monotonic() - self._tick < self._stale_after

    @property
    def serving(self) -> bool:
        return self.ready and all(watch.healthy for watch in self.watches)

    def why_not_ready(self) -> str:
        if not self.ready:
            return "watches not synced"
        broken = [f"{w.path}: {w.last_error or 'stopped'}" for w in self.watches if not w.healthy]
        return "watches broken: " + "; ".join(broken)

    async def start(self, port: int, host: str = "0.0.0.0") -> None:
        app = web.Application()
        app.router.add_get(
            "/healthz", self._probe(lambda: self.alive, lambda: "loop stalled or a watch died")
        )
        app.router.add_get("/readyz", self._probe(lambda: self.serving, self.why_not_ready))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _probe(
        self, check: Callable[[], bool], why: Callable[[], str]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(_: web.Request) -> web.StreamResponse:
            role = "leader" if self.leading else "standby"
            if check():
                return web.Response(text=f"ok ({role})\n")
            return web.Response(status=503, text=f"{why()}\n")

        return handler
