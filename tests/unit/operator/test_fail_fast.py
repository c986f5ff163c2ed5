"""A dead store or status task stops the operator (so it restarts and relists) instead of freezing it."""

from __future__ import annotations

import asyncio

from motherboard.operator import handlers


def test_a_failed_background_task_stops_the_operator_and_a_cancelled_one_does_not() -> None:
    async def broken() -> None:
        raise KeyError("metadata")

    async def forever() -> None:
        await asyncio.Event().wait()

    async def main() -> tuple[bool, bool]:
        stop = asyncio.Event()
        handlers.state.update(stop=stop, failed=False)
        quiet = asyncio.create_task(forever())
        quiet.add_done_callback(handlers._stop_if_failed)
        await asyncio.sleep(0)
        quiet.cancel()
        await asyncio.gather(quiet, return_exceptions=True)
        after_cancel = stop.is_set()
        task = asyncio.create_task(broken(), name="operator store")
        task.add_done_callback(handlers._stop_if_failed)
        await asyncio.wait_for(stop.wait(), timeout=5)
        return after_cancel, bool(handlers.state["failed"])

    try:
        after_cancel, failed = asyncio.run(main())
    finally:
        for key in ("stop", "failed"):
            handlers.state.pop(key, None)
    assert not after_cancel
    assert failed
