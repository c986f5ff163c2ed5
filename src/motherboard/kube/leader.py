"""Leader election with a ``coordination.k8s.io/v1`` Lease (client-go's algorithm, simplified).

A candidate takes the Lease when it is free, released (empty holder) or expired (``renewTime`` older than
``leaseDurationSeconds``), and the leader renews it every ``retry`` seconds. Every write carries the
Lease's ``resourceVersion``, so two candidates racing for it cannot both win: one gets 409 Conflict.
A leader that cannot renew within ``renew_deadline`` gives up leadership; the caller then stops
acting (the scheduler process exits, as kube-scheduler does; the operator stops reconciling), so two
replicas never write at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from motherboard.kube import ApiError, Kube

log = logging.getLogger(__name__)
Obj = dict[str, Any]


def _micro(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


class LeaderElector:
    """Acquire, renew and release one Lease."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        name: str,
        identity: str,
        *,
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry: float = 2.0,
    ) -> None:
        self.kube, self.identity = kube, identity
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}"
        self.collection = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.name, self.duration, self.deadline, self.retry = name, lease_duration, renew_deadline, retry
        self.leading = asyncio.Event()
        self._last_renew = 0.0

    @classmethod
    def for_lease(
        cls, kube: Kube, namespace: str, name: str, identity: str, duration: float
    ) -> LeaderElector:
        """client-go's proportions: renew within 2/3 of the lease, retry every 1/7 of it (at least 0.5 s)."""
        return cls(
            kube,
            namespace,
            name,
            identity,
            lease_duration=duration,
            renew_deadline=duration * 2 / 3,
            retry=max(0.5, duration / 7),
        )

    async def acquire(self) -> None:
        """Return once this replica leads."""
        while not await self._try():
            await asyncio.sleep(self.retry)
        log.info("%s is the leader (lease %s)", self.identity, self.name)
        self.leading.set()

    async def keep(self) -> None:
        """Renew until renewal fails past the deadline; then return (leadership is lost)."""
        while True:
            await asyncio.sleep(self.retry)
            if await self._try():
                continue
            if time.monotonic() - self._last_renew > self.deadline:
                log.error("%s lost the lease %s", self.identity, self.name)
                self.leading.clear()
                return

    async def release(self) -> None:
        """Give the Lease up at shutdown so a standby takes over at once instead of after it expires."""
        if not self.leading.is_set():
            return
        try:
            lease = await self.kube.get(self.path)
            if lease.get("spec", {}).get("holderIdentity") == self.identity:
                lease["spec"]["holderIdentity"] = ""
                lease["spec"]["leaseDurationSeconds"] = 1
                await self.kube.request("PUT", self.path, lease)
        except (ApiError, OSError) as exc:
            log.warning("could not release the lease: %s", exc)
        self.leading.clear()

    async def _try(self) -> bool:
        now = datetime.now(UTC)
        spec = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": int(self.duration),
            "renewTime": _micro(now),
        }
        try:
            try:
                lease = await self.kube.get(self.path)
            except ApiError as exc:
                if not exc.not_found:
                    raise
                body = {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name},
                    "spec": {**spec, "acquireTime": _micro(now), "leaseTransitions": 0},
                }
                await self.kube.create(self.collection, body)
                self._last_renew = time.monotonic()
                return True
            old = lease.get("spec") or {}
            holder = old.get("holderIdentity") or ""
            expires = _parse(old.get("renewTime")) + float(old.get("leaseDurationSeconds") or 0)
            if holder and holder != self.identity and expires > now.timestamp():
                return False  # someone else holds a live lease
            if holder != self.identity:
                spec["acquireTime"] = _micro(now)
                spec["leaseTransitions"] = int(old.get("leaseTransitions") or 0) + 1
            lease["spec"] = {**old, **spec}
            await self.kube.request("PUT", self.path, lease)  # carries resourceVersion: a racing write loses
            self._last_renew = time.monotonic()
            return True
        except (ApiError, OSError, TimeoutError) as exc:
            log.info("lease %s: %s", self.name, exc)
            return False
