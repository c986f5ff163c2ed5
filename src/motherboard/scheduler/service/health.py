"""``/healthz`` (the loop is alive) and ``/readyz`` (watches synced) on a small aiohttp server."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web


class Health:
    """Liveness: the scheduling loop ticked recently. Readiness: every watch has listed once."""

    def __init__(self, stale_after: float = 30.0) -> None:
        self.ready = False
        self.leading = False
        self._tick = time.monotonic()
        self._stale_after = stale_after
        self._runner: web.AppRunner | None = None

    def tick(self) -> None:
        self._tick = time.monotonic()

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._tick < self._stale_after

    async def start(self, port: int, host: str = "0.0.0.0") -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._probe(lambda: self.alive, "loop stalled"))
        app.router.add_get("/readyz", self._probe(lambda: self.ready, "watches not synced"))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _probe(
        self, check: Callable[[], bool], why: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(_: web.Request) -> web.StreamResponse:
            role = "leader" if self.leading else "standby"
            if check():
                return web.Response(text=f"ok ({role})\n")
            return web.Response(status=503, text=f"{why}\n")

        return handler
