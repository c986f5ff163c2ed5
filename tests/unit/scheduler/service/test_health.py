"""The scheduler's probes: a dead or failing watch fails /readyz (and, once dead, /healthz)."""

from __future__ import annotations

import asyncio

from aiohttp import ClientSession

from motherboard.demo.components import free_port
from motherboard.kube.reflector import UNHEALTHY_AFTER, Reflector
from motherboard.scheduler.service.health import Health


def reflector(path: str) -> Reflector:
    return Reflector(None, path, lambda obj, deleted: None)  # type: ignore[arg-type]


async def probe(port: int, path: str) -> tuple[int, str]:
    async with ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def test_readyz_fails_while_a_watch_keeps_breaking_and_healthz_once_one_stopped() -> None:
    nodes, pods = reflector("/api/v1/nodes"), reflector("/api/v1/pods")

    async def scenario() -> list[tuple[int, str]]:
        health = Health()
        health.watches = [nodes, pods]
        health.ready = health.leading = True
        nodes.running = pods.running = True
        port = free_port()
        await health.start(port, "127.0.0.1")
        try:
            answers = [await probe(port, "/readyz")]
            pods.failures, pods.last_error = UNHEALTHY_AFTER, "watch /api/v1/pods broke: LineTooLong"
            answers += [await probe(port, "/readyz"), await probe(port, "/healthz")]
            pods.running = False  # the task ended
            answers.append(await probe(port, "/healthz"))
            return answers
        finally:
            await health.stop()

    ok, broken, still_alive, dead = asyncio.run(scenario())
    assert ok == (200, "ok (leader)\n")
    assert broken[0] == 503 and "LineTooLong" in broken[1] and "/api/v1/pods" in broken[1]
    assert still_alive[0] == 200  # relisting: not yet a restart
    assert dead[0] == 503
