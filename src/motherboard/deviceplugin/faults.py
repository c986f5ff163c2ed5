"""Fault injection for the fault suite: SIGKILL the plugin at a chosen point inside a chosen ``Allocate``.

``MOTHERBOARD_FAULT_PLUGIN_KILL=<point>[:<n>]`` kills the process at ``<point>`` of its ``n``-th
``Allocate`` (default the first), so that a crash lands where it hurts, not where luck puts it:

- ``before-record``: the container settings are built, nothing is remembered, the kubelet gets no answer;
- ``mid-save``: the allocation map's temporary file is written but not renamed into place;
- ``after-record``: the allocation is remembered, the kubelet gets no answer.

Unset (the default) nothing happens. A malformed value stops the plugin at its first ``Allocate`` with an
error naming the variable and the accepted values, rather than silently running without the fault.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

log = logging.getLogger(__name__)

KILL_ENV = "MOTHERBOARD_FAULT_PLUGIN_KILL"
POINTS = ("before-record", "mid-save", "after-record")

_lock = threading.Lock()
_allocations = [0]  # Allocate calls seen while the variable is set


def parse(value: str) -> tuple[str, int]:
    """``<point>[:<n>]`` → (point, n); raises ``ValueError`` naming the variable and the fix."""
    point, _, count = value.partition(":")
    try:
        n = int(count) if count else 1
    except ValueError:
        n = 0
    if point not in POINTS or n < 1:
        raise ValueError(
            f"{KILL_ENV}={value!r}: expected <point>[:<n>] with point one of {', '.join(POINTS)} and n >= 1 "
            f"(e.g. {KILL_ENV}=after-record:2); unset it to run without fault injection"
        )
    return point, n


def allocate_started() -> None:
    """Count one ``Allocate`` (the count picks which one a kill lands in)."""
    if KILL_ENV in os.environ:
        with _lock:
            _allocations[0] += 1


def reached(point: str) -> None:
    """SIGKILL this process if the fault injection aims at ``point`` of the current ``Allocate``."""
    value = os.environ.get(KILL_ENV)
    if not value:
        return
    wanted, n = parse(value)
    with _lock:
        current = _allocations[0]
    if wanted == point and current == n:
        log.warning("fault injection: SIGKILL at %s of Allocate %d (%s)", point, n, KILL_ENV)
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)
