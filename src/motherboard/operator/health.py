"""The operator's probes on ``--health-port``: ``/healthz`` (alive) and ``/readyz`` (serving for real).

Before, kopf's liveness endpoint answered ``/healthz`` and nothing checked readiness but a TCP connect to
the webhook port; the store's watches could be dead and the webhook configuration empty (kopf removed it
on stop) while every probe passed. ``/readyz`` now holds only when this replica leads, every watch of the
store is synced and healthy, and, with the webhook on, both webhook configurations are the real ones: they
name this replica's CA, and every webhook in them fails closed (``failurePolicy: Fail``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from motherboard.api.constants import GROUP
from motherboard.kube import ApiError, Kube

Obj = dict[str, Any]
CONFIGURATIONS = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
CHECK_EVERY = 2.0
"""Seconds a webhook-configuration check is reused (probes come every few seconds, from every kubelet)."""


def configuration_problem(kind: str, config: Mapping[str, Any] | None, ca: bytes) -> str | None:
    """What keeps ``config`` (a webhook configuration) from checking our objects; ``None`` when it is ours."""
    if config is None:
        return f"{kind} {GROUP} does not exist"
    webhooks = config.get("webhooks") or []
    if not webhooks:
        return f"{kind} {GROUP} has no webhooks"
    bundle = base64.b64encode(ca).decode()
    for webhook in webhooks:
        name = webhook.get("name", "?")
        if webhook.get("failurePolicy") != "Fail":
            return f"{kind} {GROUP}: webhook {name} fails open (failurePolicy {webhook.get('failurePolicy')})"
        if (webhook.get("clientConfig") or {}).get("caBundle") != bundle:
            return f"{kind} {GROUP}: webhook {name} names another CA than this operator's"
    return None


class OperatorHealth:
    """The probe server; ``state`` is the operator's shared state (store, webhook CA, failure flag)."""

    def __init__(self, kube: Kube | None, state: Mapping[str, Any]) -> None:
        self.leading = False
        self._kube, self._state = kube, state
        self._checked: tuple[float, str | None] = (0.0, "not checked yet")
        self._runner: web.AppRunner | None = None

    async def start(self, port: int, host: str = "0.0.0.0") -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._answer(self.liveness))
        app.router.add_get("/readyz", self._answer(self.readiness))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def liveness(self) -> str | None:
        if self._state.get("failed"):
            return "a store or status task died"
        return None

    async def readiness(self) -> str | None:
        """``None`` when ready, else why not."""
        if not self.leading:
            return "standby: waiting for the operator Lease"
        store = self._state.get("store")
        if store is None or not store.ready.is_set():
            return "the store has not listed every kind yet"
        broken = [f"{feed.path}: {feed.last_error or 'stopped'}" for feed in store.feeds if not feed.healthy]
        if broken:
            return "watches broken: " + "; ".join(broken)
        if self._state.get("webhook") is not None:
            return await self._webhook_problem()
        return None

    async def _webhook_problem(self) -> str | None:
        at, problem = self._checked
        if time.monotonic() - at < CHECK_EVERY:
            return problem
        ca: bytes | None = self._state.get("webhook_ca")
        if ca is None or self._kube is None:
            problem = "the webhook's certificates are not made yet"
        else:
            problem = None
            for plural in CONFIGURATIONS:
                path = f"/apis/admissionregistration.k8s.io/v1/{plural}/{GROUP}"
                try:
                    config: Obj | None = await self._kube.get(path)
                except ApiError as exc:
                    if not exc.not_found:
                        raise
                    config = None
                problem = configuration_problem(plural, config, ca)
                if problem:
                    break
        self._checked = (time.monotonic(), problem)
        return problem

    def _answer(
        self, check: Callable[[], Awaitable[str | None]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(_: web.Request) -> web.StreamResponse:
            try:
                problem = await check()
            except Exception as exc:  # the API server is unreachable, say: not ready, and say why
                problem = f"check failed: {type(exc).__name__}: {exc}"
            if problem is None:
                return web.Response(text=f"ok ({'leader' if self.leading else 'standby'})\n")
            return web.Response(status=503, text=f"{problem}\n")

        return handler
