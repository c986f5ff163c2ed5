"""Fault injection for the fault suite: SIGKILL the operator in the middle of creating a job's pods.

``MOTHERBOARD_FAULT_OPERATOR_KILL_AT_POD_CREATE=k`` holds back the process's ``k``-th pod create and every
one after it, lets the creates already sent reach the API server (``SETTLE_SECONDS``), then SIGKILLs the
process: exactly ``k - 1`` pods exist, the rest of the gang was never sent, as when a crash lands inside a
reconcile. Unset (the default) nothing happens; a value that is not a positive integer is an error naming
the variable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal

log = logging.getLogger(__name__)

KILL_AT_POD_CREATE_ENV = "MOTHERBOARD_FAULT_OPERATOR_KILL_AT_POD_CREATE"
SETTLE_SECONDS = 2.0

_creates = [0]  # pod creates asked for while the variable is set (one event loop: no lock needed)


def kill_at() -> int:
    """The create the kill is aimed at (0: none); raises ``ValueError`` naming the variable and the fix."""
    value = os.environ.get(KILL_AT_POD_CREATE_ENV, "")
    if not value:
        return 0
    try:
        k = int(value)
    except ValueError:
        k = 0
    if k < 1:
        raise ValueError(
            f"{KILL_AT_POD_CREATE_ENV}={value!r}: expected a positive integer k (SIGKILL at the k-th pod "
            "create); unset it to run without fault injection"
        )
    return k


async def before_pod_create() -> None:
    """Return at once, unless this create is the aimed one or later: then never (the process dies)."""
    k = kill_at()
    if not k:
        return
    _creates[0] += 1
    if _creates[0] < k:
        return
    if _creates[0] == k:
        asyncio.get_running_loop().call_later(SETTLE_SECONDS, _kill, k)
    await asyncio.Event().wait()  # held back: never sent


def _kill(k: int) -> None:
    log.warning("fault injection: SIGKILL at pod create %d (%s)", k, KILL_AT_POD_CREATE_ENV)
    logging.shutdown()
    os.kill(os.getpid(), signal.SIGKILL)
